"""Odd input never makes a 500: huge numbers, deep JSON, broken text and NUL characters.

* An id beyond what the database holds is a 404 on every route, before any view runs.
* A number field beyond its range is a 400/422 naming the field.
* JSON nested 50,000 levels deep is a 400 problem document.
* Text that cannot be stored (an unpaired surrogate, a NUL) is a 422 naming the field.
"""

from __future__ import annotations

import json

import pytest
from flask import Blueprint
from sqlalchemy import func
from sqlalchemy import select

from lms_core.contributions import PluginInfo
from lms_core.hooks.markers import hookimpl
from lms_core.models import Group
from lms_core.models import User
from lms_core.services import tokens as token_service
from lms_core.testing import csrf_token
from lms_core.testing import json_of
from lms_core.web import create_app
from lms_core.web.decorators import public

PASSWORD = "correct horse battery"
HUGE = "9223372036854775808"  # 2**63: beyond every integer column


@pytest.fixture
def admin(factory):
    return factory.admin("ada@example.com", password=PASSWORD, name="Ada")


@pytest.fixture
def headers(lms, admin):
    with lms.transaction(admin) as ctx:
        _row, secret = token_service.create_token(ctx, admin, "tests")
    return {"Authorization": f"Bearer {secret}"}


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    return body


def _count(lms, model) -> int:
    with lms.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- item 8: integers beyond 64 bits ------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        f"/courses/{HUGE}",
        f"/courses/{HUGE}/lessons/1",
        f"/teach/courses/{HUGE}",
        f"/admin/users/{HUGE}",
        "/courses/2147483648",  # one past PostgreSQL's integer
        "/courses/" + "9" * 5000,  # more digits than Python's int() will read
        "/courses/-1",
        "/courses/0",
    ],
)
def test_an_id_no_row_can_have_is_not_found_even_anonymously(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "There is nothing at this address" in response.get_data(as_text=True)


def test_the_largest_id_the_database_holds_is_an_ordinary_not_found(client, factory):
    course = factory.course("SAFE-101")
    assert client.get(f"/courses/{course.id}").status_code == 200
    assert client.get("/courses/2147483647").status_code == 404


def test_plugin_routes_bound_their_ids_too(client):
    # The badges plugin's pages use <id:...> like the core's.
    assert client.get(f"/badges/courses/{HUGE}").status_code == 404


class IntRoutesPlugin:
    """A third party's plugin whose route still says ``<int:...>``, as Flask's docs do."""

    PLUGIN = PluginInfo(name="introutes", version="1.0", title="Int routes")
    __name__ = "tests.introutes"

    @hookimpl
    def lms_register_blueprints(self) -> list[Blueprint]:
        bp = Blueprint("introutes", __name__, url_prefix="/introutes")

        @bp.route("/things/<int:thing_id>")
        @public
        def thing(thing_id: int) -> str:
            return f"thing {thing_id}"

        return [bp]


def test_a_plugin_route_written_with_int_is_bounded_as_well(lms_factory):
    app = create_app(lms=lms_factory([IntRoutesPlugin()]))
    app.config.update(TESTING=True)
    client = app.test_client()
    assert client.get("/introutes/things/7").status_code == 200
    assert client.get("/introutes/things/0").status_code == 200
    assert client.get(f"/introutes/things/{HUGE}").status_code == 404
    assert client.get("/introutes/things/2147483648").status_code == 404


def test_api_ids_beyond_the_range_are_404_problems(client, headers):
    _problem(client.get(f"/api/v1/courses/{HUGE}", headers=headers), 404)
    _problem(client.patch(f"/api/v1/users/{HUGE}", json={}, headers=headers), 404)
    _problem(client.delete(f"/api/v1/courses/1/lessons/{'3' * 30}", headers=headers), 404)


def test_a_page_number_beyond_the_range_is_refused_naming_page(client, headers, factory):
    body = _problem(client.get("/api/v1/courses?page=99999999999999999999", headers=headers), 422)
    assert body["field"] == "page"
    assert "page must be between 1 and 2,147,483,647" in body["detail"]
    _problem(client.get("/api/v1/users?per_page=" + "9" * 5000, headers=headers), 422)

    # The site's own lists read page= through the same helper.
    page = client.get("/courses?page=99999999999999999999")
    assert page.status_code == 422
    assert "page must be between 1 and" in page.get_data(as_text=True)


def test_json_numbers_beyond_the_range_are_refused_naming_the_field(client, headers, lms):
    users = _count(lms, User)
    body = _problem(
        client.post(
            "/api/v1/users",
            json={"email": "new@example.com", "manager_id": 2**63},
            headers=headers,
        ),
        400,
    )
    assert body["field"] == "manager_id"
    assert "2,147,483,647" in body["detail"]
    body = _problem(
        client.post(
            "/api/v1/courses",
            data='{"code": "BIG-1", "title": "Big", "capacity": 1' + "0" * 40 + "}",
            headers={**headers, "Content-Type": "application/json"},
        ),
        400,
    )
    assert body["field"] == "capacity"
    assert _count(lms, User) == users


def test_a_form_number_beyond_the_range_is_a_message_not_a_500(client, auth, factory):
    factory.user("teacher@example.com", roles=("course_creator", "learner"), password=PASSWORD)
    assert auth.login("teacher@example.com", PASSWORD).status_code == 302
    data = {
        "csrf_token": csrf_token(client, "/teach/courses/new"),
        "code": "BIG-1",
        "title": "Big",
        "enrollment_policy": "open",
        "capacity": "9" * 30,
        "due_days": "",
    }
    response = client.post("/teach/courses/new", data=data)
    assert response.status_code == 400
    assert "capacity must be a whole number from 1 to 1,000,000" in (
        response.get_data(as_text=True).replace("The capacity", "capacity")
    )


# -- item 9: deeply nested JSON ---------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        "[" * 50_000 + "]" * 50_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "[" * 50_000,  # never closed
        '{"name": "x", "rule": ' + '{"a":' * 40 + "1" + "}" * 41,  # past the 32-level limit
    ],
)
def test_deeply_nested_json_is_a_400_problem(client, headers, lms, body):
    response = client.post(
        "/api/v1/groups", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    problem = _problem(response, 400)
    assert "32 levels" in problem["detail"]
    assert _count(lms, Group) == 0


def test_brackets_inside_strings_are_text_not_nesting(client, headers, factory):
    course = factory.course("TEXT-1", publish=False)
    text = "[" * 50_000 + '{"\\"}' * 10
    response = client.post(
        f"/api/v1/courses/{course.id}/lessons",
        json={"title": "Brackets", "body": text},
        headers=headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    assert response.get_json()["body"] == text


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_does_not_have_are_400_problems(client, headers, number):
    response = client.post(
        "/api/v1/courses",
        data='{"code": "N-1", "title": "N", "capacity": ' + number + "}",
        headers={**headers, "Content-Type": "application/json"},
    )
    _problem(response, 400)


def test_a_body_that_is_not_utf8_is_a_400_problem(client, headers):
    response = client.post(
        "/api/v1/groups",
        data=b'{"name": "\xff"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert "not UTF-8" in _problem(response, 400)["detail"]


# -- item 10: text that cannot be stored ------------------------------------------------
def test_a_lone_surrogate_is_refused_naming_the_field(client, headers, lms):
    users = _count(lms, User)
    response = client.post(
        "/api/v1/users",
        data='{"email":"\\ud800@example.com"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    body = _problem(response, 422)
    assert body["field"] == "email"
    assert "unpaired surrogate" in body["detail"]
    assert _count(lms, User) == users


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"name": "G", "rule": {"department": "\\udc00"}}', "rule.department"),
        ('{"name": "G\\u0000"}', "name"),
        ('{"name": "G", "\\ud83d": 1}', None),
    ],
)
def test_unstorable_text_anywhere_in_a_body_is_a_422(client, headers, lms, raw, field):
    response = client.post(
        "/api/v1/groups", data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    body = _problem(response, 422)
    assert body.get("field") == field
    assert _count(lms, Group) == 0


def test_a_paired_surrogate_escape_is_ordinary_text(client, headers):
    response = client.post(
        "/api/v1/groups",
        data='{"name": "Smile \\ud83d\\ude00"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert response.get_json()["name"] == "Smile \U0001f600"


def test_lesson_data_must_be_storable_json(client, headers, factory):
    course = factory.course("DATA-1", publish=False)
    url = f"/api/v1/courses/{course.id}/lessons"
    too_big = client.post(url, json={"title": "L", "data": {"n": 2**64}}, headers=headers)
    assert _problem(too_big, 422)["field"] == "data"
    ok = client.post(
        url, json={"title": "L", "data": {"n": 2**62, "deep": [[[1]]]}}, headers=headers
    )
    assert ok.status_code == 201
    assert ok.get_json()["data"] == {"n": 2**62, "deep": [[[1]]]}


def test_invalid_utf8_in_a_form_is_never_a_500(client, auth, admin):
    # Werkzeug keeps an undecodable percent-escape as the text "%ED%A0%80" and turns raw
    # invalid bytes into U+FFFD: neither reaches the database as a surrogate.
    assert auth.login("ada@example.com", PASSWORD).status_code == 302
    token = csrf_token(client, "/profile/tokens")
    response = client.post(
        "/profile/tokens",
        data=f"csrf_token={token}&name=%ED%A0%80".encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201
    assert "%ED%A0%80" in response.get_data(as_text=True)


def test_a_nul_in_a_form_or_query_is_refused_naming_it(client, auth, admin):
    assert auth.login("ada@example.com", PASSWORD).status_code == 302
    token = csrf_token(client, "/profile/tokens")
    response = client.post(
        "/profile/tokens",
        data=f"csrf_token={token}&name=a%00b".encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 422
    assert "The value of name is not valid text: it contains a NUL character" in (
        response.get_data(as_text=True)
    )
    assert client.get("/courses?q=a%00b").status_code == 422
    assert client.get("/badges/classes/a%00b").status_code == 404


def test_a_nul_in_an_api_query_is_a_422_naming_it(client, headers):
    body = _problem(client.get("/api/v1/courses?q=a%00b", headers=headers), 422)
    assert body["field"] == "q"


def test_the_problem_document_is_json(client, headers):
    response = client.post(
        "/api/v1/groups",
        data="[" * 50_000,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert json.loads(response.get_data(as_text=True))["type"].startswith("urn:lms:problem:")


def test_an_integral_json_number_is_an_integer(client, headers):
    # JSON has one number type and JSON Schema counts 5.0 as an integer; 5.5 is not one.
    response = client.post(
        "/api/v1/courses", json={"code": "F-1", "title": "F", "capacity": 5.0}, headers=headers
    )
    assert response.status_code == 201
    assert response.get_json()["capacity"] == 5
    body = _problem(
        client.post(
            "/api/v1/courses", json={"code": "F-2", "title": "F", "capacity": 5.5}, headers=headers
        ),
        400,
    )
    assert body["field"] == "capacity"


def test_empty_query_values_are_documented_as_allowed(client):
    doc = json_of(client.get("/api/v1/openapi.json"))
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    assert parameter["allowEmptyValue"] is True, (path, parameter["name"])


def test_a_query_parameter_given_twice_is_refused_naming_it(client, headers):
    body = _problem(client.get("/api/v1/courses?q=a&q=b", headers=headers), 422)
    assert body["field"] == "q" and "given 2 times" in body["detail"]
    assert client.get("/api/v1/courses?other=a&other=b", headers=headers).status_code == 200


# -- the pages issue 9 added: My team and "why can or can't they" -------------------------
@pytest.mark.parametrize(
    ("query", "status"),
    [
        (f"?page={HUGE}", 422),  # the page number is refused, naming page
        ("?page=-3", 422),
        # filters no select offers are ignored: the page shows the whole team
        (f"?course={HUGE}", 200),
        ("?course=" + "9" * 5000, 200),
        ("?show=%ED%A0%80", 200),
        ("?show=" + "x" * 100_000, 200),
        ("?all=1&show=overdue&course=abc", 200),
    ],
)
def test_odd_queries_on_my_team_are_answered_without_a_server_error(
    client, auth, factory, query, status
):
    manager = factory.user("mo@example.com", password=PASSWORD, name="Mo")
    factory.user("rae@example.com", manager_id=manager.id)
    assert auth.login("mo@example.com", PASSWORD).status_code == 302
    response = client.get("/team/" + query)
    assert response.status_code == status


@pytest.mark.parametrize(
    ("query", "status", "named"),
    [
        ("?permission=course.edit&course=" + "C" * 100_000, 400, "course"),
        ("?permission=" + "p" * 100_000, 400, "permission"),
        ("?permission=course.edit&course=%ED%A0%80", 400, "course"),
        ("?permission=%00", 422, "permission"),
    ],
)
def test_odd_questions_to_explain_are_refused_naming_the_field(
    client, auth, admin, query, status, named
):
    assert auth.login("ada@example.com", PASSWORD).status_code == 302
    response = client.get(f"/admin/users/{admin.id}" + query)
    assert response.status_code == status
    assert named in response.get_data(as_text=True).lower()


def test_a_due_date_nobody_can_mean_on_my_team_is_refused_naming_it(client, auth, factory):
    manager = factory.user("mo@example.com", password=PASSWORD, name="Mo")
    report = factory.user("rae@example.com", manager_id=manager.id)
    course = factory.course()
    assert auth.login("mo@example.com", PASSWORD).status_code == 302
    token = csrf_token(client, "/team/")
    for due in ("99999-01-01", "2026-02-30", "%ED%A0%80", "1" * 5000):
        response = client.post(
            "/team/enroll",
            data={
                "csrf_token": token,
                "people": str(report.id),
                "course": str(course.id),
                "due_date": due,
            },
        )
        assert response.status_code == 400, (due, response.status_code)
        assert "date" in response.get_data(as_text=True).lower()
