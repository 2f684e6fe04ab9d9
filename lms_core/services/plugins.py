"""Plugin state: which installed plugins are on, toggled at run time, kept in the database.

Every process reads the enabled set from ``plugin_state`` and re-reads it when the single-row
counter ``plugin_state_version`` moves (one primary-key read per request or job), so a toggle
made by an admin in one worker reaches every web worker and ``lms worker`` without a restart.

A plugin with no row yet is off until :func:`sync_plugin_states` (run by ``lms db upgrade``,
``lms init`` and ``lms demo``) migrates it and records the deployment's default for it.
Turning a plugin off writes ``enabled = false``: an explicit choice that survives upgrades.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any

from attrs import frozen
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from lms_core import limits
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.errors import Forbidden
from lms_core.errors import NotFound
from lms_core.errors import PluginError
from lms_core.limits import check_json
from lms_core.models import PluginState
from lms_core.models import PluginStateVersion
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.permissions import require

if TYPE_CHECKING:
    from lms_core.runtime import LMS

__all__ = [
    "PluginStatus",
    "read_enabled",
    "state_version",
    "sync_plugin_states",
    "enable_plugin",
    "disable_plugin",
    "purge_plugin",
    "plugin_statuses",
    "migrate_plugin",
    "settings_for",
    "save_settings",
    "check_purgeable",
]

log = logging.getLogger(__name__)

_QUARANTINE = "quarantined: "


@frozen(kw_only=True)
class PluginStatus:
    """One installed plugin as the admin page and ``lms plugins list`` show it."""

    name: str
    version: str
    title: str
    description: str
    requires: tuple[str, ...]
    enabled: bool
    state: str  # enabled | disabled | quarantined | blocked | new
    reason: str | None
    hooks: tuple[str, ...]
    distribution: str | None


def state_version(lms: LMS) -> int:
    with lms.Session() as session:
        return int(
            session.scalar(select(PluginStateVersion.version).where(PluginStateVersion.id == 1))
            or 0
        )


def _bump(ctx: Context) -> None:
    row = ctx.session.get(PluginStateVersion, 1)
    if row is None:
        ctx.session.add(PluginStateVersion(id=1, version=1))
    else:
        ctx.session.execute(
            update(PluginStateVersion)
            .where(PluginStateVersion.id == 1)
            .values(version=PluginStateVersion.version + 1)
        )


def _blocked_reason(lms: LMS, name: str) -> str | None:
    if name in lms.config.plugins.disabled:
        return "turned off in this deployment's configuration (plugins.disabled)"
    return None


def read_enabled(lms: LMS) -> tuple[int, frozenset[str]]:
    """(state version, names of the plugins that run), from the database."""
    if lms.config.plugins.safe_mode:
        return -1, frozenset()
    try:
        with lms.Session() as session:
            version = int(
                session.scalar(select(PluginStateVersion.version).where(PluginStateVersion.id == 1))
                or 0
            )
            rows = session.execute(select(PluginState.name, PluginState.enabled)).all()
    except SQLAlchemyError:
        # No schema yet (before `lms db upgrade`): nothing but the core runs.
        return -1, frozenset()
    on = {name for name, enabled in rows if enabled and name in lms.plugins.loaded}
    on -= {name for name in on if _blocked_reason(lms, name)}
    # A plugin whose requirement is off cannot run either (config may have blocked it).
    changed = True
    while changed:
        changed = False
        for name in list(on):
            if any(r not in on for r in lms.plugins.loaded[name].info.requires):
                on.discard(name)
                changed = True
    return version, frozenset(on)


def _default_on(lms: LMS, name: str) -> bool:
    wanted = lms.config.plugins.enabled
    return ("*" in wanted or name in wanted) and _blocked_reason(lms, name) is None


def migrate_plugin(lms: LMS, name: str) -> None:
    """Apply the plugin's Alembic branch up to its head (its tables appear)."""
    info = lms.plugins.loaded[name].info
    if not info.migrations:
        return
    from lms_core.migrate import upgrade_plugin

    upgrade_plugin(lms, name, info.migrations)


def sync_plugin_states(lms: LMS) -> list[str]:
    """Give every installed plugin a state row (migrating it first); returns messages.

    New plugins get the deployment default (``plugins.enabled`` / ``plugins.disabled``).
    Existing rows are left alone, so an admin's choice survives upgrades. A plugin whose
    migration fails is quarantined (off, with the reason recorded) and the rest carry on.
    """
    messages = []
    for name, plugin in lms.plugins.loaded.items():
        try:
            migrate_plugin(lms, name)
        except Exception as exc:
            reason = f"migration failed: {type(exc).__name__}: {exc}"
            log.error("plugin %s %s", name, reason)
            messages.append(f"{name}: quarantined, {reason}")
            with lms.transaction(system=True) as ctx:
                state = ctx.session.get(PluginState, name)
                if state is None:
                    state = PluginState(
                        name=name, enabled=False, changed_at=utcnow(), changed_by="system"
                    )
                    ctx.session.add(state)
                state.enabled = False
                state.note = _QUARANTINE + reason
                _bump(ctx)
            continue
        with lms.transaction(system=True) as ctx:
            state = ctx.session.get(PluginState, name)
            if state is None:
                enabled = _default_on(lms, name)
                ctx.session.add(
                    PluginState(
                        name=name,
                        enabled=enabled,
                        changed_at=utcnow(),
                        changed_by="system",
                        migrated_version=plugin.info.version,
                    )
                )
                audit(
                    ctx,
                    "plugin.install",
                    ("plugin", name, name),
                    enabled=enabled,
                    version=plugin.info.version,
                )
                messages.append(f"{name}: installed, {'enabled' if enabled else 'disabled'}")
            else:
                if state.note and state.note.startswith(_QUARANTINE):
                    state.note = None  # the migration works now; the admin may enable it again
                state.migrated_version = plugin.info.version
            _bump(ctx)
    lms.refresh_plugins(force=True)
    from lms_core.services.roles import ensure_builtin_roles

    with lms.transaction(system=True) as ctx:
        ensure_builtin_roles(ctx)
    return messages


def _check_actor(ctx: Context) -> None:
    require(ctx, "plugin.manage", to="turn plugins on or off")


def _state(ctx: Context, name: str) -> PluginState | None:
    return ctx.session.get(PluginState, name)


def enable_plugin(
    lms: LMS, name: str, actor: User | None = None, *, address: str | None = None
) -> bool:
    """Turn a plugin on. False if it already was. Raises PluginError saying why not."""
    with lms.transaction(actor, address=address, system=actor is None) as ctx:
        _check_actor(ctx)
    if name in lms.plugins.quarantined:
        raise PluginError(f"{name} cannot be enabled: {lms.plugins.quarantined[name]}.")
    if name not in lms.plugins.loaded:
        raise NotFound(
            f"No plugin called {name!r} is installed. Installed: {', '.join(sorted(lms.plugins.loaded)) or 'none'}."
        )
    blocked = _blocked_reason(lms, name)
    if blocked:
        raise PluginError(f"{name} cannot be enabled: it is {blocked}.")
    lms.refresh_plugins(force=True)
    missing = [r for r in lms.plugins.loaded[name].info.requires if not lms.plugin_enabled(r)]
    if missing:
        raise PluginError(
            f"{name} requires {', '.join(missing)}: enable {', '.join(missing)} first."
        )
    if lms.plugin_enabled(name):
        return False
    try:
        migrate_plugin(lms, name)
    except Exception as exc:
        reason = f"migration failed: {type(exc).__name__}: {exc}"
        with lms.transaction(system=True) as ctx:
            state: PluginState = _state(ctx, name) or PluginState(
                name=name, enabled=False, changed_at=utcnow()
            )
            state.enabled = False
            state.note = _QUARANTINE + reason
            ctx.session.add(state)
            _bump(ctx)
        raise PluginError(f"{name} was not enabled: its {reason}") from exc
    with lms.transaction(actor, address=address, system=actor is None) as ctx:
        current = _state(ctx, name)
        if current is None:
            current = PluginState(name=name, enabled=True, changed_at=utcnow())
            ctx.session.add(current)
        state = current
        state.enabled = True
        state.note = None
        state.changed_at = utcnow()
        state.changed_by = ctx.actor_label
        state.migrated_version = lms.plugins.loaded[name].info.version
        _bump(ctx)
        audit(ctx, "plugin.enable", ("plugin", name, name))
    lms.refresh_plugins(force=True)
    from lms_core.services.roles import ensure_builtin_roles

    with lms.transaction(system=True) as ctx:
        ensure_builtin_roles(ctx)  # the plugin's permissions join their default roles
    return True


def disable_plugin(
    lms: LMS, name: str, actor: User | None = None, *, address: str | None = None
) -> bool:
    """Turn a plugin off; its data stays. False if it already was off."""
    with lms.transaction(actor, address=address, system=actor is None) as ctx:
        _check_actor(ctx)
    if name not in lms.plugins.loaded and name not in lms.plugins.quarantined:
        raise NotFound(f"No plugin called {name!r} is installed.")
    lms.refresh_plugins(force=True)
    dependents = sorted(
        other
        for other, plugin in lms.plugins.loaded.items()
        if name in plugin.info.requires and lms.plugin_enabled(other)
    )
    if dependents:
        raise PluginError(
            f"{name} cannot be disabled: {', '.join(dependents)} require it. Disable {', '.join(dependents)} first."
        )
    with lms.transaction(actor, address=address, system=actor is None) as ctx:
        state = _state(ctx, name)
        if state is not None and not state.enabled:
            return False
        if state is None:
            state = PluginState(name=name, enabled=False, changed_at=utcnow())
            ctx.session.add(state)
        state.enabled = False
        state.changed_at = utcnow()
        state.changed_by = ctx.actor_label
        _bump(ctx)
        audit(ctx, "plugin.disable", ("plugin", name, name))
    lms.refresh_plugins(force=True)
    return True


def check_purgeable(lms: LMS, name: str) -> None:
    """Raise unless plugin ``name`` may be purged now: installed, and disabled.

    ``lms plugins purge`` asks this before it asks for confirmation.
    """
    lms.refresh_plugins(force=True)
    if lms.plugin_enabled(name):
        raise PluginError(f"{name} is enabled; disable it before purging its data.")
    if name not in lms.plugins.loaded:
        raise NotFound(
            f"No plugin called {name!r} is installed (its code is needed to remove its tables)."
        )


def purge_plugin(lms: LMS, name: str, actor: User | None = None) -> list[str]:
    """Drop a disabled plugin's tables and forget its state. Returns the dropped tables."""
    from lms_core.plugins import plugin_tables

    with lms.transaction(actor, system=actor is None) as ctx:
        _check_actor(ctx)
    check_purgeable(lms, name)
    info = lms.plugins.loaded[name].info
    existing = set(sa_inspect(lms.engine).get_table_names())
    tables = [t for t in plugin_tables(name) if t in existing]
    if info.migrations:
        from lms_core.migrate import downgrade_plugin

        downgrade_plugin(lms, name, info.migrations)
    else:
        from lms_core.db import Base

        Base.metadata.drop_all(lms.engine, tables=[Base.metadata.tables[t] for t in tables])
    with lms.transaction(actor, system=actor is None) as ctx:
        state = _state(ctx, name)
        if state is not None:
            ctx.session.delete(state)
        _bump(ctx)
        audit(ctx, "plugin.purge", ("plugin", name, name), tables=tables)
    lms.refresh_plugins(force=True)
    return tables


def plugin_statuses(lms: LMS) -> list[PluginStatus]:
    """Every installed plugin (quarantined ones too), for admins."""
    lms.refresh_plugins(force=True)
    with lms.Session() as session:
        try:
            rows = {row.name: row for row in session.scalars(select(PluginState))}
        except SQLAlchemyError:
            rows = {}
    out = []
    for name, plugin in sorted(lms.plugins.loaded.items()):
        row = rows.get(name)
        enabled = lms.plugin_enabled(name)
        reason = _blocked_reason(lms, name)
        if row is not None and row.note and row.note.startswith(_QUARANTINE):
            state, reason = "quarantined", row.note[len(_QUARANTINE) :]
        elif enabled:
            state = "enabled"
        elif reason:
            state = "blocked"
        elif lms.config.plugins.safe_mode:
            state, reason = "disabled", "safe mode (LMS_SAFE_MODE) is on"
        elif row is None:
            state, reason = "new", "not set up yet: run `lms db upgrade`"
        else:
            state = "disabled"
            missing = [r for r in plugin.info.requires if not lms.plugin_enabled(r)]
            if row.enabled and missing:
                reason = f"waiting for {', '.join(missing)}"
        hooks = tuple(sorted(c.name for c in lms.pm.get_hookcallers(plugin.module) or ()))
        out.append(
            PluginStatus(
                name=name,
                version=plugin.info.version,
                title=plugin.info.title,
                description=plugin.info.description,
                requires=plugin.info.requires,
                enabled=enabled,
                state=state,
                reason=reason,
                hooks=hooks,
                distribution=plugin.distribution,
            )
        )
    for name, reason in sorted(lms.plugins.quarantined.items()):
        out.append(
            PluginStatus(
                name=name,
                version="?",
                title=name,
                description="",
                requires=(),
                enabled=False,
                state="quarantined",
                reason=reason,
                hooks=(),
                distribution=None,
            )
        )
    return out


def settings_for(lms: LMS, name: str) -> Any:
    """The plugin's settings object: config values overlaid with the admin's saved ones.

    Raises :class:`~lms_core.settings.SettingsInvalid` naming each bad setting and why.
    """
    from lms_core.settings import structure_settings

    info = lms.plugins.loaded[name].info
    if info.settings is None:
        return None
    data = dict(lms.config.plugins.settings.get(name, {}))
    with lms.Session() as session:
        row = session.get(PluginState, name)
        if row is not None and row.settings:
            data.update(row.settings)
    return structure_settings(name, info.settings, data)


def save_settings(lms: LMS, name: str, values: dict[str, Any], actor: User | None = None) -> Any:
    """Validate and store a plugin's settings (the admin page's form).

    ``values`` are checked as :func:`lms_core.settings.structure_settings` does (a refusal is a
    :class:`~lms_core.settings.SettingsInvalid` naming each setting); nothing is stored then.
    """
    from lms_core.serde import converter
    from lms_core.settings import structure_settings

    if name not in lms.plugins.loaded:
        raise NotFound(f"No plugin called {name!r} is installed.")
    info = lms.plugins.loaded[name].info
    if info.settings is None:
        raise PluginError(f"{name} has no settings.")
    settings: Any = structure_settings(name, info.settings, values)
    with lms.transaction(actor, system=actor is None) as ctx:
        if not ctx.system and ctx.actor is None:
            raise Forbidden("Sign in to change plugin settings.")
        _check_actor(ctx)
        state = _state(ctx, name)
        if state is None:
            raise PluginError(f"{name} is not set up yet: run `lms db upgrade`.")
        state.settings = check_json(
            "settings",
            converter.unstructure(settings),
            limits.PLUGIN_SETTINGS,
            label="The settings",
        )
        _bump(ctx)
        audit(ctx, "plugin.settings", ("plugin", name, name))
    return settings
