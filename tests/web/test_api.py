"""The JSON API: personal tokens, permissions, CRUD flows, problem details, OpenAPI."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select
from sqlalchemy import update

from lms_core.models import ApiToken
from lms_core.models import AuditEntry
from lms_core.services import tokens as token_service
from lms_core.testing import csrf_token
from lms_core.testing import json_of
from lms_core.testing import text_of

PASSWORD = "correct horse battery"


def make_token(lms, user, name="script"):
    with lms.transaction(user) as ctx:
        _row, secret = token_service.create_token(ctx, user, name)
    return secret


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


class Api:
    """A client that sends one token with every request."""

    def __init__(self, client, secret):
        self.client = client
        self.headers = bearer(secret)

    def get(self, path, **kw):
        return self.client.get("/api/v1" + path, headers=self.headers, **kw)

    def post(self, path, json=None, **kw):
        return self.client.post("/api/v1" + path, json=json, headers=self.headers, **kw)

    def patch(self, path, json=None, **kw):
        return self.client.patch("/api/v1" + path, json=json, headers=self.headers, **kw)

    def delete(self, path, **kw):
        return self.client.delete("/api/v1" + path, headers=self.headers, **kw)


@pytest.fixture
def admin(factory):
    return factory.admin("ada@example.com", password=PASSWORD, name="Ada")


@pytest.fixture
def learner(factory):
    return factory.user("lee@example.com", password=PASSWORD, name="Lee")


@pytest.fixture
def admin_api(client, lms, admin):
    return Api(client, make_token(lms, admin))


@pytest.fixture
def learner_api(client, lms, learner):
    return Api(client, make_token(lms, learner))


def is_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


# -- tokens ---------------------------------------------------------------------------------
def test_a_token_is_stored_hashed_and_acts_as_its_owner(client, lms, learner):
    secret = make_token(lms, learner, "laptop")
    assert secret.startswith("lms_") and len(secret) > 40
    with lms.Session() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == token_service.hash_secret(secret)
        assert secret not in (row.token_hash, row.prefix)
        assert secret[4:].startswith(row.prefix) and len(row.prefix) == 8
        assert session.scalars(select(AuditEntry.action)).all().count("token.create") == 1
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 200
    assert response.get_json()["email"] == "lee@example.com"
    assert "Set-Cookie" not in response.headers


def test_requests_without_or_with_a_bad_token_get_401_problems(client, lms, learner):
    secret = make_token(lms, learner)
    is_problem(client.get("/api/v1/me"), 401)
    is_problem(client.get("/api/v1/me", headers=bearer(secret + "x")), 401)
    is_problem(client.get("/api/v1/me", headers=bearer("lms_nonsense")), 401)
    is_problem(client.get("/api/v1/me", headers={"Authorization": f"Basic {secret}"}), 401)
    for response, status in (
        (client.get("/api/v1/me"), 401),
        (client.get("/api/v1/me", headers=bearer(secret)), 200),
    ):
        assert response.status_code == status
        assert "Set-Cookie" not in response.headers


def test_a_signed_in_browser_session_does_not_authenticate_the_api(client, auth, learner):
    assert auth.login("lee@example.com", PASSWORD).status_code == 302
    assert client.get("/").status_code == 200
    is_problem(client.get("/api/v1/me"), 401)
    # And a token on an HTML page is not a sign-in either.


def test_revoked_tokens_and_deactivated_owners_are_refused(client, lms, admin, learner):
    secret = make_token(lms, learner)
    other = make_token(lms, learner, "other")
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    with lms.Session() as session:
        token_id = session.scalars(
            select(ApiToken.id).where(ApiToken.token_hash == token_service.hash_secret(secret))
        ).one()
    with lms.transaction(learner) as ctx:
        assert token_service.revoke_token(ctx, token_id) is True
        assert token_service.revoke_token(ctx, token_id) is False
    is_problem(client.get("/api/v1/me", headers=bearer(secret)), 401)
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200

    admin_api = Api(client, make_token(lms, admin))
    assert (
        admin_api.post(f"/users/{learner.id}/deactivate", json={"reason": "left"}).status_code
        == 200
    )
    is_problem(client.get("/api/v1/me", headers=bearer(other)), 401)
    assert admin_api.post(f"/users/{learner.id}/reactivate").status_code == 200
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200


def test_only_the_owner_or_a_user_manager_revokes_a_token(lms, factory, admin, learner):
    from lms_core.errors import NotFound

    make_token(lms, learner)
    with lms.Session() as session:
        token_id = session.scalars(select(ApiToken.id)).one()
    stranger = factory.user("sam@example.com")
    with pytest.raises(NotFound), lms.transaction(stranger) as ctx:
        token_service.revoke_token(ctx, token_id)
    with lms.transaction(admin) as ctx:
        assert token_service.revoke_token(ctx, token_id) is True
    with lms.Session() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "token.revoke" in actions


def test_last_used_is_written_at_most_once_a_minute(client, lms, learner):
    secret = make_token(lms, learner)

    def last_used():
        with lms.Session() as session:
            return session.scalars(select(ApiToken.last_used_at)).one()

    assert last_used() is None
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    first = last_used()
    assert first is not None
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    assert last_used() == first
    earlier = first - dt.timedelta(minutes=5)
    with lms.engine.begin() as conn:
        conn.execute(update(ApiToken).values(last_used_at=earlier))
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    assert last_used() > earlier


def test_the_tokens_page_shows_the_secret_once_then_only_the_prefix(client, auth, lms, learner):
    assert auth.login("lee@example.com", PASSWORD).status_code == 302
    page = client.get("/profile/tokens")
    assert page.status_code == 200 and "no tokens yet" in page.get_data(as_text=True)
    token = csrf_token(client, "/profile/tokens")
    created = client.post("/profile/tokens", data={"name": "ci job", "csrf_token": token})
    html = created.get_data(as_text=True)
    assert created.status_code == 201
    secret = re.search(r'value="(lms_[^"]+)"', html).group(1)
    assert "shown only this once" in html
    again = text_of(client.get("/profile/tokens"))
    assert secret not in again
    assert f"lms_{secret[4:12]}" in again and "ci job" in again

    api_client = client.application.test_client()  # no cookies
    assert api_client.get("/api/v1/me", headers=bearer(secret)).status_code == 200

    with lms.Session() as session:
        token_id = session.scalars(select(ApiToken.id)).one()
    revoked = client.post(
        f"/profile/tokens/{token_id}/revoke",
        data={"csrf_token": csrf_token(client, "/profile/tokens")},
    )
    assert revoked.status_code == 302
    assert "revoked" in text_of(client.get("/profile/tokens"))
    is_problem(api_client.get("/api/v1/me", headers=bearer(secret)), 401)


def test_the_tokens_page_needs_csrf_a_name_and_a_sign_in(client, auth, learner):
    assert client.get("/profile/tokens").status_code == 302
    assert auth.login("lee@example.com", PASSWORD).status_code == 302
    assert client.post("/profile/tokens", data={"name": "x"}).status_code == 400
    token = csrf_token(client, "/profile/tokens")
    blank = client.post("/profile/tokens", data={"name": "  ", "csrf_token": token})
    assert blank.status_code == 422 and "Give the token a name" in blank.get_data(as_text=True)


# -- permissions ----------------------------------------------------------------------------
def test_a_token_has_its_owners_permissions(learner_api, admin_api):
    body = is_problem(learner_api.post("/users", json={"email": "new@example.com"}), 403)
    assert "user.manage" in body["detail"]
    is_problem(learner_api.get("/users"), 403)
    is_problem(learner_api.get("/groups"), 403)
    assert admin_api.post("/users", json={"email": "new@example.com"}).status_code == 201


# -- users ----------------------------------------------------------------------------------
def test_user_crud(admin_api, learner):
    created = admin_api.post(
        "/users",
        json={
            "email": "Kim@Example.com",
            "name": "Kim",
            "department": "Sales",
            "roles": ["learner"],
        },
    )
    assert created.status_code == 201
    kim = created.get_json()
    assert kim["email"] == "Kim@Example.com" and kim["is_active"] is True
    assert kim["department"] == "Sales" and kim["last_login_at"] is None
    got = json_of(admin_api.get(f"/users/{kim['id']}"))
    assert got == kim
    patched = admin_api.patch(f"/users/{kim['id']}", json={"department": None, "name": "Kim Lee"})
    assert patched.status_code == 200
    assert patched.get_json()["department"] is None and patched.get_json()["name"] == "Kim Lee"
    assert patched.get_json()["location"] is None
    listed = json_of(admin_api.get("/users?q=kim"))
    assert [u["email"] for u in listed["items"]] == ["Kim@Example.com"]
    is_problem(admin_api.post("/users", json={"email": "kim@example.com"}), 409)
    is_problem(admin_api.get("/users/999999"), 404)
    assert json_of(admin_api.post(f"/users/{kim['id']}/deactivate"))["is_active"] is False
    assert json_of(admin_api.get("/users?active=false"))["total"] == 1


def test_validation_errors_are_422_problems_naming_the_field(admin_api):
    body = is_problem(admin_api.post("/users", json={"email": "not-an-email"}), 422)
    assert body["field"] == "email" and "not a valid email" in body["detail"]
    body = is_problem(admin_api.post("/courses", json={"code": "bad code!", "title": "T"}), 422)
    assert body["field"] == "code"
    body = is_problem(
        admin_api.post("/courses", json={"code": "OK-1", "title": "T", "capacity": 0}), 422
    )
    assert body["field"] == "capacity"
    body = is_problem(admin_api.get("/users?page=zero"), 422)
    assert body["field"] == "page"


def test_malformed_bodies_are_400_problems_naming_the_key(admin_api, client):
    body = is_problem(
        admin_api.post("/users", json={"email": "a@example.com", "colour": "red"}), 400
    )
    assert body["field"] == "colour" and "colour" in body["detail"]
    body = is_problem(admin_api.post("/users", json={"name": "No Email"}), 400)
    assert body["field"] == "email"
    body = is_problem(
        admin_api.post("/courses", json={"code": "X1", "title": "T", "capacity": "5"}), 400
    )
    assert body["field"] == "capacity" and "integer" in body["detail"]
    body = is_problem(admin_api.post("/groups/1/members", json={"emails": ["a@b.co", 3]}), 400)
    assert body["field"] == "emails[1]"
    response = client.post(
        "/api/v1/users",
        data="{not json",
        headers={**admin_api.headers, "Content-Type": "application/json"},
    )
    is_problem(response, 400)
    is_problem(admin_api.post("/users", json=["a list"]), 400)


# -- groups ---------------------------------------------------------------------------------
def test_groups_and_members(admin_api, learner, factory):
    factory.user("kim@example.com")
    created = admin_api.post("/groups", json={"name": "Sales team", "kind": "department"})
    assert created.status_code == 201
    group = created.get_json()
    assert group["members"] == [] and group["member_count"] == 0
    added = admin_api.post(
        f"/groups/{group['id']}/members", json={"emails": ["lee@example.com", "KIM@example.com"]}
    )
    assert added.status_code == 200
    assert [m["email"] for m in added.get_json()["members"]] == [
        "kim@example.com",
        "lee@example.com",
    ]
    body = is_problem(
        admin_api.post(f"/groups/{group['id']}/members", json={"emails": ["ghost@example.com"]}),
        422,
    )
    assert body["field"] == "emails" and "ghost@example.com" in body["detail"]
    listed = json_of(admin_api.get("/groups"))
    assert listed["items"][0]["member_count"] == 2
    assert json_of(admin_api.get(f"/groups/{group['id']}"))["member_count"] == 2
    is_problem(admin_api.post("/groups", json={"name": "sales TEAM"}), 409)


# -- courses, lessons, enrollments, progress -------------------------------------------------
def test_course_lifecycle_lessons_enrollment_and_completion(
    admin_api, learner_api, learner, factory
):
    created = admin_api.post(
        "/courses",
        json={"code": "SAFE-101", "title": "Safety", "tags": ["Health", "safety"], "capacity": 10},
    )
    assert created.status_code == 201
    course = created.get_json()
    assert course["status"] == "draft" and course["tags"] == ["health", "safety"]
    cid = course["id"]
    # Drafts are invisible to learners.
    is_problem(learner_api.get(f"/courses/{cid}"), 404)
    assert json_of(learner_api.get("/courses"))["total"] == 0
    is_problem(admin_api.post(f"/courses/{cid}/publish"), 422)  # no lessons yet

    lessons = []
    for title in ("Intro", "Ladders", "Extra"):
        response = admin_api.post(
            f"/courses/{cid}/lessons", json={"title": title, "body": f"About {title}"}
        )
        assert response.status_code == 201
        lessons.append(response.get_json())
    assert [lesson["position"] for lesson in lessons] == [1, 2, 3]
    extra = admin_api.patch(f"/courses/{cid}/lessons/{lessons[2]['id']}", json={"required": False})
    assert extra.status_code == 200 and extra.get_json()["required"] is False
    assert admin_api.delete(f"/courses/{cid}/lessons/{lessons[1]['id']}").status_code == 204
    is_problem(admin_api.delete(f"/courses/{cid}/lessons/{lessons[1]['id']}"), 404)
    is_problem(admin_api.post(f"/courses/{cid}/lessons", json={"title": ""}), 422)
    is_problem(learner_api.post(f"/courses/{cid}/lessons", json={"title": "Mine"}), 403)

    assert json_of(admin_api.post(f"/courses/{cid}/publish"))["status"] == "published"
    patched = admin_api.patch(f"/courses/{cid}", json={"summary": "Stay safe", "capacity": None})
    assert patched.status_code == 200
    assert patched.get_json()["summary"] == "Stay safe" and patched.get_json()["capacity"] is None
    is_problem(learner_api.patch(f"/courses/{cid}", json={"title": "Mine"}), 403)

    # The learner sees the course but not lesson content until enrolled.
    assert json_of(learner_api.get("/courses"))["total"] == 1
    before = json_of(learner_api.get(f"/courses/{cid}/lessons"))
    assert before["total"] == 2 and before["items"][0]["body"] is None

    enrolled = learner_api.post(f"/courses/{cid}/enrollments")
    assert enrolled.status_code == 201
    enrollment = enrolled.get_json()
    assert enrollment["status"] == "active" and enrollment["source"] == "self"
    assert enrollment["progress"] == {"done": 0, "total": 1, "percent": 0}
    assert learner_api.post(f"/courses/{cid}/enrollments").status_code == 200
    after = json_of(learner_api.get(f"/courses/{cid}/lessons"))
    assert after["items"][0]["body"] == "About Intro"

    eid = enrollment["id"]
    done = learner_api.post(f"/enrollments/{eid}/lessons/{lessons[0]['id']}/complete")
    assert done.status_code == 200
    assert done.get_json()["status"] == "completed"
    assert done.get_json()["progress"]["percent"] == 100
    assert done.get_json()["completed_lesson_ids"] == [lessons[0]["id"]]
    mine = json_of(learner_api.get("/me/enrollments"))
    assert mine["total"] == 1 and mine["items"][0]["status"] == "completed"
    assert json_of(learner_api.get("/me/enrollments?status=active"))["total"] == 0

    roster = json_of(admin_api.get(f"/courses/{cid}/enrollments"))
    assert roster["items"][0]["user_email"] == "lee@example.com"
    assert roster["items"][0]["progress"]["percent"] == 100
    is_problem(learner_api.get(f"/courses/{cid}/enrollments"), 403)

    assert json_of(admin_api.post(f"/courses/{cid}/archive"))["status"] == "archived"
    # Enrolled learners keep access to an archived course's record.
    assert learner_api.get(f"/courses/{cid}").status_code == 200


def test_managers_enroll_others_through_the_api_and_only_managers_withdraw_them(
    admin_api, learner_api, learner, factory
):
    course = factory.course("FIRE-1", lessons=2)
    by_email = admin_api.post(
        f"/courses/{course.id}/enrollments", json={"email": "LEE@example.com"}
    )
    assert by_email.status_code == 201 and by_email.get_json()["source"] == "api"
    body = is_problem(
        admin_api.post(f"/courses/{course.id}/enrollments", json={"email": "ghost@example.com"}),
        422,
    )
    assert body["field"] == "email"
    other = factory.user("kim@example.com")
    is_problem(
        learner_api.post(f"/courses/{course.id}/enrollments", json={"user_id": other.id}), 403
    )
    assert (
        admin_api.post(f"/courses/{course.id}/enrollments", json={"user_id": other.id}).status_code
        == 201
    )
    eid = by_email.get_json()["id"]
    lesson_id = json_of(learner_api.get(f"/courses/{course.id}/lessons"))["items"][0]["id"]
    # Only the learner marks their lessons done.
    is_problem(admin_api.post(f"/enrollments/{eid}/lessons/{lesson_id}/complete"), 403)
    progressed = json_of(learner_api.post(f"/enrollments/{eid}/lessons/{lesson_id}/complete"))
    assert progressed["progress"] == {"done": 1, "total": 2, "percent": 50}
    # Assigned training is not the learner's to leave; whoever manages enrollments withdraws.
    refused = is_problem(learner_api.post(f"/enrollments/{eid}/withdraw"), 403)
    assert "FIRE-1 was assigned to you through the API" in refused["detail"]
    withdrawn = admin_api.post(f"/enrollments/{eid}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    is_problem(learner_api.post(f"/enrollments/{eid}/lessons/{lesson_id}/complete"), 422)
    is_problem(learner_api.post("/enrollments/999999/withdraw"), 404)


def test_a_course_creator_edits_through_the_api_only_the_course_they_created(client, lms, factory):
    creator = factory.user("cora@example.com", roles=("course_creator", "learner"))
    api = Api(client, make_token(lms, creator))
    other = factory.course("OTHER-1", title="Not theirs", publish=False)
    created = api.post("/courses", json={"code": "MINE-1", "title": "Theirs"})
    assert created.status_code == 201
    cid = created.get_json()["id"]
    assert api.patch(f"/courses/{cid}", json={"summary": "Mine"}).status_code == 200
    assert api.post(f"/courses/{cid}/lessons", json={"title": "Intro"}).status_code == 201
    assert api.get(f"/courses/{cid}/enrollments").status_code == 200
    is_problem(api.patch(f"/courses/{other.id}", json={"summary": "Taken over"}), 403)
    is_problem(api.get(f"/courses/{other.id}"), 404)  # another course's draft is hidden
    # The list shows their own draft, not other people's.
    listed = api.get("/courses")
    assert listed.status_code == 200
    assert [c["code"] for c in listed.get_json()["items"]] == ["MINE-1"]


def test_an_instructor_of_one_course_is_refused_another_courses_endpoints(client, lms, factory):
    teacher = factory.user("tia@example.com")
    mine = factory.course("MINE-1", title="Mine", instructors=[teacher])
    theirs = factory.course("THEIRS-1", title="Theirs")
    hidden = factory.course("DRAFT-1", title="Their draft", publish=False)
    my_draft = factory.course("DRAFT-2", title="My draft", publish=False, instructors=[teacher])
    ann = factory.user("ann@example.com")
    bob = factory.user("bob@example.com")
    factory.enrollment(ann, mine)
    their_enrollment = factory.enrollment(bob, theirs)
    api = Api(client, make_token(lms, teacher))
    with lms.Session() as session:
        lesson_id = session.get(type(theirs), theirs.id).lessons[0].id

    roster = api.get(f"/courses/{mine.id}/enrollments")
    assert roster.status_code == 200
    assert [e["user_email"] for e in roster.get_json()["items"]] == ["ann@example.com"]
    for response in (
        api.get(f"/courses/{theirs.id}/enrollments"),
        api.patch(f"/courses/{theirs.id}", json={"title": "Taken over"}),
        api.post(f"/courses/{theirs.id}/archive"),
        api.post(f"/courses/{theirs.id}/lessons", json={"title": "Injected"}),
        api.patch(f"/courses/{theirs.id}/lessons/{lesson_id}", json={"title": "Changed"}),
        api.delete(f"/courses/{theirs.id}/lessons/{lesson_id}"),
        api.post(f"/courses/{theirs.id}/enrollments", json={"email": "ann@example.com"}),
        api.post(f"/enrollments/{their_enrollment.id}/withdraw"),
        api.post("/courses", json={"code": "NEW-1", "title": "Instructing is not creating"}),
    ):
        is_problem(response, 403)
    is_problem(api.get(f"/courses/{hidden.id}"), 404)
    listed = api.get("/courses")
    assert listed.status_code == 200
    assert sorted(c["code"] for c in listed.get_json()["items"]) == [
        "DRAFT-2",
        "MINE-1",
        "THEIRS-1",
    ]
    assert api.get(f"/courses/{my_draft.id}").status_code == 200
    with lms.Session() as session:
        course = session.get(type(theirs), theirs.id)
        assert (course.title, course.status, len(course.lessons)) == ("Theirs", "published", 2)


def test_lists_are_paginated(admin_api, factory):
    for i in range(5):
        factory.course(f"P-{i}", title=f"Course {i}", lessons=1)
    first = json_of(admin_api.get("/courses?per_page=2"))
    assert (first["page"], first["per_page"], first["total"]) == (1, 2, 5)
    assert [c["code"] for c in first["items"]] == ["P-0", "P-1"]
    third = json_of(admin_api.get("/courses?per_page=2&page=3"))
    assert [c["code"] for c in third["items"]] == ["P-4"]
    assert json_of(admin_api.get("/courses?page=9"))["items"] == []
    assert json_of(admin_api.get("/courses?per_page=200"))["per_page"] == 200
    too_many = is_problem(admin_api.get("/courses?per_page=201"), 422)
    assert too_many["field"] == "per_page" and "200" in too_many["detail"]
    default = json_of(admin_api.get("/users"))
    assert default["page"] == 1 and default["per_page"] == 50
    is_problem(admin_api.get("/courses?per_page=0"), 422)


def test_unknown_api_paths_are_problems(admin_api):
    is_problem(admin_api.get("/nothing-here"), 404)
    is_problem(admin_api.client.put("/api/v1/me", headers=admin_api.headers), 405)


# -- OpenAPI --------------------------------------------------------------------------------
def _flask_to_openapi(rule):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_the_openapi_document_matches_the_routes(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routed.add((_flask_to_openapi(rule.rule), method.lower()))
    documented = {
        (path, method)
        for path, operations in doc["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert routed == documented
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["paths"]["/api/v1/openapi.json"]["get"]["security"] == []
    create = doc["paths"]["/api/v1/users"]["post"]
    assert create["x-lms-permission"] == "user.manage"
    assert create["responses"]["422"] == {"$ref": "#/components/responses/Unprocessable"}
    user_in = doc["components"]["schemas"]["UserIn"]
    assert user_in["required"] == ["email"] and user_in["additionalProperties"] is False
    assert user_in["properties"]["department"]["type"] == ["string", "null"]
    listing = doc["paths"]["/api/v1/users"]["get"]["responses"]["200"]
    schema = listing["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"items", "page", "per_page", "total"}


def test_the_openapi_document_validates(client):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(json_of(client.get("/api/v1/openapi.json")))


def test_every_documented_component_reference_resolves(client):
    doc = json_of(client.get("/api/v1/openapi.json"))
    refs = set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', str(doc).replace("'", '"')))
    assert refs
    for section, name in refs:
        assert name in doc["components"][section]


def test_privacy_export_and_erase_cover_api_tokens(lms, factory):
    from lms_core.services.privacy import erase_user
    from lms_core.services.privacy import export_user
    from lms_core.services.tokens import create_token
    from lms_core.services.tokens import list_tokens

    user = factory.user("tok@example.com")
    with lms.transaction(system=True) as ctx:
        create_token(ctx, ctx.attach(user), "laptop")
    with lms.transaction(system=True) as ctx:
        assert [t["name"] for t in export_user(ctx, "tok@example.com")["api_tokens"]] == ["laptop"]
        erase_user(ctx, "tok@example.com")
    with lms.transaction(system=True) as ctx:
        assert list_tokens(ctx, ctx.attach(user)) == []


# -- statuses: only documented ones -----------------------------------------------------------
def _documented(client, path, method):
    doc = json_of(client.get("/api/v1/openapi.json"))
    return {int(code) for code in doc["paths"]["/api/v1" + path][method]["responses"]}


def test_enrolling_answers_201_once_then_the_documented_200(client, learner_api, factory):
    course = factory.course("ENR-1")
    path = f"/courses/{course.id}/enrollments"
    first = learner_api.post(path)
    assert first.status_code == 201
    again = learner_api.post(path)
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert {200, 201} <= _documented(client, "/courses/{course_id}/enrollments", "post")
    # Coming back after a withdrawal is enrolling again.
    assert learner_api.post(f"/enrollments/{first.get_json()['id']}/withdraw").status_code == 200
    assert learner_api.post(path).status_code == 201


def test_the_enroll_service_says_whether_it_created_the_enrollment(lms, factory):
    from lms_core.services.enrollments import enroll_or_find

    learner = factory.user()
    course = factory.course()
    with lms.transaction(learner) as ctx:
        first, created = enroll_or_find(ctx, learner, course)
    assert created is True
    with lms.transaction(learner) as ctx:
        again, created = enroll_or_find(ctx, learner, course)
    assert created is False and again.id == first.id


def test_a_405_says_which_methods_the_address_takes(client, admin_api, auth, factory):
    response = admin_api.client.put("/api/v1/courses", headers=admin_api.headers)
    is_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    page = client.put("/courses")
    assert page.status_code == 405
    assert "GET" in page.headers["Allow"]


def test_an_empty_query_value_means_not_given(admin_api, learner_api, factory):
    factory.course("PUB-1")
    factory.course("DRAFT-1", publish=False)
    everything = json_of(admin_api.get("/courses"))
    assert json_of(admin_api.get("/courses?status=")) == everything
    assert json_of(admin_api.get("/courses?status=&q=&page=&per_page=")) == everything
    assert json_of(admin_api.get("/users?active="))["total"] == 2
    assert learner_api.get("/me/enrollments?status=").status_code == 200
    is_problem(admin_api.get("/courses?status=nonsense"), 422)


def test_an_empty_patch_changes_nothing_and_is_documented(client, admin_api, factory):
    course = factory.course("SAME-1", title="Same")
    before = json_of(admin_api.get(f"/courses/{course.id}"))
    for body in ({}, None):
        response = admin_api.patch(f"/courses/{course.id}", json=body)
        assert response.status_code == 200
        assert response.get_json() == before
    doc = json_of(client.get("/api/v1/openapi.json"))
    assert "an empty object (or no body) changes nothing" in doc["info"]["description"]
    assert doc["paths"]["/api/v1/courses/{course_id}"]["patch"]["requestBody"]["required"] is False


def test_per_page_over_the_maximum_is_documented_as_refused(client):
    doc = json_of(client.get("/api/v1/openapi.json"))
    (per_page,) = [
        p for p in doc["paths"]["/api/v1/courses"]["get"]["parameters"] if p["name"] == "per_page"
    ]
    assert per_page["schema"]["maximum"] == 200
    assert "more is refused (422)" in per_page["description"]


def test_the_document_lists_exactly_each_operations_statuses(client):
    from lms_core.api.openapi import openapi_path
    from lms_core.api.registry import ENDPOINTS

    doc = json_of(client.get("/api/v1/openapi.json"))
    for endpoint in ENDPOINTS:
        operation = doc["paths"][openapi_path(endpoint.full_rule)][endpoint.method.lower()]
        assert {int(c) for c in operation["responses"]} == set(endpoint.statuses), endpoint.name
        assert 500 not in endpoint.statuses


def test_an_undocumented_status_fails_loudly_under_test(admin_api, monkeypatch, factory):
    import attrs

    from lms_core.api import registry

    course = factory.course("UND-1")
    key = ("api.get_course", "GET")
    documented = registry._BY_VIEW[key]
    monkeypatch.setitem(registry._BY_VIEW, key, attrs.evolve(documented, status=203))
    with pytest.raises(registry.UndocumentedStatus, match="answered 200"):
        admin_api.get(f"/courses/{course.id}")
