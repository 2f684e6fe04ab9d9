"""``lms demo`` with badges enabled: the plugin adds its demo content through the hook."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select

from lms_core.demo import build_demo
from plugins.badges.models import Award
from plugins.badges.models import LedgerEntry
from plugins.badges.models import PointRule


def test_the_demo_site_comes_with_badges_earned_from_its_history(lms_factory):
    site = lms_factory(["plugins.badges.hooks"])
    build_demo(site, users=30, courses=6, seed=7)
    with site.session() as session:
        assert session.scalar(select(func.count()).select_from(PointRule)) >= 2
        # the rules were applied to the demo's past events, redelivered after they were made
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) > 0
        assert session.scalar(select(func.count()).select_from(Award)) > 0
