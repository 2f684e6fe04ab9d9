"""Fails to handle enrollments while FAIL is true."""

from __future__ import annotations

from lms_core import hookimpl
from lms_core.contributions import PluginInfo

PLUGIN = PluginInfo(name="flaky", version="1.0", title="Flaky")

FAIL = True
CALLS: list[int] = []


@hookimpl
def lms_on_user_enrolled(event):
    CALLS.append(event.enrollment_id)
    if FAIL:
        raise RuntimeError("flaky is down")
