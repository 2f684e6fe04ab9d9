"""A filter with a bug in it."""

from __future__ import annotations

from lms_core import hookimpl
from lms_core.contributions import PluginInfo

PLUGIN = PluginInfo(name="crashfilter", version="1.0", title="Crashing filter")


@hookimpl
def lms_before_enroll(ctx, user, course, source):
    return 1 / 0
