"""lms_core: a small plugin-based LMS core.

The public API for plugin authors is what this module exports: the ``hookimpl`` marker,
the typed errors, contribution classes, event payloads and the runtime.
"""

from __future__ import annotations

from lms_core.context import Context
from lms_core.contributions import AdminPage
from lms_core.contributions import AuthProvider
from lms_core.contributions import FileUse
from lms_core.contributions import LessonKind
from lms_core.contributions import NavItem
from lms_core.contributions import Panel
from lms_core.contributions import Permission
from lms_core.contributions import PluginInfo
from lms_core.contributions import ProfileSection
from lms_core.contributions import Widget
from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import LMSError
from lms_core.errors import NotFound
from lms_core.errors import PluginError
from lms_core.errors import Rejected
from lms_core.hooks.markers import hookimpl
from lms_core.hooks.markers import hookspec
from lms_core.limits import TooLong
from lms_core.limits import check_json
from lms_core.limits import check_length
from lms_core.settings import SettingsInvalid
from lms_core.settings import setting

__version__ = "0.1.0"

__all__ = [
    "AdminPage",
    "AuthProvider",
    "NavItem",
    "Panel",
    "PluginInfo",
    "ProfileSection",
    "Widget",
    "Conflict",
    "Context",
    "Forbidden",
    "Invalid",
    "LMSError",
    "FileUse",
    "LessonKind",
    "NotFound",
    "Permission",
    "PluginError",
    "Rejected",
    "SettingsInvalid",
    "TooLong",
    "__version__",
    "check_json",
    "check_length",
    "hookimpl",
    "hookspec",
    "setting",
]
