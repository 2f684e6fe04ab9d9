"""Notification pages: the bell's list, mark read, preferences, the admin's per-kind rules,
and the unsubscribe link of a mail (which works without signing in)."""

from __future__ import annotations

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

from lms_core.errors import Invalid
from lms_core.errors import LMSError
from lms_core.errors import NotFound
from lms_core.services import notifications as service
from lms_core.web import csrf
from lms_core.web.db import client_address
from lms_core.web.db import db
from lms_core.web.db import lms
from lms_core.web.db import read_ctx
from lms_core.web.db import write
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import public
from lms_core.web.decorators import requires
from lms_core.web.forms import EmptyForm
from lms_core.web.params import page_arg
from lms_core.web.redirects import safe_next

__all__ = ["bp", "admin_bp", "unsubscribe_bp"]

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
admin_bp = Blueprint("notifications_admin", __name__, url_prefix="/admin/notifications")
unsubscribe_bp = Blueprint("unsubscribe", __name__, url_prefix="/unsubscribe")

PAGE_SIZE = 25


@bp.app_context_processor
def _bell() -> dict[str, Any]:
    def unread_notifications() -> int:
        """The signed-in person's unread count: one indexed query, only when a page asks."""
        if not current_user.is_authenticated:
            return 0
        return service.unread_count(db(), current_user.id)

    return {"unread_notifications": unread_notifications}


def _check_csrf() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


# -- the list ---------------------------------------------------------------------------------


@bp.route("/")
@requires(SIGNED_IN)
def index() -> Any:
    page = page_arg()
    rows, total = service.list_notifications(
        read_ctx(), current_user._get_current_object(), page=page, size=PAGE_SIZE
    )
    return render_template(
        "notifications/index.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        safe_next=safe_next,
    )


@bp.route("/<id:notification_id>/open", methods=["POST"])
@requires(SIGNED_IN)
def open_one(notification_id: int) -> Any:
    """Mark it read and go where it points (only ever a path on this site)."""
    _check_csrf()
    try:
        with write() as ctx:
            link = service.mark_read(ctx, notification_id).link
    except NotFound:
        abort(404)
    return redirect(safe_next(link) or url_for("notifications.index"))


@bp.route("/<id:notification_id>/read", methods=["POST"])
@requires(SIGNED_IN)
def mark_read(notification_id: int) -> Any:
    _check_csrf()
    try:
        with write() as ctx:
            service.mark_read(ctx, notification_id)
    except NotFound:
        abort(404)
    return redirect(safe_next(request.form.get("next")) or url_for("notifications.index"))


@bp.route("/read-all", methods=["POST"])
@requires(SIGNED_IN)
def mark_all_read() -> Any:
    _check_csrf()
    with write() as ctx:
        count = service.mark_all_read(ctx)
    flash(
        f"{count} notification{'s' if count != 1 else ''} marked read."
        if count
        else "Nothing was unread.",
        "success",
    )
    return redirect(url_for("notifications.index"))


# -- preferences ------------------------------------------------------------------------------


@bp.route("/preferences", methods=["GET", "POST"])
@requires(SIGNED_IN)
def preferences() -> Any:
    user = current_user._get_current_object()
    errors: dict[str, str] = {}
    typed: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        _check_csrf()
        choices = {
            key[len("kind:") :]: value
            for key, value in request.form.items()
            if key.startswith("kind:")
        }
        try:
            with write() as ctx:
                changed = service.set_preferences(ctx, ctx.actor, choices)  # type: ignore[arg-type]
        except Invalid as exc:
            errors[exc.field or ""] = exc.message
            typed = choices
            status = 422
        except LMSError as exc:
            flash(exc.message, "error")
            return redirect(url_for("notifications.preferences"))
        else:
            flash(
                "Your choices were saved." if changed else "Nothing changed.",
                "success",
            )
            return redirect(url_for("notifications.preferences"))
    prefs = service.preferences(read_ctx(), user)
    return (
        render_template(
            "notifications/preferences.html",
            prefs=prefs,
            errors=errors,
            typed=typed,
            labels=service.CHANNEL_LABELS,
            channels=service.CHANNELS,
        ),
        status,
    )


# -- the admin's rules ------------------------------------------------------------------------


@admin_bp.route("/", methods=["GET", "POST"], endpoint="index")
@requires("site.configure")
def rules_page() -> Any:
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        _check_csrf()
        try:
            with write() as ctx:
                for rule in service.rules(ctx):
                    default = request.form.get(f"default:{rule.name}")
                    if default is None:
                        continue
                    service.set_kind_rule(
                        ctx,
                        rule.name,
                        default=default,
                        mandatory=request.form.get(f"mandatory:{rule.name}") == "on",
                    )
        except Invalid as exc:
            errors[exc.field or ""] = exc.message
            status = 422
        except LMSError as exc:
            flash(exc.message, "error")
            return redirect(url_for("notifications_admin.index"))
        else:
            flash("The notification rules were saved.", "success")
            return redirect(url_for("notifications_admin.index"))
    return (
        render_template(
            "notifications/admin.html",
            rules=service.rules(read_ctx()),
            errors=errors,
            labels=service.CHANNEL_LABELS,
            channels=service.CHANNELS,
        ),
        status,
    )


# -- unsubscribing from a mail ----------------------------------------------------------------


def _masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"


class _BadLink(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _refused(exc: _BadLink) -> Any:
    return (
        render_template(
            "error.html", code=exc.status, title="This link does not work", text=exc.message
        ),
        exc.status,
    )


def _token_target(token: str) -> tuple[int, str, Any, Any]:
    """(user id, kind, the user, the kind) a token names; :class:`_BadLink` otherwise."""
    from lms_core.models import User

    try:
        user_id, kind = service.read_unsubscribe_token(current_app.config["SECRET_KEY"], token)
    except Invalid as exc:
        raise _BadLink(
            400, exc.message + " Change your choices on your preferences page."
        ) from None
    person = db().get(User, user_id)
    declared = lms().hooks.notification_kinds(include_disabled=True).get(kind)
    if person is None or declared is None:
        raise _BadLink(404, "That unsubscribe link names nobody or nothing on this site.")
    return user_id, kind, person, declared


@unsubscribe_bp.route("/<token>", methods=["GET"])
@public
def confirm(token: str) -> Any:
    """What the link will do, with a button (opening a link must change nothing)."""
    try:
        _user_id, _kind, person, declared = _token_target(token)
    except _BadLink as exc:
        return _refused(exc)
    return render_template(
        "notifications/unsubscribe.html",
        token=token,
        kind=declared,
        email=_masked(person.email),
        done=False,
    )


@unsubscribe_bp.route("/<token>", methods=["POST"])
@public
@csrf.exempt
def unsubscribe(token: str) -> Any:
    """RFC 8058 one-click: a mail client POSTs here with no session and no CSRF token; the
    signed token (one person, one kind) is the authentication. The only CSRF-exempt route."""
    try:
        user_id, kind, person, declared = _token_target(token)
    except _BadLink as exc:
        return _refused(exc)
    with lms().transaction(system=True, address=client_address()) as ctx:
        service.unsubscribe(ctx, user_id, kind)
    return render_template(
        "notifications/unsubscribe.html",
        token=token,
        kind=declared,
        email=_masked(person.email),
        done=True,
    )
