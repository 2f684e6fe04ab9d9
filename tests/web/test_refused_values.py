"""A refused value is not echoed back whole: forms show the part that fits, messages an excerpt."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select

from lms_core import limits
from lms_core.models import ApiToken
from lms_core.models import Course
from lms_core.models import Group
from lms_core.services import tokens as token_service
from lms_core.testing import csrf_token

PASSWORD = "correct horse battery"
LONG = 10_000


@pytest.fixture
def admin(factory, auth):
    user = factory.admin("ada@example.com", password=PASSWORD, name="Ada")
    assert auth.login("ada@example.com", PASSWORD).status_code == 302
    return user


def _count(lms, model) -> int:
    with lms.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _longest_run(html: str, char: str) -> int:
    best = run = 0
    for c in html:
        run = run + 1 if c == char else 0
        best = max(best, run)
    return best


def test_a_ten_thousand_character_token_name_is_refused_and_not_echoed(client, lms, admin):
    response = client.post(
        "/profile/tokens",
        data={"csrf_token": csrf_token(client, "/profile/tokens"), "name": "n" * LONG},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "A token name is too long: 10,000 characters, at most 100." in html
    assert _longest_run(html, "n") == limits.TOKEN_NAME  # the field keeps what fits
    assert _count(lms, ApiToken) == 0


def test_a_ten_thousand_character_course_code_does_not_fill_the_page(client, lms, admin):
    data = {
        "csrf_token": csrf_token(client, "/teach/courses/new"),
        "code": "C" * LONG,
        "title": "Long code",
        "enrollment_policy": "open",
    }
    response = client.post("/teach/courses/new", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "A course code is too long: 10,000 characters, at most 40." in html
    assert _longest_run(html, "C") == limits.COURSE_CODE
    assert _count(lms, Course) == 0


def test_a_five_megabyte_group_description_is_refused_on_the_admin_page(client, lms, admin):
    response = client.post(
        "/admin/groups",
        data={
            "csrf_token": csrf_token(client, "/admin/groups"),
            "name": "Huge",
            "kind": "custom",
            "description": "d" * (5 * 1024 * 1024),
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "A group description is too long: 5,242,880 characters, at most 5,000." in html
    assert _longest_run(html, "d") <= limits.GROUP_DESCRIPTION
    assert len(html) < 100_000
    assert _count(lms, Group) == 0


def test_an_invalid_value_is_named_by_an_excerpt(client, lms, admin):
    with lms.transaction(admin) as ctx:
        _row, secret = token_service.create_token(ctx, admin, "api")
    response = client.post(
        "/api/v1/courses",
        json={"code": "T-1", "title": "T", "tags": ["fine", "bad/" + "x" * 100]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 422
    detail = response.get_json()["detail"]
    assert detail.startswith("'bad/xxxx")
    assert "... (104 characters) is not a usable tag" in detail

    response = client.post(
        "/api/v1/courses",
        json={"code": "C" * LONG, "title": "T"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 422
    assert response.get_json()["field"] == "code"
    assert "C" * 41 not in response.get_data(as_text=True)


def test_a_huge_email_list_for_a_group_is_refused_not_a_500(client, lms, admin, factory):
    with lms.transaction(admin) as ctx:
        from lms_core.services import groups

        group = groups.create_group(ctx, "Many")
    emails = " ".join(f"p{i}@example.com" for i in range(40_000))
    response = client.post(
        f"/admin/groups/{group.id}/members",
        data={"csrf_token": csrf_token(client, f"/admin/groups/{group.id}"), "emails": emails},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Add at most 1,000 people at a time (40,000 given)." in html
    assert "p39999@example.com" not in html
