"""Badges: points, badges, levels and leaderboards, issued as Open Badges 2.0 and 3.0."""

from __future__ import annotations

from pathlib import Path

from attrs import frozen

from lms_core import Permission
from lms_core import PluginInfo


@frozen(kw_only=True)
class BadgesSettings:
    """Site-wide switches for gamification."""

    leaderboards_enabled: bool = True
    #: The "recent" leaderboard covers this many days.
    recent_days: int = 30
    #: Largest accepted badge image upload, in kilobytes.
    max_image_kb: int = 256


PLUGIN = PluginInfo(
    name="badges",
    version="0.1.0",
    title="Badges",
    description="Points, badges, levels and leaderboards; badges are verifiable Open Badges (2.0 and 3.0).",
    core=">=0.1,<1",
    settings=BadgesSettings,
    personal_data=True,
    migrations=str(Path(__file__).parent / "migrations"),
    hookspecs=("plugins.badges.hookspecs",),
    permissions=(
        Permission(
            name="badges.award",
            title="Award and revoke badges by hand",
            description="Instructors hold it in their courses, admins site-wide.",
            default_roles=("admin", "instructor"),
            course_scoped=True,
        ),
        Permission(
            name="badges.manage",
            title="Define point rules, badges and levels",
            default_roles=("admin",),
        ),
    ),
)
