from __future__ import annotations

from lms_core.contributions import PluginInfo

PLUGIN = PluginInfo(name="ancient", version="0.0.1", title="Ancient", core="<0.1")
