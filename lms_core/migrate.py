"""Schema migrations with Alembic: the core on branch ``core``, each plugin on its own branch.

Each plugin's revisions are tracked in a version table of its own (``<plugin>_alembic_version``)
rather than in the core's ``alembic_version``. So a plugin whose code is uninstalled without
being purged leaves a row nobody can resolve only in its own table, never blocking the core's
or other plugins' migrations; and purging a plugin drops its version table with its data.
The core is always migrated first, so a plugin's first revision may reference core tables
without an Alembic ``depends_on``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

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
    "plugin_schema_differences",
    "plugin_revision",
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


def _only_tables(tables: set[str]) -> dict[str, Any]:
    """Alembic ``include_name``/``include_object`` options limiting a comparison to ``tables``."""

    def include_name(name: str | None, type_: str, _parent: Any) -> bool:
        return type_ != "table" or name in tables

    def include_object(
        _obj: Any, name: str | None, type_: str, _reflected: bool, _other: Any
    ) -> bool:
        return type_ != "table" or name in tables

    return {"include_name": include_name, "include_object": include_object}


def plugin_schema_differences(
    lms: LMS, name: str, tables: Iterable[str] | None = None
) -> list[Any]:
    """How the database's ``<name>_*`` tables differ from the models (empty when they agree).

    ``tables`` defaults to the tables of the plugin's models on the shared metadata. The
    whole metadata is compared (so foreign keys to core tables resolve), limited to them.
    """
    from alembic.autogenerate import compare_metadata

    from lms_core.db import Base
    from lms_core.plugins import plugin_tables

    chosen = set(tables if tables is not None else plugin_tables(name))
    with lms.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"compare_type": True, "compare_server_default": True, **_only_tables(chosen)},
        )
        return list(compare_metadata(context, Base.metadata))


def plugin_revision(lms: LMS, name: str, message: str, autogenerate: bool = True) -> Path:
    """Write plugin ``name``'s next migration into its folder; returns the new file's path.

    The revision is numbered like the rest (``<name>_0003``), follows the plugin's head (or
    starts its branch), and with ``autogenerate`` holds what the models have that the
    database lacks, for the plugin's tables only. The database must be at the plugin's head.
    """
    from lms_core.errors import NotFound
    from lms_core.errors import PluginError
    from lms_core.plugins import plugin_tables

    plugin = lms.plugins.loaded.get(name)
    if plugin is None:
        raise NotFound(f"No plugin called {name!r} is installed.")
    location = plugin.info.migrations
    if not location:
        raise PluginError(
            f"{name} has no migrations folder: set PluginInfo.migrations "
            '(str(Path(__file__).parent / "migrations")) and create the folder.'
        )
    folder = Path(location)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(lms, name, location)
    script = ScriptDirectory.from_config(cfg)
    revisions = list(script.walk_revisions())
    numbers = [_number_of(r.revision, name) for r in revisions]
    rev_id = f"{name}_{max(numbers, default=0) + 1:04d}"
    heads = script.get_heads()
    if autogenerate:
        with lms.engine.connect() as conn:
            current = set(
                MigrationContext.configure(
                    conn, opts={"version_table": plugin_version_table(name)}
                ).get_current_heads()
            )
        if current != set(heads):
            raise PluginError(
                f"The database is not at {name}'s newest migration "
                f"({', '.join(sorted(heads)) or 'none yet'}): run `lms db upgrade` first."
            )
        cfg.attributes.update(_only_tables(set(plugin_tables(name))))
    made = command.revision(
        cfg,
        message=message,
        autogenerate=autogenerate,
        head=f"{heads[0]}" if heads else "base",
        branch_label=None if heads else name,
        version_path=str(folder),
        rev_id=rev_id,
    )
    scripts = made if isinstance(made, list) else [made]
    return Path(scripts[0].path) if scripts and scripts[0] is not None else folder


def _number_of(revision: str, name: str) -> int:
    tail = revision.removeprefix(f"{name}_")
    return int(tail) if tail.isdigit() else 0
