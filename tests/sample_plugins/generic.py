"""Reacts to every event through the generic hook."""

from __future__ import annotations

from lms_core import PluginInfo
from lms_core import hookimpl

PLUGIN = PluginInfo(name="generic", version="1.0", title="Generic listener")

SEEN: list[str] = []


@hookimpl
def lms_on_event(event):
    SEEN.append(event.NAME)
