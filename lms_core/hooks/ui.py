"""UI slot hooks (``lms_*_items`` and friends): what a plugin shows in the core's pages.

Each returns a list of frozen objects from :mod:`lms_core.contributions` that the core's
templates render in order. Called on every page that has the slot, so keep them cheap: one
query at most, and nothing when the plugin has nothing to show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lms_core.hooks.markers import hookspec

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.contributions import AdminPage
    from lms_core.contributions import NavItem
    from lms_core.contributions import Panel
    from lms_core.contributions import ProfileSection
    from lms_core.contributions import Widget
    from lms_core.models import Course
    from lms_core.models import User


@hookspec
def lms_nav_items(user: User | None) -> list[NavItem]:
    """Called when the main navigation is drawn.

    :param user: the signed-in user, or None.
    :returns: :class:`~lms_core.contributions.NavItem` objects; items whose ``permission``
        the user lacks are left out by the core.

    Example::

        @hookimpl
        def lms_nav_items(user):
            return [NavItem(label="Leaderboard", endpoint="badges.leaderboard")]

    .. versionadded:: 0.1
    """


@hookspec
def lms_dashboard_widgets(ctx: Context, user: User) -> list[Widget]:
    """Called when a user's dashboard is drawn.

    :param ctx: read access through ``ctx.session``.
    :param user: whose dashboard it is.
    :returns: :class:`~lms_core.contributions.Widget` objects.

    .. versionadded:: 0.1
    """


@hookspec
def lms_course_panels(ctx: Context, course: Course, user: User | None) -> list[Panel]:
    """Called when a course page is drawn.

    :param ctx: read access through ``ctx.session``.
    :param course: the course shown.
    :param user: the viewer, or None.
    :returns: :class:`~lms_core.contributions.Panel` objects.

    .. versionadded:: 0.1
    """


@hookspec
def lms_admin_pages() -> list[AdminPage]:
    """Called when the admin area's menu is drawn.

    :returns: :class:`~lms_core.contributions.AdminPage` objects (each names the
        permission needed to see it).

    .. versionadded:: 0.1
    """


@hookspec
def lms_profile_sections(ctx: Context, user: User, viewer: User) -> list[ProfileSection]:
    """Called when a profile page is drawn.

    :param ctx: read access through ``ctx.session``.
    :param user: whose profile it is.
    :param viewer: who is looking (the same user, or someone with ``user.view``).
    :returns: :class:`~lms_core.contributions.ProfileSection` objects.

    .. versionadded:: 0.1
    """
