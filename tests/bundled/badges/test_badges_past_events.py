"""What badges derive from an event is dated when the event's fact happened: a past completion
(an import, the demo's history, a redelivery) earns a badge and points on its own date."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from lms_core.db import utcnow
from lms_core.demo import build_demo
from lms_core.models import Enrollment
from lms_core.models import LessonProgress
from lms_core.services import enrollments
from lms_core.services import progress
from plugins.badges import services
from plugins.badges.models import Award
from plugins.badges.models import LedgerEntry

DAY = dt.timedelta(days=1)


def _complete_in_the_past(bx, user, course, started: dt.datetime) -> dt.datetime:
    """Enroll at ``started`` and do every lesson a day apart; returns the completion time."""
    with bx.system() as ctx:
        course = ctx.attach(course)
        enrollment = enrollments.enroll(ctx, ctx.attach(user), course, at=started)
        at = started
        for lesson in course.lessons:
            at += DAY
            progress.complete_lesson(ctx, enrollment, lesson, at=at)
        assert enrollment.completed_at == at
        return at


def test_a_badge_for_a_past_completion_carries_the_completions_date(site, bx):
    course = bx.course("OLD-1", lessons=2)
    learner = bx.user()
    with bx.system() as ctx:
        services.create_badge_class(
            ctx,
            name="Old hand",
            criteria=[{"requirements": [{"type": "course", "course_id": course.id}]}],
            expires_days=365,
        )
    completed_at = _complete_in_the_past(bx, learner, course, utcnow() - 400 * DAY)
    with site.session() as session:
        award = session.scalars(select(Award).where(Award.user_id == learner.id)).one()
    assert award.awarded_at == completed_at
    # a year's validity counted from when it was earned: it has run out already
    assert award.expires_at == completed_at + 365 * DAY
    assert award.expires_at < utcnow()


def test_points_for_past_events_are_dated_when_they_happened(site, bx):
    course = bx.course("OLD-2", lessons=2)
    learner = bx.user()
    with bx.system() as ctx:
        services.create_point_rule(
            ctx, name="Lesson done", event_type="lms.lesson.completed.v1", points=5
        )
    started = utcnow() - 30 * DAY
    _complete_in_the_past(bx, learner, course, started)
    with site.session() as session:
        dates = sorted(
            session.scalars(select(LedgerEntry.created_at).where(LedgerEntry.user_id == learner.id))
        )
    assert dates == [started + DAY, started + 2 * DAY]


def test_demo_badges_are_dated_by_the_demo_completions_that_earned_them(lms_factory):
    site = lms_factory(["plugins.badges.hooks"])
    build_demo(site, users=30, courses=6, seed=7)
    with site.session() as session:
        awards = session.scalars(select(Award).where(Award.awarded_by_id.is_(None))).all()
        assert awards
        completions: dict[int, set[dt.datetime]] = {}
        courses = select(Enrollment.user_id, Enrollment.completed_at).where(
            Enrollment.completed_at.is_not(None)
        )
        lessons = select(Enrollment.user_id, LessonProgress.completed_at).join(
            Enrollment, Enrollment.id == LessonProgress.enrollment_id
        )
        for stmt in (courses, lessons):
            for user_id, at in session.execute(stmt):
                completions.setdefault(user_id, set()).add(at)
    for award in awards:
        # earned from the history: at one of the holder's completions, not at build time
        assert award.awarded_at in completions.get(award.user_id, []), award.awarded_at
    assert min(a.awarded_at for a in awards) < utcnow() - 7 * DAY
