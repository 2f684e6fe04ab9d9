"""The learner pages issue a bounded number of SQL statements, whatever the amount of data.

Each test renders a page for a small and a large amount of data and asserts the statement
counts are equal: a loop that queries per row (an N+1) makes the large count grow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from lms_core.models import EnrollmentStatus
from lms_core.services import courses as course_service
from lms_core.services import enrollments as enrollment_service
from lms_core.services import progress as progress_service

PASSWORD = "correct horse battery staple"


class Statements:
    def __init__(self) -> None:
        self.sql: list[str] = []

    def __len__(self) -> int:
        return len(self.sql)

    def __str__(self) -> str:
        return "\n".join(f"{i + 1:3}. {s.splitlines()[0][:140]}" for i, s in enumerate(self.sql))


@contextmanager
def counting(lms) -> Iterator[Statements]:
    seen = Statements()

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.sql.append(statement)

    event.listen(lms.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(lms.engine, "before_cursor_execute", record)


def statements_for(lms, client, path: str) -> Statements:
    first = client.get(path)  # warm caches that fill once per process
    assert first.status_code == 200, (path, first.status_code)
    with counting(lms) as seen:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return seen


def make_courses(lms, count: int, *, lessons: int = 1, prefix: str = "Q", tags=()) -> list[int]:
    """``count`` published courses in one transaction (fast), their ids."""
    ids = []
    with lms.transaction(system=True) as ctx:
        for n in range(count):
            course = course_service.create_course(
                ctx,
                f"{prefix}-{n:04d}",
                f"{prefix} course {n:04d}",
                category=f"Category {n % 7}",
                summary="A course",
                tags=list(tags),
            )
            for i in range(lessons):
                course_service.add_lesson(ctx, course, f"Lesson {i + 1}", body="Text")
            course_service.publish_course(ctx, course)
            ctx.session.flush()
            ids.append(course.id)
    return ids


def enroll_in(lms, user, course_ids: list[int]) -> None:
    """Enroll ``user`` in every course, completing every third one and starting every other."""
    from lms_core.models import Course
    from lms_core.models import User

    with lms.transaction(system=True) as ctx:
        person = ctx.session.get(User, user.id)
        for n, course_id in enumerate(course_ids):
            course = ctx.session.get(Course, course_id)
            enrollment = enrollment_service.enroll(ctx, person, course)
            if n % 3 == 0:
                for lesson in course.lessons:
                    progress_service.complete_lesson(ctx, enrollment, lesson)
                assert enrollment.status == EnrollmentStatus.COMPLETED
            elif n % 2 == 0:
                progress_service.complete_lesson(ctx, enrollment, course.lessons[0])


def signed_in_client(app, auth_factory, email):
    client = app.test_client()
    response = auth_factory(client).login(email, PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def login(app):
    from lms_core.testing import AuthActions

    def make(email: str):
        return signed_in_client(app, AuthActions, email)

    return make


def test_the_dashboard_does_not_query_per_enrollment(lms, factory, login):
    few = factory.user("few@example.com", password=PASSWORD)
    many = factory.user("many@example.com", password=PASSWORD)
    courses = make_courses(lms, 500, lessons=2)
    enroll_in(lms, few, courses[:5])
    enroll_in(lms, many, courses)

    small = statements_for(lms, login("few@example.com"), "/")
    large = statements_for(lms, login("many@example.com"), "/")
    assert len(small) == len(large), f"5 enrollments:\n{small}\n\n500 enrollments:\n{large}"
    assert 2 <= len(large) <= 15, str(large)


def test_the_catalog_does_not_query_per_course(lms, factory, login):
    learner = factory.user("ada@example.com", password=PASSWORD)
    first = make_courses(lms, 5, prefix="A", tags=("safety", "basics"))
    enroll_in(lms, learner, first[:2])
    client = login("ada@example.com")
    small = statements_for(lms, client, "/courses")
    small_anonymous = statements_for(lms, client.application.test_client(), "/courses")

    more = make_courses(lms, 95, prefix="B", tags=("safety", "extra"))
    enroll_in(lms, learner, more[:40])
    large = statements_for(lms, client, "/courses")
    large_anonymous = statements_for(lms, client.application.test_client(), "/courses")
    assert len(small) == len(large), f"5 courses:\n{small}\n\n100 courses:\n{large}"
    assert len(small_anonymous) == len(large_anonymous), f"{small_anonymous}\n\n{large_anonymous}"
    assert 2 <= len(large) <= 15, str(large)


def test_the_course_page_does_not_query_per_lesson(lms, factory, login):
    learner = factory.user("ada@example.com", password=PASSWORD)
    short, long = make_courses(lms, 2, prefix="L", tags=("x",))
    with lms.transaction(system=True) as ctx:
        from lms_core.models import Course

        for _ in range(2):
            course_service.add_lesson(ctx, ctx.session.get(Course, short), "More", body="Text")
        for _ in range(39):
            course_service.add_lesson(ctx, ctx.session.get(Course, long), "More", body="Text")
    enroll_in(lms, learner, [short, long])
    client = login("ada@example.com")

    small = statements_for(lms, client, f"/courses/{short}")
    large = statements_for(lms, client, f"/courses/{long}")
    assert len(small) == len(large), f"3 lessons:\n{small}\n\n40 lessons:\n{large}"
    assert 2 <= len(large) <= 15, str(large)

    small = statements_for(lms, client, f"/courses/{short}/lessons/{_first_lesson(lms, short)}")
    large = statements_for(lms, client, f"/courses/{long}/lessons/{_first_lesson(lms, long)}")
    assert len(small) == len(large), f"3 lessons:\n{small}\n\n40 lessons:\n{large}"


def _first_lesson(lms, course_id: int) -> int:
    from lms_core.models import Course

    with lms.session() as session:
        return session.get(Course, course_id).lessons[0].id
