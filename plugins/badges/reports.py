"""Report sources: badge awards counted by badge, by course and by group.

Badges does not depend on a reports plugin. When one is installed and declares the hookspec
``reports_register_sources()``, the optional hook implementation in
:mod:`plugins.badges.hooks` hands it :data:`SOURCES`: each a dict with ``name``, ``title``,
``columns`` and ``run(ctx) -> list[dict]`` (rows keyed by the columns). Without such a
plugin the hook is simply never called. :func:`award_counts` is also usable directly.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from lms_core.context import Context
from lms_core.errors import Invalid
from lms_core.models import Course
from lms_core.models import Group
from lms_core.models import GroupMember
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass

__all__ = ["award_counts", "SOURCES", "report_sources"]

_BY = ("badge", "course", "group")


def award_counts(ctx: Context, *, by: str = "badge") -> list[dict[str, Any]]:
    """Awards not revoked, counted by badge, by the badge's course, or by the holder's group.

    Each row has ``awards`` (how many) and ``holders`` (how many distinct people), plus:
    ``badge_id``/``badge`` (by badge); ``course_id``/``course`` (by course; badges without a
    course are left out); ``group_id``/``group`` (by group; a person in two groups counts in
    both).
    """
    if by not in _BY:
        raise Invalid(f"Awards can be counted by {', '.join(_BY)}.", field="by")
    awards = func.count(Award.id).label("awards")
    holders = func.count(func.distinct(Award.user_id)).label("holders")
    live = Award.revoked_at.is_(None)
    if by == "badge":
        stmt = (
            select(BadgeClass.id, BadgeClass.name, awards, holders)
            .join(Award, (Award.badge_id == BadgeClass.id) & live, isouter=True)
            .group_by(BadgeClass.id, BadgeClass.name)
            .order_by(BadgeClass.name, BadgeClass.id)
        )
        keys = ("badge_id", "badge")
    elif by == "course":
        stmt = (
            select(Course.id, Course.code, awards, holders)
            .join(BadgeClass, BadgeClass.course_id == Course.id)
            .join(Award, (Award.badge_id == BadgeClass.id) & live, isouter=True)
            .group_by(Course.id, Course.code)
            .order_by(Course.code)
        )
        keys = ("course_id", "course")
    else:
        stmt = (
            select(Group.id, Group.name, awards, holders)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .join(Award, (Award.user_id == GroupMember.user_id) & live)
            .group_by(Group.id, Group.name)
            .order_by(Group.name)
        )
        keys = ("group_id", "group")
    return [
        {keys[0]: ident, keys[1]: label, "awards": int(n), "holders": int(h)}
        for ident, label, n, h in ctx.session.execute(stmt)
    ]


def _source(by: str, title: str) -> dict[str, Any]:
    def run(ctx: Context) -> list[dict[str, Any]]:
        return award_counts(ctx, by=by)

    columns = {"badge": ["badge", "awards", "holders"], "course": ["course", "awards", "holders"]}
    return {
        "name": f"badges.awards_by_{by}",
        "title": title,
        "columns": columns.get(by, ["group", "awards", "holders"]),
        "run": run,
    }


SOURCES = [
    _source("badge", "Badge awards by badge"),
    _source("course", "Badge awards by course"),
    _source("group", "Badge awards by group"),
]


def report_sources() -> list[dict[str, Any]]:
    """What badges contributes to a reports plugin's ``reports_register_sources``."""
    return list(SOURCES)
