"""Sign in, sign out (here or everywhere), change password, and password reset by an emailed
one-time link.

Flask-Login's user id, which it keeps in the session cookie and the remember cookie, is a
session token (:mod:`lms_core.services.sessions`): each request loads the user through it, so
a session that was signed out, or whose user's session version moved, signs nobody in.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeSerializer
from itsdangerous import URLSafeTimedSerializer
from werkzeug.wrappers import Response

from lms_core import limits
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import Rejected
from lms_core.errors import TooManyAttempts
from lms_core.models import User
from lms_core.notification_mail import RESET_MAIL_JOB
from lms_core.notification_mail import ResetMail
from lms_core.services import sessions as session_service
from lms_core.services import users as user_service
from lms_core.services.users import ADDRESS_LIMIT
from lms_core.services.users import ADDRESS_WINDOW
from lms_core.web import login_manager
from lms_core.web.db import client_address
from lms_core.web.db import db
from lms_core.web.db import lms
from lms_core.web.db import write
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import public
from lms_core.web.decorators import requires
from lms_core.web.forms import ChangePasswordForm
from lms_core.web.forms import EmptyForm
from lms_core.web.forms import LoginForm
from lms_core.web.forms import ResetForm
from lms_core.web.forms import ResetRequestForm
from lms_core.web.redirects import safe_next

__all__ = ["bp", "safe_next", "make_reset_token", "ADDRESS_LIMIT", "DEVICE_COOKIE"]

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

RESET_MAX_AGE = 60 * 60
#: The device cookie: signed (user id, device id) pairs for the accounts this browser signed
#: in to (see ``user_service.authenticate``). Sent to the sign-in pages only.
DEVICE_COOKIE = "lms_device"
DEVICE_COOKIE_PATH = "/auth"
DEVICE_ACCOUNTS = 5


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The signed-in user for this request; None when the session has ended."""
    user = session_service.user_for_session(db(), token)
    if user is not None:
        user.session_token = token
    return user


def _sign_in(user: User, token: str, *, remember: bool) -> None:
    """Give this browser the session ``token`` (and a remember cookie holding it)."""
    fresh = db().get(User, user.id)
    assert fresh is not None
    fresh.session_token = token
    login_user(fresh, remember=remember)


def _remembered() -> bool:
    return current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies


# -- device cookies ---------------------------------------------------------------------------


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="lms-device-cookie")


def _devices() -> dict[int, str]:
    """The accounts this browser has signed in to before: user id -> device id."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return {}
    try:
        pairs = _device_serializer().loads(raw)
    except BadSignature:
        return {}
    if not isinstance(pairs, list):
        return {}
    return {
        pair[0]: pair[1]
        for pair in pairs[:DEVICE_ACCOUNTS]
        if isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], int)
        and isinstance(pair[1], str)
    }


def _give_device_cookie(response: Response, user_id: int, known: dict[int, str]) -> None:
    """After a successful sign-in: a new device id for this account, first in the list."""
    pairs = [[user_id, secrets.token_urlsafe(16)]]
    pairs += [[uid, device] for uid, device in known.items() if uid != user_id]
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps(pairs[:DEVICE_ACCOUNTS]),
        max_age=int(session_service.SESSION_LIFETIME.total_seconds()),
        path=DEVICE_COOKIE_PATH,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )


# -- signing in and out -----------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("learner.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        devices = _devices()
        try:
            with write() as ctx:
                user = user_service.authenticate(
                    ctx, form.email.data or "", form.password.data or "", devices=devices
                )
                token = session_service.start_session(ctx, user, method="password")
        except TooManyAttempts as exc:
            flash(exc.message, "error")
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
            return render_template("auth/login.html", form=form), 429, headers
        except Rejected as exc:
            flash(exc.message, "error")
            target = safe_next(exc.redirect_to)
            if target:
                return redirect(target)
        except (Invalid, Forbidden) as exc:
            flash(exc.message, "error")
        else:
            _sign_in(user, token, remember=bool(form.remember.data))
            response = redirect(safe_next(form.next.data) or url_for("learner.dashboard"))
            _give_device_cookie(response, user.id, devices)
            return response
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@requires(SIGNED_IN)
def logout() -> Any:
    form = EmptyForm()
    if form.validate_on_submit():
        with write() as ctx:
            session_service.end_session(ctx, current_user.get_id())
        logout_user()
        flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/logout-everywhere", methods=["POST"])
@requires(SIGNED_IN)
def logout_everywhere() -> Any:
    if not EmptyForm().validate_on_submit():
        abort(400)
    with write() as ctx:
        session_service.end_all_sessions(ctx, ctx.actor)  # type: ignore[arg-type]
    logout_user()
    flash("You are signed out everywhere: on every browser and device.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@requires(SIGNED_IN)
def change_password() -> Any:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            with write() as ctx:
                user_service.set_password(
                    ctx,
                    ctx.actor,  # type: ignore[arg-type]
                    form.new_password.data or "",
                    current_password=form.current_password.data,
                    min_length=lms().config.auth.password_min_length,
                )
                token = session_service.renew_session(ctx, ctx.actor)  # type: ignore[arg-type]
        except Invalid as exc:
            field = getattr(form, exc.field or "", None) or form.new_password
            field.errors = [*field.errors, exc.message]
        else:
            # Every other session has ended; this one goes on under the new version.
            _sign_in(current_user, token, remember=_remembered())
            flash("Your password was changed. You were signed out everywhere else.", "success")
            return redirect(url_for("learner.dashboard"))
    return render_template("auth/password.html", form=form)


# -- password reset ---------------------------------------------------------------------------


def _serializer(secret_key: str | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret_key or current_app.config["SECRET_KEY"], salt="lms-password-reset"
    )


def _fingerprint(user: User) -> str:
    # The token names the current password hash, so it stops working once it has been used.
    return hashlib.sha256((user.password_hash or "none").encode()).hexdigest()[:16]


def make_reset_token(user: User, secret_key: str | None = None) -> str:
    return _serializer(secret_key).dumps({"uid": user.id, "fp": _fingerprint(user)})


#: Stands for the token in the reset link's address until the mail job makes it.
_TOKEN_SLOT = "__token__"


@bp.route("/reset", methods=["GET", "POST"])
@public
def reset_request() -> Any:
    form = ResetRequestForm()
    if form.validate_on_submit():
        if lms().limiter.hit(f"reset:addr:{client_address()}", ADDRESS_WINDOW) > ADDRESS_LIMIT:
            abort(429)
        email = (form.email.data or "").strip()
        # The same answer whether or not the account exists, and whether or not mail works.
        flash(
            "If an account exists for that address, we have sent it a link to reset the password.",
            "info",
        )
        # The account is looked up, and the mail sent, by a job (core.password_reset_mail):
        # the request does the same work for every address (one INSERT), whether or not the
        # account exists and whether or not mail works, so neither its answer nor its timing
        # tells anything. The job makes the link when it runs: no reset token is stored.
        with lms().transaction(system=True, address=client_address()) as ctx:
            ctx.enqueue(
                RESET_MAIL_JOB,
                ResetMail(
                    email=email[: limits.EMAIL * 2],
                    link=lms().config.base_url.rstrip("/")
                    + url_for("auth.reset", token=_TOKEN_SLOT),
                    address=client_address(),
                ),
            )
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset(token: str) -> Any:
    try:
        data = _serializer().loads(token, max_age=RESET_MAX_AGE)
    except SignatureExpired:
        flash("That reset link has expired. Ask for a new one.", "error")
        return redirect(url_for("auth.reset_request"))
    except BadSignature:
        flash("That reset link is not valid. Ask for a new one.", "error")
        return redirect(url_for("auth.reset_request"))
    user = db().get(User, data.get("uid"))
    if user is None or not user.is_active or data.get("fp") != _fingerprint(user):
        flash(
            "That reset link has already been used or is no longer valid. Ask for a new one.",
            "error",
        )
        return redirect(url_for("auth.reset_request"))
    form = ResetForm()
    if form.validate_on_submit():
        try:
            with lms().transaction(system=True, address=client_address()) as ctx:
                user_service.set_password(
                    ctx,
                    ctx.attach(user),
                    form.new_password.data or "",
                    min_length=lms().config.auth.password_min_length,
                )
        except Invalid as exc:
            form.new_password.errors = [*form.new_password.errors, exc.message]
        else:
            flash("Your password was changed. Sign in with it now.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form)
