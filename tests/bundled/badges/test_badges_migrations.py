"""The badges plugin's Alembic branch builds exactly the tables its models describe."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from lms_core import migrate
from lms_core.db import Base
from plugins.badges import PLUGIN
from plugins.badges import models

BADGES_TABLES = {model.__tablename__ for model in models.MODELS}


def _differences(site: Any) -> list[Any]:
    with site.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": lambda name, type_, _parent: (
                    type_ != "table" or name in BADGES_TABLES
                ),
                "include_object": lambda _obj, name, type_, _reflected, _other: (
                    type_ != "table" or name in BADGES_TABLES
                ),
            },
        )
        # The shared metadata (core tables too, for the foreign keys), compared on badges_*.
        return list(compare_metadata(context, Base.metadata))


def test_the_migrated_badges_tables_are_identical_to_the_models(site: Any) -> None:
    assert "badges_subject_ids" in BADGES_TABLES
    assert set(inspect(site.engine).get_table_names()) >= BADGES_TABLES
    assert _differences(site) == []


def test_the_subject_ids_revision_follows_the_schema_and_comes_off_again(site: Any) -> None:
    assert PLUGIN.migrations is not None
    config = migrate.alembic_config(site, "badges", PLUGIN.migrations)
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == ["badges_0002"]
    assert script.get_revision("badges_0002").down_revision == "badges_0001"

    command.downgrade(config, "badges_0001")
    try:
        assert "badges_subject_ids" not in inspect(site.engine).get_table_names()
        assert "badges_awards" in inspect(site.engine).get_table_names()
    finally:
        command.upgrade(config, "heads")
    assert _differences(site) == []
