"""course creator role; the instructor role is given per course

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-12-02 10:00:00.000000

Until now the built-in instructor role held ``course.create`` and was given site-wide so that
instructors could create courses; site-wide, its per-course permissions applied in every
course, so an instructor could edit every course and read every roster. From this revision:

* the built-in ``course_creator`` role holds ``course.create`` and is given site-wide;
* the built-in ``instructor`` role no longer holds ``course.create`` and is given per course
  (the role service refuses it site-wide; whoever creates a course becomes its instructor);
* every site-wide instructor assignment becomes a site-wide course_creator assignment (only if
  the instructor role let them create courses, i.e. held ``course.create`` or ``*``) plus
  instructor assignments in the courses they already teach (kept as they are) and the courses
  they created (``courses.created_by_id``).

When in doubt, fewer grants. Creating a course has always made its creator the instructor of
it, so a creator without that assignment had it taken away. The audit log records revocations
by the course code of the day, and codes can change; so when it holds any revocation of a
person's instructor role in a course, that person gets nothing back from ``created_by_id``
(they keep the assignments they have). Courses created by the site itself (no creator) get no
instructor from this migration. Every change is written to the audit log (actor "system",
``details.reason`` names this revision); no outbox events are recorded (the runtime and its
plugins do not run during a migration).

An admin's own role already called ``course_creator`` is renamed (``course_creator_custom``,
or with a number) so that nobody holding it gains or loses a permission.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

import lms_core.db

revision = 'core_0004'
down_revision = 'core_0003'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

COURSE_CREATOR = "course_creator"
INSTRUCTOR = "instructor"
CREATE = "course.create"
ALL = "*"
REASON_UP = (
    "core_0004: creating courses is the site-wide course_creator role; "
    "the instructor role is given per course"
)
REASON_DOWN = "core_0004 downgrade: the instructor role holds course.create again"
OLD_DESCRIPTION = "Builds courses and teaches them; usually assigned per course."
NEW_DESCRIPTION = (
    "Edits, publishes and teaches one course: its lessons, its roster, its learners' "
    "progress. Given per course."
)

# The tables as this revision knows them (not the models, which may have moved on).
roles = sa.table(
    "roles",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("title", sa.String),
    sa.column("description", sa.Text),
    sa.column("builtin", sa.Boolean),
    sa.column("created_at", lms_core.db.UTCDateTime()),
)
role_permissions = sa.table(
    "role_permissions",
    sa.column("role_id", sa.Integer),
    sa.column("permission", sa.String),
)
role_assignments = sa.table(
    "role_assignments",
    sa.column("id", sa.Integer),
    sa.column("user_id", sa.Integer),
    sa.column("role_id", sa.Integer),
    sa.column("course_id", sa.Integer),
    sa.column("assigned_by_id", sa.Integer),
    sa.column("assigned_at", lms_core.db.UTCDateTime()),
)
courses = sa.table(
    "courses",
    sa.column("id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("created_by_id", sa.Integer),
)
users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))
audit_log = sa.table(
    "audit_log",
    sa.column("at", lms_core.db.UTCDateTime()),
    sa.column("actor_id", sa.Integer),
    sa.column("actor_label", sa.String),
    sa.column("action", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.String),
    sa.column("target_label", sa.String),
    sa.column("address", sa.String),
    sa.column("details", sa.JSON),
)


class _Changes:
    """Writes role changes and their audit entries, all stamped with one time."""

    def __init__(self, conn: sa.Connection, reason: str) -> None:
        self.conn = conn
        self.reason = reason
        self.now = dt.datetime.now(dt.UTC)
        self._emails: dict[int, str] = {}

    def audit(self, action: str, kind: str, ident: int, label: str, **details: Any) -> None:
        self.conn.execute(
            audit_log.insert().values(
                at=self.now,
                actor_id=None,
                actor_label="system",
                action=action,
                target_type=kind,
                target_id=str(ident),
                target_label=label,
                address=None,
                details={**details, "reason": self.reason},
            )
        )

    def email(self, user_id: int) -> str:
        if user_id not in self._emails:
            self._emails[user_id] = self.conn.scalar(
                sa.select(users.c.email).where(users.c.id == user_id)
            )
        return self._emails[user_id]

    def assign(
        self, user_id: int, role_id: int, role: str, course: tuple[int, str] | None = None
    ) -> None:
        course_id, code = course if course is not None else (None, None)
        self.conn.execute(
            role_assignments.insert().values(
                user_id=user_id,
                role_id=role_id,
                course_id=course_id,
                assigned_by_id=None,
                assigned_at=self.now,
            )
        )
        self.audit("role.assign", "user", user_id, self.email(user_id), role=role, course=code)

    def revoke(self, assignment_id: int, user_id: int, role: str) -> None:
        self.conn.execute(role_assignments.delete().where(role_assignments.c.id == assignment_id))
        self.audit("role.revoke", "user", user_id, self.email(user_id), role=role, course=None)


def _role_id(conn: sa.Connection, name: str) -> int | None:
    return conn.scalar(sa.select(roles.c.id).where(roles.c.name == name))


def _permissions(conn: sa.Connection, role_id: int) -> set[str]:
    return set(
        conn.scalars(
            sa.select(role_permissions.c.permission).where(role_permissions.c.role_id == role_id)
        )
    )


def _site_assignments(conn: sa.Connection, role_id: int) -> list[tuple[int, int]]:
    """(assignment id, user id) of the site-wide assignments of a role."""
    rows = conn.execute(
        sa.select(role_assignments.c.id, role_assignments.c.user_id)
        .where(role_assignments.c.role_id == role_id, role_assignments.c.course_id.is_(None))
        .order_by(role_assignments.c.id)
    )
    return [(row.id, row.user_id) for row in rows]


def _holds_site_wide(conn: sa.Connection, user_id: int, role_id: int) -> bool:
    return (
        conn.scalar(
            sa.select(role_assignments.c.id).where(
                role_assignments.c.user_id == user_id,
                role_assignments.c.role_id == role_id,
                role_assignments.c.course_id.is_(None),
            )
        )
        is not None
    )


def _free_name(conn: sa.Connection, base: str) -> str:
    taken = set(conn.scalars(sa.select(roles.c.name).where(roles.c.name.like(f"{base}%"))))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}{n}"
    return name


def _course_creator_role(conn: sa.Connection, changes: _Changes) -> int:
    row = conn.execute(
        sa.select(roles.c.id, roles.c.builtin).where(roles.c.name == COURSE_CREATOR)
    ).first()
    if row is not None and not row.builtin:
        new_name = _free_name(conn, f"{COURSE_CREATOR}_custom")
        conn.execute(roles.update().where(roles.c.id == row.id).values(name=new_name))
        changes.audit("role.rename", "role", row.id, new_name, old=COURSE_CREATOR, new=new_name)
        log.warning("core_0004: your own role %r is now called %r", COURSE_CREATOR, new_name)
        row = None
    if row is not None:
        role_id: int = row.id
    else:
        conn.execute(
            roles.insert().values(
                name=COURSE_CREATOR,
                title="Course creator",
                description="Creates courses, and becomes the instructor of each course they "
                "create. Given site-wide.",
                builtin=True,
                created_at=changes.now,
            )
        )
        role_id = conn.scalar(sa.select(roles.c.id).where(roles.c.name == COURSE_CREATOR))
        changes.audit("role.create", "role", role_id, COURSE_CREATOR, permissions=[CREATE])
    if CREATE not in _permissions(conn, role_id):
        conn.execute(role_permissions.insert().values(role_id=role_id, permission=CREATE))
    return role_id


def _revoked_course_instructors(conn: sa.Connection) -> set[int]:
    """Ids of the people whose instructor role in some course was ever revoked."""
    rows = conn.execute(
        sa.select(audit_log.c.target_id, audit_log.c.details).where(
            audit_log.c.action == "role.revoke", audit_log.c.target_type == "user"
        )
    )
    return {
        int(target_id)
        for target_id, details in rows
        if isinstance(details, dict)
        and details.get("role") == INSTRUCTOR
        and details.get("course")
        and str(target_id).isdigit()
    }


def upgrade() -> None:
    conn = op.get_bind()
    instructor_id = _role_id(conn, INSTRUCTOR)
    if instructor_id is None:
        return  # a new database: the built-in roles are created at start-up, already split
    changes = _Changes(conn, REASON_UP)
    creator_id = _course_creator_role(conn, changes)

    conn.execute(
        roles.update()
        .where(roles.c.id == instructor_id, roles.c.description == OLD_DESCRIPTION)
        .values(description=NEW_DESCRIPTION)
    )
    held = _permissions(conn, instructor_id)
    could_create = bool(held & {CREATE, ALL})
    if CREATE in held:
        conn.execute(
            role_permissions.delete().where(
                role_permissions.c.role_id == instructor_id,
                role_permissions.c.permission == CREATE,
            )
        )
        changes.audit(
            "role.permissions", "role", instructor_id, INSTRUCTOR, added=[], removed=[CREATE]
        )

    revoked = _revoked_course_instructors(conn)
    skipped = []
    for assignment_id, user_id in _site_assignments(conn, instructor_id):
        teaching = set(
            conn.scalars(
                sa.select(role_assignments.c.course_id).where(
                    role_assignments.c.user_id == user_id,
                    role_assignments.c.role_id == instructor_id,
                    role_assignments.c.course_id.is_not(None),
                )
            )
        )
        created = conn.execute(
            sa.select(courses.c.id, courses.c.code)
            .where(courses.c.created_by_id == user_id)
            .order_by(courses.c.id)
        ).all()
        missing = [(c.id, c.code) for c in created if c.id not in teaching]
        if missing and user_id in revoked:
            skipped.append((changes.email(user_id), [code for _id, code in missing]))
        else:
            for course in missing:
                changes.assign(user_id, instructor_id, INSTRUCTOR, course)
        if could_create and not _holds_site_wide(conn, user_id, creator_id):
            changes.assign(user_id, creator_id, COURSE_CREATOR)
        changes.revoke(assignment_id, user_id, INSTRUCTOR)
    for email, codes in skipped:
        log.warning(
            "core_0004: %s created %s but their instructor role in a course was revoked once; "
            "not given back (assign it on the Roles page if they should teach it)",
            email,
            ", ".join(codes),
        )


def downgrade() -> None:
    conn = op.get_bind()
    instructor_id = _role_id(conn, INSTRUCTOR)
    creator_id = conn.scalar(
        sa.select(roles.c.id).where(roles.c.name == COURSE_CREATOR, roles.c.builtin.is_(True))
    )
    if instructor_id is None or creator_id is None:
        return
    changes = _Changes(conn, REASON_DOWN)
    conn.execute(
        roles.update()
        .where(roles.c.id == instructor_id, roles.c.description == NEW_DESCRIPTION)
        .values(description=OLD_DESCRIPTION)
    )
    if CREATE not in _permissions(conn, instructor_id):
        conn.execute(role_permissions.insert().values(role_id=instructor_id, permission=CREATE))
        changes.audit(
            "role.permissions", "role", instructor_id, INSTRUCTOR, added=[CREATE], removed=[]
        )
    # Course creators become site-wide instructors again; their course-scope assignments stay.
    for assignment_id, user_id in _site_assignments(conn, creator_id):
        if not _holds_site_wide(conn, user_id, instructor_id):
            changes.assign(user_id, instructor_id, INSTRUCTOR)
        changes.revoke(assignment_id, user_id, COURSE_CREATOR)
    holders = conn.execute(
        role_assignments.delete().where(role_assignments.c.role_id == creator_id)
    ).rowcount  # course-scope ones, if an admin made any
    conn.execute(role_permissions.delete().where(role_permissions.c.role_id == creator_id))
    conn.execute(roles.delete().where(roles.c.id == creator_id))
    changes.audit("role.delete", "role", creator_id, COURSE_CREATOR, assignments_removed=holders)
