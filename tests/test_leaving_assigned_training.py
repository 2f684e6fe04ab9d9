"""Learners leave what they enrolled in themselves; assigned training needs enrollment.manage."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from lms_core.errors import Forbidden
from lms_core.importer import import_users_csv
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import User
from lms_core.services import enrollments
from lms_core.services import groups
from lms_core.services import roles
from lms_core.testing import csrf_token
from lms_core.testing import text_of

PASSWORD = "correct horse battery"


def _status(lms, enrollment) -> str:
    with lms.session() as session:
        row = session.get(Enrollment, enrollment.id)
        assert row is not None
        return row.status


def test_a_learner_leaves_a_course_they_enrolled_in_themselves(lms, factory):
    learner = factory.user()
    course = factory.course()
    with lms.transaction(learner) as ctx:
        enrollment = enrollments.enroll(ctx, learner, course)
        assert enrollments.may_leave(ctx, enrollment)
        assert enrollments.withdraw(ctx, enrollment) is True
    assert _status(lms, enrollment) == EnrollmentStatus.WITHDRAWN


@pytest.mark.parametrize("source", ["manager", "group", "import", "api", "sso"])
def test_a_learner_cannot_leave_training_that_was_assigned_to_them(lms, factory, source):
    learner = factory.user()
    course = factory.course("FIRE-1")
    enrollment = factory.enrollment(learner, course, source=source)
    with (
        pytest.raises(Forbidden, match="FIRE-1 was assigned to you") as caught,
        lms.transaction(learner) as ctx,
    ):
        assert not enrollments.may_leave(ctx, ctx.attach(enrollment))
        enrollments.withdraw(ctx, enrollment)
    assert caught.value.permission == "enrollment.manage"
    assert _status(lms, enrollment) == EnrollmentStatus.ACTIVE


def test_a_learner_holding_enrollment_manage_in_the_course_may_leave_assigned_training(
    lms, factory
):
    learner = factory.user()
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        roles.assign_role(ctx, ctx.attach(learner), "instructor", ctx.attach(course))
    enrollment = factory.enrollment(learner, course)
    with lms.transaction(learner) as ctx:
        assert enrollments.withdraw(ctx, enrollment) is True


def test_the_line_manager_and_enrollment_managers_withdraw_assigned_training(lms, factory):
    boss = factory.user()
    admin = factory.admin()
    learner = factory.user(manager_id=boss.id)
    first, second = factory.course(), factory.course()
    one = factory.enrollment(learner, first)
    two = factory.enrollment(learner, second, source="group")
    with lms.transaction(boss) as ctx:
        assert enrollments.withdraw(ctx, one) is True
    with lms.transaction(admin) as ctx:
        assert enrollments.withdraw(ctx, two) is True


def test_a_group_rules_enrollment_cannot_be_left_by_its_member(lms, factory):
    learner = factory.user(department="Sales")
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        group = groups.create_group(ctx, "Sales", rule={"department": "Sales"})
        enrollments.enroll_group(ctx, group, ctx.attach(course))
    with lms.session() as session:
        enrollment = session.scalars(select(Enrollment)).one()
    assert enrollment.source == "group"
    with pytest.raises(Forbidden, match="through a group"), lms.transaction(learner) as ctx:
        enrollments.withdraw(ctx, enrollment)


def test_an_imported_enrollment_cannot_be_left_by_the_learner(lms, factory, tmp_path: Path):
    course = factory.course("GDPR")
    path = tmp_path / "people.csv"
    path.write_text("email,courses\nann@example.com,GDPR\n")
    assert import_users_csv(lms, path).written
    with lms.session() as session:
        ann = session.scalars(select(User).where(User.email_key == "ann@example.com")).one()
        enrollment = session.scalars(
            select(Enrollment).where(Enrollment.course_id == course.id)
        ).one()
    with pytest.raises(Forbidden, match="by an import"), lms.transaction(ann) as ctx:
        enrollments.withdraw(ctx, enrollment)


def test_the_course_page_offers_leaving_only_self_enrollments(lms, factory, client, auth):
    learner = factory.user("lee@example.com", password=PASSWORD)
    mine, assigned = factory.course("MINE-1"), factory.course("ASSIGNED-1")
    with lms.transaction(learner) as ctx:
        enrollments.enroll(ctx, learner, mine)
    enrollment = factory.enrollment(learner, assigned)
    assert auth.login("lee@example.com", PASSWORD).status_code == 302
    assert "Leave this course" in text_of(client.get(f"/courses/{mine.id}"))
    page = text_of(client.get(f"/courses/{assigned.id}"))
    assert "Leave this course" not in page and "This course was assigned to you" in page
    # Posting the form anyway is refused with the reason, and nothing changes.
    response = client.post(
        f"/courses/{assigned.id}/withdraw",
        data={"csrf_token": csrf_token(client, f"/courses/{mine.id}")},
        follow_redirects=True,
    )
    assert "ASSIGNED-1 was assigned to you by a manager" in text_of(response)
    assert _status(lms, enrollment) == EnrollmentStatus.ACTIVE
