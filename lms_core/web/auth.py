"""Sign in, sign out, change password, and password reset by an emailed one-time link."""

from __future__ import annotations

import hashlib
import logging
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
from itsdangerous import URLSafeTimedSerializer

from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import Rejected
from lms_core.mail import send_mail
from lms_core.models import User
from lms_core.services import users as user_service
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

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

#: Sign-in attempts allowed from one address per window, whatever the accounts.
ADDRESS_LIMIT = 20
ADDRESS_WINDOW = 15 * 60
RESET_MAX_AGE = 60 * 60


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user for this request; None for unknown or deactivated accounts."""
    try:
        user = db().get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    return user if user is not None and user.is_active else None


def _limiter() -> Any:
    return current_app.extensions["lms_limiter"]


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("learner.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        address_key = f"login:addr:{client_address()}"
        if _limiter().count(address_key) >= ADDRESS_LIMIT:
            flash("Too many sign-in attempts from your network. Try again in 15 minutes.", "error")
            return render_template("auth/login.html", form=form), 429
        auth = lms().config.auth
        try:
            with write() as ctx:
                user = user_service.authenticate(
                    ctx,
                    form.email.data or "",
                    form.password.data or "",
                    max_failed=auth.max_failed_logins,
                    lockout_minutes=auth.lockout_minutes,
                )
        except Rejected as exc:
            flash(exc.message, "error")
            if exc.redirect_to and safe_next(exc.redirect_to):
                return redirect(exc.redirect_to)
        except (Invalid, Forbidden) as exc:
            _limiter().hit(address_key, ADDRESS_WINDOW)
            flash(exc.message, "error")
        else:
            login_user(db().get(User, user.id), remember=bool(form.remember.data))
            return redirect(safe_next(form.next.data) or url_for("learner.dashboard"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@requires(SIGNED_IN)
def logout() -> Any:
    form = EmptyForm()
    if form.validate_on_submit():
        logout_user()
        flash("You are signed out.", "info")
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
        except Invalid as exc:
            field = getattr(form, exc.field or "", None) or form.new_password
            field.errors = [*field.errors, exc.message]
        else:
            flash("Your password was changed.", "success")
            return redirect(url_for("learner.dashboard"))
    return render_template("auth/password.html", form=form)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="lms-password-reset")


def _fingerprint(user: User) -> str:
    # The token names the current password hash, so it stops working once it has been used.
    return hashlib.sha256((user.password_hash or "none").encode()).hexdigest()[:16]


def make_reset_token(user: User) -> str:
    return _serializer().dumps({"uid": user.id, "fp": _fingerprint(user)})


@bp.route("/reset", methods=["GET", "POST"])
@public
def reset_request() -> Any:
    form = ResetRequestForm()
    if form.validate_on_submit():
        if _limiter().hit(f"reset:addr:{client_address()}", ADDRESS_WINDOW) > ADDRESS_LIMIT:
            abort(429)
        email = (form.email.data or "").strip()
        with write() as ctx:
            user = user_service.find_user(ctx, email)
            if user is not None and user.is_active:
                link = lms().config.base_url.rstrip("/") + url_for(
                    "auth.reset", token=make_reset_token(user)
                )
                try:
                    send_mail(
                        lms().config.mail,
                        user.email,
                        f"Reset your {lms().config.site_name} password",
                        f"Hello {user.display_name},\n\nTo choose a new password, open this link within an hour:\n\n{link}\n\n"
                        "If you did not ask for this, ignore this message; your password stays as it is.\n",
                    )
                except OSError:
                    log.exception("could not send a password-reset mail")
                    flash("The mail could not be sent right now. Please try again later.", "error")
                    return render_template("auth/reset_request.html", form=form), 503
                from lms_core.services.audit import audit

                audit(ctx, "auth.reset_requested", user)
        # The same answer whether or not the account exists: no account discovery here.
        flash(
            "If an account exists for that address, we have sent it a link to reset the password.",
            "info",
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
