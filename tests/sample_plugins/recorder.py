"""Records every enrollment and completion it is given (in this process)."""

from __future__ import annotations

from lms_core import hookimpl
from lms_core.contributions import NavItem
from lms_core.contributions import PluginInfo

PLUGIN = PluginInfo(name="recorder", version="1.0", title="Recorder")

RECEIVED: list[object] = []


@hookimpl
def lms_on_user_enrolled(event):
    RECEIVED.append(event)


@hookimpl
def lms_on_course_completed(event):
    RECEIVED.append(event)


@hookimpl
def lms_nav_items(user):
    return [NavItem(label="Recorded", endpoint="recorder.index")]
