"""lms-hello: an example lms-core plugin that congratulates learners on completed courses."""

from __future__ import annotations

from lms_core.contributions import PluginInfo

__all__ = ["PLUGIN"]

PLUGIN = PluginInfo(
    name="hello",
    version="0.1.0",
    title="Hello",
    description="Congratulates learners when they complete a course (in the audit log).",
    core=">=0.1,<1",
    # It keeps no tables of its own; what it writes goes to the core's audit log, which the
    # core's own privacy handling covers.
    personal_data=False,
)
