"""Lesson completion and course completion.

A course completes when its completion rule holds: every required lesson done (every lesson,
when none is marked required), then no ``lms_before_course_completion`` filter objects.
Completion is recorded once: a conditional UPDATE flips the enrollment from active to
completed, and only the transaction that flipped it publishes ``CourseCompleted``.

Given ``at=`` (a past completion being recorded), the lesson, the course completion it causes
and the events about them all carry that time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from attrs import frozen
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from lms_core import outbox
from lms_core.context import Context
from lms_core.errors import Invalid
from lms_core.errors import Rejected
from lms_core.events import CourseCompleted
from lms_core.events import LessonCompleted
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.services.permissions import require
from lms_core.services.timing import happened_at

__all__ = [
    "Progress",
    "complete_lesson",
    "check_completion",
    "progress_of",
    "progress_for",
    "completed_lesson_ids",
]


@frozen
class Progress:
    """How far an enrollment is: required lessons done out of required lessons."""

    done: int
    total: int

    @property
    def percent(self) -> int:
        return 0 if self.total == 0 else round(100 * self.done / self.total)


def completed_lesson_ids(ctx: Context, enrollment: Enrollment) -> set[int]:
    return set(
        ctx.session.scalars(
            select(LessonProgress.lesson_id).where(LessonProgress.enrollment_id == enrollment.id)
        )
    )


def complete_lesson(
    ctx: Context, enrollment: Enrollment, lesson: Lesson, *, at: dt.datetime | None = None
) -> bool:
    """Mark ``lesson`` done for ``enrollment``; completes the course when the rule holds.

    Returns False when it was already done. Learners mark their own lessons; marking someone
    else's needs ``enrollment.manage`` in the course.

    :param at: when it was done (default now); not in the future nor before the enrollment
        started. The progress row, a course completion it causes, and both events carry it.
    """
    enrollment = ctx.attach(enrollment)
    lesson = ctx.attach(lesson)
    user, course = enrollment.user, enrollment.course
    if not (ctx.actor is not None and ctx.actor.id == user.id):
        require(ctx, "enrollment.manage", course, to="record other people's progress")
    if lesson.course_id != enrollment.course_id:
        raise Invalid(f"Lesson {lesson.id} is not part of {course.code}.")
    if enrollment.status == EnrollmentStatus.PENDING:
        raise Invalid(f"The enrollment in {course.code} is waiting for approval.")
    if enrollment.status == EnrollmentStatus.WITHDRAWN:
        raise Invalid(f"{user.email} is not enrolled in {course.code} any more.")
    exists = ctx.session.scalars(
        select(LessonProgress.id).where(
            LessonProgress.enrollment_id == enrollment.id, LessonProgress.lesson_id == lesson.id
        )
    ).first()
    if exists is not None:
        return False
    now = happened_at(at, not_before=enrollment.enrolled_at, what="the enrollment started")
    try:
        with ctx.session.begin_nested():
            ctx.session.add(
                LessonProgress(enrollment_id=enrollment.id, lesson_id=lesson.id, completed_at=now)
            )
    except IntegrityError:
        return False  # a concurrent request recorded it first
    outbox.record(
        ctx,
        LessonCompleted(
            enrollment_id=enrollment.id,
            user_id=user.id,
            course_id=course.id,
            course_code=course.code,
            course_category=course.category,
            lesson_id=lesson.id,
            completed_at=now,
        ),
    )
    check_completion(ctx, enrollment, at=now)
    return True


def _rule_holds(ctx: Context, enrollment: Enrollment) -> bool:
    row = ctx.session.execute(
        select(
            func.count(Lesson.id),
            func.count(case((Lesson.required.is_(True), Lesson.id))),
            func.count(LessonProgress.id),
            func.count(case((Lesson.required.is_(True), LessonProgress.id))),
        )
        .select_from(Lesson)
        .outerjoin(
            LessonProgress,
            (LessonProgress.lesson_id == Lesson.id)
            & (LessonProgress.enrollment_id == enrollment.id),
        )
        .where(Lesson.course_id == enrollment.course_id)
    ).one()
    lessons, required, done, required_done = row
    if lessons == 0:
        return False
    if required == 0:
        return done == lessons
    return required_done == required


def check_completion(
    ctx: Context, enrollment: Enrollment, *, at: dt.datetime | None = None
) -> bool:
    """Complete the enrollment if its rule holds and no plugin objects. True if it completed now.

    :param at: when it completed (default now), recorded as ``completed_at`` and carried by
        ``CourseCompleted``.
    """
    enrollment = ctx.attach(enrollment)
    if enrollment.status != EnrollmentStatus.ACTIVE or not _rule_holds(ctx, enrollment):
        return False
    now = happened_at(at, not_before=enrollment.enrolled_at, what="the enrollment started")
    try:
        ctx.hooks.before_course_completion(ctx=ctx, enrollment=enrollment)
    except Rejected:
        return False
    result = ctx.session.execute(
        update(Enrollment)
        .where(Enrollment.id == enrollment.id, Enrollment.status == EnrollmentStatus.ACTIVE)
        .values(status=EnrollmentStatus.COMPLETED, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    enrollment.status = EnrollmentStatus.COMPLETED
    enrollment.completed_at = now
    course = enrollment.course
    outbox.record(
        ctx,
        CourseCompleted(
            enrollment_id=enrollment.id,
            user_id=enrollment.user_id,
            course_id=course.id,
            course_code=course.code,
            course_category=course.category,
            completed_at=now,
        ),
    )
    return True


def progress_for(ctx: Context, enrollment_ids: Iterable[int]) -> dict[int, Progress]:
    """Progress of many enrollments in one query (dashboards, course rosters)."""
    ids = list(enrollment_ids)
    if not ids:
        return {}
    lesson_counts = (
        select(
            Enrollment.id.label("enrollment_id"),
            func.count(Lesson.id).label("lessons"),
            func.count(case((Lesson.required.is_(True), Lesson.id))).label("required"),
            func.count(LessonProgress.id).label("done"),
            func.count(case((Lesson.required.is_(True), LessonProgress.id))).label("required_done"),
        )
        .select_from(Enrollment)
        .join(Lesson, Lesson.course_id == Enrollment.course_id)
        .outerjoin(
            LessonProgress,
            (LessonProgress.lesson_id == Lesson.id)
            & (LessonProgress.enrollment_id == Enrollment.id),
        )
        .where(Enrollment.id.in_(ids))
        .group_by(Enrollment.id)
    )
    out = {eid: Progress(0, 0) for eid in ids}
    for eid, lessons, required, done, required_done in ctx.session.execute(lesson_counts):
        out[eid] = Progress(done, lessons) if required == 0 else Progress(required_done, required)
    return out


def progress_of(ctx: Context, enrollment: Enrollment) -> Progress:
    return progress_for(ctx, [enrollment.id])[enrollment.id]
