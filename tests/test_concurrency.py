"""Concurrency: simultaneous enrollments give one row per person and never overfill a course.

Each thread runs its own unit of work (``lms.transaction``), as separate web requests would.
On SQLite write transactions start with BEGIN IMMEDIATE and queue; on PostgreSQL the course
row is locked while seats are counted, and the (user, course) pair is unique.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from lms_core.errors import Conflict
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.services import enrollments
from lms_core.services import progress
from tests.conftest import postgres_only


def _run_together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released at the same moment; results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def _enrollments(lms, course) -> list[Enrollment]:
    with lms.session() as session:
        return list(session.scalars(select(Enrollment).where(Enrollment.course_id == course.id)))


def _enroll_in_own_transaction(lms, user, course) -> int:
    with lms.transaction(system=True) as ctx:
        return enrollments.enroll(ctx, user, course).id


def test_simultaneous_enrollments_of_one_person_give_one_enrollment(lms, factory):
    learner = factory.user()
    course = factory.course()
    results = _run_together(8, lambda _i: _enroll_in_own_transaction(lms, learner, course))
    assert not [r for r in results if isinstance(r, Exception)], results
    rows = _enrollments(lms, course)
    assert len(rows) == 1
    assert set(results) == {rows[0].id}


def test_capacity_holds_under_simultaneous_enrollments(lms, factory):
    course = factory.course(capacity=5)
    people = [factory.user() for _ in range(20)]
    results = _run_together(20, lambda i: _enroll_in_own_transaction(lms, people[i], course))
    conflicts = [r for r in results if isinstance(r, Conflict)]
    others = [r for r in results if isinstance(r, Exception) and not isinstance(r, Conflict)]
    assert others == []
    assert len(conflicts) == 15
    assert all("full" in str(c) for c in conflicts)
    active = [e for e in _enrollments(lms, course) if e.status == EnrollmentStatus.ACTIVE]
    assert len(active) == 5


def test_simultaneous_completion_of_the_same_lesson_is_recorded_once(lms, factory):
    learner = factory.user()
    course = factory.course(lessons=1)
    enrollment = factory.enrollment(learner, course)
    with lms.session() as session:
        lesson = session.scalars(select(Lesson).where(Lesson.course_id == course.id)).one()

    def complete(_i: int) -> bool:
        with lms.transaction(learner) as ctx:
            return progress.complete_lesson(ctx, enrollment, lesson)

    results = _run_together(6, complete)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results.count(True) == 1
    with lms.session() as session:
        rows = session.scalars(
            select(LessonProgress).where(LessonProgress.enrollment_id == enrollment.id)
        ).all()
        completed = session.get(Enrollment, enrollment.id)
    assert len(rows) == 1
    assert completed is not None and completed.status == EnrollmentStatus.COMPLETED


def test_twenty_simultaneous_self_enrollments_answer_201_exactly_once(lms, lms_factory, factory):
    # The service decides "created" with the course locked, not the view before calling it.
    # Twenty web workers (runtimes of their own, as separate processes would have) at once.
    from lms_core.services import tokens
    from lms_core.web import create_app

    learner = factory.user()
    course = factory.course()
    with lms.transaction(learner) as ctx:
        _row, secret = tokens.create_token(ctx, learner, "race")
    headers = {"Authorization": f"Bearer {secret}"}
    clients = [create_app(lms=lms_factory()).test_client() for _ in range(20)]

    def enroll(i: int) -> tuple[int, int]:
        url = f"/api/v1/courses/{course.id}/enrollments"
        response = clients[i].post(url, headers=headers)  # status: the test asserts them all
        return response.status_code, response.get_json()["id"]

    results = _run_together(20, enroll)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(status for status, _id in results)
    assert statuses == [200] * 19 + [201]
    rows = _enrollments(lms, course)
    assert len(rows) == 1
    assert {enrollment_id for _status, enrollment_id in results} == {rows[0].id}


def test_simultaneous_reenrollments_after_a_withdrawal_create_it_once(lms, factory):
    learner = factory.user()
    course = factory.course()
    enrollment = factory.enrollment(learner, course, source="self")
    with lms.transaction(learner) as ctx:
        enrollments.withdraw(ctx, enrollment)

    def again(_i: int) -> bool:
        with lms.transaction(learner) as ctx:
            return enrollments.enroll_or_find(ctx, learner, course)[1]

    results = _run_together(8, again)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(results) == [False] * 7 + [True]


@postgres_only
def test_on_postgresql_seats_are_counted_with_the_course_row_locked(lms, factory):
    # Under READ COMMITTED two transactions could both count 2 seats and both insert; the
    # SELECT ... FOR UPDATE on the course row makes them count one after the other.
    course = factory.course(capacity=3)
    people = [factory.user() for _ in range(12)]
    results = _run_together(12, lambda i: _enroll_in_own_transaction(lms, people[i], course))
    assert len([r for r in results if isinstance(r, Conflict)]) == 9
    assert len([e for e in _enrollments(lms, course) if e.status == "active"]) == 3
