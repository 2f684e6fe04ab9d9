"""The admin area: users and import, groups, roles, audit log, plugins, deliveries."""

from __future__ import annotations

import html as html_module
import io
import re
import types

import attrs
import pytest
from sample_plugins import flaky
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import update

from lms_core.context import Context
from lms_core.contributions import PluginInfo
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import User
from lms_core.services import enrollments
from lms_core.services import roles as role_service
from lms_core.services import users as user_service
from lms_core.services.audit import audit
from lms_core.services.permissions import can
from lms_core.services.plugins import settings_for
from lms_core.testing import AuthActions
from lms_core.testing import csrf_token
from lms_core.testing import text_of
from lms_core.web import create_app

PASSWORD = "admin password 123"


@pytest.fixture(autouse=True)
def _reset_flaky():
    flaky.CALLS.clear()
    flaky.FAIL = True
    yield
    flaky.FAIL = True


@pytest.fixture
def admin(factory, auth):
    user = factory.admin("ada@example.com", password=PASSWORD, name="Ada Admin")
    assert auth.login("ada@example.com", PASSWORD).status_code == 302
    return user


def _user(lms, email):
    with lms.session() as session:
        return session.scalars(select(User).where(User.email_key == email)).first()


def _serve(site):
    app = create_app(lms=site)
    app.config["TESTING"] = True
    return app.test_client()


# -- access -------------------------------------------------------------------------------


def test_a_learner_gets_403_on_the_admin_area(factory, auth, client):
    factory.user("lee@example.com", password=PASSWORD)
    assert auth.login("lee@example.com", PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/users").status_code == 403


def test_a_manager_sees_users_but_may_not_create_them(factory, auth, client):
    factory.user("mo@example.com", roles=("manager",), password=PASSWORD)
    factory.user("someone@example.com", department="Sales")
    assert auth.login("mo@example.com", PASSWORD).status_code == 302
    index = text_of(client.get("/admin/"))
    assert "/admin/users" in index and "/admin/plugins" not in index
    page = client.get("/admin/users?q=sales")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "someone@example.com" in html and "mo@example.com" not in html
    assert "/admin/users/new" not in html
    assert client.get("/admin/users/new").status_code == 403
    token = csrf_token(client, "/admin/users")
    response = client.post(
        "/admin/users/new", data={"csrf_token": token, "email": "new@example.com"}
    )
    assert response.status_code == 403


def test_the_admin_index_lists_every_admin_page(admin, client):
    html = text_of(client.get("/admin/"))
    for path in ("users", "groups", "roles", "audit", "plugins", "deliveries"):
        assert f'href="/admin/{path}"' in html


def test_the_admin_home_is_ordered_by_task_and_shows_counts(admin, client, factory, lms):
    factory.user("one@example.com")
    gone = factory.user("gone@example.com")
    with lms.transaction(admin) as ctx:
        user_service.deactivate_user(ctx, ctx.attach(gone))
    page = _words(text_of(client.get("/admin/")))
    order = [page.index(label) for label in ("Users", "Groups", "Roles", "Audit log")]
    order += [page.index(label) for label in ("Deliveries", "Plugins")]
    assert order == sorted(order), page
    tasks = [page.index(f" {task} ") for task in ("People", "Records", "Site")]
    assert tasks == sorted(tasks) and tasks[0] < order[0] < tasks[1] < order[3] < tasks[2]
    assert "Users 2 active" in page  # Ada and one@; gone@ is deactivated
    assert "Roles 5 roles" in page and "Deliveries 0 failed or retrying" in page


# -- users --------------------------------------------------------------------------------


def test_admin_creates_edits_and_deactivates_a_user(admin, client, app, lms, factory):
    factory.user("boss@example.com")
    token = csrf_token(client, "/admin/users/new")
    bad = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "email": "not-an-email",
            "name": "Bea Typed",
            "department": "Sales",
            "roles": ["learner"],
        },
    )
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert re.search(r'class="field-error">[^<]*not a valid email address', html)
    assert 'value="Bea Typed"' in html and 'value="Sales"' in html
    assert _user(lms, "not-an-email") is None

    unknown_manager = client.post(
        "/admin/users/new",
        data={"csrf_token": token, "email": "bea@example.com", "manager_email": "x@example.com"},
    )
    assert unknown_manager.status_code == 400
    assert "There is no user with the email x@example.com" in unknown_manager.get_data(as_text=True)
    assert _user(lms, "bea@example.com") is None

    created = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "email": "Bea@Example.com",
            "name": "Bea",
            "department": "Sales",
            "location": "Lisbon",
            "job_title": "Rep",
            "manager_email": "boss@example.com",
            "roles": ["learner", "course_creator"],
            "password": "bea password 123",
        },
    )
    assert created.status_code == 302
    bea = _user(lms, "bea@example.com")
    boss = _user(lms, "boss@example.com")
    assert bea.department == "Sales" and bea.location == "Lisbon" and bea.manager_id == boss.id
    assert "Bea@Example.com" in text_of(client.get("/admin/users"))

    edited = client.post(
        f"/admin/users/{bea.id}",
        data={
            "csrf_token": token,
            "email": "Bea@Example.com",
            "name": "Bea Edited",
            "department": "Marketing",
            "location": "",
            "roles": ["learner"],
        },
    )
    assert edited.status_code == 302
    bea = _user(lms, "bea@example.com")
    assert (bea.name, bea.department, bea.location, bea.manager_id) == (
        "Bea Edited",
        "Marketing",
        None,
        None,
    )
    with lms.session() as session:
        names = set(
            session.scalars(
                select(Role.name)
                .join(RoleAssignment, RoleAssignment.role_id == Role.id)
                .where(RoleAssignment.user_id == bea.id)
            )
        )
    assert names == {"learner"}

    # deactivated users cannot sign in
    deactivated = client.post(f"/admin/users/{bea.id}/deactivate", data={"csrf_token": token})
    assert deactivated.status_code == 302
    assert _user(lms, "bea@example.com").is_active is False
    other = app.test_client()
    refused = AuthActions(other).login("bea@example.com", "bea password 123")
    assert "deactivated" in text_of(refused)
    assert other.get("/").status_code == 302  # still signed out
    assert (
        client.post(f"/admin/users/{bea.id}/reactivate", data={"csrf_token": token}).status_code
        == 302
    )
    assert _user(lms, "bea@example.com").is_active is True


def test_an_admin_cannot_deactivate_themselves(admin, client, lms):
    token = csrf_token(client, "/admin/users")
    response = client.post(
        f"/admin/users/{admin.id}/deactivate", data={"csrf_token": token}, follow_redirects=True
    )
    assert "You cannot deactivate your own account." in text_of(response)
    assert _user(lms, "ada@example.com").is_active is True


def test_deactivate_and_reactivate_follow_next_only_within_the_site(admin, client, factory, lms):
    bea = factory.user("bea@example.com")
    token = csrf_token(client, "/admin/users")
    edit_page = f"/admin/users/{bea.id}"
    for action, target in (
        ("deactivate", "https://evil.example/phish"),
        ("reactivate", "//evil.example/phish"),
        ("deactivate", "/\\evil.example"),
    ):
        response = client.post(
            f"/admin/users/{bea.id}/{action}", data={"csrf_token": token, "next": target}
        )
        assert response.status_code == 302
        assert response.headers["Location"] == edit_page, (action, target)
    assert _user(lms, "bea@example.com").is_active is False
    response = client.post(
        f"/admin/users/{bea.id}/reactivate",
        data={"csrf_token": token, "next": "/admin/users?q=bea"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users?q=bea"
    assert _user(lms, "bea@example.com").is_active is True


CSV = (
    "email,name,department\n"
    "good1@example.com,Good One,Sales\n"
    "broken-address,Bad Row,Sales\n"
    "good2@example.com,Good Two,Ops\n"
)


def _upload(client, token, **flags):
    data = {"csrf_token": token, "file": (io.BytesIO(CSV.encode()), "people.csv"), **flags}
    return client.post("/admin/users/import", data=data, content_type="multipart/form-data")


def test_csv_import_with_a_bad_row_imports_nothing_and_says_which_row(admin, client, lms):
    token = csrf_token(client, "/admin/users/import")
    response = _upload(client, token)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "nothing was imported" in html
    assert re.search(r"<td>3</td><td>[^<]*</td><td>[^<]*not a valid email", html)
    assert _user(lms, "good1@example.com") is None

    dry = _upload(client, token, dry_run="1", skip_bad_rows="1")
    assert dry.status_code == 200 and "Dry run" in dry.get_data(as_text=True)
    assert _user(lms, "good1@example.com") is None

    skipped = _upload(client, token, skip_bad_rows="1")
    assert skipped.status_code == 200
    html = skipped.get_data(as_text=True)
    assert "2 user(s) created" in html and "<td>3</td>" in html
    assert _user(lms, "good1@example.com").department == "Sales"
    assert _user(lms, "good2@example.com") is not None


def test_csv_import_without_a_file_is_refused(admin, client):
    token = csrf_token(client, "/admin/users/import")
    response = client.post(
        "/admin/users/import", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "Choose a CSV file" in response.get_data(as_text=True)


def test_the_users_list_costs_the_same_queries_for_5_and_50_users(admin, client, lms, factory):
    def count() -> int:
        statements: list[str] = []

        def listener(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(lms.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/admin/users").status_code == 200
        finally:
            event.remove(lms.engine, "before_cursor_execute", listener)
        return len(statements)

    for i in range(4):
        factory.user(f"few{i}@example.com", department="Sales", location="Porto")
    assert client.get("/admin/users").status_code == 200  # warm up
    few = count()
    for i in range(46):
        factory.user(f"many{i}@example.com", department="Sales", location="Porto")
    many = count()
    assert few == many


# -- groups -------------------------------------------------------------------------------


def test_a_group_with_a_rule_shows_the_matching_members(admin, client, factory):
    factory.user("s1@example.com", department="Sales", location="Lisbon")
    factory.user("s2@example.com", department="sales", location="Lisbon")
    factory.user("s3@example.com", department="Sales", location="Porto")
    factory.user("o1@example.com", department="Ops", location="Lisbon")
    token = csrf_token(client, "/admin/groups")
    bad = client.post(
        "/admin/groups",
        data={"csrf_token": token, "name": "", "kind": "department", "rule_attr_0": "department"},
    )
    assert bad.status_code == 400 and "A group needs a name." in bad.get_data(as_text=True)
    response = client.post(
        "/admin/groups",
        data={
            "csrf_token": token,
            "name": "Lisbon sales",
            "kind": "department",
            "rule_attr_0": "department",
            "rule_value_0": "Sales",
            "rule_attr_1": "location",
            "rule_value_1": "Lisbon",
        },
    )
    assert response.status_code == 302
    page = text_of(client.get(response.headers["Location"]))
    assert "s1@example.com" in page and "s2@example.com" in page
    assert "s3@example.com" not in page and "o1@example.com" not in page
    assert "Members follow the rule" in page and 'name="emails"' not in page
    listing = text_of(client.get("/admin/groups"))
    assert re.search(r"Lisbon sales</a></td>\s*<td>department</td>\s*<td>2</td>", listing)


def test_manual_group_members_are_added_by_email_and_removed(admin, client, factory, lms):
    factory.user("m1@example.com")
    m2 = factory.user("m2@example.com")
    token = csrf_token(client, "/admin/groups")
    created = client.post(
        "/admin/groups", data={"csrf_token": token, "name": "Cohort 1", "kind": "custom"}
    )
    assert created.status_code == 302
    url = created.headers["Location"]
    group_id = int(url.rstrip("/").rsplit("/", 1)[1])
    unknown = client.post(
        f"/admin/groups/{group_id}/members",
        data={"csrf_token": token, "emails": "m1@example.com, nobody@example.com"},
    )
    assert unknown.status_code == 400
    html = unknown.get_data(as_text=True)
    assert "nobody@example.com" in html and "nobody was added" in html
    assert "m1@example.com, nobody@example.com</textarea>" in html
    added = client.post(
        f"/admin/groups/{group_id}/members",
        data={"csrf_token": token, "emails": "m1@example.com\nM2@example.com"},
    )
    assert added.status_code == 302
    page = text_of(client.get(url))
    assert "Members (2)" in page
    removed = client.post(
        f"/admin/groups/{group_id}/members/{m2.id}/remove", data={"csrf_token": token}
    )
    assert removed.status_code == 302
    assert "Members (1)" in text_of(client.get(url))


# -- roles --------------------------------------------------------------------------------


def test_roles_create_assign_in_a_course_and_revoke(admin, client, factory, lms):
    course = factory.course("SAFE-1", title="Safety")
    factory.user("rita@example.com")
    page = text_of(client.get("/admin/roles"))
    assert "all permissions" in page and 'value="course.edit"' in page
    token = csrf_token(client, "/admin/roles")
    bad = client.post(
        "/admin/roles",
        data={
            "csrf_token": token,
            "name": "Bad Name",
            "title": "Reviewer",
            "permissions": ["course.edit"],
        },
    )
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "A role name is 2-60 lower-case letters" in html and 'value="Reviewer"' in html
    assert re.search(r'value="course.edit" checked', html)
    created = client.post(
        "/admin/roles",
        data={
            "csrf_token": token,
            "name": "reviewer",
            "title": "Reviewer",
            "permissions": ["course.edit", "progress.view"],
        },
    )
    assert created.status_code == 302
    with lms.session() as session:
        ctx = Context(session=session, hooks=lms.hooks, system=True)
        role = role_service.get_role(ctx, "reviewer")
        assert role_service.role_permissions(ctx, role) == {"course.edit", "progress.view"}
        role_id = role.id

    edited = client.post(
        f"/admin/roles/{role_id}",
        data={"csrf_token": token, "permissions": ["course.edit"]},
    )
    assert edited.status_code == 302

    unknown = client.post(
        "/admin/roles/assignments",
        data={"csrf_token": token, "email": "nobody@example.com", "role": "reviewer"},
    )
    assert unknown.status_code == 400
    assert "There is no user with the email nobody@example.com" in unknown.get_data(as_text=True)

    assigned = client.post(
        "/admin/roles/assignments",
        data={
            "csrf_token": token,
            "email": "rita@example.com",
            "role": "reviewer",
            "course_id": str(course.id),
        },
    )
    assert assigned.status_code == 302
    with lms.session() as session:
        rita = session.scalars(select(User).where(User.email_key == "rita@example.com")).one()
        assert can(rita, "course.edit", course.id) and not can(rita, "course.edit")
        assert not can(rita, "progress.view", course.id)
        assignment = session.scalars(
            select(RoleAssignment).where(
                RoleAssignment.user_id == rita.id, RoleAssignment.course_id == course.id
            )
        ).one()
    listing = text_of(client.get("/admin/roles?role=reviewer"))
    assert "rita@example.com" in listing and "course SAFE-1" in listing

    revoked = client.post(
        f"/admin/roles/assignments/{assignment.id}/revoke", data={"csrf_token": token}
    )
    assert revoked.status_code == 302
    with lms.session() as session:
        assert session.get(RoleAssignment, assignment.id) is None

    deleted = client.post(f"/admin/roles/{role_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302
    with lms.session() as session:
        assert session.get(Role, role_id) is None


def test_the_instructor_role_is_given_per_course_and_the_pages_say_so(admin, client, factory, lms):
    course = factory.course("SAFE-1", title="Safety")
    factory.user("ivy@example.com")
    page = client.get("/admin/roles")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Course creator" in html
    assert re.search(r"\(instructor, built in, per course only\)", html)
    assert "Instructor (instructor, per course only)</option>" in html
    assert "Course creator (course_creator, site-wide only)</option>" in html
    assert "is therefore given per course only" in html

    token = csrf_token(client, "/admin/roles")
    site_wide = client.post(
        "/admin/roles/assignments",
        data={"csrf_token": token, "email": "ivy@example.com", "role": "instructor"},
    )
    assert site_wide.status_code == 400
    html = site_wide.get_data(as_text=True)
    assert "The instructor role is given per course" in html
    assert "course_creator" in html
    in_course = client.post(
        "/admin/roles/assignments",
        data={
            "csrf_token": token,
            "email": "ivy@example.com",
            "role": "instructor",
            "course_id": str(course.id),
        },
    )
    assert in_course.status_code == 302
    with lms.session() as session:
        ivy = session.scalars(select(User).where(User.email_key == "ivy@example.com")).one()
        held = set(
            session.execute(
                select(Role.name, RoleAssignment.course_id)
                .join(RoleAssignment, RoleAssignment.role_id == Role.id)
                .where(RoleAssignment.user_id == ivy.id)
            ).all()
        )
        ivy_id = ivy.id
    assert held == {("learner", None), ("instructor", course.id)}

    # The user form offers only roles given site-wide.
    form = client.get(f"/admin/users/{ivy_id}")
    assert form.status_code == 200
    assert 'value="course_creator"' in form.get_data(as_text=True)
    assert 'name="roles" value="instructor"' not in form.get_data(as_text=True)
    refused = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "email": "new@example.com",
            "name": "New",
            "roles": ["learner", "instructor"],
        },
    )
    assert refused.status_code == 400
    assert "The instructor role is given per course" in refused.get_data(as_text=True)
    assert _user(lms, "new@example.com") is None


def test_the_admin_role_cannot_lose_its_wildcard(admin, client, lms):
    with lms.session() as session:
        admin_role_id = session.scalars(select(Role.id).where(Role.name == "admin")).one()
    page = text_of(client.get(f"/admin/roles/{admin_role_id}"))
    assert "all permissions" in page and 'name="permissions"' not in page


# -- audit --------------------------------------------------------------------------------


def test_the_audit_log_filters_by_action_prefix(admin, client, factory, lms):
    learner = factory.user("lu@example.com")
    with lms.transaction(admin) as ctx:
        role_service.assign_role(ctx, learner, "course_creator")
    everything = text_of(client.get("/admin/audit"))
    assert "<code>user.create</code>" in everything and "<code>role.assign</code>" in everything
    filtered = text_of(client.get("/admin/audit?action=role."))
    assert "<code>role.assign</code>" in filtered and "<code>user.create</code>" not in filtered
    by_actor = text_of(client.get("/admin/audit?actor=ada@example.com"))
    assert "<code>role.assign</code>" in by_actor and "<code>user.create</code>" not in by_actor
    unknown = client.get("/admin/audit?actor=ghost@example.com&since=yesterday")
    assert unknown.status_code == 400
    html = unknown.get_data(as_text=True)
    assert "There is no user with the email ghost@example.com" in html
    assert "is not a date" in html
    future = text_of(client.get("/admin/audit?since=2999-01-01"))
    assert "No entries match." in future


def test_a_long_audit_detail_is_folded_to_its_start_with_show_all(admin, client, lms):
    with lms.transaction(admin) as ctx:
        audit(ctx, "event.redeliver", None, deliveries=list(range(1, 5_001)), replay=False)
        audit(ctx, "user.update", None, note="x" * 1_000, name="short")
    page = _words(text_of(client.get("/admin/audit")))
    assert "deliveries: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 … (5,000 in all) · show all" in page
    assert "4999, 5000" in page  # the whole value is there, behind "show all"
    assert "replay: False" in page and "name: short" in page
    assert f"note: {'x' * 120}… (1,000 characters) · show all" in page


# -- plugins and deliveries ---------------------------------------------------------------


def test_plugins_page_toggles_plugins_and_explains_refusals(lms_factory, factory):
    site = lms_factory(["sample_plugins.recorder", "sample_plugins.gate"])
    factory.admin("ada@example.com", password=PASSWORD)
    client = _serve(site)
    assert AuthActions(client).login("ada@example.com", PASSWORD).status_code == 302
    page = text_of(client.get("/admin/plugins"))
    assert "Recorder" in page and "Gate" in page and "Requires: recorder" in page
    token = csrf_token(client, "/admin/plugins")

    refused = client.post("/admin/plugins/recorder/disable", data={"csrf_token": token})
    assert refused.status_code == 400
    assert "recorder cannot be disabled: gate require" in refused.get_data(as_text=True)
    assert site.plugin_enabled("recorder")

    assert client.post("/admin/plugins/gate/disable", data={"csrf_token": token}).status_code == 302
    assert (
        client.post("/admin/plugins/recorder/disable", data={"csrf_token": token}).status_code
        == 302
    )
    site.refresh_plugins(force=True)
    assert not site.plugin_enabled("recorder") and not site.plugin_enabled("gate")

    refused = client.post("/admin/plugins/gate/enable", data={"csrf_token": token})
    assert refused.status_code == 400
    assert "gate requires recorder: enable recorder first" in refused.get_data(as_text=True)

    assert (
        client.post("/admin/plugins/recorder/enable", data={"csrf_token": token}).status_code == 302
    )
    site.refresh_plugins(force=True)
    assert site.plugin_enabled("recorder") and not site.plugin_enabled("gate")


def test_deliveries_page_shows_a_failed_delivery_and_retries_it(lms_factory, factory):
    site = lms_factory(["sample_plugins.flaky"])
    factory.admin("ada@example.com", password=PASSWORD)
    learner, course = factory.user(), factory.course()
    with site.transaction(learner) as ctx:
        enrollments.enroll(ctx, learner, course)
    with site.session() as session, session.begin():
        delivery = session.scalars(select(Delivery).where(Delivery.plugin == "flaky")).one()
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(status=DeliveryStatus.FAILED, attempts=8)
        )
    client = _serve(site)
    assert AuthActions(client).login("ada@example.com", PASSWORD).status_code == 302
    page = text_of(client.get("/admin/deliveries"))
    assert f'id="delivery-{delivery.id}"' in page and "flaky is down" in page
    token = csrf_token(client, "/admin/deliveries")

    calls = len(flaky.CALLS)
    retried = client.post(f"/admin/deliveries/{delivery.id}/retry", data={"csrf_token": token})
    assert retried.status_code == 302
    assert len(flaky.CALLS) == calls + 1  # tried again at once, and failed again
    with site.session() as session:
        again = session.get(Delivery, delivery.id)
        assert again.status == DeliveryStatus.PENDING and again.attempts == 1

    flaky.FAIL = False
    done = client.post("/admin/deliveries/retry-all", data={"csrf_token": token})
    assert done.status_code == 302
    with site.session() as session:
        assert session.get(Delivery, delivery.id).status == DeliveryStatus.DELIVERED
    assert "Every delivery went through." in text_of(client.get("/admin/deliveries"))


@attrs.define
class TunedSettings:
    greeting: str = "hello"
    limit: int = 3
    ratio: float = 0.5
    loud: bool = False


def _tuned_plugin() -> types.ModuleType:
    attrs.resolve_types(TunedSettings)
    module = types.ModuleType("tuned_plugin")
    module.PLUGIN = PluginInfo(  # type: ignore[attr-defined]
        name="tuned", version="1.0", title="Tuned", settings=TunedSettings
    )
    return module


def test_plugin_settings_form_validates_and_saves(lms_factory, factory):
    site = lms_factory([_tuned_plugin()])
    factory.admin("ada@example.com", password=PASSWORD)
    client = _serve(site)
    assert AuthActions(client).login("ada@example.com", PASSWORD).status_code == 302
    page = text_of(client.get("/admin/plugins"))
    assert 'name="s-greeting" value="hello"' in page and 'name="s-limit" value="3"' in page
    token = csrf_token(client, "/admin/plugins")
    bad = client.post(
        "/admin/plugins/tuned/settings",
        data={"csrf_token": token, "s-greeting": "hi there", "s-limit": "many", "s-ratio": "1"},
    )
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "Setting &#39;Limit&#39; (limit): must be a whole number, not &#39;many&#39;" in html
    assert 'value="many"' in html and 'value="hi there"' in html
    assert settings_for(site, "tuned") == TunedSettings()
    good = client.post(
        "/admin/plugins/tuned/settings",
        data={
            "csrf_token": token,
            "s-greeting": "hi there",
            "s-limit": "7",
            "s-ratio": "0.25",
            "s-loud": "1",
        },
    )
    assert good.status_code == 302
    assert settings_for(site, "tuned") == TunedSettings("hi there", 7, 0.25, True)


def test_a_web_import_is_audited_as_the_admin_who_uploaded_it(lms, factory, tmp_path):
    from sqlalchemy import select

    from lms_core.importer import import_users_csv
    from lms_core.models import AuditEntry

    admin = factory.admin("boss@example.com")
    path = tmp_path / "people.csv"
    path.write_text("email,name\nnew.person@example.com,New Person\n", encoding="utf-8")
    report = import_users_csv(lms, path, actor=admin, address="198.51.100.7")
    assert not report.bad_rows
    with lms.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "users.import")).one()
    assert (entry.actor_label, entry.address) == ("boss@example.com", "198.51.100.7")


def test_only_people_who_manage_users_may_import(lms, factory, tmp_path):
    from lms_core.errors import Forbidden
    from lms_core.importer import import_users_csv

    learner = factory.user()
    path = tmp_path / "people.csv"
    path.write_text("email\nx@example.com\n", encoding="utf-8")
    with pytest.raises(Forbidden):
        import_users_csv(lms, path, actor=learner)


# -- a user's page: groups, enrollments, roles, and why they may or may not ------------------


def _words(html: str) -> str:
    """The page as a reader sees it: no tags, entities decoded, spaces collapsed."""
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture
def taught(lms, factory, admin):
    """Tess, in a group, enrolled in one course and instructor of another (given by Ada)."""
    from lms_core.services import groups as group_service

    tess = factory.user("tess@example.com", name="Tess Teacher")
    taken = factory.course("TAKE-1", title="Taking part")
    taught = factory.course("TEACH-1", title="Teaching well")
    with lms.transaction(admin) as ctx:
        group = group_service.create_group(ctx, "Night shift")
        group_service.add_members(ctx, group, [ctx.attach(tess)])
        enrollments.enroll(ctx, ctx.attach(tess), ctx.attach(taken))
        role_service.assign_role(ctx, ctx.attach(tess), "instructor", ctx.attach(taught))
    return tess


def test_a_users_page_lists_their_groups_enrollments_and_roles(client, taught):
    page = _words(text_of(client.get(f"/admin/users/{taught.id}")))
    groups = page.split("Groups", 1)[1]
    assert "Night shift" in groups
    assert "TAKE-1 Taking part" in page.split("Enrollments", 1)[1]
    roles = page.split("Why can or can't", 1)[0].rsplit("Roles", 1)[1]
    assert "Instructor (instructor) in TEACH-1" in roles and "ada@example.com" in roles
    assert "Learner (learner) site-wide" in roles and "the system" in roles


def test_a_users_page_explains_why_they_may_use_a_permission_in_a_course(client, taught):
    page = _words(
        text_of(client.get(f"/admin/users/{taught.id}?permission=course.edit&course=teach-1"))
    )
    why = page.split("Why can or can't", 1)[1]
    assert "Allowed. tess@example.com may use course.edit in TEACH-1" in why
    assert "Instructor (instructor) in TEACH-1, given" in why and "by ada@example.com" in why


def test_a_users_page_explains_why_not_and_which_roles_would_grant_it(client, taught):
    page = _words(
        text_of(client.get(f"/admin/users/{taught.id}?permission=course.edit&course=TAKE-1"))
    )
    why = page.split("Why can or can't", 1)[1]
    assert "Not allowed. tess@example.com may not use course.edit in TAKE-1" in why
    assert "Holds it elsewhere only: instructor in TEACH-1." in why
    assert "Roles that would grant it:" in why and "(instructor)" in why


def test_a_users_page_refuses_an_unknown_permission_or_course_by_name(client, taught):
    page = _words(
        text_of(
            client.get(f"/admin/users/{taught.id}?permission=course.nope&course=NOPE-9"),
            status=400,
        )
    )
    assert "There is no permission course.nope." in page
    assert "There is no course with the code NOPE-9." in page
    assert "Allowed." not in page and "Not allowed." not in page
