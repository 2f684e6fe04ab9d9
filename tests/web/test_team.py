"""My team: a line manager sees their people's training and enrolls them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from lms_core.db import utcnow
from lms_core.models import Enrollment
from lms_core.services import enrollments as enrollment_service
from lms_core.services import progress as progress_service
from lms_core.testing import csrf_token
from lms_core.testing import text_of

PASSWORD = "correct horse battery"


@pytest.fixture
def boss(factory: Any, auth: Any) -> Any:
    person = factory.user("boss@example.com", password=PASSWORD, name="Bea Boss")
    assert auth.login("boss@example.com", PASSWORD).status_code == 302
    return person


def _enrollment(lms: Any, user: Any, course: Any) -> Enrollment | None:
    with lms.session() as session:
        return session.scalars(
            select(Enrollment).where(
                Enrollment.user_id == user.id, Enrollment.course_id == course.id
            )
        ).first()


def _table(html: str) -> str:
    match = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    assert match is not None
    return match.group(1)


def _nav(html: str) -> str:
    match = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert match is not None
    return match.group(1)


def test_the_navigation_links_my_team_only_for_people_who_manage_someone(
    lms, factory, client, auth
):
    loner = factory.user("loner@example.com", password=PASSWORD)
    assert auth.login("loner@example.com", PASSWORD).status_code == 302
    assert "My team" not in _nav(text_of(client.get("/")))
    factory.user("ann@example.com", manager_id=loner.id)
    assert 'href="/team/"' in _nav(text_of(client.get("/")))


def test_someone_who_manages_nobody_sees_an_empty_team(lms, factory, client, auth):
    factory.user("loner@example.com", password=PASSWORD)
    assert auth.login("loner@example.com", PASSWORD).status_code == 302
    assert "Nobody reports to you" in text_of(client.get("/team/"))


def test_my_team_shows_direct_reports_training_progress_due_and_overdue(lms, factory, client, boss):
    ann = factory.user("ann@example.com", name="Ann", manager_id=boss.id, job_title="Rep")
    bob = factory.user("bob@example.com", name="Bob", manager_id=boss.id)
    stranger = factory.user("zed@example.com", name="Zed")
    fire = factory.course("FIRE-1", title="Fire safety", lessons=2)
    gdpr = factory.course("GDPR-1", title="Data protection", lessons=1)
    late = factory.enrollment(ann, fire, due_at=utcnow() + dt.timedelta(days=1))
    with lms.transaction(system=True) as ctx:
        row = ctx.session.get(Enrollment, late.id)
        row.due_at = utcnow() - dt.timedelta(days=2)  # a due date that has since passed
    done = factory.enrollment(bob, gdpr)
    with lms.transaction(bob) as ctx:
        enrollment = ctx.attach(done)
        progress_service.complete_lesson(ctx, enrollment, enrollment.course.lessons[0])
    factory.enrollment(stranger, fire)

    html = text_of(client.get("/team/"))
    assert "2 people reporting to you" in html
    assert "1 overdue" in html and "1 completed" in html
    assert "Ann" in html and "Rep" in html and "Bob" in html
    assert "zed@example.com" not in html
    assert "Fire safety" in html and "Overdue" in html
    assert "0 of 2 lessons" in html
    assert "Completed" in html

    overdue_only = _table(text_of(client.get("/team/?show=overdue")))
    assert "Fire safety" in overdue_only and "Data protection" not in overdue_only
    by_course = _table(text_of(client.get(f"/team/?course={gdpr.id}")))
    assert "Data protection" in by_course and "Fire safety" not in by_course


def test_their_reports_are_included_on_request_with_whom_they_report_to(lms, factory, client, boss):
    lead = factory.user("lead@example.com", name="Lea Lead", manager_id=boss.id)
    factory.user("deep@example.com", name="Dee Deep", manager_id=lead.id)
    direct = text_of(client.get("/team/"))
    assert "Lea Lead" in direct and "Dee Deep" not in direct
    assert "Include their reports too" in direct
    everyone = text_of(client.get("/team/?all=1"))
    assert "Dee Deep" in everyone and "Reports to Lea Lead" in everyone
    assert "2 people (your reports and theirs)" in everyone


def test_a_management_loop_does_not_make_the_team_page_run_away(lms, factory, client, boss):
    from lms_core.models import User

    lead = factory.user("lead@example.com", manager_id=boss.id)
    with lms.transaction(system=True) as ctx:  # a loop a database edit could make
        ctx.session.get(User, boss.id).manager_id = lead.id
    html = text_of(client.get("/team/?all=1"))
    assert "1 person (your reports and theirs)" in html


def test_a_manager_enrolls_team_members_with_a_due_date(lms, factory, client, boss):
    ann = factory.user("ann@example.com", manager_id=boss.id)
    bob = factory.user("bob@example.com", manager_id=boss.id)
    course = factory.course("FIRE-1", enrollment_policy="managers", due_days=30)
    token = csrf_token(client, "/team/")
    day = (utcnow() + dt.timedelta(days=7)).date().isoformat()
    response = client.post(
        "/team/enroll",
        data={
            "csrf_token": token,
            "people": [ann.id, bob.id],
            "course": course.id,
            "due_date": day,
        },
    )
    assert response.status_code == 302
    for person in (ann, bob):
        enrollment = _enrollment(lms, person, course)
        assert enrollment is not None and enrollment.source == "manager"
        assert enrollment.due_at is not None and enrollment.due_at.date().isoformat() == day
    again = client.post(
        "/team/enroll",
        data={"csrf_token": token, "people": [ann.id], "course": course.id},
        follow_redirects=True,
    )
    assert "Enrolled 0 people in FIRE-1. 1 already enrolled" in text_of(again)


def test_enrolling_the_team_refuses_bad_input_and_people_outside_it(lms, factory, client, boss):
    ann = factory.user("ann@example.com", manager_id=boss.id)
    stranger = factory.user("zed@example.com")
    course = factory.course("FIRE-1")
    token = csrf_token(client, "/team/")
    nobody = client.post("/team/enroll", data={"csrf_token": token, "course": course.id})
    assert "Choose at least one person." in text_of(nobody, 400)
    past = client.post(
        "/team/enroll",
        data={
            "csrf_token": token,
            "people": [ann.id],
            "course": course.id,
            "due_date": "2001-01-01",
        },
    )
    assert "has passed" in text_of(past, 400)
    outside = client.post(
        "/team/enroll", data={"csrf_token": token, "people": [stranger.id], "course": course.id}
    )
    assert outside.status_code == 400
    assert _enrollment(lms, ann, course) is None and _enrollment(lms, stranger, course) is None
    no_token = client.post("/team/enroll", data={"people": [ann.id], "course": course.id})
    assert no_token.status_code == 400


def test_the_team_page_needs_signing_in(client):
    response = client.get("/team/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_line_manager_withdraws_a_report_from_assigned_training(lms, factory, boss):
    ann = factory.user("ann@example.com", manager_id=boss.id)
    enrollment = factory.enrollment(ann, factory.course())
    with lms.transaction(boss) as ctx:
        assert enrollment_service.withdraw(ctx, enrollment) is True


def test_a_managers_course_roster_marks_their_team_and_filters_to_it(lms, factory, client, boss):
    ann = factory.user("ann@example.com", name="Ann Report", manager_id=boss.id)
    deep = factory.user("deep@example.com", name="Dee Deep", manager_id=ann.id)
    other = factory.user("zed@example.com", name="Zed Other")
    course = factory.course("FIRE-1", instructors=[boss])
    for person in (ann, deep, other):
        factory.enrollment(person, course)
    url = f"/teach/courses/{course.id}/learners"
    roster = _table(text_of(client.get(url)))
    assert roster.count("my team") == 2 and "Zed Other" in roster
    mine = _table(text_of(client.get(f"{url}?team=1")))
    assert "Ann Report" in mine and "Dee Deep" in mine and "Zed Other" not in mine


def test_a_roster_viewer_without_a_team_is_offered_no_team_filter(lms, factory, client, auth):
    teacher = factory.user("teacher@example.com", password=PASSWORD)
    course = factory.course("FIRE-1", instructors=[teacher])
    assert auth.login("teacher@example.com", PASSWORD).status_code == 302
    page = text_of(client.get(f"/teach/courses/{course.id}/learners?team=1"))
    assert "Only my team" not in page
