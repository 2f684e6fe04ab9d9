"""Vetoes enrollment in VIP courses and holds completions while CLOSED; needs recorder."""

from __future__ import annotations

from lms_core import Rejected
from lms_core import hookimpl
from lms_core.contributions import PluginInfo

PLUGIN = PluginInfo(name="gate", version="1.0", title="Gate", requires=("recorder",))

CLOSED = False


@hookimpl
def lms_before_enroll(ctx, user, course, source):
    if course.code.startswith("VIP"):
        raise Rejected("VIP courses are by invitation only.", redirect_to="/courses")


@hookimpl
def lms_before_course_completion(ctx, enrollment):
    if CLOSED:
        raise Rejected("The final assessment has not been passed yet.")
