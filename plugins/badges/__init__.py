"""Badges: points, badges, levels and leaderboards, issued as Open Badges 2.0 and 3.0."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from attrs import Attribute
from attrs import frozen

from lms_core import Permission
from lms_core import PluginInfo
from lms_core import setting

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _stripped(value: str) -> str:
    return value.strip()


def _email_or_empty(_instance: Any, _attribute: Attribute[str], value: str) -> None:
    if value and (len(value) > 254 or not _EMAIL.fullmatch(value)):
        raise ValueError("must be an email address, or empty")


@frozen(kw_only=True)
class BadgesSettings:
    """Site-wide switches for gamification."""

    leaderboards_enabled: bool = setting(
        True,
        label="Leaderboards",
        help="Show the site and course leaderboards to learners.",
    )
    recent_days: int = setting(
        30,
        label="Recent days",
        help='The "recent" leaderboard covers this many days.',
        min=1,
        max=3650,
    )
    max_image_kb: int = setting(
        256,
        label="Largest badge image (KB)",
        help="Largest accepted badge image upload, in kilobytes.",
        min=1,
        max=16 * 1024,
    )
    issuer_email: str = setting(
        "",
        label="Issuer email",
        help="The Open Badges issuer's contact address; empty means the site's mail sender.",
        converter=_stripped,
        validator=_email_or_empty,
    )


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
