"""Building the plugin manager: specs, the core's default plugins, then installed plugins."""

from __future__ import annotations

import logging
import os
from types import ModuleType

import pluggy

from lms_core import default_lessons
from lms_core import default_permissions
from lms_core.hooks import SPEC_MODULES
from lms_core.hooks.markers import PROJECT

__all__ = ["DEFAULT_PLUGINS", "CORE_PLUGIN_PREFIX", "make_plugin_manager", "is_core_plugin"]

log = logging.getLogger(__name__)

#: Names of the core's own hook implementations start with this and are always on.
CORE_PLUGIN_PREFIX = "core."

DEFAULT_PLUGINS: tuple[tuple[str, ModuleType], ...] = (
    ("core.permissions", default_permissions),
    ("core.lessons", default_lessons),
)


def is_core_plugin(name: str) -> bool:
    return name.startswith(CORE_PLUGIN_PREFIX)


def make_plugin_manager() -> pluggy.PluginManager:
    """A manager with every spec added and the core's default plugins registered."""
    pm = pluggy.PluginManager(PROJECT)
    for module in SPEC_MODULES:
        pm.add_hookspecs(module)
    for name, module in DEFAULT_PLUGINS:
        pm.register(module, name=name)
    if os.environ.get("LMS_TRACE_HOOKS"):
        pm.trace.root.setwriter(log.debug)
        pm.enable_tracing()
    pm.check_pending()
    return pm
