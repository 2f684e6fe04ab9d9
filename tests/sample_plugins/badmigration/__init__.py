"""A plugin whose migration fails: it must be quarantined while the rest carry on."""

from __future__ import annotations

from pathlib import Path

from lms_core import PluginInfo

PLUGIN = PluginInfo(
    name="badmigration",
    version="1.0",
    title="Broken migration",
    migrations=str(Path(__file__).parent / "migrations"),
)
