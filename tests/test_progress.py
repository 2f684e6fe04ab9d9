"""Progress: lesson completion, the course completion rule, and completion recorded once."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy import select

from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.events import CourseCompleted
from lms_core.events import LessonCompleted
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import Lesson
from lms_core.models import OutboxEvent
from lms_core.services import courses
from lms_core.services import enrollments
from lms_core.services import progress


def _lessons(lms, course) -> list[Lesson]:
    with lms.session() as session:
        return list(
            session.scalars(
                select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)
            )
        )


def _status(lms, enrollment) -> str:
    with lms.session() as session:
        row = session.get(Enrollment, enrollment.id)
        assert row is not None
        return row.status


def _event_count(lms, name: str) -> int:
    with lms.session() as session:
        return len(session.scalars(select(OutboxEvent.id).where(OutboxEvent.name == name)).all())


def _complete(lms, user, enrollment, lesson) -> bool:
    with lms.transaction(user) as ctx:
        return progress.complete_lesson(ctx, enrollment, lesson)


def test_completing_a_lesson_is_recorded_once(lms, factory):
    learner = factory.user()
    course = factory.course(lessons=2)
    enrollment = factory.enrollment(learner, course)
    first = _lessons(lms, course)[0]
    assert _complete(lms, learner, enrollment, first) is True
    assert _complete(lms, learner, enrollment, first) is False
    with lms.transaction(learner) as ctx:
        assert progress.completed_lesson_ids(ctx, enrollment) == {first.id}
        assert progress.progress_of(ctx, enrollment) == progress.Progress(1, 2)
    assert _event_count(lms, LessonCompleted.NAME) == 1
    assert _status(lms, enrollment) == EnrollmentStatus.ACTIVE


def test_the_course_completes_when_every_required_lesson_is_done(lms, factory):
    learner = factory.user()
    course = factory.course(lessons=2, optional_lessons=2)
    enrollment = factory.enrollment(learner, course)
    required = [lesson for lesson in _lessons(lms, course) if lesson.required]
    _complete(lms, learner, enrollment, required[0])
    assert _status(lms, enrollment) == EnrollmentStatus.ACTIVE
    _complete(lms, learner, enrollment, required[1])
    assert _status(lms, enrollment) == EnrollmentStatus.COMPLETED
    with lms.session() as session:
        row = session.get(Enrollment, enrollment.id)
        assert row is not None and row.completed_at is not None
    with lms.transaction(learner) as ctx:
        assert progress.progress_of(ctx, enrollment).percent == 100


def test_optional_lessons_alone_do_not_complete_a_course(lms, factory):
    learner = factory.user()
    course = factory.course(lessons=1, optional_lessons=2)
    enrollment = factory.enrollment(learner, course)
    for lesson in _lessons(lms, course):
        if not lesson.required:
            _complete(lms, learner, enrollment, lesson)
    assert _status(lms, enrollment) == EnrollmentStatus.ACTIVE


def test_when_no_lesson_is_required_every_lesson_counts(lms, factory):
    learner = factory.user()
    course = factory.course(lessons=0, optional_lessons=2)
    enrollment = factory.enrollment(learner, course)
    first, second = _lessons(lms, course)
    _complete(lms, learner, enrollment, first)
    assert _status(lms, enrollment) == EnrollmentStatus.ACTIVE
    with lms.transaction(learner) as ctx:
        assert progress.progress_of(ctx, enrollment) == progress.Progress(1, 2)
    _complete(lms, learner, enrollment, second)
    assert _status(lms, enrollment) == EnrollmentStatus.COMPLETED


def test_completion_is_recorded_once_even_when_checked_again(lms, factory):
    learner = factory.user()
    course = factory.course(lessons=1)
    enrollment = factory.enrollment(learner, course)
    _complete(lms, learner, enrollment, _lessons(lms, course)[0])
    with lms.transaction(system=True) as ctx:
        assert progress.check_completion(ctx, enrollment) is False
        assert progress.check_completion(ctx, enrollment) is False
    assert _event_count(lms, CourseCompleted.NAME) == 1


def test_check_completion_completes_an_enrollment_whose_rule_came_to_hold(lms, factory):
    learner = factory.user()
    course = factory.course(lessons=2)
    enrollment = factory.enrollment(learner, course)
    first, second = _lessons(lms, course)
    _complete(lms, learner, enrollment, first)
    with lms.transaction(system=True) as ctx:
        courses.update_lesson(ctx, second, required=False)
        assert progress.check_completion(ctx, enrollment) is True
    assert _status(lms, enrollment) == EnrollmentStatus.COMPLETED
    assert _event_count(lms, CourseCompleted.NAME) == 1


def test_pending_enrollments_cannot_record_progress(lms, factory):
    learner = factory.user()
    course = factory.course(enrollment_policy="approval")
    with lms.transaction(learner) as ctx:
        request = enrollments.enroll(ctx, learner, course)
    with pytest.raises(Invalid, match="waiting for approval"):
        _complete(lms, learner, request, _lessons(lms, course)[0])


def test_withdrawn_enrollments_cannot_record_progress(lms, factory):
    learner = factory.user()
    course = factory.course()
    enrollment = factory.enrollment(learner, course, source="self")
    with lms.transaction(learner) as ctx:
        enrollments.withdraw(ctx, enrollment)
    with pytest.raises(Invalid, match="not enrolled"):
        _complete(lms, learner, enrollment, _lessons(lms, course)[0])


def test_a_lesson_of_another_course_is_refused(lms, factory):
    learner = factory.user()
    course, other = factory.course(), factory.course()
    enrollment = factory.enrollment(learner, course)
    with pytest.raises(Invalid, match="not part of"):
        _complete(lms, learner, enrollment, _lessons(lms, other)[0])


def test_recording_someone_elses_progress_needs_enrollment_manage(lms, factory):
    learner, other, teacher = factory.user(), factory.user(), factory.user()
    course = factory.course(instructors=[teacher])
    enrollment = factory.enrollment(learner, course)
    with pytest.raises(Forbidden, match="enrollment.manage"):
        _complete(lms, other, enrollment, _lessons(lms, course)[0])
    assert _complete(lms, teacher, enrollment, _lessons(lms, course)[0]) is True


def test_progress_for_many_enrollments_takes_one_query(lms, factory):
    course = factory.course(lessons=2, optional_lessons=1)
    learners = [factory.user() for _ in range(4)]
    rows = [factory.enrollment(learner, course) for learner in learners]
    lessons = _lessons(lms, course)
    _complete(lms, learners[1], rows[1], lessons[0])
    _complete(lms, learners[2], rows[2], lessons[0])
    _complete(lms, learners[2], rows[2], lessons[1])
    _complete(lms, learners[3], rows[3], lessons[2])  # optional: does not count

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    with lms.transaction(system=True) as ctx:
        event.listen(lms.engine, "before_cursor_execute", count)
        try:
            result = progress.progress_for(ctx, [r.id for r in rows])
        finally:
            event.remove(lms.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert [result[r.id] for r in rows] == [
        progress.Progress(0, 2),
        progress.Progress(1, 2),
        progress.Progress(2, 2),
        progress.Progress(0, 2),
    ]
    assert [result[r.id].percent for r in rows] == [0, 50, 100, 0]
