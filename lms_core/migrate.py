"""Schema migrations with Alembic: the core on branch ``core``, each plugin on its own branch.

Each plugin's revisions are tracked in a version table of its own (``<plugin>_alembic_version``)
rather than in the core's ``alembic_version``. So a plugin whose code is uninstalled without
being purged leaves a row nobody can resolve only in its own table, never blocking the core's
or other plugins' migrations; and purging a plugin drops its version table with its data.
The core is always migrated first, so a plugin's first revision may reference core tables
without an Alembic ``depends_on``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

if TYPE_CHECKING:
    from lms_core.runtime import LMS

__all__ = [
    "alembic_config",
    "upgrade",
    "upgrade_plugin",
    "downgrade_plugin",
    "current_heads",
    "pending",
    "plugin_version_table",
]

CORE_MIGRATIONS = Path(__file__).parent / "migrations"


def plugin_version_table(name: str) -> str:
    return f"{name}_alembic_version"


def alembic_config(
    lms: LMS, plugin: str | None = None, location: str | None = None
) -> AlembicConfig:
    """The core's Alembic configuration, or one plugin's (its folder and version table)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(CORE_MIGRATIONS))
    locations = [str(CORE_MIGRATIONS / "versions")] if plugin is None else [str(location)]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = lms.engine
    cfg.attributes["version_table"] = (
        "alembic_version" if plugin is None else plugin_version_table(plugin)
    )
    return cfg


def upgrade(lms: LMS, target: str = "heads") -> None:
    """Bring the core's schema up to ``target`` (its head by default)."""
    command.upgrade(alembic_config(lms), target)


def upgrade_plugin(lms: LMS, name: str, location: str) -> None:
    """Bring one plugin's tables up to its head (run after the core's upgrade)."""
    command.upgrade(alembic_config(lms, name, location), "heads")


def downgrade_plugin(lms: LMS, name: str, location: str) -> None:
    """Remove one plugin's tables through its migrations, then its version table."""
    from sqlalchemy import text

    command.downgrade(alembic_config(lms, name, location), "base")
    with lms.engine.begin() as conn:
        conn.execute(text(f'DROP TABLE IF EXISTS "{plugin_version_table(name)}"'))


def current_heads(lms: LMS) -> set[str]:
    with lms.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def pending(lms: LMS) -> bool:
    """Whether any of the core's migrations has not been applied yet."""
    script = ScriptDirectory.from_config(alembic_config(lms))
    return set(script.get_heads()) != current_heads(lms)
