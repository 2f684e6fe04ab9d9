"""Due dates set when enrolling someone: they override the course's due period."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from lms_core.db import utcnow
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.events import UserEnrolled
from lms_core.models import Enrollment
from lms_core.models import OutboxEvent
from lms_core.services import enrollments
from lms_core.services import groups


def _in_days(days: int) -> dt.datetime:
    return (utcnow() + dt.timedelta(days=days)).replace(microsecond=0)


def test_a_manager_sets_a_due_date_that_overrides_the_courses_due_period(lms, factory):
    manager = factory.user(roles=("manager",))
    learner = factory.user()
    course = factory.course(due_days=30)
    due = _in_days(10)
    with lms.transaction(manager) as ctx:
        enrollment = enrollments.enroll(ctx, learner, course, due_at=due)
    assert enrollment.due_at == due
    with lms.session() as session:
        event = session.scalars(
            select(OutboxEvent).where(OutboxEvent.name == UserEnrolled.NAME)
        ).one()
    assert dt.datetime.fromisoformat(event.payload["due_at"]) == due


def test_without_a_due_date_the_courses_due_period_still_applies(lms, factory):
    manager = factory.user(roles=("manager",))
    course = factory.course(due_days=30)
    learner = factory.user()
    with lms.transaction(manager) as ctx:
        enrollment = enrollments.enroll(ctx, learner, course)
    assert enrollment.due_at == enrollment.enrolled_at + dt.timedelta(days=30)


def test_a_due_date_can_be_given_for_a_course_without_a_due_period(lms, factory):
    course = factory.course()
    due = _in_days(3)
    enrollment = factory.enrollment(factory.user(), course, due_at=due)
    assert enrollment.due_at == due


def test_a_due_date_without_a_time_zone_is_taken_as_utc(lms, factory):
    naive = _in_days(5).replace(tzinfo=None)
    enrollment = factory.enrollment(factory.user(), factory.course(), due_at=naive)
    assert enrollment.due_at == naive.replace(tzinfo=dt.UTC)


def test_a_past_due_date_is_refused_naming_the_field_and_nobody_is_enrolled(lms, factory):
    manager = factory.user(roles=("manager",))
    course = factory.course()
    learner = factory.user()
    with pytest.raises(Invalid, match="has passed") as caught, lms.transaction(manager) as ctx:
        enrollments.enroll(ctx, learner, course, due_at=_in_days(-1))
    assert caught.value.field == "due_at"
    with lms.session() as session:
        assert session.scalars(select(Enrollment)).first() is None


def test_a_due_date_decades_ahead_is_refused_as_a_likely_typo(lms, factory):
    with pytest.raises(Invalid, match="years away"):
        factory.enrollment(factory.user(), factory.course(), due_at=_in_days(365 * 200))
    far = dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(-dt.timedelta(hours=14)))
    with pytest.raises(Invalid, match="years away"):
        enrollments.check_due_date(far)


def test_learners_cannot_set_their_own_due_date(lms, factory):
    learner = factory.user()
    course = factory.course()
    with pytest.raises(Forbidden, match="due date"), lms.transaction(learner) as ctx:
        enrollments.enroll(ctx, learner, course, due_at=_in_days(3))


def test_a_manager_approving_a_request_by_enrolling_with_a_due_date_sets_it(lms, factory):
    learner = factory.user()
    course = factory.course(enrollment_policy="approval", due_days=7)
    with lms.transaction(learner) as ctx:
        assert enrollments.enroll(ctx, learner, course).status == "pending"
    due = _in_days(20)
    enrollment = factory.enrollment(learner, course, due_at=due)
    assert (enrollment.status, enrollment.due_at) == ("active", due)


def test_enrolling_again_after_a_withdrawal_takes_the_new_due_date(lms, factory):
    learner = factory.user()
    course = factory.course(due_days=30)
    first = factory.enrollment(learner, course)
    with lms.transaction(system=True) as ctx:
        enrollments.withdraw(ctx, first)
    due = _in_days(2)
    again = factory.enrollment(learner, course, due_at=due)
    assert (again.id, again.due_at) == (first.id, due)


def test_a_group_enrolled_with_a_due_date_gives_it_to_its_members_but_not_later_joiners(
    lms, factory
):
    ann, bob, cat = factory.user(), factory.user(), factory.user()
    course = factory.course(due_days=30)
    due = _in_days(14)
    with lms.transaction(system=True) as ctx:
        group = groups.create_group(ctx, "Night shift")
        groups.add_members(ctx, group, [ctx.attach(ann), ctx.attach(bob)])
        enrolled = enrollments.enroll_group(ctx, group, ctx.attach(course), due_at=due)
        assert [e.due_at for e in enrolled] == [due, due]
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, ctx.attach(group), [ctx.attach(cat)])
    with lms.session() as session:
        later = session.scalars(select(Enrollment).where(Enrollment.user_id == cat.id)).one()
    assert later.due_at == later.enrolled_at + dt.timedelta(days=30)


def test_a_group_due_date_in_the_past_enrolls_nobody(lms, factory):
    course = factory.course()
    member = factory.user()
    with pytest.raises(Invalid, match="has passed"), lms.transaction(system=True) as ctx:
        group = groups.create_group(ctx, "Day shift")
        groups.add_members(ctx, group, [ctx.attach(member)])
        enrollments.enroll_group(ctx, group, ctx.attach(course), due_at=_in_days(-3))
    with lms.session() as session:
        assert session.scalars(select(Enrollment)).first() is None


def test_a_typed_date_means_the_end_of_that_day_in_utc():
    now = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert enrollments.parse_due_date("2027-03-31", now=now) == dt.datetime(
        2027, 3, 31, 23, 59, 59, tzinfo=dt.UTC
    )
    assert enrollments.parse_due_date(" ", now=now) is None
    assert enrollments.parse_due_date("2027-03-02T09:00:00+01:00", now=now) == dt.datetime(
        2027, 3, 2, 8, 0, tzinfo=dt.UTC
    )


@pytest.mark.parametrize("text", ["31/03/2027", "2027-02-30", "tomorrow", "2027-13-01"])
def test_text_that_is_not_a_date_is_refused_with_the_expected_form(text):
    with pytest.raises(Invalid, match="YYYY-MM-DD") as caught:
        enrollments.parse_due_date(text)
    assert caught.value.field == "due_date"


def test_todays_date_is_still_in_the_future_until_the_day_ends():
    now = dt.datetime(2027, 3, 31, 8, 0, tzinfo=dt.UTC)
    assert enrollments.parse_due_date("2027-03-31", now=now) is not None
    with pytest.raises(Invalid, match="has passed"):
        enrollments.parse_due_date("2027-03-30", now=now)


def test_an_enrollment_recorded_in_the_past_takes_a_due_date_after_it_started(lms, factory):
    started = utcnow() - dt.timedelta(days=30)
    due = started + dt.timedelta(days=10)
    enrollment = factory.enrollment(factory.user(), factory.course(), at=started, due_at=due)
    assert enrollment.due_at == due and enrollment.is_overdue(utcnow())
    with pytest.raises(Invalid, match="has passed"):
        factory.enrollment(
            factory.user(), factory.course(), at=started, due_at=started - dt.timedelta(days=1)
        )
