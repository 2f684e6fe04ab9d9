"""A well-behaved plugin with its own table, migrations, privacy hooks and event handler."""

from __future__ import annotations

from pathlib import Path

from lms_core.contributions import Permission
from lms_core.contributions import PluginInfo

PLUGIN = PluginInfo(
    name="notes",
    version="1.0",
    title="Completion notes",
    description="Writes a note for every completed course.",
    personal_data=True,
    migrations=str(Path(__file__).parent / "migrations"),
    permissions=(Permission(name="notes.read", title="Read notes", default_roles=("manager",)),),
)
