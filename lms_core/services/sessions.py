"""Signed-in sessions: the one place a session starts, and the ways sessions end.

Every way of signing in (a password now; a single-sign-on provider or a second factor later)
ends in :func:`start_session`, which runs ``lms_before_login``, records the sign-in and audits
it with the method named. It returns the session's *token*, which the web layer keeps in the
session cookie and the remember cookie (as Flask-Login's user id)::

    <user id>:<session version>:<issued at, Unix seconds>:<random session id>

The cookies are signed, so a token cannot be made up; it is checked on every request
(:func:`user_for_session`) and signs its user in while

* the user is active and the version is the user's current ``session_version``. Changing or
  resetting a password, an admin ending the sessions, "sign out everywhere" and deactivation
  (which SCIM ``active=false`` will use) bump the version and so end every session at once;
* its session id was not signed out (:class:`~lms_core.models.EndedSession`): signing out ends
  that session only, including every copy of its cookies (a stolen one too), and leaves the
  user's other browsers signed in;
* it was issued less than :data:`SESSION_LIFETIME` ago: the remember cookie's lifetime, kept
  here too rather than trusted to the browser.

Why both a version and a list of ended sessions: the version alone would make every sign-out
sign the user out on all their devices (a copied cookie can only be told from the owner's by
the session it names); a server-side row for every live session would cost a write per
sign-in and a clean-up job for sessions nobody signs out. Rows are only written on sign-out,
removed when the cookies they refuse would have expired anyway, dropped whenever the version
moves, and capped per user (past :data:`MAX_ENDED_SESSIONS` a sign-out bumps the version
instead). Checking costs nothing extra: the look-up is part of loading the user.
"""

from __future__ import annotations

import datetime as dt
import secrets

from attrs import frozen
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from lms_core import outbox
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.errors import Forbidden
from lms_core.events import Person
from lms_core.events import UserLoggedIn
from lms_core.models import EndedSession
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.permissions import require

__all__ = [
    "SESSION_LIFETIME",
    "MAX_ENDED_SESSIONS",
    "SessionToken",
    "session_token",
    "parse_token",
    "start_session",
    "renew_session",
    "user_for_session",
    "end_session",
    "end_all_sessions",
    "bump_session_version",
]

#: How long a session (and its remember cookie) may last.
SESSION_LIFETIME = dt.timedelta(days=365)
#: Signed-out sessions remembered per user; one more sign-out ends all of them instead.
MAX_ENDED_SESSIONS = 100


@frozen
class SessionToken:
    user_id: int
    version: int
    issued_at: dt.datetime
    session_id: str

    def __str__(self) -> str:
        return f"{self.user_id}:{self.version}:{int(self.issued_at.timestamp())}:{self.session_id}"


def session_token(user: User, *, issued_at: dt.datetime | None = None) -> str:
    """A token for a new session of ``user`` at their current session version."""
    return str(
        SessionToken(
            user_id=user.id,
            version=user.session_version,
            issued_at=issued_at or utcnow(),
            session_id=secrets.token_urlsafe(16),
        )
    )


def parse_token(token: object) -> SessionToken | None:
    """The parts of a token, or None when it is not one (an older cookie, say)."""
    if not isinstance(token, str) or len(token) > 120:
        return None
    parts = token.split(":")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts[:3]):
        return None
    if not 0 < len(parts[3]) <= 32:
        return None
    try:
        issued_at = dt.datetime.fromtimestamp(int(parts[2]), dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return SessionToken(
        user_id=int(parts[0]), version=int(parts[1]), issued_at=issued_at, session_id=parts[3]
    )


def start_session(ctx: Context, user: User, *, method: str) -> str:
    """Start a signed-in session for ``user``, whose credentials ``method`` has checked.

    Refuses deactivated accounts, runs ``lms_before_login`` (which may raise ``Rejected``),
    records the sign-in (``last_login_at``, the ``auth.login`` audit entry naming the method,
    the ``UserLoggedIn`` event) and returns the session token.

    :param method: ``password`` or the name of the auth provider that vouched for the user.
    """
    user = ctx.attach(user)
    if not user.is_active:
        ctx.commit_on_error = True
        audit(ctx, "auth.refused_inactive", user, method=method)
        raise Forbidden("This account is deactivated. Ask an administrator to reactivate it.")
    ctx.hooks.before_login(user=user, method=method, address=ctx.address)
    now = utcnow()
    user.last_login_at = now
    entry = audit(ctx, "auth.login", user, method=method)
    # Nobody is signed in while the sign-in runs (ctx.actor is None), but the credentials
    # were checked: the person who signed in is the one acting, not "anonymous".
    entry.actor_id = user.id
    entry.actor_label = user.email
    outbox.record(
        ctx,
        UserLoggedIn(
            user_id=user.id,
            logged_in_at=now,
            method=method,
            person=Person(email=user.email, name=user.name),
        ),
    )
    return session_token(user, issued_at=now)


def renew_session(ctx: Context, user: User) -> str:
    """A new token for the signed-in session of ``user`` after their version moved (the
    session that changed the password stays signed in; every other one has ended)."""
    user = ctx.attach(user)
    ctx.session.flush()
    return session_token(user)


def user_for_session(session: Session, token: object) -> User | None:
    """The user a session token signs in, or None when the session has ended (one query)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    now = utcnow()
    if not now - SESSION_LIFETIME < parsed.issued_at <= now + dt.timedelta(minutes=5):
        return None
    ended = select(EndedSession.id).where(EndedSession.session_id == parsed.session_id).exists()
    row = session.execute(select(User, ended).where(User.id == parsed.user_id)).first()
    if row is None:
        return None
    user, is_ended = row
    if is_ended or not user.is_active or user.session_version != parsed.version:
        return None
    return user


def end_session(ctx: Context, token: str) -> None:
    """Sign out the session ``token`` names: every copy of its cookies stops working."""
    parsed = parse_token(token)
    user = ctx.session.get(User, parsed.user_id) if parsed is not None else None
    if parsed is None or user is None:
        return
    audit(ctx, "auth.logout", user)
    if parsed.version != user.session_version:
        return  # that session had already ended with its version
    now = utcnow()
    # Rows whose cookies have expired refuse nothing any more, whoever they belonged to.
    ctx.session.execute(delete(EndedSession).where(EndedSession.expires_at <= now))
    held = ctx.session.scalar(
        select(func.count()).select_from(EndedSession).where(EndedSession.user_id == user.id)
    )
    if (held or 0) >= MAX_ENDED_SESSIONS:
        bump_session_version(ctx, user)
        return
    insert = (
        postgresql.insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    ctx.session.execute(
        insert(EndedSession)
        .values(
            user_id=user.id,
            session_id=parsed.session_id,
            ended_at=now,
            expires_at=parsed.issued_at + SESSION_LIFETIME,
        )
        .on_conflict_do_nothing(index_elements=[EndedSession.session_id])
    )


def end_all_sessions(ctx: Context, user: User) -> None:
    """End every session of ``user`` (themselves: "sign out everywhere"; or a user manager)."""
    user = ctx.attach(user)
    is_self = ctx.actor is not None and ctx.actor.id == user.id
    if not is_self:
        require(ctx, "user.manage", to="end other people's sessions")
    bump_session_version(ctx, user)
    audit(ctx, "user.sessions_ended", user)


def bump_session_version(ctx: Context, user: User) -> None:
    """End every session of ``user`` now, for services whose change must do so (a new
    password, deactivation); they audit their own change. Checks no permission."""
    user = ctx.attach(user)
    # In SQL, so two changes at once cannot both write the same new version.
    user.session_version = User.session_version + 1
    ctx.session.execute(delete(EndedSession).where(EndedSession.user_id == user.id))
    ctx.session.flush()
