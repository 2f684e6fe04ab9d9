"""Enrollments: policies, capacity, timestamps, approval, withdrawal and events."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func
from sqlalchemy import select

from lms_core.db import utcnow
from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.events import EnrollmentWithdrawn
from lms_core.events import UserEnrolled
from lms_core.models import AuditEntry
from lms_core.models import Enrollment
from lms_core.models import EnrollmentSource
from lms_core.models import EnrollmentStatus
from lms_core.models import OutboxEvent
from lms_core.services import courses
from lms_core.services import enrollments
from lms_core.services import users


def _events(lms, name: str) -> list[OutboxEvent]:
    with lms.session() as session:
        return list(
            session.scalars(
                select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id)
            )
        )


def _count(lms) -> int:
    with lms.session() as session:
        return int(session.scalar(select(func.count()).select_from(Enrollment)) or 0)


def _self_enroll(lms, user, course) -> Enrollment:
    with lms.transaction(user) as ctx:
        return enrollments.enroll(ctx, user, course)


# --- open courses ---------------------------------------------------------------------------


def test_a_learner_enrolls_themselves_in_an_open_course(lms, factory):
    learner = factory.user()
    course = factory.course()
    before = utcnow()
    enrollment = _self_enroll(lms, learner, course)
    assert enrollment.status == EnrollmentStatus.ACTIVE
    assert enrollment.source == EnrollmentSource.SELF
    assert before <= enrollment.enrolled_at <= utcnow()
    assert enrollment.due_at is None
    assert enrollment.completed_at is None
    assert enrollment.enrolled_by_id == learner.id


def test_the_due_date_is_the_enrollment_date_plus_the_courses_due_days(lms, factory):
    learner = factory.user()
    course = factory.course(due_days=30)
    enrollment = _self_enroll(lms, learner, course)
    assert enrollment.due_at == enrollment.enrolled_at + dt.timedelta(days=30)
    assert not enrollment.is_overdue(utcnow())
    assert enrollment.is_overdue(utcnow() + dt.timedelta(days=31))


def test_enrolling_twice_returns_the_same_enrollment(lms, factory):
    learner = factory.user()
    course = factory.course()
    first = _self_enroll(lms, learner, course)
    second = _self_enroll(lms, learner, course)
    assert second.id == first.id
    assert _count(lms) == 1
    assert len(_events(lms, UserEnrolled.NAME)) == 1


def test_enrolling_records_a_user_enrolled_event(lms, factory):
    learner = factory.user()
    course = factory.course(category="Safety")
    enrollment = _self_enroll(lms, learner, course)
    (event,) = _events(lms, UserEnrolled.NAME)
    assert event.payload["enrollment_id"] == enrollment.id
    assert event.payload["user_id"] == learner.id
    assert event.payload["course_code"] == course.code
    assert event.payload["course_category"] == "Safety"
    assert event.payload["source"] == "self"


def test_a_draft_course_cannot_be_self_enrolled(lms, factory):
    learner = factory.user()
    course = factory.course(publish=False)
    with pytest.raises(NotFound):
        _self_enroll(lms, learner, course)
    assert _count(lms) == 0


def test_an_archived_course_takes_no_enrollments_from_anyone(lms, factory):
    learner = factory.user()
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        courses.archive_course(ctx, course)
    with pytest.raises(Invalid, match="archived"):
        _self_enroll(lms, learner, course)
    with pytest.raises(Invalid, match="archived"):
        factory.enrollment(learner, course)
    assert _count(lms) == 0


def test_deactivated_users_cannot_be_enrolled(lms, factory):
    admin = factory.admin()
    learner = factory.user()
    course = factory.course()
    with lms.transaction(admin) as ctx:
        users.deactivate_user(ctx, learner)
    with pytest.raises(Invalid, match="deactivated"):
        factory.enrollment(learner, course)


def test_an_unknown_source_is_invalid(lms, factory):
    learner = factory.user()
    course = factory.course()
    with pytest.raises(Invalid) as excinfo:
        factory.enrollment(learner, course, source="carrier pigeon")
    assert excinfo.value.field == "source"


@pytest.mark.parametrize("source", [s.value for s in EnrollmentSource])
def test_every_documented_source_is_accepted(lms, factory, source):
    learner = factory.user()
    course = factory.course()
    assert factory.enrollment(learner, course, source=source).source == source


# --- enrolling other people -----------------------------------------------------------------


def test_learners_cannot_enroll_other_people(lms, factory):
    learner = factory.user()
    other = factory.user()
    course = factory.course()
    with pytest.raises(Forbidden, match="enrollment.manage"), lms.transaction(learner) as ctx:
        enrollments.enroll(ctx, other, course)
    assert _count(lms) == 0


def test_a_manager_enrolls_someone_and_the_source_says_so(lms, factory):
    manager = factory.user(roles=("manager",))
    learner = factory.user()
    course = factory.course()
    with lms.transaction(manager) as ctx:
        enrollment = enrollments.enroll(ctx, learner, course)
    assert enrollment.source == EnrollmentSource.MANAGER
    assert enrollment.enrolled_by_id == manager.id
    with lms.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "enrollment.create")
        ).one()
    assert (entry.actor_label, entry.target_label) == (manager.email, learner.email)


# --- managers-only courses ------------------------------------------------------------------


def test_a_managers_only_course_refuses_self_enrollment(lms, factory):
    learner = factory.user()
    course = factory.course(enrollment_policy="managers")
    with pytest.raises(Forbidden, match="Only managers"):
        _self_enroll(lms, learner, course)
    assert _count(lms) == 0


def test_a_manager_or_a_course_instructor_enrolls_people_in_a_managers_only_course(lms, factory):
    from lms_core.services import roles

    manager = factory.user(roles=("manager",))
    teacher = factory.user()
    course = factory.course(enrollment_policy="managers")
    with lms.transaction(system=True) as ctx:
        roles.assign_role(ctx, teacher, "instructor", course)
    first, second = factory.user(), factory.user()
    with lms.transaction(manager) as ctx:
        assert enrollments.enroll(ctx, first, course).status == EnrollmentStatus.ACTIVE
    with lms.transaction(teacher) as ctx:
        assert enrollments.enroll(ctx, second, course).status == EnrollmentStatus.ACTIVE


def test_a_line_manager_enrolls_their_own_reports_only(lms, factory):
    boss = factory.user()
    report = factory.user(manager_id=boss.id)
    stranger = factory.user()
    course = factory.course(enrollment_policy="managers")
    with lms.transaction(boss) as ctx:
        assert enrollments.enroll(ctx, report, course).source == EnrollmentSource.MANAGER
    with pytest.raises(Forbidden), lms.transaction(boss) as ctx:
        enrollments.enroll(ctx, stranger, course)


# --- approval courses -----------------------------------------------------------------------


def test_an_approval_course_makes_a_pending_request_that_is_approved(lms, factory):
    manager = factory.user(roles=("manager",))
    learner = factory.user()
    course = factory.course(enrollment_policy="approval", due_days=7)
    request = _self_enroll(lms, learner, course)
    assert request.status == EnrollmentStatus.PENDING
    assert _events(lms, UserEnrolled.NAME) == []
    with lms.transaction(manager) as ctx:
        assert enrollments.approve(ctx, request) is True
        assert enrollments.approve(ctx, request) is False
        approved = ctx.attach(request)
        assert approved.status == EnrollmentStatus.ACTIVE
        assert approved.due_at == approved.enrolled_at + dt.timedelta(days=7)
    assert len(_events(lms, UserEnrolled.NAME)) == 1


def test_a_declined_request_is_withdrawn(lms, factory):
    manager = factory.user(roles=("manager",))
    learner = factory.user()
    course = factory.course(enrollment_policy="approval")
    request = _self_enroll(lms, learner, course)
    with lms.transaction(manager) as ctx:
        assert enrollments.decline(ctx, request, reason="not this quarter") is True
        assert ctx.attach(request).status == EnrollmentStatus.WITHDRAWN
        assert ctx.attach(request).withdrawn_at is not None


def test_learners_cannot_approve_their_own_request(lms, factory):
    learner = factory.user()
    course = factory.course(enrollment_policy="approval")
    request = _self_enroll(lms, learner, course)
    with pytest.raises(Forbidden, match="enrollment.manage"), lms.transaction(learner) as ctx:
        enrollments.approve(ctx, request)


def test_a_manager_enrolling_someone_in_an_approval_course_needs_no_approval(lms, factory):
    manager = factory.user(roles=("manager",))
    learner = factory.user()
    course = factory.course(enrollment_policy="approval")
    with lms.transaction(manager) as ctx:
        assert enrollments.enroll(ctx, learner, course).status == EnrollmentStatus.ACTIVE


# --- capacity -------------------------------------------------------------------------------


def test_a_full_course_refuses_the_next_enrollment(lms, factory):
    course = factory.course(capacity=2)
    for _ in range(2):
        _self_enroll(lms, factory.user(), course)
    with pytest.raises(Conflict, match="full"):
        _self_enroll(lms, factory.user(), course)
    assert _count(lms) == 2


def test_pending_requests_hold_a_place_and_withdrawals_free_one(lms, factory):
    course = factory.course(capacity=1, enrollment_policy="approval")
    first = _self_enroll(lms, factory.user(), course)
    with pytest.raises(Conflict, match="full"):
        _self_enroll(lms, factory.user(), course)
    with lms.transaction(system=True) as ctx:
        enrollments.decline(ctx, first)
    assert _self_enroll(lms, factory.user(), course).status == EnrollmentStatus.PENDING


def test_someone_already_enrolled_in_a_full_course_gets_their_enrollment_back(lms, factory):
    learner = factory.user()
    course = factory.course(capacity=1)
    first = _self_enroll(lms, learner, course)
    assert _self_enroll(lms, learner, course).id == first.id


# --- withdrawal -----------------------------------------------------------------------------


def test_withdrawing_and_enrolling_again_reuses_the_same_row(lms, factory):
    learner = factory.user()
    course = factory.course()
    first = _self_enroll(lms, learner, course)
    with lms.transaction(learner) as ctx:
        assert enrollments.withdraw(ctx, first) is True
        assert enrollments.withdraw(ctx, first) is False
        withdrawn = ctx.attach(first)
        assert withdrawn.status == EnrollmentStatus.WITHDRAWN
        assert withdrawn.withdrawn_at is not None
    again = _self_enroll(lms, learner, course)
    assert again.id == first.id
    assert again.status == EnrollmentStatus.ACTIVE
    assert again.withdrawn_at is None
    assert _count(lms) == 1
    assert len(_events(lms, UserEnrolled.NAME)) == 2
    (withdrawal,) = _events(lms, EnrollmentWithdrawn.NAME)
    assert withdrawal.payload["enrollment_id"] == first.id


def test_learners_cannot_withdraw_other_people(lms, factory):
    learner, other = factory.user(), factory.user()
    course = factory.course()
    enrollment = factory.enrollment(other, course)
    with pytest.raises(Forbidden), lms.transaction(learner) as ctx:
        enrollments.withdraw(ctx, enrollment)


def test_a_completed_enrollment_cannot_be_withdrawn(lms, factory):
    from lms_core.services import progress

    learner = factory.user()
    course = factory.course(lessons=1)
    enrollment = factory.enrollment(learner, course)
    with lms.transaction(learner) as ctx:
        progress.complete_lesson(ctx, enrollment, ctx.attach(course).lessons[0])
    with pytest.raises(Invalid, match="completed"), lms.transaction(learner) as ctx:
        enrollments.withdraw(ctx, enrollment)


def test_a_manager_enrolling_someone_with_a_pending_request_approves_it(lms, factory):
    from lms_core.services import enrollments as svc

    learner = factory.user()
    course = factory.course(enrollment_policy="approval")
    with lms.transaction(learner) as ctx:
        assert svc.enroll(ctx, learner, course).status == "pending"
    with lms.transaction(system=True) as ctx:
        enrollment = svc.enroll(ctx, ctx.attach(learner), ctx.attach(course))
        assert enrollment.status == "active"
