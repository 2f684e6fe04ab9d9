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


def test_the_demo_first_steps_badge_counts_a_course_added_after_the_demo(lms_factory):
    from lms_core.testing import Factory
    from plugins.badges import services
    from plugins.badges.models import BadgeClass

    site = lms_factory(["plugins.badges.hooks"])
    build_demo(site, users=30, courses=6, seed=7)
    with site.session() as session:
        first = session.scalar(select(BadgeClass).where(BadgeClass.name == "First steps"))
        assert first is not None
        assert first.criteria == [{"requirements": [{"type": "any_courses", "min": 1}]}]
    make = Factory(site)
    newcomer = make.user()
    course = make.course("NEW-AFTER-DEMO")
    with site.transaction(system=True) as ctx:
        from lms_core.services import enrollments
        from lms_core.services import progress

        course = ctx.attach(course)
        enrollment = enrollments.enroll(ctx, ctx.attach(newcomer), course)
        for lesson in course.lessons:
            progress.complete_lesson(ctx, enrollment, lesson)
    with site.transaction(system=True) as ctx:
        names = {b.name for _a, b in services.awards_of(ctx, newcomer.id)}
    assert "First steps" in names
