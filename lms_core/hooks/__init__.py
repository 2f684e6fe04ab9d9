"""Hook specifications, one module per concern, and the markers plugins use.

``SPEC_MODULES`` is what :func:`lms_core.plugins.make_plugin_manager` adds to the manager.
"""

from __future__ import annotations

from lms_core.hooks import auth
from lms_core.hooks import contributions
from lms_core.hooks import events
from lms_core.hooks import filters
from lms_core.hooks import lifecycle
from lms_core.hooks import privacy
from lms_core.hooks import ui
from lms_core.hooks.markers import hookimpl
from lms_core.hooks.markers import hookspec

__all__ = ["hookimpl", "hookspec", "SPEC_MODULES"]

SPEC_MODULES = (events, filters, contributions, ui, auth, privacy, lifecycle)
