"""One function answers every permission question: :func:`can`.

A user holds a permission when a role that includes it (or the ``*`` wildcard) is assigned
to them at site scope, or at the scope of the course asked about. Deactivated users hold none.
Grants are read with one query per user per transaction and cached in ``session.info``; role
changes in the session clear the cache, and so does the end of its transaction (another
session may have changed roles meanwhile: a page's read session must see the course-scope
role its own write just gave).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy.orm import Session
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


def explain(user: User, permission: str, course: Course | int | None = None) -> list[str]:
    """The role assignments through which ``user`` holds ``permission`` (for admins' eyes)."""
    session = object_session(user)
    assert session is not None
    course_id = _course_id(course)
    rows = session.execute(
        select(Role.name, RoleAssignment.course_id)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .join(RolePermission, RolePermission.role_id == Role.id)
        .where(
            RoleAssignment.user_id == user.id,
            RolePermission.permission.in_((permission, ALL_PERMISSIONS)),
        )
    ).all()
    out = []
    for role, scope in rows:
        if scope is None:
            out.append(f"{role} (site)")
        elif scope == course_id:
            out.append(f"{role} (course {scope})")
    return sorted(out)


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
