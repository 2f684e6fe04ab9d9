"""One function answers every permission question: :func:`can`.

A user holds a permission when a role that includes it (or the ``*`` wildcard) is assigned
to them at site scope, or at the scope of the course asked about. Deactivated users hold none.
Grants are read with one query per user per transaction and cached in ``session.info``; role
changes in the session clear the cache, and so does the end of its transaction (another
session may have changed roles meanwhile: a page's read session must see the course-scope
role its own write just gave).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from attrs import frozen
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased
from sqlalchemy.orm import object_session

from lms_core.errors import Forbidden
from lms_core.models import ALL_PERMISSIONS
from lms_core.models import Course
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import RolePermission
from lms_core.models import User

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.contributions import Permission
    from lms_core.hooks.caller import Hooks

__all__ = [
    "can",
    "can_anywhere",
    "require",
    "explain",
    "Explanation",
    "Grant",
    "RoleOption",
    "invalidate",
    "registry",
    "courses_with",
]

_CACHE_KEY = "lms.grants"

Grants = dict[int | None, set[str]]


def _grants(session: Session, user_id: int) -> Grants:
    cache: dict[int, Grants] = session.info.setdefault(_CACHE_KEY, {})
    if user_id not in cache:
        rows = session.execute(
            select(RoleAssignment.course_id, RolePermission.permission)
            .join(RolePermission, RolePermission.role_id == RoleAssignment.role_id)
            .where(RoleAssignment.user_id == user_id)
        ).all()
        grants: Grants = {}
        for course_id, permission in rows:
            grants.setdefault(course_id, set()).add(permission)
        cache[user_id] = grants
    return cache[user_id]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_grants(session: Session) -> None:
    session.info.pop(_CACHE_KEY, None)


def invalidate(session: Session, user_id: int | None = None) -> None:
    """Forget cached grants (of one user, or everyone's)."""
    cache = session.info.get(_CACHE_KEY)
    if cache is None:
        return
    if user_id is None:
        cache.clear()
    else:
        cache.pop(user_id, None)


def _course_id(course: Course | int | None) -> int | None:
    if course is None or isinstance(course, int):
        return course
    return course.id


def can(user: User | None, permission: str, course: Course | int | None = None) -> bool:
    """Whether ``user`` holds ``permission`` at site scope or in ``course``."""
    if user is None or not user.is_active:
        return False
    session = object_session(user)
    if session is None:
        raise RuntimeError("can() needs a user loaded in a session")
    grants = _grants(session, user.id)
    site = grants.get(None, ())
    if permission in site or ALL_PERMISSIONS in site:
        return True
    course_id = _course_id(course)
    if course_id is not None:
        scoped = grants.get(course_id, ())
        return permission in scoped or ALL_PERMISSIONS in scoped
    return False


def can_anywhere(user: User | None, *permissions: str) -> bool:
    """Whether ``user`` holds one of ``permissions`` at site scope or in at least one course.

    For the entrance of an area whose pages are per course, such as ``/teach/``: it lists
    what the user may reach, and each page behind it checks its own course.
    """
    if user is None or not user.is_active:
        return False
    session = object_session(user)
    if session is None:
        raise RuntimeError("can_anywhere() needs a user loaded in a session")
    wanted = {*permissions, ALL_PERMISSIONS}
    return any(wanted & perms for perms in _grants(session, user.id).values())


def require(ctx: Context, permission: str, course: Course | int | None = None, *, to: str) -> None:
    """Raise :class:`Forbidden` unless the actor may ``to`` (e.g. ``to="edit this course"``)."""
    if ctx.system:
        return
    if ctx.actor is None:
        raise Forbidden(f"Sign in to {to}.", permission)
    if not ctx.actor.is_active:
        raise Forbidden("Your account is deactivated.", permission)
    if not can(ctx.actor, permission, course):
        raise Forbidden(
            f"You are not allowed to {to} (it needs the {permission} permission).", permission
        )


@frozen(kw_only=True)
class Grant:
    """One role assignment through which a user holds a permission."""

    role: str
    role_title: str
    #: None: the role was given site-wide.
    course_id: int | None
    course_code: str | None
    assigned_at: dt.datetime
    #: Who gave it; None when the site itself did (the CLI, an import, the demo) or when the
    #: account that gave it was erased since.
    assigned_by_id: int | None
    assigned_by: str | None
    #: The role holds every permission (``*``) rather than this one by name.
    via_wildcard: bool

    @property
    def scope(self) -> str:
        return "site-wide" if self.course_id is None else f"in {self.course_code}"

    @property
    def by(self) -> str:
        return self.assigned_by or "the system (command line, import or set-up)"


@frozen(kw_only=True)
class RoleOption:
    """A role that includes a permission (so would grant it, if given)."""

    name: str
    title: str


@frozen(kw_only=True)
class Explanation:
    """Why ``user`` may or may not use ``permission`` (in ``course``): :func:`explain`."""

    user_id: int
    user_email: str
    permission: str
    course_id: int | None
    course_code: str | None
    allowed: bool
    #: The assignments that grant it here (site-wide, or in the course asked about).
    grants: tuple[Grant, ...]
    #: Assignments in other courses that include it (they do not count here).
    elsewhere: tuple[Grant, ...] = ()
    #: When not allowed: the roles that include the permission.
    would_grant: tuple[RoleOption, ...] = ()
    #: The account is deactivated: it holds nothing, whatever its roles.
    deactivated: bool = False

    @property
    def where(self) -> str:
        return f"in {self.course_code}" if self.course_id is not None else "site-wide"

    def summary(self) -> str:
        """One sentence: allowed or not, and the main reason."""
        who, what = self.user_email, self.permission
        if self.deactivated:
            return f"{who} may not use {what} {self.where}: the account is deactivated."
        if self.allowed:
            roles = ", ".join(f"{g.role} ({g.scope})" for g in self.grants)
            noun = "role" if len(self.grants) == 1 else "roles"
            return f"{who} may use {what} {self.where}, through the {noun} {roles}."
        if self.would_grant:
            return f"{who} may not use {what} {self.where}: none of their roles includes it here."
        return f"{who} may not use {what} {self.where}: no role includes it."

    def lines(self) -> list[str]:
        """The summary, a line per grant, and what else bears on it (for the command line)."""
        out = [self.summary()]
        for g in self.grants:
            out.append(
                f"  {g.role} ({g.role_title}) {g.scope}, given {g.assigned_at:%Y-%m-%d %H:%M} "
                f"UTC by {g.by}" + (" (the role holds every permission)" if g.via_wildcard else "")
            )
        for g in self.elsewhere:
            out.append(f"  Also holds it {g.scope} only, through {g.role}.")
        if not self.allowed and self.would_grant:
            out.append("  Roles that include it: " + ", ".join(r.name for r in self.would_grant))
        return out


def explain(user: User, permission: str, course: Course | int | None = None) -> Explanation:
    """Why ``user`` holds ``permission`` at site scope or in ``course``, or why not (for admins).

    Allowed exactly when :func:`can` says so. The grants name the role, its scope, when it was
    given and by whom; when not allowed, ``would_grant`` lists the roles that include the
    permission. Two queries (one more to name the course when given by id).
    """
    session = object_session(user)
    if session is None:
        raise RuntimeError("explain() needs a user loaded in a session")
    course_id = _course_id(course)
    giver = aliased(User)
    rows = session.execute(
        select(
            Role.name,
            Role.title,
            RoleAssignment.course_id,
            Course.code,
            RoleAssignment.assigned_at,
            RoleAssignment.assigned_by_id,
            giver.email,
            RolePermission.permission,
        )
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .join(RolePermission, RolePermission.role_id == Role.id)
        .outerjoin(Course, Course.id == RoleAssignment.course_id)
        .outerjoin(giver, giver.id == RoleAssignment.assigned_by_id)
        .where(
            RoleAssignment.user_id == user.id,
            RolePermission.permission.in_((permission, ALL_PERMISSIONS)),
        )
        .order_by(RoleAssignment.course_id.is_not(None), Course.code_key, Role.name)
    ).all()
    here: dict[tuple[str, int | None], Grant] = {}
    elsewhere: dict[tuple[str, int | None], Grant] = {}
    for name, title, scope, code, at, by_id, by_email, held in rows:
        grant = Grant(
            role=name,
            role_title=title,
            course_id=scope,
            course_code=code,
            assigned_at=at,
            assigned_by_id=by_id,
            assigned_by=by_email,
            via_wildcard=held == ALL_PERMISSIONS,
        )
        target = here if scope is None or scope == course_id else elsewhere
        key = (name, scope)
        # A role holding both the permission and "*" shows once, by name.
        if key not in target or target[key].via_wildcard:
            target[key] = grant
    course_code: str | None = None
    if isinstance(course, Course):
        course_code = course.code
    elif course_id is not None:
        course_code = session.scalar(select(Course.code).where(Course.id == course_id))
    allowed = bool(here) and user.is_active
    would_grant: tuple[RoleOption, ...] = ()
    if not allowed:
        would_grant = tuple(
            RoleOption(name=name, title=title)
            for name, title in session.execute(
                select(Role.name, Role.title)
                .join(RolePermission, RolePermission.role_id == Role.id)
                .where(RolePermission.permission.in_((permission, ALL_PERMISSIONS)))
                .distinct()
                .order_by(Role.name)
            )
        )
    return Explanation(
        user_id=user.id,
        user_email=user.email,
        permission=permission,
        course_id=course_id,
        course_code=course_code,
        allowed=allowed,
        grants=tuple(here.values()),
        elsewhere=tuple(elsewhere.values()),
        would_grant=would_grant,
        deactivated=not user.is_active,
    )


def courses_with(user: User, permission: str) -> set[int] | None:
    """Course ids where ``user`` holds ``permission``; ``None`` means every course (site scope)."""
    if not user.is_active:
        return set()
    session = object_session(user)
    assert session is not None
    grants = _grants(session, user.id)
    site = grants.get(None, ())
    if permission in site or ALL_PERMISSIONS in site:
        return None
    return {
        cid
        for cid, perms in grants.items()
        if cid is not None and (permission in perms or ALL_PERMISSIONS in perms)
    }


def registry(hooks: Hooks) -> dict[str, Permission]:
    """Every permission declared by the core and the enabled plugins, by name."""
    out: dict[str, Permission] = {}
    for permission in hooks.permissions():
        if permission.name in out and out[permission.name] != permission:
            raise ValueError(f"permission {permission.name!r} is declared twice")
        out[permission.name] = permission
    return out
