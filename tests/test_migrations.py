"""The core's Alembic migration builds exactly the schema the models describe."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text

import lms_core.models  # noqa: F401  (the core's tables)
from lms_core import migrate
from lms_core.db import Base

#: The tables the core's models define (plugins' models may share the metadata in a test run).
CORE_TABLES = {
    mapper.local_table.name
    for mapper in Base.registry.mappers
    if mapper.class_.__module__.startswith("lms_core.models")
}


def _core_metadata() -> MetaData:
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for name in CORE_TABLES:
        Base.metadata.tables[name].to_metadata(metadata)
    return metadata


def test_the_core_tables_are_all_there(lms):
    assert {
        "users",
        "courses",
        "lessons",
        "enrollments",
        "audit_log",
        "outbox_events",
    } <= CORE_TABLES
    assert set(inspect(lms.engine).get_table_names()) >= CORE_TABLES


def test_the_migrated_schema_is_identical_to_the_models(lms):
    with lms.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": lambda name, type_, _parent: (
                    type_ != "table" or name in CORE_TABLES
                ),
            },
        )
        differences = compare_metadata(context, _core_metadata())
    assert differences == []


def test_the_core_migration_lives_on_the_core_branch(lms):
    script = ScriptDirectory.from_config(migrate.alembic_config(lms))
    revision = script.get_revision("core_0001")
    assert revision is not None
    assert "core" in revision.branch_labels
    assert revision.down_revision is None


def test_nothing_is_pending_after_upgrade_and_upgrading_again_is_harmless(lms):
    assert migrate.pending(lms) is False
    migrate.upgrade(lms)
    assert migrate.pending(lms) is False
    assert set(
        ScriptDirectory.from_config(migrate.alembic_config(lms)).get_heads()
    ) <= migrate.current_heads(lms)


def test_a_fresh_database_has_a_pending_migration(tmp_path):
    from lms_core.config import load_config
    from lms_core.runtime import LMS

    site = LMS(load_config(env={}, overrides={"database": {"url": f"sqlite:///{tmp_path}/new.db"}}))
    try:
        assert migrate.pending(site) is True
        migrate.upgrade(site)
        assert migrate.pending(site) is False
    finally:
        site.dispose()


def test_sqlite_runs_with_the_wal_journal_and_foreign_keys_on(lms):
    if lms.is_postgres:
        pytest.skip("SQLite pragmas")
    with lms.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_sqlite_enforces_foreign_keys(lms):
    if lms.is_postgres:
        pytest.skip("SQLite pragmas")
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), lms.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO lessons (course_id, position, title, kind, required, body, data, created_at)"
                " VALUES (999999, 1, 't', 'page', 1, '', '{}', '2026-01-01 00:00:00')"
            )
        )


# -- core_0004: course creators, and instructors per course --------------------------------

OLD_INSTRUCTOR = {
    "course.create",
    "course.edit",
    "course.publish",
    "course.view_unpublished",
    "enrollment.manage",
    "enrollment.self",
    "progress.view",
}
T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
OLD_DESCRIPTIONS = {"instructor": "Builds courses and teaches them; usually assigned per course."}


@pytest.fixture
def scratch(tmp_path):
    """A runtime on a new, empty database: a SQLite file, or a schema of its own in the
    PostgreSQL test database (so the shared test schema is never migrated down)."""
    from sqlalchemy.engine import make_url

    from lms_core.config import load_config
    from lms_core.db import make_engine
    from lms_core.db import normalise_url
    from lms_core.runtime import LMS

    url = os.environ.get("LMS_TEST_DATABASE_URL")
    schema = None
    if url and make_url(url).get_backend_name() == "postgresql":
        schema = f"mig_{uuid.uuid4().hex[:12]}"
        owner = make_engine(url)
        with owner.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = (
            make_url(normalise_url(url))
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    site = LMS(load_config(env={}, overrides={"database": {"url": url}}))
    try:
        yield site
    finally:
        site.dispose()
        if schema is not None:
            with owner.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            owner.dispose()


def _insert(conn, table: str, **values) -> None:
    from lms_core.db import UTCDateTime

    def column(name, value):
        if isinstance(value, dt.datetime):
            return sa.column(name, UTCDateTime())
        if isinstance(value, bool):
            return sa.column(name, sa.Boolean())
        if isinstance(value, dict):
            return sa.column(name, sa.JSON())
        return sa.column(name)

    conn.execute(sa.table(table, *(column(k, v) for k, v in values.items())).insert(), values)


def _before_core_0004(site) -> str:
    revision = ScriptDirectory.from_config(migrate.alembic_config(site)).get_revision("core_0004")
    assert revision is not None
    return revision.down_revision


def _old_site(site, *, instructor=frozenset(OLD_INSTRUCTOR), custom_course_creator=False):
    """A site as the code before core_0004 left it: instructors given the role site-wide.

    priya (site-wide instructor) created A and D and co-teaches B; her assignment in D is
    missing (with no revocation on record). omar (site-wide) created C; his instructor role
    in it was revoked, when C had another code. sam (site-wide) teaches nothing. kim teaches
    E, a course the site made, in E only. lee is a learner.
    """
    migrate.upgrade(site, _before_core_0004(site))
    from lms_core.default_permissions import CORE_PERMISSIONS

    with site.engine.begin() as conn:
        for rid, name, perms in (
            (1, "admin", {"*"}),
            (2, "manager", {"user.view", "progress.view", "enrollment.manage"}),
            (3, "instructor", set(instructor)),
            (4, "learner", {"enrollment.self"}),
        ):
            _insert(
                conn,
                "roles",
                id=rid,
                name=name,
                title=name.title(),
                description=OLD_DESCRIPTIONS.get(name, ""),
                builtin=True,
                created_at=T0,
            )
            for permission in sorted(perms):
                _insert(conn, "role_permissions", role_id=rid, permission=permission)
        if custom_course_creator:
            _insert(
                conn,
                "roles",
                id=5,
                name="course_creator",
                title="Our own",
                description="",
                builtin=False,
                created_at=T0,
            )
            _insert(conn, "role_permissions", role_id=5, permission="audit.view")
        for permission in CORE_PERMISSIONS:
            _insert(conn, "known_permissions", name=permission.name, first_seen_at=T0)
        for uid, name in enumerate(("admin", "priya", "omar", "sam", "kim", "lee"), start=1):
            _insert(
                conn,
                "users",
                id=uid,
                email=f"{name}@example.com",
                email_key=f"{name}@example.com",
                name=name.title(),
                is_active=True,
                timezone="UTC",
                locale="en",
                created_at=T0,
            )
        for cid, code, creator in (
            (1, "A", 2),
            (2, "B", 1),
            (3, "C", 3),
            (4, "D", 2),
            (5, "E", None),
        ):
            _insert(
                conn,
                "courses",
                id=cid,
                code=code,
                code_key=code,
                title=f"Course {code}",
                summary="",
                status="published",
                enrollment_policy="open",
                created_by_id=creator,
                created_at=T0,
            )
        role_ids = {"admin": 1, "manager": 2, "instructor": 3, "learner": 4, "course_creator": 5}
        user_ids = {"admin": 1, "priya": 2, "omar": 3, "sam": 4, "kim": 5, "lee": 6}
        course_ids = {None: None, "A": 1, "B": 2, "C": 3, "D": 4, "E": 5}
        assignments = [
            ("admin", "admin", None),
            ("admin", "learner", None),
            ("priya", "instructor", None),
            ("priya", "learner", None),
            ("priya", "instructor", "A"),
            ("priya", "instructor", "B"),
            ("omar", "instructor", None),
            ("sam", "instructor", None),
            ("kim", "instructor", "E"),
            ("kim", "learner", None),
            ("lee", "learner", None),
        ]
        if custom_course_creator:
            assignments.append(("lee", "course_creator", None))
        for aid, (who, role, code) in enumerate(assignments, start=1):
            _insert(
                conn,
                "role_assignments",
                id=aid,
                user_id=user_ids[who],
                role_id=role_ids[role],
                course_id=course_ids[code],
                assigned_at=T0,
            )
        _insert(
            conn,
            "audit_log",
            at=T0,
            actor_id=1,
            actor_label="admin@example.com",
            action="role.revoke",
            target_type="user",
            target_id="3",
            target_label="omar@example.com",
            details={"role": "instructor", "course": "C-OLD"},
        )
        if site.is_postgres:  # ids were given explicitly: move the sequences past them
            for table in ("roles", "users", "courses", "role_assignments"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )


def _held(site) -> dict[str, set[tuple[str, str | None]]]:
    """Everyone's (role, course code or None) assignments, by email."""
    with site.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT u.email, r.name, c.code FROM role_assignments a"
                " JOIN users u ON u.id = a.user_id JOIN roles r ON r.id = a.role_id"
                " LEFT JOIN courses c ON c.id = a.course_id"
            )
        )
        out: dict[str, set[tuple[str, str | None]]] = {}
        for email, role, code in rows:
            out.setdefault(email.split("@")[0], set()).add((role, code))
        return out


def _role_permissions(site, name: str) -> set[str]:
    with site.engine.connect() as conn:
        return set(
            conn.scalars(
                text(
                    "SELECT p.permission FROM role_permissions p JOIN roles r ON r.id = p.role_id"
                    " WHERE r.name = :name"
                ),
                {"name": name},
            )
        )


def test_core_0004_turns_site_wide_instructors_into_course_creators_who_teach_their_courses(
    scratch,
):
    from lms_core.models import AuditEntry
    from lms_core.models import Role
    from lms_core.models import User
    from lms_core.services.permissions import can
    from lms_core.services.permissions import courses_with
    from lms_core.services.roles import BUILTIN_ROLES
    from lms_core.services.roles import ensure_builtin_roles

    _old_site(scratch)
    migrate.upgrade(scratch, "core_0004")

    assert _role_permissions(scratch, "course_creator") == {"course.create"}
    assert _role_permissions(scratch, "instructor") == OLD_INSTRUCTOR - {"course.create"}
    assert _held(scratch) == {
        "admin": {("admin", None), ("learner", None)},
        # A and B she taught already; D she created (and nothing says it was taken away).
        "priya": {
            ("course_creator", None),
            ("learner", None),
            ("instructor", "A"),
            ("instructor", "B"),
            ("instructor", "D"),
        },
        # C he created, but a revocation is on record: when in doubt, fewer grants.
        "omar": {("course_creator", None)},
        "sam": {("course_creator", None)},
        "kim": {("instructor", "E"), ("learner", None)},
        "lee": {("learner", None)},
    }
    with scratch.session() as session:
        creator = session.scalars(select(Role).where(Role.name == "course_creator")).one()
        assert creator.builtin and creator.title == "Course creator"
        instructor = session.scalars(select(Role).where(Role.name == "instructor")).one()
        assert instructor.description == BUILTIN_ROLES["instructor"][1]  # no more "usually"
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.at > T0).order_by(AuditEntry.id)
        ).all()
        assert all(
            e.actor_label == "system" and "core_0004" in e.details["reason"] for e in entries
        )
        changes = sorted(
            (e.action, e.target_label, e.details.get("role"), e.details.get("course"))
            for e in entries
            if e.action in ("role.assign", "role.revoke")
        )
        assert changes == sorted(
            [
                ("role.assign", f"{who}@example.com", "course_creator", None)
                for who in ("priya", "omar", "sam")
            ]
            + [
                ("role.revoke", f"{who}@example.com", "instructor", None)
                for who in ("priya", "omar", "sam")
            ]
            + [("role.assign", "priya@example.com", "instructor", "D")]
        )

    # The site starts: the built-in roles are ensured, and instructors stay without course.create.
    with scratch.transaction(system=True) as ctx:
        ensure_builtin_roles(ctx)
    assert "course.create" not in _role_permissions(scratch, "instructor")
    assert _role_permissions(scratch, "course_creator") == {"course.create"}
    with scratch.session() as session:
        people = {u.email.split("@")[0]: u for u in session.scalars(select(User))}
        assert can(people["priya"], "course.create")
        assert courses_with(people["priya"], "course.edit") == {1, 2, 4}
        assert courses_with(people["priya"], "progress.view") == {1, 2, 4}
        assert courses_with(people["sam"], "progress.view") == set()
        assert not can(people["omar"], "course.edit", 3)

    # And back: the old grants return (the course-scope ones added stay, covered anyway).
    migrate.upgrade(scratch, "heads")
    command.downgrade(migrate.alembic_config(scratch), _before_core_0004(scratch))
    assert "course.create" in _role_permissions(scratch, "instructor")
    with scratch.engine.connect() as conn:
        description = conn.scalar(text("SELECT description FROM roles WHERE name = 'instructor'"))
    assert description == OLD_DESCRIPTIONS["instructor"]
    held = _held(scratch)
    assert all(("instructor", None) in held[who] for who in ("priya", "omar", "sam"))
    assert not any(role == "course_creator" for roles in held.values() for role, _ in roles)
    assert _role_permissions(scratch, "course_creator") == set()


def test_core_0004_gives_no_course_creator_role_when_instructors_could_not_create_courses(
    scratch,
):
    _old_site(scratch, instructor=OLD_INSTRUCTOR - {"course.create"})
    migrate.upgrade(scratch, "core_0004")
    held = _held(scratch)
    assert held["priya"] == {
        ("learner", None),
        ("instructor", "A"),
        ("instructor", "B"),
        ("instructor", "D"),
    }
    # Their site-wide instructor role let them create nothing, so it gives no course creator
    # role; sam taught nothing and omar's one course was taken from him: nothing is left.
    assert "sam" not in held and "omar" not in held
    assert _role_permissions(scratch, "course_creator") == {"course.create"}


def test_core_0004_keeps_an_admins_own_course_creator_role_under_another_name(scratch):
    _old_site(scratch, custom_course_creator=True)
    migrate.upgrade(scratch, "core_0004")
    held = _held(scratch)
    assert held["lee"] == {("learner", None), ("course_creator_custom", None)}
    assert _role_permissions(scratch, "course_creator_custom") == {"audit.view"}
    assert _role_permissions(scratch, "course_creator") == {"course.create"}
    with scratch.engine.connect() as conn:
        builtin = conn.scalar(text("SELECT builtin FROM roles WHERE name = 'course_creator'"))
    assert bool(builtin) is True


def test_core_0004_on_a_new_database_leaves_the_roles_to_start_up(scratch):
    from lms_core.services.roles import BUILTIN_ROLES
    from lms_core.services.roles import ensure_builtin_roles

    migrate.upgrade(scratch)
    with scratch.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM roles")) == 0
    with scratch.transaction(system=True) as ctx:
        ensure_builtin_roles(ctx)
    assert _role_permissions(scratch, "course_creator") == {"course.create"}
    assert "course.create" not in _role_permissions(scratch, "instructor")
    with scratch.engine.connect() as conn:
        names = set(conn.scalars(text("SELECT name FROM roles")))
    assert names == set(BUILTIN_ROLES)
