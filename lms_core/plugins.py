"""Loading plugins: specs, the core's default plugins, then installed plugins, checked.

Installed plugins are found through the entry-point group ``lms_core.plugins`` (bundled ones
are registered in pyproject.toml exactly like third-party ones). Each entry point names a
module whose ``PLUGIN`` (or whose package's ``PLUGIN``) is a
:class:`~lms_core.contributions.PluginInfo`; the module itself holds the ``@hookimpl``
functions.

A plugin that fails to import, is incompatible with this core, implements a hook that does
not exist (a misspelt name), requires a plugin that is not installed, or keeps personal data
without the privacy hooks is *quarantined*: reported with its name and the reason, never
registered, and the rest of the site starts.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any
from typing import cast

import pluggy
from attrs import define
from attrs import field
from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lms_core import default_api_auth
from lms_core import default_lessons
from lms_core import default_nav
from lms_core import default_notifications
from lms_core import default_permissions
from lms_core import retention
from lms_core.contributions import PluginInfo
from lms_core.db import Base
from lms_core.hooks import SPEC_MODULES
from lms_core.hooks.markers import PROJECT

__all__ = [
    "DEFAULT_PLUGINS",
    "CORE_PLUGIN_PREFIX",
    "ENTRY_POINT_GROUP",
    "LoadedPlugin",
    "PluginRegistry",
    "make_plugin_manager",
    "load_plugins",
    "is_core_plugin",
    "plugin_tables",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "lms_core.plugins"

#: Names of the core's own hook implementations start with this and are always on.
CORE_PLUGIN_PREFIX = "core."

DEFAULT_PLUGINS: tuple[tuple[str, ModuleType], ...] = (
    ("core.permissions", default_permissions),
    ("core.lessons", default_lessons),
    ("core.nav", default_nav),
    ("core.api_auth", default_api_auth),
    ("core.retention", retention),
    ("core.notifications", default_notifications),
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,49}$")


def is_core_plugin(name: str) -> bool:
    return name.startswith(CORE_PLUGIN_PREFIX)


@define
class LoadedPlugin:
    """A plugin that passed every load-time check."""

    info: PluginInfo
    module: ModuleType
    distribution: str | None = None

    @property
    def name(self) -> str:
        return self.info.name


@define
class PluginRegistry:
    """What this process found: loaded plugins by name, and quarantined ones with reasons."""

    loaded: dict[str, LoadedPlugin] = field(factory=dict)
    quarantined: dict[str, str] = field(factory=dict)

    def info(self, name: str) -> PluginInfo | None:
        plugin = self.loaded.get(name)
        return plugin.info if plugin else None


def _core_version() -> Version:
    from lms_core import __version__

    return Version(__version__)


def _find_info(module: ModuleType) -> PluginInfo | None:
    info = getattr(module, "PLUGIN", None)
    if info is None and "." in module.__name__:
        parent = sys.modules.get(module.__name__.rpartition(".")[0])
        info = getattr(parent, "PLUGIN", None)
    return info if isinstance(info, PluginInfo) else None


def plugin_tables(name: str) -> list[str]:
    """Tables on the shared metadata that belong to plugin ``name`` (prefixed ``<name>_``)."""
    return sorted(t for t in Base.metadata.tables if t.startswith(f"{name}_"))


def _tables_referencing_users(name: str) -> list[str]:
    out = []
    for table_name in plugin_tables(name):
        table = Base.metadata.tables[table_name]
        if any(fk.column.table.name == "users" for fk in table.foreign_keys):
            out.append(table_name)
    return out


def make_plugin_manager() -> pluggy.PluginManager:
    """A manager with every core spec added and the core's default plugins registered."""
    pm = pluggy.PluginManager(PROJECT)
    for module in SPEC_MODULES:
        pm.add_hookspecs(module)
    for name, module in DEFAULT_PLUGINS:
        pm.register(module, name=name)
    if os.environ.get("LMS_TRACE_HOOKS"):
        pm.trace.root.setwriter(log.debug)
        pm.enable_tracing()
    return pm


def _discover() -> Iterable[tuple[str, Any, str | None]]:
    """(entry point name, loaded module or the exception, distribution) for every entry point."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else None
        try:
            yield ep.name, ep.load(), dist
        except Exception as exc:  # a broken plugin must not stop the site
            yield ep.name, exc, dist


def load_plugins(
    pm: pluggy.PluginManager,
    *,
    extra: Iterable[ModuleType | str] = (),
    use_entry_points: bool = True,
) -> PluginRegistry:
    """Find, check and register plugins on ``pm``; quarantine the ones that fail a check.

    :param extra: plugin modules (or dotted names) to load besides the entry points (tests,
        and deployments that list plugin modules in config).
    """
    registry = PluginRegistry()
    candidates: list[tuple[str | None, Any, str | None]] = []
    if use_entry_points:
        candidates.extend(_discover())
    for item in extra:
        try:
            module = importlib.import_module(item) if isinstance(item, str) else item
            candidates.append((None, module, None))
        except Exception as exc:
            candidates.append((str(item), exc, None))

    def quarantine(name: str, reason: str) -> None:
        log.error("plugin %s quarantined: %s", name, reason)
        registry.quarantined[name] = reason
        registry.loaded.pop(name, None)

    # 1. Import and describe.
    for ep_name, obj, dist in candidates:
        if isinstance(obj, BaseException):
            quarantine(ep_name or "?", f"failed to import: {type(obj).__name__}: {obj}")
            continue
        info = _find_info(obj)
        name = ep_name or (info.name if info else obj.__name__)
        if info is None:
            quarantine(name, f"module {obj.__name__} has no PLUGIN = PluginInfo(...)")
            continue
        if ep_name is not None and info.name != ep_name:
            quarantine(
                ep_name, f"entry point {ep_name!r} loads a plugin that calls itself {info.name!r}"
            )
            continue
        if not _NAME.match(info.name) or is_core_plugin(info.name):
            quarantine(info.name, "plugin names are 2-50 lower-case letters, digits or underscores")
            continue
        if info.name in registry.loaded:
            quarantine(info.name, "two installed plugins use this name")
            continue
        try:
            compatible = _core_version() in SpecifierSet(info.core)
        except InvalidSpecifier:
            quarantine(info.name, f"its core version range {info.core!r} is not a valid specifier")
            continue
        if not compatible:
            quarantine(
                info.name,
                f"it needs core {info.core}, this is core {_core_version()}; upgrade one of them",
            )
            continue
        registry.loaded[info.name] = LoadedPlugin(info=info, module=obj, distribution=dist)

    # 2. Plugins' own hook specs, before any implementation is checked against them.
    for plugin in list(registry.loaded.values()):
        try:
            for spec_module in plugin.info.hookspecs:
                module = (
                    importlib.import_module(spec_module)
                    if isinstance(spec_module, str)
                    else spec_module
                )
                pm.add_hookspecs(module)
        except Exception as exc:
            quarantine(plugin.name, f"its hook specifications failed to load: {exc}")

    # 3. Register; a misspelt or mismatched hook quarantines the plugin, naming the hook.
    for plugin in list(registry.loaded.values()):
        try:
            pm.register(plugin.module, name=plugin.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            quarantine(plugin.name, f"invalid hook implementation: {exc}")
            continue
        unknown = [
            caller.name
            for caller in pm.get_hookcallers(plugin.module) or ()
            if not caller.has_spec()
            and not any(
                impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin.module
            )
        ]
        if unknown:
            pm.unregister(plugin.module)
            quarantine(
                plugin.name, f"implements unknown hook(s) {', '.join(sorted(unknown))} (misspelt?)"
            )
            continue
        misnamed = _misnamed_tables(pm, plugin)
        if misnamed:
            pm.unregister(plugin.module)
            quarantine(
                plugin.name, f"its tables must be named {plugin.name}_*: {', '.join(misnamed)}"
            )

    # 4. Requirements and the privacy contract (repeat: quarantining one may strand another).
    changed = True
    while changed:
        changed = False
        for plugin in list(registry.loaded.values()):
            missing = [r for r in plugin.info.requires if r not in registry.loaded]
            reason = None
            if missing:
                reason = f"it requires {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not available"
            else:
                reason = _privacy_problem(pm, plugin)
            if reason:
                if pm.is_registered(plugin.module):
                    pm.unregister(plugin.module)
                quarantine(plugin.name, reason)
                changed = True

    pm.check_pending()
    return registry


def _misnamed_tables(pm: pluggy.PluginManager, plugin: LoadedPlugin) -> list[str]:
    """Tables of the models a plugin registers that lack its name as prefix."""
    bad = []
    for impl in pm.hook.lms_register_models.get_hookimpls():
        if impl.plugin is plugin.module:
            models = cast("Iterable[Any]", impl.function() or ())
            for model in models:
                table = getattr(model, "__tablename__", None)
                if table is None or not str(table).startswith(f"{plugin.name}_"):
                    bad.append(str(table))
    return bad


def _privacy_problem(pm: pluggy.PluginManager, plugin: LoadedPlugin) -> str | None:
    personal_tables = _tables_referencing_users(plugin.name)
    implemented = {caller.name for caller in pm.get_hookcallers(plugin.module) or ()}
    needs = {"lms_privacy_export", "lms_privacy_erase"}
    if (personal_tables or plugin.info.personal_data) and not needs <= implemented:
        what = (
            f"its tables {', '.join(personal_tables)} reference users"
            if personal_tables
            else "it declares personal data"
        )
        return f"{what} but it does not implement {' and '.join(sorted(needs - implemented))}"
    return None
