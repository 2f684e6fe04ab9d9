"""Due dates given when enrolling people through the roster forms, the API and a CSV import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lms_core.db import utcnow
from lms_core.importer import import_users_csv
from lms_core.models import Enrollment
from lms_core.models import User
from lms_core.services import groups as group_service
from lms_core.services import tokens as token_service
from lms_core.testing import csrf_token
from lms_core.testing import json_of
from lms_core.testing import text_of

PASSWORD = "correct horse battery"


def _day(days: int) -> str:
    return (utcnow() + dt.timedelta(days=days)).date().isoformat()


def _end_of(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59, 59), tzinfo=dt.UTC)


def _enrollment(lms: Any, email: str, course: Any) -> Enrollment | None:
    with lms.session() as session:
        return session.scalars(
            select(Enrollment)
            .join(User, User.id == Enrollment.user_id)
            .where(User.email_key == email, Enrollment.course_id == course.id)
        ).first()


@pytest.fixture
def teacher(factory: Any, auth: Any) -> Any:
    person = factory.user(
        "teacher@example.com", roles=("course_creator", "learner"), password=PASSWORD
    )
    assert auth.login("teacher@example.com", PASSWORD).status_code == 302
    return person


def test_the_roster_enrolls_people_with_a_due_date(lms, factory, client, teacher):
    course = factory.course("DUE-1", due_days=30, instructors=[teacher])
    factory.user("ann@example.com")
    url = f"/teach/courses/{course.id}/learners"
    page = text_of(client.get(url))
    assert 'name="due_date"' in page and "Empty: due 30 days after enrolling." in page
    day = _day(5)
    response = client.post(
        f"{url}/enroll",
        data={"csrf_token": csrf_token(client, url), "emails": "ann@example.com", "due_date": day},
    )
    assert response.status_code == 302
    enrollment = _enrollment(lms, "ann@example.com", course)
    assert enrollment is not None and enrollment.due_at == _end_of(day)


def test_a_bad_due_date_on_the_roster_is_shown_by_its_field_and_nobody_is_enrolled(
    lms, factory, client, teacher
):
    course = factory.course("DUE-2", instructors=[teacher])
    factory.user("ann@example.com")
    url = f"/teach/courses/{course.id}/learners"
    token = csrf_token(client, url)
    for typed, message in (("31/12/2030", "is not a date"), (_day(-2), "has passed")):
        response = client.post(
            f"{url}/enroll",
            data={"csrf_token": token, "emails": "ann@example.com", "due_date": typed},
        )
        html = text_of(response, 400)
        assert 'id="due_date-error"' in html and message in html
        assert _enrollment(lms, "ann@example.com", course) is None


def test_the_roster_enrolls_a_group_with_a_due_date(lms, factory, client, teacher):
    course = factory.course("DUE-3", due_days=30, instructors=[teacher])
    ann = factory.user("ann@example.com")
    with lms.transaction(system=True) as ctx:
        group = group_service.create_group(ctx, "Night shift")
        group_service.add_members(ctx, group, [ann])
        group_id = group.id
    url = f"/teach/courses/{course.id}/learners"
    token = csrf_token(client, url)
    response = client.post(
        f"{url}/enroll-group", data={"csrf_token": token, "group": group_id, "due_date": "soon"}
    )
    assert "is not a date" in text_of(response, 400)
    assert _enrollment(lms, "ann@example.com", course) is None
    day = _day(9)
    response = client.post(
        f"{url}/enroll-group", data={"csrf_token": token, "group": group_id, "due_date": day}
    )
    assert response.status_code == 302
    enrollment = _enrollment(lms, "ann@example.com", course)
    assert enrollment is not None and enrollment.due_at == _end_of(day)


def _api(client: Any, lms: Any, user: Any) -> dict[str, str]:
    with lms.transaction(user) as ctx:
        _row, secret = token_service.create_token(ctx, user, "script")
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_enrolls_someone_with_a_due_date_and_refuses_bad_ones_with_422(
    lms, factory, client
):
    admin = factory.admin("ada@example.com")
    factory.user("lee@example.com")
    course = factory.course("DUE-API", due_days=30)
    headers = _api(client, lms, admin)
    path = f"/api/v1/courses/{course.id}/enrollments"
    for due_at, field, words in (
        ("next week", "due_at", None),
        ("2001-01-01T00:00:00Z", "due_at", "has passed"),
    ):
        response = client.post(
            path, json={"email": "lee@example.com", "due_at": due_at}, headers=headers
        )
        body = json_of(response, 422)
        assert field in (body.get("field") or "") + body["detail"]
        if words:
            assert words in body["detail"]
    assert _enrollment(lms, "lee@example.com", course) is None
    due = (utcnow() + dt.timedelta(days=12)).replace(microsecond=0)
    response = client.post(
        path, json={"email": "lee@example.com", "due_at": due.isoformat()}, headers=headers
    )
    body = json_of(response, 201)
    assert dt.datetime.fromisoformat(body["due_at"]) == due


def test_a_learner_cannot_set_a_due_date_on_their_own_api_enrollment(lms, factory, client):
    learner = factory.user("lee@example.com")
    course = factory.course("DUE-SELF")
    response = client.post(
        f"/api/v1/courses/{course.id}/enrollments",
        json={"due_at": (utcnow() + dt.timedelta(days=3)).isoformat()},
        headers=_api(client, lms, learner),
    )
    assert json_of(response, 403)["status"] == 403


def test_an_import_row_may_give_a_due_date_for_its_courses(lms, factory, tmp_path: Path):
    course = factory.course("SAFE-101", due_days=30)
    day = _day(20)
    path = tmp_path / "people.csv"
    path.write_text(
        "email,courses,due_date\n"
        f"ann@example.com,SAFE-101,{day}\n"
        "bob@example.com,SAFE-101,\n"
        "cat@example.com,SAFE-101,20/12/2030\n"
        f"dan@example.com,,{day}\n"
        f"eve@example.com,SAFE-101,{_day(-1)}\n"
    )
    report = import_users_csv(lms, path)
    assert [str(bad) for bad in report.bad_rows] == [
        "row 4 (cat@example.com): due_date: '20/12/2030' is not a date; write it as "
        "YYYY-MM-DD (for example 2027-03-31)",
        "row 5 (dan@example.com): due_date is given but the row has no courses for it to apply to",
        f"row 6 (eve@example.com): due_date: the due date {_day(-1)} 23:59 UTC has passed; "
        "give a date in the future",
    ]
    assert not report.written
    report = import_users_csv(lms, path, skip_bad_rows=True)
    assert report.written
    ann = _enrollment(lms, "ann@example.com", course)
    bob = _enrollment(lms, "bob@example.com", course)
    assert ann is not None and ann.due_at == _end_of(day)
    assert bob is not None and bob.due_at == bob.enrolled_at + dt.timedelta(days=30)
