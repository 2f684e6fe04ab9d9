"""No-op plugins for the benchmarks: ``bench_plugins.noop_a`` ... ``noop_e``.

Five identical plugins that implement a few hooks and do nothing (the baseline cost of the
plugin layer). They are built here rather than written out five times; each is a real
module in ``sys.modules``, so config ``plugins.modules = ["bench_plugins.noop_a"]`` and
entry points find them like any plugin module.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from lms_core import PluginInfo
from lms_core import hookimpl

NAMES = ("noop_a", "noop_b", "noop_c", "noop_d", "noop_e")


def _make(name: str) -> ModuleType:
    module = ModuleType(
        f"{__name__}.{name}", "A plugin that implements a few hooks and does nothing."
    )

    @hookimpl
    def lms_on_course_completed(event: Any) -> None:
        return None

    @hookimpl
    def lms_on_user_enrolled(event: Any) -> None:
        return None

    @hookimpl
    def lms_nav_items(user: Any) -> list[Any]:
        return []

    @hookimpl
    def lms_dashboard_widgets(ctx: Any, user: Any) -> list[Any]:
        return []

    module.PLUGIN = PluginInfo(name=name, version="1.0", title=f"No-op {name[-1]}")  # type: ignore[attr-defined]
    for fn in (lms_on_course_completed, lms_on_user_enrolled, lms_nav_items, lms_dashboard_widgets):
        setattr(module, fn.__name__, fn)
    return module


for _name in NAMES:
    sys.modules[f"{__name__}.{_name}"] = globals()[_name] = _make(_name)
