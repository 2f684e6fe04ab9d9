"""Schema migrations with Alembic: the core on branch ``core``, each plugin on its own branch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

if TYPE_CHECKING:
    from lms_core.runtime import LMS

__all__ = ["alembic_config", "upgrade", "current_heads", "pending"]

CORE_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(lms: LMS, extra_locations: tuple[str, ...] = ()) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(CORE_MIGRATIONS))
    locations = [str(CORE_MIGRATIONS / "versions"), *extra_locations]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = lms.engine
    return cfg


def upgrade(lms: LMS, target: str = "heads", extra_locations: tuple[str, ...] = ()) -> None:
    """Bring the database up to ``target`` (every branch's head by default)."""
    command.upgrade(alembic_config(lms, extra_locations), target)


def current_heads(lms: LMS) -> set[str]:
    with lms.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def pending(lms: LMS, extra_locations: tuple[str, ...] = ()) -> bool:
    """Whether any migration has not been applied yet."""
    script = ScriptDirectory.from_config(alembic_config(lms, extra_locations))
    return set(script.get_heads()) != current_heads(lms)
