"""Personal API tokens: create, list, revoke, and find the user behind a bearer secret.

A token is ``lms_`` followed by 32 random bytes (URL-safe base64). It is shown once, when it
is made; the database keeps only its SHA-256 (so a leaked table leaks no usable token) and
the first characters of the random part, which lists show so people can tell tokens apart.
A token acts as its owner with the owner's current permissions; revoking it, or
deactivating the owner, stops it at once. ``last_used_at`` is written at most once a minute
per token, so API traffic does not turn every read into a write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from lms_core import limits
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.limits import check_length
from lms_core.models import ApiToken
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.permissions import can
from lms_core.services.permissions import require

__all__ = [
    "TOKEN_PREFIX",
    "TOUCH_INTERVAL",
    "MAX_ACTIVE_TOKENS",
    "hash_secret",
    "create_token",
    "revoke_token",
    "list_tokens",
    "get_token",
    "user_for_secret",
    "touch_token",
    "needs_touch",
]

TOKEN_PREFIX = "lms_"
#: ``last_used_at`` is refreshed at most this often.
TOUCH_INTERVAL = dt.timedelta(minutes=1)
#: Unrevoked tokens one person may hold.
MAX_ACTIVE_TOKENS = 50
_SHOWN = 8


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _is_self(ctx: Context, user_id: int) -> bool:
    return ctx.actor is not None and ctx.actor.id == user_id and not ctx.system


def get_token(ctx: Context, token_id: int) -> ApiToken:
    token = ctx.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"There is no API token with id {token_id}.")
    return token


def create_token(ctx: Context, user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token for ``user`` (themselves, or anyone with ``user.manage``).

    :returns: the row and the secret; the secret is not stored and cannot be shown again.
    """
    user = ctx.attach(user)
    if not _is_self(ctx, user.id):
        require(ctx, "user.manage", to="make API tokens for other people")
    if not user.is_active:
        raise Invalid(f"{user.email} is deactivated; their tokens would not work.")
    if isinstance(name, str):
        check_length("name", name, limits.TOKEN_NAME, label="A token name")
    clean = " ".join(name.split()) if isinstance(name, str) else ""
    if not clean:
        raise Invalid("Give the token a name, e.g. the script that will use it.", field="name")
    active = ctx.session.scalars(
        select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    if len(active) >= MAX_ACTIVE_TOKENS:
        raise Invalid(
            f"{user.email} already has {MAX_ACTIVE_TOKENS} tokens; revoke one first.", field="name"
        )
    random_part = secrets.token_urlsafe(32)
    secret = TOKEN_PREFIX + random_part
    token = ApiToken(
        user_id=user.id,
        name=clean,
        token_hash=hash_secret(secret),
        prefix=random_part[:_SHOWN],
        created_at=utcnow(),
    )
    ctx.session.add(token)
    ctx.session.flush()
    audit(ctx, "token.create", user, token_id=token.id, name=token.name, prefix=token.prefix)
    return token, secret


def revoke_token(ctx: Context, token_id: int) -> bool:
    """Revoke a token (its owner, or anyone with ``user.manage``). False if already revoked."""
    token = get_token(ctx, token_id)
    if not _is_self(ctx, token.user_id):
        # Someone else's token: do not confirm it exists to people who may not manage it.
        if ctx.actor is not None and not ctx.system and not can(ctx.actor, "user.manage"):
            raise NotFound(f"There is no API token with id {token_id}.")
        require(ctx, "user.manage", to="revoke other people's API tokens")
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    owner = ctx.session.get(User, token.user_id)
    audit(ctx, "token.revoke", owner, token_id=token.id, name=token.name, prefix=token.prefix)
    return True


def list_tokens(ctx: Context, user: User, *, include_revoked: bool = True) -> list[ApiToken]:
    """``user``'s tokens, newest first (themselves, or anyone with ``user.manage``)."""
    if not _is_self(ctx, user.id):
        require(ctx, "user.manage", to="see other people's API tokens")
    stmt = select(ApiToken).where(ApiToken.user_id == user.id)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return list(ctx.session.scalars(stmt.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def user_for_secret(ctx: Context, secret: str) -> tuple[User, ApiToken] | None:
    """The active owner and the live token for ``secret``, or None. Reads only."""
    if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = ctx.session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_secret(secret), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    user, token = row
    if not user.is_active:
        return None
    return user, token


def touch_token(ctx: Context, token_id: int, now: dt.datetime | None = None) -> bool:
    """Record a use of the token unless one was recorded within :data:`TOUCH_INTERVAL`.

    One conditional UPDATE; concurrent requests write at most once. True if it wrote.
    """
    now = now or utcnow()
    result = ctx.session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def needs_touch(token: ApiToken, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return token.last_used_at is None or token.last_used_at <= now - TOUCH_INTERVAL
