"""The core's Alembic migration builds exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy import inspect
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
