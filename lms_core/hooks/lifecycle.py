"""Lifecycle hooks: start-up, and plugins declaring hooks of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lms_core.hooks.markers import hookspec

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.models import Course
    from lms_core.runtime import LMS


@hookspec
def lms_startup(lms: LMS) -> None:
    """Called once per process after plugins are loaded and the enabled set is known.

    :param lms: the runtime (``lms.config``, ``lms.Session``); do not write here, start-up
        runs in every web worker.
    :returns: nothing.

    .. versionadded:: 0.1
    """


@hookspec
def lms_demo_content(ctx: Context, courses: list[Course]) -> None:
    """Called by ``lms demo`` after the core's demo site is built, in one system transaction.

    Plugins add demo content of their own through their services (badge classes, point
    rules, forum threads ...), so a newcomer sees the plugin at work. After the transaction
    commits, ``lms demo`` delivers every pending event, so a plugin may queue redelivery of
    the demo's past events (:func:`lms_core.outbox.redeliver`) to apply its new rules to them.

    :param ctx: a system unit of work (``ctx.session``, ``ctx.hooks``).
    :param courses: the demo's courses, published ones first.
    :returns: nothing.

    .. versionadded:: 0.1
    """
