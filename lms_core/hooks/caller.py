"""The typed facade through which the core calls hooks.

Nothing else touches ``pm.hook``. Every call skips plugins that are disabled in this
deployment, calls keyword arguments only, and flattens contribution lists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

import pluggy

from lms_core.errors import Rejected

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.contributions import FileUse
    from lms_core.contributions import LessonKind
    from lms_core.contributions import NotificationKind
    from lms_core.contributions import Permission
    from lms_core.contributions import PluginInfo
    from lms_core.events import Event
    from lms_core.models import Course
    from lms_core.models import Enrollment
    from lms_core.models import User

__all__ = ["Hooks"]

log = logging.getLogger(__name__)

#: (plugin, kind) of misnamed notification kinds already logged (once per process).
_REPORTED: set[tuple[str, str]] = set()


def _bind(impl: Any) -> Callable[..., Any]:
    """Call ``impl`` the way pluggy does: with only the arguments it declares."""
    function, argnames = impl.function, impl.argnames

    def call(**kwargs: Any) -> Any:
        return function(*[kwargs[name] for name in argnames])

    return call


class Hooks:
    """Calls hooks on the plugins of ``pm`` for which ``is_enabled(name)`` is true."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        is_enabled: Callable[[str], bool],
        plugin_infos: Callable[[], Iterable[PluginInfo]] = tuple,
    ) -> None:
        self.pm = pm
        self.is_enabled = is_enabled
        self.plugin_infos = plugin_infos

    # -- generic machinery -------------------------------------------------------------
    def implementations(
        self, hook_name: str, *, include_disabled: bool = False
    ) -> list[tuple[str, Callable[..., Any]]]:
        """(plugin name, function) of each enabled implementation, in call order.

        ``include_disabled`` also returns installed-but-disabled plugins' implementations
        (privacy export and erase must reach data a disabled plugin still holds).
        """
        caller = getattr(self.pm.hook, hook_name)
        out = []
        # pluggy calls the last registered implementation first; keep that order.
        for impl in reversed(caller.get_hookimpls()):
            if include_disabled or self.is_enabled(impl.plugin_name):
                out.append((impl.plugin_name, _bind(impl)))
        return out

    def implementers(self, hook_name: str) -> list[str]:
        return [name for name, _ in self.implementations(hook_name)]

    def event_recipients(self, hook_name: str) -> list[str]:
        """The enabled plugins that get an event whose specific hook is ``hook_name``.

        A plugin receives an event when it implements the event's own hook or the generic
        ``lms_on_event``. Every path that writes events (services through
        :func:`lms_core.outbox.record`, the bulk importer) asks this one function, so no path
        can leave generic handlers out.
        """
        return list(
            dict.fromkeys([*self.implementers(hook_name), *self.implementers("lms_on_event")])
        )

    def collect(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a contribution hook and flatten the lists it returns."""
        items: list[Any] = []
        for _name, fn in self.implementations(hook_name):
            result = fn(**kwargs)
            if result:
                items.extend(result)
        return items

    def run_filter(self, hook_name: str, action: str, **kwargs: Any) -> None:
        """Call a gating filter; fail closed when an implementation crashes."""
        for name, fn in self.implementations(hook_name):
            try:
                fn(**kwargs)
            except Rejected:
                raise
            except Exception:
                log.exception("plugin %s failed in %s; refusing %s", name, hook_name, action)
                raise Rejected(
                    f"Could not {action} right now: the {name} plugin failed while checking it. "
                    "Please try again later or tell an administrator."
                ) from None

    def event_handler(self, plugin: str, hook_name: str) -> tuple[Callable[..., Any], bool] | None:
        """``plugin``'s enabled implementation of an event hook (else of ``lms_on_event``),
        and whether it takes ``ctx``."""
        if not self.is_enabled(plugin):
            return None
        for name in (hook_name, "lms_on_event"):
            caller = getattr(self.pm.hook, name, None)
            for impl in caller.get_hookimpls() if caller is not None else ():
                if impl.plugin_name == plugin:
                    return _bind(impl), "ctx" in impl.argnames
        return None

    def deliver(self, plugin: str, event: Event, ctx: Context) -> bool:
        """Deliver ``event`` to one plugin. False when it has no implementation."""
        handler = self.event_handler(plugin, event.HOOK)
        if handler is None:
            return False
        handler[0](event=event, ctx=ctx)
        return True

    # -- one method per core hook ------------------------------------------------------
    def permissions(self) -> list[Permission]:
        """Permissions from ``lms_register_permissions`` and enabled plugins' ``PluginInfo``."""
        declared = self.collect("lms_register_permissions")
        for info in self.plugin_infos():
            if self.is_enabled(info.name):
                declared.extend(p for p in info.permissions if p not in declared)
        return declared

    def lesson_kinds(self) -> dict[str, LessonKind]:
        kinds: dict[str, LessonKind] = {}
        for kind in self.collect("lms_register_lesson_kinds"):
            kinds.setdefault(kind.name, kind)
        return kinds

    def notification_kinds(self, *, include_disabled: bool = False) -> dict[str, NotificationKind]:
        """Kinds by name from ``lms_register_notification_kinds``, first declaration winning.

        A kind must be named after the plugin declaring it (``<plugin>.<kind>``; the core's
        default plugins ``core.*``); others are left out and logged.
        """
        kinds: dict[str, NotificationKind] = {}
        for plugin, fn in self.implementations(
            "lms_register_notification_kinds", include_disabled=include_disabled
        ):
            owner = plugin.split(".", 1)[0]
            for kind in fn() or ():
                if not kind.name.startswith(f"{owner}.") or kind.name in kinds:
                    if (plugin, kind.name) in _REPORTED:
                        continue
                    _REPORTED.add((plugin, kind.name))
                    log.error(
                        "plugin %s: notification kind %r ignored (%s)",
                        plugin,
                        kind.name,
                        "declared twice" if kind.name in kinds else f"name it {owner}.<kind>",
                    )
                    continue
                kinds[kind.name] = kind
        return kinds

    def file_uses(self) -> dict[str, tuple[str, FileUse]]:
        """Every installed plugin's file uses by name, with the plugin that declares each.

        Disabled plugins' uses are included (their files still exist); callers check
        :attr:`is_enabled` on the plugin before serving a file.
        """
        uses: dict[str, tuple[str, FileUse]] = {}
        for plugin, fn in self.implementations("lms_register_file_uses", include_disabled=True):
            for use in fn() or ():
                uses.setdefault(use.name, (plugin, use))
        return uses

    def before_enroll(self, ctx: Context, user: User, course: Course, source: str) -> None:
        self.run_filter(
            "lms_before_enroll", "enroll", ctx=ctx, user=user, course=course, source=source
        )

    def before_course_completion(self, ctx: Context, enrollment: Enrollment) -> None:
        self.run_filter(
            "lms_before_course_completion", "complete the course", ctx=ctx, enrollment=enrollment
        )

    def before_login(self, user: User, method: str, address: str | None) -> None:
        self.run_filter("lms_before_login", "sign in", user=user, method=method, address=address)
