"""The signed-in user's personal API tokens: list, create (secret shown once), revoke."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user

from lms_core.errors import Invalid
from lms_core.errors import LMSError
from lms_core.limits import shorten_refused
from lms_core.services import tokens as token_service
from lms_core.web.db import read_ctx
from lms_core.web.db import write
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import requires

bp = Blueprint("tokens", __name__, url_prefix="/profile/tokens")


def _page(*, secret: str | None = None, name: str = "", error: str | None = None) -> Any:
    ctx = read_ctx()
    tokens = token_service.list_tokens(ctx, current_user._get_current_object())
    return render_template(
        "tokens/index.html",
        tokens=tokens,
        secret=secret,
        name=name,
        error=error,
        token_prefix=token_service.TOKEN_PREFIX,
    )


@bp.route("", methods=["GET", "POST"])
@requires(SIGNED_IN)
def index() -> Any:
    if request.method == "GET":
        return _page()
    name = request.form.get("name", "")
    try:
        with write() as ctx:
            _token, secret = token_service.create_token(
                ctx, current_user._get_current_object(), name
            )
    except Invalid as exc:
        shown = {"name": name}
        shorten_refused(shown, exc)  # a refused 10,000-character name comes back cut
        return _page(name=shown["name"], error=exc.message), 422
    except LMSError as exc:
        flash(exc.message, "error")
        return redirect(url_for("tokens.index"))
    # Rendered, not redirected: the secret must not travel through the session or a URL.
    response = _page(secret=secret)
    return response, 201, {"Cache-Control": "no-store"}


@bp.route("/<id:token_id>/revoke", methods=["POST"])
@requires(SIGNED_IN)
def revoke(token_id: int) -> Any:
    try:
        with write() as ctx:
            token = token_service.get_token(ctx, token_id)
            label = token.name
            token_service.revoke_token(ctx, token_id)
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(f"The token {label!r} is revoked; requests using it are refused.", "success")
    return redirect(url_for("tokens.index"))
