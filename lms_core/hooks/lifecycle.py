"""Lifecycle hooks: start-up, and plugins declaring hooks of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lms_core.hooks.markers import hookspec

if TYPE_CHECKING:
    from lms_core.runtime import LMS


@hookspec
def lms_startup(lms: LMS) -> None:
    """Called once per process after plugins are loaded and the enabled set is known.

    :param lms: the runtime (``lms.config``, ``lms.Session``); do not write here, start-up
        runs in every web worker.
    :returns: nothing.

    .. versionadded:: 0.1
    """
