"""Roles: the built-in five, custom roles, and assigning them at site or course scope."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from lms_core import limits
from lms_core import outbox
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.default_permissions import ADMIN
from lms_core.default_permissions import COURSE_CREATOR
from lms_core.default_permissions import INSTRUCTOR
from lms_core.default_permissions import LEARNER
from lms_core.default_permissions import MANAGER
from lms_core.errors import Conflict
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.events import RoleAssigned
from lms_core.events import RoleRevoked
from lms_core.limits import check_length
from lms_core.limits import listing
from lms_core.models import ALL_PERMISSIONS
from lms_core.models import Course
from lms_core.models import KnownPermission
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import RolePermission
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.permissions import invalidate
from lms_core.services.permissions import registry
from lms_core.services.permissions import require

__all__ = [
    "BUILTIN_ROLES",
    "COURSE_ONLY_ROLES",
    "SITE_ONLY_ROLES",
    "check_scope",
    "ensure_builtin_roles",
    "get_role",
    "create_role",
    "set_role_permissions",
    "delete_role",
    "assign_role",
    "revoke_role",
    "role_permissions",
]

BUILTIN_ROLES = {
    ADMIN: ("Administrator", "Everything, site-wide."),
    MANAGER: ("Manager", "Enrolls people, manages groups, follows progress."),
    COURSE_CREATOR: (
        "Course creator",
        "Creates courses, and becomes the instructor of each course they create. Given site-wide.",
    ),
    INSTRUCTOR: (
        "Instructor",
        "Edits, publishes and teaches one course: its lessons, its roster, its learners' "
        "progress. Given per course.",
    ),
    LEARNER: ("Learner", "Takes courses. Every new account gets it."),
}

#: Built-in roles that are only ever given in one course. At site scope they would grant
#: their per-course permissions in every course: an instructor of one course would read every
#: roster. Custom roles may be given at either scope (the admin pages say what that means).
COURSE_ONLY_ROLES = frozenset({INSTRUCTOR})
#: Built-in roles that are only ever given site-wide: in one course they would grant nothing.
SITE_ONLY_ROLES = frozenset({COURSE_CREATOR})

_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,59}$")


def ensure_builtin_roles(ctx: Context) -> list[Role]:
    """Create missing built-in roles and grant every declared permission's default roles.

    Safe to run again: it only adds. Permissions an admin removed from a built-in role are
    not given back unless they are new (declared since the last run). A built-in role created
    by this run (new to the site) gets every permission that names it as a default role.
    """
    perms = registry(ctx.hooks)
    roles = {
        r.name: r for r in ctx.session.scalars(select(Role).where(Role.name.in_(BUILTIN_ROLES)))
    }
    created = set()
    for name, (title, description) in BUILTIN_ROLES.items():
        if name not in roles:
            role = Role(name=name, title=title, description=description, builtin=True)
            ctx.session.add(role)
            roles[name] = role
            created.add(name)
    ctx.session.flush()
    if ctx.session.get(RolePermission, (roles[ADMIN].id, ALL_PERMISSIONS)) is None:
        ctx.session.add(RolePermission(role_id=roles[ADMIN].id, permission=ALL_PERMISSIONS))
    known = set(ctx.session.scalars(select(KnownPermission.name)))
    existing = {
        (r[0], r[1])
        for r in ctx.session.execute(select(RolePermission.role_id, RolePermission.permission))
    }
    for permission in perms.values():
        new = permission.name not in known
        for role_name in permission.default_roles:
            holder = roles.get(role_name)
            if holder is None or role_name == ADMIN or not (new or role_name in created):
                continue
            if (holder.id, permission.name) not in existing:
                ctx.session.add(RolePermission(role_id=holder.id, permission=permission.name))
                existing.add((holder.id, permission.name))
        if new:
            ctx.session.add(KnownPermission(name=permission.name))
    ctx.session.flush()
    invalidate(ctx.session)
    return list(roles.values())


def get_role(ctx: Context, name: str) -> Role:
    role = ctx.session.scalars(select(Role).where(Role.name == name)).first()
    if role is None:
        raise NotFound(f"There is no role called {name!r}.")
    return role


def role_permissions(ctx: Context, role: Role) -> set[str]:
    return set(
        ctx.session.scalars(
            select(RolePermission.permission).where(RolePermission.role_id == role.id)
        )
    )


def _check_permissions(ctx: Context, permissions: Iterable[str]) -> list[str]:
    known = registry(ctx.hooks)
    names = sorted(set(permissions))
    unknown = [p for p in names if p not in known and p != ALL_PERMISSIONS]
    if unknown:
        raise Invalid(f"Unknown permission(s): {listing(unknown)}.", field="permissions")
    return names


def create_role(
    ctx: Context, name: str, title: str, permissions: Iterable[str] = (), description: str = ""
) -> Role:
    """Create a custom role."""
    require(ctx, "role.manage", to="create roles")
    name = check_length("name", name or "", limits.ROLE_NAME, label="A role name").strip().lower()
    if not _ROLE_NAME.match(name):
        raise Invalid(
            "A role name is 2-60 lower-case letters, digits or underscores, starting with a letter.",
            field="name",
        )
    if not (title or "").strip():
        raise Invalid("A role needs a title.", field="title")
    title = check_length("title", title, limits.ROLE_TITLE, label="A role title").strip()
    description = check_length(
        "description", description or "", limits.ROLE_DESCRIPTION, label="A role description"
    ).strip()
    if ctx.session.scalars(select(Role.id).where(Role.name == name)).first() is not None:
        raise Conflict(f"A role called {name!r} already exists.")
    names = _check_permissions(ctx, permissions)
    role = Role(name=name, title=title, description=description, builtin=False)
    ctx.session.add(role)
    ctx.session.flush()
    ctx.session.add_all(RolePermission(role_id=role.id, permission=p) for p in names)
    audit(ctx, "role.create", role, permissions=names)
    return role


def set_role_permissions(ctx: Context, role: Role, permissions: Iterable[str]) -> None:
    """Replace the permissions a role holds."""
    role = ctx.attach(role)
    require(ctx, "role.manage", to="change role permissions")
    names = _check_permissions(ctx, permissions)
    if role.name == ADMIN and ALL_PERMISSIONS not in names:
        raise Invalid("The admin role always holds every permission.", field="permissions")
    before = role_permissions(ctx, role)
    ctx.session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
    ctx.session.add_all(RolePermission(role_id=role.id, permission=p) for p in names)
    ctx.session.flush()
    invalidate(ctx.session)
    audit(
        ctx,
        "role.permissions",
        role,
        added=sorted(set(names) - before),
        removed=sorted(before - set(names)),
    )


def delete_role(ctx: Context, role: Role) -> None:
    role = ctx.attach(role)
    require(ctx, "role.manage", to="delete roles")
    if role.builtin:
        raise Invalid(f"The built-in role {role.name!r} cannot be deleted.")
    holders = ctx.session.scalar(select(func.count()).where(RoleAssignment.role_id == role.id))
    audit(ctx, "role.delete", role, assignments_removed=holders)
    ctx.session.delete(role)
    ctx.session.flush()
    invalidate(ctx.session)


def _active_admin_count(ctx: Context) -> int:
    return int(
        ctx.session.scalar(
            select(func.count(func.distinct(RoleAssignment.user_id)))
            .join(Role, Role.id == RoleAssignment.role_id)
            .join(User, User.id == RoleAssignment.user_id)
            .where(Role.name == ADMIN, RoleAssignment.course_id.is_(None), User.is_active.is_(True))
        )
        or 0
    )


def check_scope(role_name: str, course: Course | None, *, field: str = "course") -> None:
    """Refuse a course-only role (:data:`COURSE_ONLY_ROLES`) site-wide, and a site-only one
    (:data:`SITE_ONLY_ROLES`) in a course."""
    if course is not None and role_name in SITE_ONLY_ROLES:
        raise Invalid(
            f"The {role_name} role is given site-wide only: in one course it would grant "
            "nothing. Choose site-wide.",
            field=field,
        )
    if course is None and role_name in COURSE_ONLY_ROLES:
        raise Invalid(
            f"The {role_name} role is given per course, so that its holders see and edit only "
            "the courses they teach: choose the course. To let someone create courses, give "
            f"them the {COURSE_CREATOR} role site-wide (they become the instructor of each "
            "course they create).",
            field=field,
        )


def assign_role(ctx: Context, user: User, role: Role | str, course: Course | None = None) -> bool:
    """Give ``role`` to ``user`` at site scope or in ``course``. False if they already had it.

    Course-only roles (instructor) are refused site-wide and site-only ones (course_creator)
    in a course, see :func:`check_scope`.
    """
    user = ctx.attach(user)
    course = ctx.attach(course) if course is not None else None
    require(ctx, "role.manage", to="assign roles")
    role = get_role(ctx, role) if isinstance(role, str) else role
    check_scope(role.name, course)
    stmt = select(RoleAssignment).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role_id == role.id
    )
    stmt = stmt.where(
        RoleAssignment.course_id.is_(None)
        if course is None
        else RoleAssignment.course_id == course.id
    )
    if ctx.session.scalars(stmt).first() is not None:
        return False
    ctx.session.add(
        RoleAssignment(
            user_id=user.id,
            role_id=role.id,
            course_id=course.id if course is not None else None,
            assigned_by_id=ctx.actor_id,
        )
    )
    ctx.session.flush()
    invalidate(ctx.session, user.id)
    audit(ctx, "role.assign", user, role=role.name, course=course.code if course else None)
    outbox.record(
        ctx,
        RoleAssigned(
            user_id=user.id,
            role=role.name,
            course_id=course.id if course else None,
            by_user_id=ctx.actor_id,
            at=utcnow(),
        ),
    )
    return True


def revoke_role(ctx: Context, user: User, role: Role | str, course: Course | None = None) -> bool:
    """Take ``role`` from ``user`` at that scope. False if they did not have it."""
    user = ctx.attach(user)
    course = ctx.attach(course) if course is not None else None
    require(ctx, "role.manage", to="revoke roles")
    role = get_role(ctx, role) if isinstance(role, str) else role
    stmt = select(RoleAssignment).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role_id == role.id
    )
    stmt = stmt.where(
        RoleAssignment.course_id.is_(None)
        if course is None
        else RoleAssignment.course_id == course.id
    )
    assignment = ctx.session.scalars(stmt).first()
    if assignment is None:
        return False
    if role.name == ADMIN and course is None and user.is_active and _active_admin_count(ctx) <= 1:
        raise Conflict("This is the last active administrator; make someone else an admin first.")
    ctx.session.delete(assignment)
    ctx.session.flush()
    invalidate(ctx.session, user.id)
    audit(ctx, "role.revoke", user, role=role.name, course=course.code if course else None)
    outbox.record(
        ctx,
        RoleRevoked(
            user_id=user.id,
            role=role.name,
            course_id=course.id if course else None,
            by_user_id=ctx.actor_id,
            at=utcnow(),
        ),
    )
    return True
