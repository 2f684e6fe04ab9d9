"""The badges pages, driven through the real web app and sign-in form.

``site`` (badges switched on) comes from this folder's ``conftest.py``.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms_core.models import Course
from lms_core.models import User
from lms_core.runtime import LMS
from lms_core.services import groups as group_service
from lms_core.services import progress as progress_service
from lms_core.services import roles as role_service
from lms_core.services.plugins import disable_plugin
from lms_core.services.plugins import save_settings
from lms_core.testing import AuthActions
from lms_core.testing import Factory
from lms_core.testing import csrf_token
from lms_core.web import create_app
from plugins.badges import services
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass
from plugins.badges.models import Level
from plugins.badges.models import PointRule

PASSWORD = "correct horse battery"
LESSON_DONE = "lms.lesson.completed.v1"


@pytest.fixture
def make(site: LMS) -> Factory:
    return Factory(site)


@pytest.fixture
def app(site: LMS) -> Flask:
    application = create_app(lms=site)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _page(response: Any, status: int = 200) -> str:
    """The page's HTML, once its status code is the one expected."""
    assert response.status_code == status, (response.status_code, _text(response)[:500])
    return _text(response)


def _sign_in(auth: AuthActions, user: User) -> None:
    assert auth.login(user.email, PASSWORD).status_code == 302


def _admin(make: Factory, auth: AuthActions) -> User:
    user = make.admin("admin@example.com", password=PASSWORD, name="Ada Admin")
    _sign_in(auth, user)
    return user


def _instructor_of(site: LMS, make: Factory, course: Course, email: str) -> User:
    user = make.user(email, password=PASSWORD, name=email.split("@")[0].title())
    with site.transaction(system=True) as ctx:
        role_service.assign_role(ctx, ctx.attach(user), "instructor", ctx.attach(course))
    return user


def _png() -> bytes:
    """A real 1x1 PNG (chunks with correct CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _complete(site: LMS, learner: User, course: Course) -> None:
    """The learner completes every lesson of a course they are enrolled in."""
    from lms_core.services.enrollments import find_enrollment

    with site.transaction(learner) as ctx:
        course = ctx.attach(course)
        enrollment = find_enrollment(ctx, ctx.actor, course)  # type: ignore[arg-type]
        assert enrollment is not None
        for lesson in course.lessons:
            progress_service.complete_lesson(ctx, enrollment, lesson)


def _point_rule(site: LMS, points: int = 10) -> None:
    with site.transaction(system=True) as ctx:
        services.create_point_rule(
            ctx, name="Lesson done", event_type=LESSON_DONE, conditions=[], points=points
        )


def _badge(site: LMS, name: str, **fields: Any) -> BadgeClass:
    with site.transaction(system=True) as ctx:
        return services.create_badge_class(ctx, name=name, **fields)


# -- admin ----------------------------------------------------------------------------------


def test_admin_creates_a_point_rule_and_an_unknown_field_is_named(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    _admin(make, auth)
    page = client.get("/badges/admin/rules/new")
    assert page.status_code == 200
    assert LESSON_DONE in _text(page)  # the event type select lists the core's events

    data = {
        "csrf_token": csrf_token(client, "/badges/admin/rules/new"),
        "name": "Safety lessons",
        "event_type": LESSON_DONE,
        "cond_field_0": "colour",
        "cond_op_0": "eq",
        "cond_value_0": "blue",
        "points": "5",
    }
    bad = client.post("/badges/admin/rules/new", data=data)
    assert bad.status_code == 400
    html = _text(bad)
    assert "colour" in html and "has no field" in html  # the service's message, shown
    assert 'value="Safety lessons"' in html  # what was typed is kept
    assert '<option value="colour" selected>' in html
    assert 'value="blue"' in html
    with site.session() as session:
        assert session.scalars(select(PointRule)).all() == []

    # The "show its fields" button narrows the field select to the chosen event's fields.
    data["refresh"] = "1"
    narrowed = _page(client.post("/badges/admin/rules/new", data=data))
    assert "course_category" in narrowed and "<optgroup" not in narrowed
    del data["refresh"]

    data.update(
        cond_field_0="course_category",
        cond_value_0="Safety",
        cond_field_1="lesson_id",
        cond_op_1="gt",
        cond_value_1="3",
    )
    saved = client.post("/badges/admin/rules/new", data=data)
    assert saved.status_code == 302, _text(saved)
    with site.session() as session:
        rule = session.scalars(select(PointRule)).one()
        assert rule.event_type == LESSON_DONE and rule.points == 5
        assert rule.conditions == [
            {"field": "course_category", "op": "eq", "value": "Safety"},
            {"field": "lesson_id", "op": "gt", "value": 3},
        ]
    index = client.get("/badges/admin")
    assert index.status_code == 200
    assert "Safety lessons" in _text(index)

    # An unknown event type is refused too, naming it.
    data.update(event_type="nope.v1", name="Other")
    refused = client.post("/badges/admin/rules/new", data=data)
    assert refused.status_code == 400 and "nope.v1" in _text(refused)


def test_admin_creates_a_badge_with_criteria_and_an_image(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    _admin(make, auth)
    first = make.course("SAFE-1", lessons=1)
    second = make.course("SAFE-2", lessons=1)
    token = csrf_token(client, "/badges/admin/classes/new")
    data: dict[str, Any] = {
        "csrf_token": token,
        "name": "Safety champion",
        "description": "Knows the rules.",
        "criteria_text": "Complete both safety courses, or reach 100 points.",
        "expires_days": "365",
        "course_id": "",
        "req_0_0_type": "courses",
        "req_0_0_value": "safe-1, SAFE-2",
        "req_1_0_type": "points",
        "req_1_0_value": "100",
    }

    # A file that is no image: the image validator's message, everything else kept.
    bad = client.post(
        "/badges/admin/classes/new",
        data={**data, "image": (io.BytesIO(b"not an image"), "x.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400
    html = _text(bad)
    assert "not a valid PNG" in html or "not a PNG" in html
    assert 'value="Safety champion"' in html and 'value="safe-1, SAFE-2"' in html
    with site.session() as session:
        assert session.scalars(select(BadgeClass)).all() == []

    # An unknown course code marks its row.
    unknown = client.post(
        "/badges/admin/classes/new", data={**data, "req_0_0_value": "SAFE-1, NOPE-9"}
    )
    assert unknown.status_code == 400 and "no course with the code NOPE-9" in _text(unknown)

    good = client.post(
        "/badges/admin/classes/new",
        data={**data, "image": (io.BytesIO(_png()), "medal.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert good.status_code == 302, _text(good)
    with site.session() as session:
        badge = session.scalars(select(BadgeClass)).one()
        assert badge.slug and badge.expires_days == 365
        assert badge.image_type == "image/png" and badge.image
        groups = [[dict(r) for r in g["requirements"]] for g in badge.criteria]
        assert groups[0][0]["type"] == "courses"
        assert groups[0][0]["course_ids"] == [first.id, second.id]
        assert groups[1][0]["type"] == "points" and groups[1][0]["min"] == 100
        badge_id = badge.id

    # The edit form shows the criteria as codes again.
    edit = _page(client.get(f"/badges/admin/classes/{badge_id}"))
    assert "SAFE-1, SAFE-2" in edit and 'value="100"' in edit


def test_admin_index_lists_rules_badges_holders_and_levels(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    course = make.course("FIRE-1")
    learner = make.user()
    _point_rule(site, points=7)
    warden = _badge(site, "Fire warden", course_id=course.id)
    _badge(site, "Site hero")
    with site.transaction(system=True) as ctx:
        services.create_level(ctx, "Bronze", 50)
        services.award_badge(ctx, ctx.attach(warden), ctx.attach(learner))
    _admin(make, auth)

    page = client.get("/badges/admin")
    assert page.status_code == 200
    html = _text(page)
    assert "Lesson done" in html and "Bronze" in html and "from 50 points" in html
    # The badge tied to a course shows the course's code and how many hold it.
    row = html[html.index("Fire warden") :]
    row = row[: row.index("</tr>")]
    assert "FIRE-1" in row and "<td>1</td>" in row
    hero = html[html.index("Site hero") :]
    hero = hero[: hero.index("</tr>")]
    assert "site-wide" in hero and "<td>0</td>" in hero


def test_a_refused_level_is_shown_on_the_admin_page_as_typed(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    course = make.course("FIRE-1")
    _badge(site, "Fire warden", course_id=course.id)
    with site.transaction(system=True) as ctx:
        services.create_level(ctx, "Bronze", 50)
    _admin(make, auth)
    token = csrf_token(client, "/badges/admin")

    taken = client.post(
        "/badges/admin/levels", data={"csrf_token": token, "level_name": "Gold", "threshold": "50"}
    )
    assert taken.status_code == 400
    html = _text(taken)
    assert "Another level starts at 50 points." in html
    assert 'value="Gold"' in html and "Fire warden" in html  # the page, with what was typed

    added = client.post(
        "/badges/admin/levels", data={"csrf_token": token, "level_name": "Gold", "threshold": "90"}
    )
    assert added.status_code == 302
    with site.session() as session:
        assert sorted(level.threshold for level in session.scalars(select(Level))) == [50, 90]


def test_admin_pages_need_badges_manage(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    learner = make.user("learner@example.com", password=PASSWORD)
    _sign_in(auth, learner)
    assert client.get("/badges/admin").status_code == 403
    assert client.get("/badges/admin/rules/new").status_code == 403


# -- instructors ----------------------------------------------------------------------------


def test_instructor_awards_and_revokes_with_a_reason(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    course = make.course("FIRE-1", title="Fire safety")
    teacher = _instructor_of(site, make, course, "teacher@example.com")
    learner = make.user("lea@example.com", name="Lea Learner")
    make.enrollment(learner, course)
    badge = _badge(
        site, "Fire warden", course_id=course.id, criteria=[{"requirements": [{"type": "manual"}]}]
    )
    _badge(site, "Site hero")  # site-wide: not for a course-scope instructor
    _sign_in(auth, teacher)

    page = _page(client.get(f"/badges/courses/{course.id}"))
    assert "Fire warden" in page and "Lea Learner" in page
    assert "Site hero" not in page

    token = csrf_token(client, f"/badges/courses/{course.id}")
    given = client.post(
        f"/badges/courses/{course.id}/award",
        data={
            "csrf_token": token,
            "badge_id": str(badge.id),
            "user_id": str(learner.id),
            "evidence": "Led the drill",
        },
    )
    assert given.status_code == 302, _text(given)
    with site.session() as session:
        award = session.scalars(select(Award)).one()
        assert award.user_id == learner.id and award.evidence == "Led the drill"
        assert award.awarded_by_id == teacher.id
    page = _page(client.get(f"/badges/courses/{course.id}"))
    assert "Led the drill" in page and "Valid" in page

    empty = client.post(
        f"/badges/courses/{course.id}/awards/{award.id}/revoke",
        data={"csrf_token": token, "reason": "  "},
    )
    assert empty.status_code == 400
    assert "field-error" in _text(empty)
    with site.session() as session:
        assert session.get(Award, award.id).revoked_at is None  # type: ignore[union-attr]

    revoked = client.post(
        f"/badges/courses/{course.id}/awards/{award.id}/revoke",
        data={"csrf_token": token, "reason": "Awarded by mistake"},
    )
    assert revoked.status_code == 302
    with site.session() as session:
        row = session.get(Award, award.id)
        assert row is not None and row.revoked_at is not None
        assert row.revoked_reason == "Awarded by mistake"
    assert "Awarded by mistake" in _page(client.get(f"/badges/courses/{course.id}"))


def test_an_instructor_of_another_course_is_refused(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    course = make.course("FIRE-1")
    other = make.course("OTHER-1")
    outsider = _instructor_of(site, make, other, "outsider@example.com")
    learner = make.user()
    make.enrollment(learner, course)
    badge = _badge(site, "Fire warden", course_id=course.id)
    _sign_in(auth, outsider)
    assert client.get(f"/badges/courses/{course.id}").status_code == 403
    token = csrf_token(client, f"/badges/courses/{other.id}")
    refused = client.post(
        f"/badges/courses/{course.id}/award",
        data={"csrf_token": token, "badge_id": str(badge.id), "user_id": str(learner.id)},
    )
    assert refused.status_code == 403
    with site.session() as session:
        assert session.scalars(select(Award)).all() == []


# -- learners -------------------------------------------------------------------------------


def test_my_badges_shows_points_progress_and_share_links(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    _point_rule(site, points=10)
    with site.transaction(system=True) as ctx:
        services.create_level(ctx, "Bronze", 5)
        services.create_level(ctx, "Silver", 100)
    first = make.course("SAFE-1", lessons=1)
    second = make.course("SAFE-2", lessons=1)
    _badge(
        site,
        "Safety champion",
        criteria=[{"requirements": [{"type": "courses", "course_ids": [first.id, second.id]}]}],
    )
    starter = _badge(
        site, "Starter", criteria=[{"requirements": [{"type": "course", "course_id": first.id}]}]
    )
    learner = make.user("lea@example.com", password=PASSWORD, name="Lea Learner")
    make.enrollment(learner, first)
    make.enrollment(learner, second)
    _complete(site, learner, first)
    _sign_in(auth, learner)

    html = _page(client.get("/badges/"))
    assert "Safety champion" in html and "1 of 2" in html
    assert "Bronze" in html and "Silver" in html  # current and next level
    assert ">10</strong> points" in html
    # Starter was earned automatically: it is listed with its share links.
    assert "Starter" in html
    with site.session() as session:
        award = session.scalars(select(Award).where(Award.badge_id == starter.id)).one()
    assert award.uid in html


def test_dashboard_widget_and_course_panel_come_from_the_views(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    _point_rule(site, points=10)
    first = make.course("SAFE-1", lessons=1)
    _badge(
        site,
        "Starter",
        criteria=[{"requirements": [{"type": "course", "course_id": first.id}]}],
    )
    _badge(site, "Fire warden", course_id=first.id)
    learner = make.user("lea@example.com", password=PASSWORD, name="Lea Learner")
    make.enrollment(learner, first)
    _complete(site, learner, first)
    _sign_in(auth, learner)

    dashboard = _page(client.get("/"))
    assert 'href="/badges/">My badges</a>' in dashboard  # the widget (and the nav item)
    assert "Starter" in dashboard and ">10</strong> points" in dashboard
    panel = _page(client.get(f"/courses/{first.id}"))
    assert "Badges this course can earn" in panel
    assert "Fire warden" in panel and "Starter" in panel and "earned" in panel


def test_my_badges_shows_a_revoked_badge_clearly(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    learner = make.user("lea@example.com", password=PASSWORD)
    badge = _badge(site, "Helper")
    with site.transaction(system=True) as ctx:
        award = services.award_badge(ctx, ctx.attach(badge), ctx.attach(learner))
        assert award is not None
        services.revoke_award(ctx, award, "Duplicate account")
    _sign_in(auth, learner)
    html = _page(client.get("/badges/"))
    assert "Revoked" in html and "Duplicate account" in html
    assert "Public page" not in html


def test_leaderboard_lists_names_and_hides_those_who_opted_out(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    _point_rule(site, points=10)
    course = make.course("SAFE-1", lessons=2)
    ann = make.user("ann@example.com", password=PASSWORD, name="Ann Able")
    bob = make.user("bob@example.com", password=PASSWORD, name="Bob Baker")
    for learner in (ann, bob):
        make.enrollment(learner, course)
        _complete(site, learner, course)
    with site.transaction(system=True) as ctx:
        group = group_service.create_group(ctx, "Night shift")
        group_service.add_members(ctx, group, [ctx.attach(ann)])

    _sign_in(auth, ann)
    board = client.get("/badges/leaderboard")
    assert board.status_code == 200
    html = _text(board)
    assert "<td>Ann Able" in html and "<td>Bob Baker" in html
    assert f"course:{course.id}" in html and f"group:{group.id}" in html  # scope choices
    group_board = _page(client.get(f"/badges/leaderboard?scope=group:{group.id}&period=recent"))
    assert "<td>Ann Able" in group_board and "<td>Bob Baker" not in group_board
    assert client.get("/badges/leaderboard?scope=group:999999").status_code == 404

    assert auth.logout().status_code == 302
    _sign_in(auth, bob)
    hidden = client.post(
        "/badges/leaderboard/opt-out",
        data={"csrf_token": csrf_token(client, "/badges/"), "opted_out": "1"},
    )
    assert hidden.status_code == 302
    html = _page(client.get(f"/badges/leaderboard?scope=course:{course.id}"))
    assert "<td>Ann Able" in html and "<td>Bob Baker" not in html
    assert "You are hidden from the leaderboards." in _page(client.get("/badges/"))


def test_turned_off_leaderboards_show_the_message(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    save_settings(site, "badges", {"leaderboards_enabled": False})
    learner = make.user("lea@example.com", password=PASSWORD)
    _sign_in(auth, learner)
    page = client.get("/badges/leaderboard")
    assert page.status_code == 200
    assert "Leaderboards are turned off on this site." in _text(page)


# -- plugin toggles -------------------------------------------------------------------------


def test_widget_panel_and_pages_vanish_when_the_plugin_is_disabled(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    course = make.course("SAFE-1", lessons=1)
    _badge(site, "Safety star", course_id=course.id)
    learner = make.user("lea@example.com", password=PASSWORD)
    make.enrollment(learner, course)
    _sign_in(auth, learner)

    dashboard = _page(client.get("/"))
    assert "/badges/" in dashboard  # widget links and the nav item
    assert "Safety star" in _page(client.get(f"/courses/{course.id}"))
    assert client.get("/badges/").status_code == 200

    disable_plugin(site, "badges")
    dashboard = _page(client.get("/"))
    assert "/badges/" not in dashboard
    assert "Safety star" not in _page(client.get(f"/courses/{course.id}"))
    assert client.get("/badges/").status_code == 404
    assert client.get("/badges/leaderboard").status_code == 404


def test_admin_defines_any_courses_of_a_category_and_the_category_courses_show_it(
    site: LMS, make: Factory, client: FlaskClient, auth: AuthActions
) -> None:
    admin = _admin(make, auth)
    safety = make.course("SAF-1", lessons=1, category="Safety")
    other = make.course("GEN-1", lessons=1, category="General")
    token = csrf_token(client, "/badges/admin/classes/new")
    made = client.post(
        "/badges/admin/classes/new",
        data={
            "csrf_token": token,
            "name": "Safety explorer",
            "course_id": "",
            "expires_days": "",
            "req_0_0_type": "any_courses",
            "req_0_0_value": "Safety",
            "req_0_0_min": "2",
        },
    )
    assert made.status_code == 302, _text(made)
    with site.session() as session:
        badge = session.scalars(select(BadgeClass)).one()
        assert badge.criteria == [
            {"requirements": [{"type": "any_courses", "min": 2, "category": "Safety"}]}
        ]
    edit = _page(client.get(f"/badges/admin/classes/{badge.id}"))
    assert 'value="Safety"' in edit and 'value="2"' in edit
    make.enrollment(admin, safety)
    assert "Safety explorer" in _page(client.get(f"/courses/{safety.id}"))
    make.enrollment(admin, other)
    assert "Safety explorer" not in _page(client.get(f"/courses/{other.id}"))
