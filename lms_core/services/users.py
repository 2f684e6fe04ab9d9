"""User accounts: create, update, deactivate, passwords and sign-in."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import select

from lms_core import limits
from lms_core import outbox
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.default_permissions import ADMIN
from lms_core.default_permissions import LEARNER
from lms_core.errors import Conflict
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.errors import TooManyAttempts
from lms_core.events import Person
from lms_core.events import UserCreated
from lms_core.events import UserDeactivated
from lms_core.events import UserReactivated
from lms_core.events import UserUpdated
from lms_core.limits import check_count
from lms_core.limits import check_length
from lms_core.limits import excerpt
from lms_core.limits import label_of
from lms_core.limits import listing
from lms_core.models import PROFILE_ATTRIBUTES
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import User
from lms_core.services import passwords
from lms_core.services.audit import audit
from lms_core.services.permissions import require
from lms_core.services.roles import check_scope
from lms_core.services.sessions import bump_session_version

__all__ = [
    "normalize_email",
    "person",
    "get_user",
    "find_user",
    "create_user",
    "update_user",
    "set_password",
    "deactivate_user",
    "reactivate_user",
    "authenticate",
    "PROFILE_FIELDS",
    "ADDRESS_LIMIT",
    "ADDRESS_WINDOW",
]

#: Failed sign-ins allowed from one address per window, whatever the accounts (browsers that
#: signed in to the account before are not counted: see ``authenticate``).
ADDRESS_LIMIT = 20
ADDRESS_WINDOW = 15 * 60

# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is the mail
# server's business; this catches typos and pasted junk.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")

#: Fields ``update_user`` accepts.
PROFILE_FIELDS = ("email", "name", *PROFILE_ATTRIBUTES, "manager_id", "timezone", "locale")
_SELF_EDITABLE = {"name", "timezone", "locale"}
_LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")
_TIMEZONES: set[str] | None = None


def normalize_email(email: Any) -> str:
    """Trim and validate an email address; raise :class:`Invalid` naming it when malformed."""
    if not isinstance(email, str) or not email.strip():
        raise Invalid("An email address is required.", field="email")
    email = check_length("email", email, limits.EMAIL, label="An email address").strip()
    if not _EMAIL.match(email):
        raise Invalid(f"{excerpt(email)} is not a valid email address.", field="email")
    return email


def person(user: User) -> Person:
    return Person(email=user.email, name=user.name)


def get_user(ctx: Context, user_id: int) -> User:
    user = ctx.session.get(User, user_id)
    if user is None:
        raise NotFound(f"There is no user with id {user_id}.")
    return user


def find_user(ctx: Context, email: str) -> User | None:
    """The user with this email (case-insensitive), or None."""
    return ctx.session.scalars(select(User).where(User.email_key == email.strip().lower())).first()


def _check_timezone(value: Any) -> str:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = available_timezones() | {"UTC"}
    if not isinstance(value, str) or value not in _TIMEZONES:
        raise Invalid(
            f"{excerpt(value)} is not a time zone name such as Europe/Berlin.", field="timezone"
        )
    return value


def _check_locale(value: Any) -> str:
    if not isinstance(value, str) or not _LOCALE.match(value):
        raise Invalid(
            f"{excerpt(value)} is not a language code such as en or pt-BR.", field="locale"
        )
    return value


def _clean_text(value: Any, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Invalid(f"{field.replace('_', ' ').capitalize()} is required.", field=field)
        return None
    if not isinstance(value, str):
        raise Invalid(f"{label_of(field)} must be text.", field=field)
    return " ".join(check_length(field, value, limit).split())


def _clean_profile(ctx: Context, changes: dict[str, Any], user: User | None) -> dict[str, Any]:
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise Invalid(f"Unknown user field(s): {', '.join(sorted(unknown))}.")
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "email":
            clean[key] = normalize_email(value)
        elif key == "name":
            clean[key] = _clean_text(value, "name", limits.USER_NAME) or ""
        elif key in PROFILE_ATTRIBUTES:
            clean[key] = _clean_text(value, key, limits.PROFILE_ATTRIBUTE)
        elif key == "timezone":
            clean[key] = _check_timezone(value)
        elif key == "locale":
            clean[key] = _check_locale(value)
        elif key == "manager_id":
            if value is not None:
                manager = ctx.session.get(User, value)
                if manager is None:
                    raise Invalid(
                        f"There is no user with id {value} to be the manager.", field="manager_id"
                    )
                if user is not None and _manages_chain(ctx, manager, user):
                    raise Invalid(
                        f"{manager.email} cannot be this user's manager: that would make a loop.",
                        field="manager_id",
                    )
            clean[key] = value
    return clean


def _manages_chain(ctx: Context, manager: User, user: User) -> bool:
    """True if ``user`` is ``manager`` or above them in the management chain."""
    node: User | None = manager
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        if node.id == user.id:
            return True
        seen.add(node.id)
        node = ctx.session.get(User, node.manager_id) if node.manager_id else None
    return False


def create_user(
    ctx: Context,
    email: str,
    *,
    name: str = "",
    password: str | None = None,
    roles: tuple[str, ...] = (LEARNER,),
    source: str = "admin",
    password_min_length: int = 10,
    **profile: Any,
) -> User:
    """Create an account. It gets the learner role; ``password`` None means SSO-only."""
    require(ctx, "user.manage", to="create users")
    fields = _clean_profile(ctx, {"email": email, "name": name, **profile}, None)
    key = fields["email"].lower()
    if ctx.session.scalars(select(User.id).where(User.email_key == key)).first() is not None:
        raise Conflict(f"A user with the email {fields['email']} already exists.")
    password_hash = None
    if password is not None:
        passwords.check_password_policy(
            password, min_length=password_min_length, email=fields["email"]
        )
        password_hash = passwords.hash_password(password)
    user = User(email_key=key, password_hash=password_hash, created_at=utcnow(), **fields)
    ctx.session.add(user)
    ctx.session.flush()
    if roles:
        roles = tuple(check_count("roles", roles, limits.LIST_ITEMS))
        role_rows = ctx.session.scalars(select(Role).where(Role.name.in_(roles))).all()
        missing = set(roles) - {r.name for r in role_rows}
        if missing:
            raise Invalid(f"Unknown role(s): {listing(sorted(missing))}.", field="roles")
        for role in role_rows:
            check_scope(role.name, None, field="roles")  # these are site-wide assignments
        ctx.session.add_all(
            RoleAssignment(user_id=user.id, role_id=r.id, assigned_by_id=ctx.actor_id)
            for r in role_rows
        )
        ctx.session.flush()
    from lms_core.services.groups import sync_user_rule_groups

    sync_user_rule_groups(ctx, user)
    audit(ctx, "user.create", user, source=source, roles=list(roles))
    outbox.record(
        ctx,
        UserCreated(
            user_id=user.id, created_at=user.created_at, source=source, person=person(user)
        ),
    )
    return user


def update_user(ctx: Context, user: User, **changes: Any) -> list[str]:
    """Change profile fields; returns the names of the fields that changed.

    Users may change their own name, time zone and language; anything else, or anyone
    else's profile, needs ``user.manage``.
    """
    user = ctx.attach(user)
    is_self = ctx.actor is not None and ctx.actor.id == user.id
    if not (is_self and set(changes) <= _SELF_EDITABLE):
        require(
            ctx,
            "user.manage",
            to="edit other people's accounts" if not is_self else "change that field",
        )
    clean = _clean_profile(ctx, changes, user)
    if "email" in clean:
        key = clean["email"].lower()
        other = ctx.session.scalars(
            select(User.id).where(User.email_key == key, User.id != user.id)
        ).first()
        if other is not None:
            raise Conflict(f"A user with the email {clean['email']} already exists.")
        user.email_key = key
    changed = [k for k, v in clean.items() if getattr(user, k) != v]
    if not changed:
        return []
    before = {k: getattr(user, k) for k in changed}
    for key in changed:
        setattr(user, key, clean[key])
    user.updated_at = utcnow()
    ctx.session.flush()
    if set(changed) & set(PROFILE_ATTRIBUTES):
        from lms_core.services.groups import sync_user_rule_groups

        sync_user_rule_groups(ctx, user)
    if not is_self:
        audit(ctx, "user.update", user, changed={k: [before[k], clean[k]] for k in changed})
    outbox.record(
        ctx,
        UserUpdated(
            user_id=user.id, updated_at=user.updated_at, changed=tuple(changed), person=person(user)
        ),
    )
    return changed


def set_password(
    ctx: Context,
    user: User,
    new_password: str,
    *,
    current_password: str | None = None,
    min_length: int = 10,
) -> None:
    """Change a password. Users changing their own must give the current one (if they have one)."""
    user = ctx.attach(user)
    is_self = ctx.actor is not None and ctx.actor.id == user.id
    if is_self and not ctx.system:
        if user.password_hash is not None and not passwords.verify_password(
            user.password_hash, current_password or ""
        ):
            raise Invalid("The current password is not correct.", field="current_password")
    else:
        require(ctx, "user.manage", to="set other people's passwords")
    passwords.check_password_policy(new_password, min_length=min_length, email=user.email)
    user.password_hash = passwords.hash_password(new_password)
    user.updated_at = utcnow()
    # Every session ends; the web layer renews the one that changed its own password.
    bump_session_version(ctx, user)
    _clear_sign_in_failures(ctx, user)
    audit(ctx, "user.password_change" if is_self else "user.password_set", user)


def deactivate_user(ctx: Context, user: User, reason: str = "") -> bool:
    """Stop a user signing in; their enrollments and records stay. False if already inactive."""
    user = ctx.attach(user)
    require(ctx, "user.manage", to="deactivate users")
    reason = check_length("reason", reason or "", limits.REASON)
    if not user.is_active:
        return False
    if ctx.actor is not None and ctx.actor.id == user.id:
        raise Invalid("You cannot deactivate your own account.")
    if _is_last_admin(ctx, user):
        raise Conflict("This is the last active administrator; make someone else an admin first.")
    user.is_active = False
    user.deactivated_at = utcnow()
    bump_session_version(ctx, user)  # for good: reactivating does not revive them
    from lms_core.services.permissions import invalidate

    invalidate(ctx.session, user.id)
    ctx.session.flush()
    from lms_core.services.groups import sync_user_rule_groups

    sync_user_rule_groups(ctx, user)  # deactivated users drop out of rule groups
    audit(ctx, "user.deactivate", user, reason=reason)
    outbox.record(
        ctx,
        UserDeactivated(user_id=user.id, deactivated_at=user.deactivated_at, person=person(user)),
    )
    return True


def _is_last_admin(ctx: Context, user: User) -> bool:
    from lms_core.services.roles import _active_admin_count

    is_admin = ctx.session.scalars(
        select(RoleAssignment.id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .where(
            RoleAssignment.user_id == user.id,
            Role.name == ADMIN,
            RoleAssignment.course_id.is_(None),
        )
    ).first()
    return is_admin is not None and _active_admin_count(ctx) <= 1


def reactivate_user(ctx: Context, user: User) -> bool:
    user = ctx.attach(user)
    require(ctx, "user.manage", to="reactivate users")
    if user.is_active:
        return False
    user.is_active = True
    user.deactivated_at = None
    _clear_sign_in_failures(ctx, user)
    ctx.session.flush()
    from lms_core.services.groups import sync_user_rule_groups

    sync_user_rule_groups(ctx, user)  # and are back in the ones their profile matches
    audit(ctx, "user.reactivate", user)
    outbox.record(
        ctx, UserReactivated(user_id=user.id, reactivated_at=utcnow(), person=person(user))
    )
    return True


def _account_key(email: object) -> str:
    # Hashed: the counters need no readable addresses (nor the database or Redis to hold them).
    text = email.strip().lower() if isinstance(email, str) else ""
    return "login:acct:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:40]


def _clear_sign_in_failures(ctx: Context, user: User) -> None:
    """A new password or a reactivation unlocks the account, as an admin would expect."""
    if ctx.lms is not None:
        ctx.lms.limiter.reset(_account_key(user.email), session=ctx.session)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def authenticate(
    ctx: Context,
    email: str,
    password: str,
    *,
    devices: Mapping[int, str] | None = None,
) -> User:
    """Check a password sign-in: the user when the password is right (start their session with
    :func:`lms_core.services.sessions.start_session` in the same unit of work).

    Raises :class:`Invalid` with the same message for an unknown email and a wrong password,
    and :class:`TooManyAttempts` once there were too many failures. Failures are counted in
    the site's shared limiter, for the client's address (``ADDRESS_LIMIT`` per
    ``ADDRESS_WINDOW`` seconds) and for the account (``auth.max_failed_logins`` per
    ``auth.lockout_minutes``). Accounts that do not exist are counted and locked alike, and a
    refusal for a locked account takes as long as checking a password, so that neither the
    answer nor its timing tells which accounts exist.

    ``devices`` maps user ids to the device cookies the browser holds (OWASP's "device
    cookies", which the web layer signs and hands to a browser after it signed in): a browser
    that has signed in to the account before is not refused for its address's or the account's
    failures (so neither a neighbour behind the same NAT address nor an attacker guessing the
    account locks its owner out). Its own failures are counted against its device cookie, and
    after ``max_failed_logins`` of them the cookie no longer vouches for it.
    """
    if ctx.lms is None:
        raise RuntimeError("authenticate needs a unit of work with the runtime (lms.transaction)")
    limiter = ctx.lms.limiter
    policy = ctx.lms.config.auth
    window = policy.lockout_minutes * 60
    wrong = Invalid("The email or password is not correct.")
    password = password if isinstance(password, str) else ""
    user = find_user(ctx, email) if isinstance(email, str) and email.strip() else None
    account_key = _account_key(email)
    address_key = f"login:addr:{ctx.address}" if ctx.address else None
    device_key = None
    if user is not None and devices and user.id in devices:
        candidate = f"login:device:{devices[user.id]}"
        if limiter.count(candidate, session=ctx.session) < policy.max_failed_logins:
            device_key = candidate
    if device_key is None:
        if address_key and limiter.count(address_key, session=ctx.session) >= ADDRESS_LIMIT:
            minutes = _minutes(limiter.seconds_left(address_key, session=ctx.session))
            raise TooManyAttempts(
                f"Too many sign-in attempts from your network. Try again in {minutes} minute(s).",
                retry_after=minutes * 60,
            )
        if limiter.count(account_key, session=ctx.session) >= policy.max_failed_logins:
            passwords.verify_password(None, password)  # as long as a real check takes
            ctx.commit_on_error = True
            if address_key:  # counted after the check: a counter's row stays locked till commit
                limiter.hit(address_key, ADDRESS_WINDOW, session=ctx.session)
            minutes = _minutes(limiter.seconds_left(account_key, session=ctx.session))
            raise TooManyAttempts(
                f"Too many failed sign-in attempts. Try again in {minutes} minute(s).",
                retry_after=minutes * 60,
            )
    if not passwords.verify_password(user.password_hash if user else None, password):
        ctx.commit_on_error = True
        if device_key is not None and user is not None:
            limiter.hit(device_key, window, session=ctx.session)
            audit(ctx, "auth.failed", user, known_device=True)
            raise wrong
        if address_key:
            limiter.hit(address_key, ADDRESS_WINDOW, session=ctx.session)
        failures = limiter.hit(account_key, window, session=ctx.session)
        if user is not None:
            if failures >= policy.max_failed_logins:
                audit(ctx, "auth.lockout", user, failed_logins=failures)
            else:
                audit(ctx, "auth.failed", user)
        raise wrong
    assert user is not None and user.password_hash is not None
    if device_key is None:
        limiter.reset(account_key, session=ctx.session)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user
