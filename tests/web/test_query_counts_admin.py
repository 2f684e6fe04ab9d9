"""The admin pages issue a bounded number of SQL statements, whatever the amount of data
(the same two-sizes check as test_query_counts.py, whose helpers it uses)."""

from __future__ import annotations

import pytest
from test_query_counts import PASSWORD
from test_query_counts import enroll_in
from test_query_counts import make_courses
from test_query_counts import signed_in_client
from test_query_counts import statements_for

from lms_core.models import Course
from lms_core.services import groups as group_service
from lms_core.services import roles as role_service
from lms_core.testing import AuthActions


@pytest.fixture
def login(app):
    return lambda email: signed_in_client(app, AuthActions, email)


def test_a_users_admin_page_does_not_query_per_group_enrollment_or_role(lms, factory, login):
    factory.admin("root@example.com", password=PASSWORD)
    few = factory.user("few@example.com")
    many = factory.user("many@example.com")
    courses = make_courses(lms, 60)
    enroll_in(lms, few, courses[:2])
    enroll_in(lms, many, courses)
    with lms.transaction(system=True) as ctx:
        for n in range(12):
            group = group_service.create_group(ctx, f"Group {n:02d}")
            group_service.add_members(
                ctx, group, [ctx.attach(many)] + ([ctx.attach(few)] * (n == 0))
            )
        for course_id in courses[:15]:
            role_service.assign_role(
                ctx, ctx.attach(many), "instructor", ctx.session.get(Course, course_id)
            )
    client = login("root@example.com")
    # Q-0050: neither teaches it (an allowed answer runs one query fewer: no roles to offer).
    for query in ("", "?permission=course.edit&course=Q-0050"):
        small = statements_for(lms, client, f"/admin/users/{few.id}{query}")
        large = statements_for(lms, client, f"/admin/users/{many.id}{query}")
        assert len(small) == len(large), f"a few:\n{small}\n\nmany:\n{large}"
        assert 2 <= len(large) <= 20, str(large)
