"""A plugin that implements a few hooks and does nothing (benchmark baseline)."""

from __future__ import annotations

from lms_core import hookimpl
from lms_core.contributions import PluginInfo

PLUGIN = PluginInfo(name="noop_d", version="1.0", title="No-op d")


@hookimpl
def lms_on_course_completed(event):
    return None


@hookimpl
def lms_on_user_enrolled(event):
    return None


@hookimpl
def lms_nav_items(user):
    return []


@hookimpl
def lms_dashboard_widgets(ctx, user):
    return []
