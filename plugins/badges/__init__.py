"""Badges: points, badges, levels and leaderboards, issued as Open Badges 2.0 and 3.0."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from attrs import Attribute
from attrs import field
from attrs import frozen

from lms_core import Permission
from lms_core import PluginInfo

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class SettingProblem(Exception):
    """A badges setting out of range (the plugin settings page shows the message)."""


def _between(low: int, high: int) -> Any:
    def check(_instance: Any, attribute: Attribute[int], value: int) -> None:
        if not low <= value <= high:
            raise SettingProblem(f"{attribute.name} is from {low} to {high}, not {value}")

    return check


def _stripped(value: str) -> str:
    return value.strip()


def _email_or_empty(_instance: Any, attribute: Attribute[str], value: str) -> None:
    if value and (len(value) > 254 or not _EMAIL.fullmatch(value)):
        raise SettingProblem(f"{attribute.name} is an email address (or empty), not {value!r}")


@frozen(kw_only=True)
class BadgesSettings:
    """Site-wide switches for gamification."""

    leaderboards_enabled: bool = True
    #: The "recent" leaderboard covers this many days.
    recent_days: int = field(default=30, validator=_between(1, 3650))
    #: Largest accepted badge image upload, in kilobytes.
    max_image_kb: int = field(default=256, validator=_between(1, 16 * 1024))
    #: The Open Badges issuer's contact address (the issuer Profile's ``email``); empty
    #: means the site's mail sender.
    issuer_email: str = field(default="", converter=_stripped, validator=_email_or_empty)


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
