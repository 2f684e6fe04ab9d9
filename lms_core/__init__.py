"""lms_core: a small plugin-based LMS core.

The public API for plugin authors is what this module exports: the ``hookimpl`` marker,
the typed errors, contribution classes, event payloads and the runtime.
"""

from __future__ import annotations

from lms_core.context import Context
from lms_core.contributions import LessonKind
from lms_core.contributions import Permission
from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import LMSError
from lms_core.errors import NotFound
from lms_core.errors import Rejected
from lms_core.hooks.markers import hookimpl
from lms_core.hooks.markers import hookspec

__version__ = "0.1.0"

__all__ = [
    "Conflict",
    "Context",
    "Forbidden",
    "Invalid",
    "LMSError",
    "LessonKind",
    "NotFound",
    "Permission",
    "Rejected",
    "__version__",
    "hookimpl",
    "hookspec",
]
