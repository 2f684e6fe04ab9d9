from __future__ import annotations

from lms_core import hookimpl
from lms_core.contributions import PluginInfo

PLUGIN = PluginInfo(name="misspelt", version="1.0", title="Misspelt")


@hookimpl
def lms_on_course_complete(event):  # should be lms_on_course_completed
    pass
