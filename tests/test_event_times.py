"""Events carry the times the data records: a service told when something happened (``at=``)
writes that time and publishes it, so every plugin sees history on the day it happened."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from lms_core.db import utcnow
from lms_core.errors import Invalid
from lms_core.events import CourseCompleted
from lms_core.events import EnrollmentWithdrawn
from lms_core.events import LessonCompleted
from lms_core.events import UserEnrolled
from lms_core.events import load_event
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.models import OutboxEvent
from lms_core.services import enrollments
from lms_core.services import progress

DAY = dt.timedelta(days=1)


def _events(lms, cls) -> list:
    with lms.session() as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.name == cls.NAME).order_by(OutboxEvent.id)
        ).all()
        return [load_event(row.name, row.payload) for row in rows]


def _lessons(ctx, course) -> list[Lesson]:
    return list(
        ctx.session.scalars(
            select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)
        )
    )


def test_an_enrollment_made_with_a_past_time_is_dated_and_due_from_it(lms, factory):
    course = factory.course("PAST-1", due_days=30)
    learner = factory.user()
    then = utcnow() - 90 * DAY
    enrollment = factory.enrollment(learner, course, at=then)
    assert enrollment.enrolled_at == then
    assert enrollment.due_at == then + 30 * DAY
    (event,) = _events(lms, UserEnrolled)
    assert event.enrolled_at == then and event.due_at == then + 30 * DAY
    assert event.occurred_at == then


def test_a_past_completion_writes_and_publishes_the_time_it_happened(lms, factory):
    course = factory.course("PAST-2", lessons=2)
    learner = factory.user()
    started = utcnow() - 60 * DAY
    first, second = started + 2 * DAY, started + 5 * DAY
    with lms.transaction(system=True) as ctx:
        enrollment = enrollments.enroll(ctx, ctx.attach(learner), ctx.attach(course), at=started)
        one, two = _lessons(ctx, course)
        progress.complete_lesson(ctx, enrollment, one, at=first)
        progress.complete_lesson(ctx, enrollment, two, at=second)
        enrollment_id = enrollment.id
    with lms.session() as session:
        row = session.get(Enrollment, enrollment_id)
        assert row is not None and row.status == EnrollmentStatus.COMPLETED
        assert row.completed_at == second
        times = sorted(
            session.scalars(
                select(LessonProgress.completed_at).where(
                    LessonProgress.enrollment_id == enrollment_id
                )
            )
        )
        assert times == [first, second]
    assert [e.completed_at for e in _events(lms, LessonCompleted)] == [first, second]
    (completed,) = _events(lms, CourseCompleted)
    assert completed.completed_at == second and completed.occurred_at == second


def test_a_past_withdrawal_is_dated_and_published_with_its_time(lms, factory):
    course = factory.course("PAST-3")
    learner = factory.user()
    started = utcnow() - 20 * DAY
    left = started + 3 * DAY
    with lms.transaction(system=True) as ctx:
        enrollment = enrollments.enroll(ctx, ctx.attach(learner), ctx.attach(course), at=started)
        enrollments.withdraw(ctx, enrollment, at=left)
        assert enrollment.withdrawn_at == left
    (event,) = _events(lms, EnrollmentWithdrawn)
    assert event.withdrawn_at == left and event.occurred_at == left


def test_without_a_time_the_services_record_now(lms, factory):
    course = factory.course("NOW-1", lessons=1)
    learner = factory.user()
    before = utcnow()
    with lms.transaction(system=True) as ctx:
        enrollment = enrollments.enroll(ctx, ctx.attach(learner), ctx.attach(course))
        (lesson,) = _lessons(ctx, course)
        progress.complete_lesson(ctx, enrollment, lesson)
    (completed,) = _events(lms, CourseCompleted)
    assert before <= completed.completed_at <= utcnow()


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (utcnow() + 2 * DAY, "cannot be in the future"),
        (dt.datetime(2026, 1, 1), "time zone"),  # noqa: DTZ001 (naive on purpose)
        ("2026-01-01", "must be a date and time"),
    ],
    ids=["future", "naive", "not-a-datetime"],
)
def test_a_bad_time_is_refused_naming_the_field_and_nothing_is_written(lms, factory, at, message):
    course = factory.course("BAD-1")
    learner = factory.user()
    with pytest.raises(Invalid, match=message) as excinfo:
        factory.enrollment(learner, course, at=at)
    assert excinfo.value.field == "at"
    with lms.session() as session:
        assert session.scalars(select(Enrollment.id)).first() is None


def test_a_lesson_cannot_be_done_before_the_enrollment_started(lms, factory):
    course = factory.course("BAD-2", lessons=1)
    learner = factory.user()
    started = utcnow() - 10 * DAY
    enrollment = factory.enrollment(learner, course, at=started)
    with lms.transaction(system=True) as ctx:
        (lesson,) = _lessons(ctx, course)
        with pytest.raises(Invalid, match="before the enrollment started") as excinfo:
            progress.complete_lesson(ctx, ctx.attach(enrollment), lesson, at=started - DAY)
        assert excinfo.value.field == "at"
    with lms.session() as session:
        assert session.scalars(select(LessonProgress.id)).first() is None


def test_every_core_event_says_when_its_fact_happened():
    from lms_core.events import EVENT_TYPES

    for name, cls in EVENT_TYPES.items():
        if not name.startswith("lms."):
            continue
        assert cls.WHEN, f"{cls.__name__} names no time field"


def test_the_demo_publishes_its_history_with_the_times_it_records(lms):
    from lms_core.demo import build_demo

    build_demo(lms, users=30, courses=6, seed=3)
    with lms.session() as session:
        completed = dict(
            session.execute(
                select(Enrollment.id, Enrollment.completed_at).where(
                    Enrollment.completed_at.is_not(None)
                )
            ).all()
        )
        enrolled = dict(session.execute(select(Enrollment.id, Enrollment.enrolled_at)).all())
    events = _events(lms, CourseCompleted)
    assert events and len(events) == len(completed)
    for event in events:
        assert event.completed_at == completed[event.enrollment_id]
    # the history spreads over months, not over the seconds the build took
    assert min(e.completed_at for e in events) < utcnow() - 7 * DAY
    for event in _events(lms, UserEnrolled):
        assert event.enrolled_at == enrolled[event.enrollment_id]
