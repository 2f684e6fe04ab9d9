"""The badges plugin's Alembic branch builds exactly the tables its models describe."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from lms_core import migrate
from lms_core.testing import assert_migrations_match_models
from plugins.badges import PLUGIN
from plugins.badges import models

BADGES_TABLES = {model.__tablename__ for model in models.MODELS}


def test_the_migrated_badges_tables_are_identical_to_the_models(site: Any) -> None:
    assert "badges_subject_ids" in BADGES_TABLES
    assert set(inspect(site.engine).get_table_names()) >= BADGES_TABLES
    assert_migrations_match_models(site, "badges", BADGES_TABLES)


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
    assert_migrations_match_models(site, "badges", BADGES_TABLES)
