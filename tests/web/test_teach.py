"""The instructor pages: my courses, course and lesson editing, the roster."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import select

from lms_core.db import utcnow
from lms_core.models import Course
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import Lesson
from lms_core.models import RoleAssignment
from lms_core.services import courses as course_service
from lms_core.services import enrollments as enrollment_service
from lms_core.services import groups as group_service
from lms_core.services import progress as progress_service
from lms_core.services import roles as role_service
from lms_core.services.users import create_user
from lms_core.testing import csrf_token
from lms_core.testing import text_of

PASSWORD = "correct horse battery"


@pytest.fixture
def teacher(factory: Any, auth: Any) -> Any:
    """A course creator, signed in; tests make them the instructor of the courses they teach."""
    user = factory.user(
        "teacher@example.com", roles=("course_creator", "learner"), password=PASSWORD
    )
    assert auth.login("teacher@example.com", PASSWORD).status_code == 302
    return user


def _course_data(client: Any, **overrides: str) -> dict[str, str]:
    """A filled-in course form (the token read off the dashboard's sign-out form, which
    every signed-in user has, whether or not they may open the new-course page)."""
    data = {
        "csrf_token": csrf_token(client, "/"),
        "code": "SAFE-101",
        "title": "Safety first",
        "summary": "How to stay safe.",
        "category": "Compliance",
        "tags": "Safety, onboarding",
        "enrollment_policy": "open",
        "capacity": "",
        "due_days": "",
    }
    data.update(overrides)
    return data


def _course(lms: Any, code: str) -> Course:
    with lms.Session() as session:
        course = session.scalars(select(Course).where(Course.code_key == code.upper())).one()
        session.expunge(course)
        return course


def _lessons(lms: Any, course_id: int) -> list[tuple[str, str, bool]]:
    with lms.Session() as session:
        rows = session.scalars(
            select(Lesson).where(Lesson.course_id == course_id).order_by(Lesson.position)
        ).all()
        return [(lesson.title, lesson.kind, lesson.required) for lesson in rows]


def _status(lms: Any, user: Any, course: Any) -> str | None:
    with lms.Session() as session:
        return session.scalar(
            select(Enrollment.status).where(
                Enrollment.user_id == user.id, Enrollment.course_id == course.id
            )
        )


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def test_a_course_creator_creates_a_course_and_edits_only_that_one(
    lms: Any, factory: Any, client: Any, teacher: Any
) -> None:
    other = factory.course("OTHER-1", title="Someone else's course")
    ann = factory.user("ann@example.com", name="Ann Other")
    factory.enrollment(ann, other)

    page = client.get("/teach/")
    assert page.status_code == 200
    assert "New course" in _text(page)
    assert "Someone else" not in _text(page)
    assert client.get("/teach/courses/new").status_code == 200

    response = client.post(
        "/teach/courses/new", data=_course_data(client, capacity="25", due_days="30")
    )
    assert response.status_code == 302
    course = _course(lms, "SAFE-101")
    assert response.headers["Location"].endswith(f"/teach/courses/{course.id}")
    assert course.title == "Safety first"
    assert course.category == "Compliance"
    assert course.capacity == 25
    assert course.due_days == 30
    assert course.status == "draft"
    with lms.Session() as session:
        scoped = session.scalars(
            select(RoleAssignment).where(
                RoleAssignment.user_id == teacher.id, RoleAssignment.course_id == course.id
            )
        ).all()
        assert len(scoped) == 1
        tags = session.get(Course, course.id).tags  # type: ignore[union-attr]
    assert tags == ["onboarding", "safety"]

    edit = client.get(f"/teach/courses/{course.id}")
    assert edit.status_code == 200
    assert 'value="SAFE-101"' in _text(edit)
    assert client.get(f"/teach/courses/{course.id}/learners").status_code == 200
    listing = client.get("/teach/")
    assert listing.status_code == 200
    assert "Safety first" in _text(listing) and "draft" in _text(listing)
    assert "Someone else" not in _text(listing)
    # Creating courses is not teaching every course.
    assert client.get(f"/teach/courses/{other.id}").status_code == 403
    roster = client.get(f"/teach/courses/{other.id}/learners")
    assert roster.status_code == 403
    assert "ann@example.com" not in _text(roster)


def test_an_instructor_of_one_course_is_refused_every_page_of_another(
    lms: Any, factory: Any, client: Any, auth: Any
) -> None:
    teacher = factory.user("teacher@example.com", password=PASSWORD)
    mine = factory.course("MINE-1", title="My course")
    theirs = factory.course("THEIRS-1", title="Their course", enrollment_policy="approval")
    with lms.transaction(system=True) as ctx:
        role_service.assign_role(ctx, ctx.attach(teacher), "instructor", ctx.attach(mine))
    ann = factory.user("ann@example.com", name="Ann Theirs")
    with lms.transaction(ann) as ctx:
        request = enrollment_service.enroll(ctx, ann, theirs)
    assert auth.login("teacher@example.com", PASSWORD).status_code == 302

    home = client.get("/")
    assert home.status_code == 200
    assert 'href="/teach/"' in _text(home)  # they teach, so the Teach area is in the nav
    listing = client.get("/teach/")
    assert listing.status_code == 200
    assert "My course" in _text(listing) and "Their course" not in _text(listing)
    assert "New course" not in _text(listing)  # instructing is not creating
    assert client.get("/teach/courses/new").status_code == 403
    assert client.get(f"/teach/courses/{mine.id}/learners").status_code == 200

    base = f"/teach/courses/{theirs.id}"
    with lms.Session() as session:
        lesson_id = session.scalars(select(Lesson.id).where(Lesson.course_id == theirs.id)).first()
    for url in (base, f"{base}/learners", f"{base}/lessons/{lesson_id}"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "ann@example.com" not in _text(response)
    token = csrf_token(client, f"/teach/courses/{mine.id}")
    for url, data in (
        (base, _course_data(client, code="THEIRS-1", title="Taken over")),
        (f"{base}/publish", {}),
        (f"{base}/archive", {}),
        (f"{base}/lessons", {"lesson-kind": "page", "lesson-title": "Injected"}),
        (f"{base}/lessons/{lesson_id}/delete", {}),
        (f"{base}/learners/enroll", {"emails": "teacher@example.com"}),
        (f"{base}/enrollments/{request.id}/approve", {}),
        (f"{base}/enrollments/{request.id}/withdraw", {}),
    ):
        assert client.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    assert _course(lms, "THEIRS-1").title == "Their course"
    assert _status(lms, ann, theirs) == EnrollmentStatus.PENDING
    assert _lessons(lms, theirs.id) == [("Lesson 1", "page", True), ("Lesson 2", "page", True)]


def test_the_catalog_shows_an_instructor_the_drafts_of_their_courses_only(
    lms: Any, factory: Any, client: Any, auth: Any
) -> None:
    teacher = factory.user("teacher@example.com", password=PASSWORD)
    factory.course("OPEN-1", title="Published for all")
    mine = factory.course("MINE-1", title="My draft", publish=False, instructors=[teacher])
    theirs = factory.course("THEIRS-1", title="Their draft", publish=False)
    archived = factory.course("OLD-1", title="My archived course", instructors=[teacher])
    with lms.transaction(system=True) as ctx:
        course_service.archive_course(ctx, ctx.attach(archived))
    assert auth.login("teacher@example.com", PASSWORD).status_code == 302

    catalog = client.get("/courses")
    assert catalog.status_code == 200
    html = _text(catalog)
    assert "Published for all" in html and "My draft" in html
    assert "Their draft" not in html and "My archived course" not in html
    assert client.get(f"/courses/{mine.id}").status_code == 200
    assert client.get(f"/courses/{theirs.id}").status_code == 404


def test_bad_and_duplicate_codes_keep_what_was_typed(
    lms: Any, factory: Any, client: Any, teacher: Any
) -> None:
    response = client.post(
        "/teach/courses/new", data=_course_data(client, code="bad code!", title="Typed title")
    )
    assert response.status_code == 400
    html = _text(response)
    assert "is not a course code" in html
    assert 'id="code-error"' in html
    assert 'value="Typed title"' in html

    factory.course("DUP-1")
    response = client.post(
        "/teach/courses/new", data=_course_data(client, code="dup-1", title="Another title")
    )
    assert response.status_code == 400
    html = _text(response)
    assert "A course with the code dup-1 already exists." in html
    assert 'id="code-error"' in html
    assert 'value="Another title"' in html

    response = client.post(
        "/teach/courses/new", data=_course_data(client, capacity="lots", title="Third")
    )
    assert response.status_code == 400
    assert 'id="capacity-error"' in _text(response)
    with lms.Session() as session:
        assert session.scalars(select(Course.code)).all() == ["DUP-1"]

    # Without its CSRF token a form is refused outright.
    data = _course_data(client)
    del data["csrf_token"]
    assert client.post("/teach/courses/new", data=data).status_code == 400


def test_edit_course_fields(lms: Any, factory: Any, client: Any, teacher: Any) -> None:
    course = factory.course("EDIT-1", title="Old title", publish=False, instructors=[teacher])
    factory.course("TAKEN-1")
    token = csrf_token(client, f"/teach/courses/{course.id}")
    data = _course_data(client, code="EDIT-1", title="New title", enrollment_policy="approval")
    data["csrf_token"] = token
    response = client.post(f"/teach/courses/{course.id}", data=data)
    assert response.status_code == 302
    saved = _course(lms, "EDIT-1")
    assert (saved.title, saved.enrollment_policy) == ("New title", "approval")

    data.update(code="taken-1", title="Kept title")
    response = client.post(f"/teach/courses/{course.id}", data=data)
    assert response.status_code == 400
    assert "already exists" in _text(response)
    assert 'value="Kept title"' in _text(response)
    assert _course(lms, "EDIT-1").title == "New title"


def test_lessons_publish_and_archive(lms: Any, factory: Any, client: Any, teacher: Any) -> None:
    course = factory.course("LES-1", lessons=0, publish=False, instructors=[teacher])
    url = f"/teach/courses/{course.id}"
    token = csrf_token(client, url)

    # A course without lessons cannot be published; the service says why.
    response = client.post(f"{url}/publish", data={"csrf_token": token}, follow_redirects=True)
    assert "LES-1 has no lessons yet" in text_of(response)
    assert _course(lms, "LES-1").status == "draft"

    response = client.post(
        f"{url}/lessons",
        data={
            "csrf_token": token,
            "lesson-kind": "page",
            "lesson-title": "Welcome",
            "lesson-body": "# Hello",
            "lesson-required": "y",
        },
    )
    assert response.status_code == 302
    response = client.post(
        f"{url}/lessons",
        data={
            "csrf_token": token,
            "lesson-kind": "link",
            "lesson-title": "Read the rules",
            "lesson-url": "ftp://example.com/rules",
        },
    )
    assert response.status_code == 400
    html = _text(response)
    assert "is not a web address" in html
    assert 'id="lesson-url-error"' in html
    assert 'value="Read the rules"' in html
    response = client.post(
        f"{url}/lessons",
        data={
            "csrf_token": token,
            "lesson-kind": "link",
            "lesson-title": "Read the rules",
            "lesson-url": "https://example.com/rules",
            "lesson-body": "Read them *all*.",
        },
    )
    assert response.status_code == 302
    assert _lessons(lms, course.id) == [
        ("Welcome", "page", True),
        ("Read the rules", "link", False),
    ]
    response = client.post(
        f"{url}/lessons",
        data={"csrf_token": token, "lesson-kind": "video", "lesson-title": "Nope"},
    )
    assert response.status_code == 400

    page = text_of(client.get(url))
    assert "Move up" in page and "Move down" in page and "data-confirm" in page
    assert "Optional" in page and "Required" in page

    with lms.Session() as session:
        welcome, link = session.scalars(
            select(Lesson.id).where(Lesson.course_id == course.id).order_by(Lesson.position)
        ).all()
    assert (
        client.post(f"{url}/lessons/{link}/move/up", data={"csrf_token": token}).status_code == 302
    )
    assert [t for t, _k, _r in _lessons(lms, course.id)] == ["Read the rules", "Welcome"]
    assert (
        client.post(f"{url}/lessons/{link}/move/down", data={"csrf_token": token}).status_code
        == 302
    )
    assert [t for t, _k, _r in _lessons(lms, course.id)] == ["Welcome", "Read the rules"]

    # Edit a lesson; a bad URL keeps the page with the message.
    edit = f"{url}/lessons/{link}"
    assert client.get(edit).status_code == 200
    response = client.post(
        edit, data={"csrf_token": token, "title": "Rules", "url": "not a url", "required": "y"}
    )
    assert response.status_code == 400
    assert "is not a web address" in _text(response)
    response = client.post(
        edit,
        data={
            "csrf_token": token,
            "title": "Rules",
            "url": "https://example.org/",
            "required": "y",
        },
    )
    assert response.status_code == 302
    assert _lessons(lms, course.id)[1] == ("Rules", "link", True)

    response = client.post(f"{url}/publish", data={"csrf_token": token}, follow_redirects=True)
    assert "LES-1 is published." in text_of(response)
    assert _course(lms, "LES-1").status == "published"

    assert (
        client.post(f"{url}/lessons/{welcome}/delete", data={"csrf_token": token}).status_code
        == 302
    )
    assert _lessons(lms, course.id) == [("Rules", "link", True)]

    response = client.post(f"{url}/archive", data={"csrf_token": token}, follow_redirects=True)
    assert "LES-1 is archived" in text_of(response)
    assert _course(lms, "LES-1").status == "archived"

    # A lesson of another course is not reachable through this one.
    other = factory.course("LES-2", lessons=1, instructors=[teacher])
    with lms.Session() as session:
        foreign = session.scalars(select(Lesson.id).where(Lesson.course_id == other.id)).one()
    assert client.get(f"{url}/lessons/{foreign}").status_code == 404


def test_lesson_markdown_is_sanitized_on_the_learner_page(
    lms: Any, factory: Any, client: Any, teacher: Any
) -> None:
    course = factory.course("MD-1", lessons=0, publish=False, instructors=[teacher])
    url = f"/teach/courses/{course.id}"
    response = client.post(
        f"{url}/lessons",
        data={
            "csrf_token": csrf_token(client, url),
            "lesson-kind": "page",
            "lesson-title": "Tricky",
            "lesson-body": "**Bold** text\n\n<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>",
            "lesson-required": "y",
        },
    )
    assert response.status_code == 302
    with lms.Session() as session:
        lesson_id = session.scalars(select(Lesson.id).where(Lesson.course_id == course.id)).one()
    html = text_of(client.get(f"/courses/{course.id}/lessons/{lesson_id}"))
    assert "<strong>Bold</strong>" in html
    assert "<script>alert" not in html
    assert "onerror" not in html


def test_learners_cannot_teach(factory: Any, client: Any, auth: Any) -> None:
    factory.user("learner@example.com", password=PASSWORD)
    course = factory.course("L-1")
    assert auth.login("learner@example.com", PASSWORD).status_code == 302
    assert client.get("/teach/").status_code == 403
    assert client.get("/teach/courses/new").status_code == 403
    assert client.get(f"/teach/courses/{course.id}").status_code == 403
    assert client.get(f"/teach/courses/{course.id}/learners").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(factory: Any, client: Any) -> None:
    response = client.get("/teach/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_roster_shows_progress_and_overdue(
    lms: Any, factory: Any, client: Any, teacher: Any
) -> None:
    course = factory.course("ROS-1", lessons=2, due_days=10, instructors=[teacher])
    ann = factory.user("ann@example.com", name="Ann Able")
    bob = factory.user("bob@example.com", name="Bob Late")
    ann_enrollment = factory.enrollment(ann, course)
    bob_enrollment = factory.enrollment(bob, course)
    with lms.transaction(system=True) as ctx:
        first = ctx.session.scalars(
            select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)
        ).first()
        progress_service.complete_lesson(ctx, ctx.attach(ann_enrollment), first)
        ctx.attach(bob_enrollment).due_at = utcnow() - dt.timedelta(days=2)

    response = client.get(f"/teach/courses/{course.id}/learners")
    assert response.status_code == 200
    html = _text(response)
    assert "Ann Able" in html and "Bob Late" in html
    assert "1 of 2 lessons · 50%" in html
    assert "0 of 2 lessons · 0%" in html
    rows = re.findall(r"<tr[^>]*>.*?</tr>", html, re.S)
    bob_row = next(r for r in rows if "Bob Late" in r)
    ann_row = next(r for r in rows if "Ann Able" in r)
    assert 'class="overdue"' in bob_row and "Overdue" in bob_row
    assert "Overdue" not in ann_row

    overdue_only = text_of(client.get(f"/teach/courses/{course.id}/learners?status=overdue"))
    assert "Bob Late" in overdue_only and "Ann Able" not in overdue_only


def test_roster_query_count_does_not_grow_with_learners(
    lms: Any, factory: Any, client: Any, teacher: Any
) -> None:
    course = factory.course("N1-1", instructors=[teacher])

    def add_learners(count: int, start: int) -> None:
        with lms.transaction(system=True) as ctx:
            target = ctx.attach(course)
            for i in range(start, start + count):
                user = create_user(ctx, f"n{i}@example.com", name=f"Learner {i:02d}")
                enrollment = enrollment_service.enroll(ctx, user, target)
                if i % 2:
                    lesson = target.lessons[0]
                    progress_service.complete_lesson(ctx, enrollment, lesson)

    @contextmanager
    def counting() -> Iterator[list[str]]:
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        event.listen(lms.engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(lms.engine, "before_cursor_execute", record)

    url = f"/teach/courses/{course.id}/learners"
    add_learners(3, 0)
    assert client.get(url).status_code == 200  # warm-up
    with counting() as few:
        response = client.get(url)
    assert response.status_code == 200
    assert _text(response).count("lessons ·") == 3

    add_learners(27, 3)
    with counting() as many:
        response = client.get(url)
    assert response.status_code == 200
    assert _text(response).count("lessons ·") == 30
    assert len(many) == len(few), (few, many)


def test_enroll_people_by_email_is_all_or_nothing(
    lms: Any, factory: Any, client: Any, teacher: Any
) -> None:
    course = factory.course("ENR-1", instructors=[teacher])
    ann = factory.user("ann@example.com")
    bob = factory.user("bob@example.com")
    url = f"/teach/courses/{course.id}/learners"
    token = csrf_token(client, url)

    typed = "ann@example.com\nnobody@example.com, bob@example.com"
    response = client.post(f"{url}/enroll", data={"csrf_token": token, "emails": typed})
    assert response.status_code == 400
    html = _text(response)
    assert "nobody@example.com" in html
    assert "Nobody was enrolled" in html
    assert 'id="emails-error"' in html
    assert "ann@example.com\nnobody@example.com, bob@example.com" in html
    assert _status(lms, ann, course) is None and _status(lms, bob, course) is None

    response = client.post(f"{url}/enroll", data={"csrf_token": token, "emails": "not-an-email"})
    assert response.status_code == 400
    assert "Not email addresses: not-an-email" in _text(response)

    response = client.post(
        f"{url}/enroll",
        data={"csrf_token": token, "emails": "ANN@example.com, bob@example.com"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Enrolled 2 people in ENR-1." in _text(response)
    assert _status(lms, ann, course) == "active"
    assert _status(lms, bob, course) == "active"

    # Withdraw one of them from the roster.
    with lms.Session() as session:
        bob_enrollment = session.scalars(
            select(Enrollment.id).where(Enrollment.user_id == bob.id)
        ).one()
    response = client.post(
        f"/teach/courses/{course.id}/enrollments/{bob_enrollment}/withdraw",
        data={"csrf_token": token},
    )
    assert response.status_code == 302
    assert _status(lms, bob, course) == "withdrawn"


def test_enroll_people_respects_capacity(lms: Any, factory: Any, client: Any, teacher: Any) -> None:
    course = factory.course("CAP-1", capacity=1, instructors=[teacher])
    factory.user("ann@example.com")
    factory.user("bob@example.com")
    url = f"/teach/courses/{course.id}/learners"
    response = client.post(
        f"{url}/enroll",
        data={"csrf_token": csrf_token(client, url), "emails": "ann@example.com\nbob@example.com"},
    )
    assert response.status_code == 400
    assert "CAP-1 is full (1 places)." in _text(response)
    with lms.Session() as session:
        assert session.scalars(select(Enrollment.id)).all() == []


def test_enroll_a_group(lms: Any, factory: Any, client: Any, teacher: Any) -> None:
    course = factory.course("GRP-1", instructors=[teacher])
    small = factory.course("GRP-2", capacity=1, instructors=[teacher])
    ann = factory.user("ann@example.com")
    bob = factory.user("bob@example.com")
    with lms.transaction(system=True) as ctx:
        group = group_service.create_group(ctx, "Night shift")
        group_service.add_members(ctx, group, [ann, bob])
        group_id = group.id

    url = f"/teach/courses/{small.id}/learners"
    page = text_of(client.get(url))
    assert "Night shift" in page
    response = client.post(
        f"{url}/enroll-group", data={"csrf_token": csrf_token(client, url), "group": group_id}
    )
    assert response.status_code == 400
    assert "only 1 of its 1 places are free. Nobody was enrolled." in _text(response)
    assert _status(lms, ann, small) is None

    url = f"/teach/courses/{course.id}/learners"
    response = client.post(
        f"{url}/enroll-group",
        data={"csrf_token": csrf_token(client, url), "group": group_id},
        follow_redirects=True,
    )
    assert "Enrolled 2 members of Night shift in GRP-1" in text_of(response)
    assert _status(lms, ann, course) == "active"
    assert _status(lms, bob, course) == "active"


def test_approve_and_decline_requests(lms: Any, factory: Any, client: Any, teacher: Any) -> None:
    course = factory.course("APP-1", enrollment_policy="approval", instructors=[teacher])
    ann = factory.user("ann@example.com", name="Ann Asker")
    bob = factory.user("bob@example.com", name="Bob Asker")
    for user in (ann, bob):
        with lms.transaction(user) as ctx:
            enrollment_service.enroll(ctx, user, course)
    assert _status(lms, ann, course) == EnrollmentStatus.PENDING

    url = f"/teach/courses/{course.id}/learners"
    html = text_of(client.get(url))
    assert "Requests to join (2)" in html
    with lms.Session() as session:
        ids = dict(
            session.execute(
                select(Enrollment.user_id, Enrollment.id).where(Enrollment.course_id == course.id)
            ).all()
        )
    token = csrf_token(client, url)
    response = client.post(
        f"/teach/courses/{course.id}/enrollments/{ids[ann.id]}/approve",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "Ann Asker is enrolled." in text_of(response)
    assert _status(lms, ann, course) == "active"
    declined = client.post(
        f"/teach/courses/{course.id}/enrollments/{ids[bob.id]}/decline", data={"csrf_token": token}
    )
    assert declined.status_code == 302
    assert _status(lms, bob, course) == "withdrawn"
    # An enrollment of another course is not reachable through this one.
    other = factory.course("APP-2", instructors=[teacher])
    assert (
        client.post(
            f"/teach/courses/{other.id}/enrollments/{ids[ann.id]}/withdraw",
            data={"csrf_token": token},
        ).status_code
        == 404
    )


def test_roster_pages_by_fifty(lms: Any, factory: Any, client: Any, teacher: Any) -> None:
    course = factory.course("PAGE-1", instructors=[teacher])
    with lms.transaction(system=True) as ctx:
        target = ctx.attach(course)
        for i in range(52):
            user = create_user(ctx, f"p{i:02d}@example.com", name=f"Person {i:02d}")
            enrollment_service.enroll(ctx, user, target)
    url = f"/teach/courses/{course.id}/learners"
    first = text_of(client.get(url))
    assert first.count("lessons ·") == 50
    assert "Page 1 of 2" in first and "Person 00" in first and "Person 51" not in first
    second = text_of(client.get(f"{url}?page=2"))
    assert second.count("lessons ·") == 2
    assert "Person 50" in second and "Person 51" in second
    assert "Nobody here with that status." in text_of(client.get(f"{url}?status=completed"))
