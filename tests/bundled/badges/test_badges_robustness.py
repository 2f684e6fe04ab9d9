"""Every badges page and form, as each kind of visitor, with good and with odd input.

What this file proves: no badges page answers 500, whoever asks and whatever they send.
Every response's status code is asserted. A refused form answers 400 with a message that
names what was wrong, shows what was typed, and writes nothing; an id that names nothing
(deleted, or too large to be any row's) answers 404.

``site`` (badges switched on) comes from this folder's ``conftest.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func
from sqlalchemy import select

from lms_core.runtime import LMS
from lms_core.services import roles as role_service
from lms_core.testing import AuthActions
from lms_core.testing import Factory
from lms_core.testing import csrf_token
from lms_core.web import create_app
from plugins.badges import services
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass
from plugins.badges.models import LeaderboardOptOut
from plugins.badges.models import Level
from plugins.badges.models import PointRule

PASSWORD = "correct horse battery"
LESSON_DONE = "lms.lesson.completed.v1"
#: Larger than any row id (and than a 64-bit integer).
HUGE = "9" * 30
#: Five megabytes of text.
LONG = "x" * (5 * 1024 * 1024)


class Site:
    """A site with one course, its instructor, an enrolled learner, an outsider, an admin;
    a course badge held by the learner, a revoked award, a site-wide badge, a point rule
    and a level."""

    def __init__(self, site: LMS) -> None:
        self.site = site
        make = Factory(site)
        self.course = make.course("FIRE-1", title="Fire safety", lessons=1)
        self.admin = make.admin("admin@example.com", password=PASSWORD, name="Ada Admin")
        self.instructor = make.user("teacher@example.com", password=PASSWORD, name="Tess")
        self.learner = make.user("lea@example.com", password=PASSWORD, name="Lea Learner")
        self.outsider = make.user("otto@example.com", password=PASSWORD, name="Otto")
        with site.transaction(system=True) as ctx:
            role_service.assign_role(
                ctx, ctx.attach(self.instructor), "instructor", ctx.attach(self.course)
            )
        make.enrollment(self.learner, self.course)
        with site.transaction(system=True) as ctx:
            rule = services.create_point_rule(
                ctx, name="Lesson done", event_type=LESSON_DONE, conditions=[], points=5
            )
            level = services.create_level(ctx, "Bronze", 50)
            warden = services.create_badge_class(ctx, name="Fire warden", course_id=self.course.id)
            hero = services.create_badge_class(ctx, name="Site hero", repeatable=True)
            award = services.award_badge(ctx, warden, ctx.attach(self.learner))
            gone = services.award_badge(ctx, hero, ctx.attach(self.learner))
            assert award is not None and gone is not None
            services.revoke_award(ctx, gone, "Given twice.")
            self.rule_id, self.level_id = rule.id, level.id
            self.badge_id, self.slug = warden.id, warden.slug
            self.site_badge_id = hero.id
            self.award_id, self.uid = award.id, award.uid
            self.revoked_uid = gone.uid
        self.app = create_app(lms=site)
        self.app.config.update(TESTING=True)
        self.client: FlaskClient = self.app.test_client()

    def sign_in(self, who: str) -> None:
        """Use a fresh client (no cookies), signed in as ``who`` unless "anonymous"."""
        self.client = self.app.test_client()
        if who != "anonymous":
            user = getattr(self, who)
            assert AuthActions(self.client).login(user.email, PASSWORD).status_code == 302

    def token(self, path: str = "/badges/") -> str:
        return csrf_token(self.client, path)

    def counts(self) -> dict[str, int]:
        """How many rows each badges table holds (to prove a refusal wrote nothing)."""
        with self.site.session() as session:
            return {
                model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (PointRule, BadgeClass, Award, Level)
            }


def _short(form: dict[str, str]) -> dict[str, str]:
    """A form for a subtest's label (megabyte values cut short)."""
    return {key: value if len(value) <= 40 else value[:20] + "…" for key, value in form.items()}


def shows(response: Any, message: str) -> bool:
    """Whether the page shows ``message`` (as the template escapes it)."""
    return str(escape(message)) in response.get_data(as_text=True)


@pytest.fixture
def world(site: LMS) -> Site:
    return Site(site)


# -- every page, as everyone ------------------------------------------------------------------

ROLES = ("anonymous", "learner", "outsider", "instructor", "admin")
SIGNED_IN_ONLY = dict.fromkeys(("learner", "outsider", "instructor", "admin"), 200)


def _pages(world: Site) -> list[tuple[str, dict[str, int]]]:
    """(url, {role: status}); anonymous visitors of signed-in pages are sent to sign in (302)."""
    c, slug, uid = world.course.id, world.slug, world.uid
    course_page = {"learner": 403, "outsider": 403, "instructor": 200, "admin": 200}
    admin_only = {"learner": 403, "outsider": 403, "instructor": 403, "admin": 200}
    everyone = dict.fromkeys(ROLES, 200)
    return [
        ("/badges/", SIGNED_IN_ONLY),
        ("/badges/leaderboard", SIGNED_IN_ONLY),
        ("/badges/leaderboard?period=recent", SIGNED_IN_ONLY),
        # A course's board is offered to those enrolled in it.
        (
            f"/badges/leaderboard?scope=course:{c}",
            {**dict.fromkeys(SIGNED_IN_ONLY, 404), "learner": 200},
        ),
        ("/badges/leaderboard?scope=course:" + HUGE, dict.fromkeys(SIGNED_IN_ONLY, 404)),
        (f"/badges/courses/{c}", course_page),
        ("/badges/admin", admin_only),
        ("/badges/admin/rules/new", admin_only),
        (f"/badges/admin/rules/new?event_type={LESSON_DONE}", admin_only),
        (f"/badges/admin/rules/{world.rule_id}", admin_only),
        ("/badges/admin/classes/new", admin_only),
        (f"/badges/admin/classes/{world.badge_id}", admin_only),
        ("/badges/public/issuer", everyone),
        (f"/badges/public/classes/{slug}", everyone),
        (f"/badges/public/classes/{slug}/image", everyone),
        (f"/badges/public/assertions/{uid}", everyone),
        (f"/badges/public/assertions/{uid}/baked", everyone),
        (f"/badges/public/assertions/{uid}/page", everyone),
        (f"/badges/public/assertions/{world.revoked_uid}", dict.fromkeys(ROLES, 410)),
        (f"/badges/public/assertions/{world.revoked_uid}/baked", dict.fromkeys(ROLES, 410)),
        (f"/badges/public/assertions/{world.revoked_uid}/page", everyone),
        ("/badges/public/revocations", everyone),
        ("/badges/public/jwks.json", everyone),
        (
            f"/badges/public/assertions/{uid}/credential.jwt",
            {"learner": 200, "outsider": 403, "instructor": 200, "admin": 200},
        ),
        (
            f"/badges/public/assertions/{uid}/credential.png",
            {"learner": 200, "outsider": 403, "instructor": 200, "admin": 200},
        ),
    ]


def test_every_badges_page_answers_each_role_as_it_should(world: Site, subtests: Any) -> None:
    for role in ROLES:
        with subtests.test(role=role):
            world.sign_in(role)
            for url, expected in _pages(world):
                response = world.client.get(url)
                want = expected.get(role, 302)
                assert response.status_code == want, (role, url, response.status_code)
                if want == 302:
                    assert "/auth/login" in response.headers["Location"], url


# -- ids that name nothing ---------------------------------------------------------------------


def test_deleted_and_impossible_ids_answer_404(world: Site) -> None:
    world.sign_in("admin")
    token = world.token()
    with world.site.transaction(system=True) as ctx:
        services.delete_point_rule(ctx, ctx.session.get(PointRule, world.rule_id))
        services.delete_level(ctx, ctx.session.get(Level, world.level_id))
    c = world.course.id
    gets = [
        f"/badges/admin/rules/{world.rule_id}",
        f"/badges/admin/rules/{HUGE}",
        f"/badges/admin/classes/{HUGE}",
        "/badges/admin/classes/999999",
        f"/badges/courses/{HUGE}",
        "/badges/courses/999999",
        "/badges/public/classes/no-such-badge",
        "/badges/public/classes/a%00b",
        f"/badges/public/classes/{LONG[:5000]}",
        "/badges/public/assertions/nope",
        "/badges/public/assertions/a%00b",
        "/badges/public/assertions/a%00b/page",
        "/badges/public/assertions/a%00b/baked",
        "/badges/public/assertions/a%00b/credential.jwt",
        f"/badges/public/assertions/{'9' * 5000}/page",
        "/badges/public/keys/a%00b",
        "/badges/public/keys/nope",
    ]
    for url in gets:
        response = world.client.get(url)
        assert response.status_code == 404, (url, response.status_code)
    posts = [
        f"/badges/admin/rules/{world.rule_id}",
        f"/badges/admin/rules/{world.rule_id}/delete",
        f"/badges/admin/rules/{HUGE}/delete",
        f"/badges/admin/levels/{world.level_id}/delete",
        f"/badges/admin/levels/{HUGE}/delete",
        f"/badges/admin/classes/{HUGE}",
        f"/badges/courses/{HUGE}/award",
        f"/badges/courses/{c}/awards/{HUGE}/revoke",
        f"/badges/courses/{c}/awards/999999/revoke",
        f"/badges/courses/{HUGE}/awards/{world.award_id}/revoke",
    ]
    for url in posts:
        response = world.client.post(url, data={"csrf_token": token, "reason": "x"})
        assert response.status_code == 404, (url, response.status_code)


def test_a_form_without_its_csrf_token_is_refused(world: Site) -> None:
    world.sign_in("admin")
    before = world.counts()
    response = world.client.post("/badges/admin/levels", data={"level_name": "Gold"})
    assert response.status_code == 400
    assert world.counts() == before


# -- the level form ----------------------------------------------------------------------------

#: The core refuses a NUL character in any form or query value before a view runs (PostgreSQL
#: can neither store nor compare one): those cases answer 422 naming the field, not the form's
#: own 400.
NUL_REFUSED = "is not valid text: it contains a NUL character"


def status_for(form: dict[str, Any]) -> int:
    """The status a refused form answers: 422 when the core refuses a NUL, else 400."""
    return 422 if any("\x00" in str(value) for value in form.values()) else 400


LEVEL_CASES = [
    ({"level_name": "Gold", "threshold": ""}, "Enter the points needed for this level."),
    ({"level_name": "Gold", "threshold": "lots"}, "The threshold must be a whole number."),
    ({"level_name": "Gold", "threshold": "1.5"}, "The threshold must be a whole number."),
    ({"level_name": "Gold", "threshold": "-1"}, "The threshold is a whole number of points"),
    ({"level_name": "Gold", "threshold": HUGE}, "The threshold is a whole number of points"),
    ({"level_name": "Gold", "threshold": "9" * 5000}, "The threshold must be a whole number."),
    ({"level_name": "Gold", "threshold": "50"}, "Another level starts at 50 points."),
    ({"level_name": "Bronze", "threshold": "60"}, "There is already a level called Bronze."),
    ({"level_name": "", "threshold": "60"}, "Give the name."),
    ({"threshold": "60"}, "Give the name."),
    ({"level_name": LONG, "threshold": "60"}, "The name is at most 80 characters."),
    ({"level_name": "Go\x00ld", "threshold": "60"}, NUL_REFUSED),
]


def test_a_bad_level_is_refused_with_a_message(world: Site, subtests: Any) -> None:
    world.sign_in("admin")
    token = world.token()
    before = world.counts()
    for form, message in LEVEL_CASES:
        with subtests.test(form=_short(form)):
            response = world.client.post("/badges/admin/levels", data={"csrf_token": token, **form})
            assert response.status_code == status_for(form)
            assert shows(response, message)
            assert world.counts() == before


def test_invalid_utf8_in_a_form_is_kept_percent_encoded(world: Site) -> None:
    world.sign_in("admin")
    token = world.token()
    response = world.client.post(
        "/badges/admin/levels",
        data=f"csrf_token={token}&level_name=G%ED%A0%80old&threshold=70".encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 302
    with world.site.session() as session:
        assert session.scalar(select(Level.name).where(Level.threshold == 70)) == "G%ED%A0%80old"


# -- the point-rule form ------------------------------------------------------------------------

RULE = {"name": "Quiz", "event_type": LESSON_DONE, "points": "5"}
RULE_CASES = [
    ({"points": ""}, "Enter the points this rule gives."),
    ({"points": "five"}, "Points must be a whole number."),
    ({"points": "0"}, "Points must be a whole number other than 0"),
    ({"points": HUGE}, "Points must be a whole number other than 0"),
    ({"points": "-" + HUGE}, "Points must be a whole number other than 0"),
    ({"daily_cap": "0"}, "The daily cap is a whole number"),
    ({"daily_cap": HUGE}, "The daily cap is a whole number"),
    ({"daily_cap": "soon"}, "The daily cap must be a whole number."),
    ({"name": ""}, "Give the name."),
    ({"name": LONG}, "The name is at most 120 characters."),
    ({"name": "Qu\x00iz"}, NUL_REFUSED),
    ({"event_type": ""}, "Unknown event type"),
    ({"event_type": LONG}, "Unknown event type"),
    ({"cond_field_0": "colour", "cond_value_0": "blue"}, "has no field"),
    ({"cond_field_0": LONG, "cond_value_0": "blue"}, "has no field"),
    ({"cond_field_0": "lesson_id", "cond_value_0": "three"}, "enter a whole number"),
    ({"cond_field_0": "lesson_id", "cond_value_0": HUGE}, "The condition on lesson_id needs"),
    ({"cond_field_0": "lesson_id", "cond_op_0": "bogus", "cond_value_0": "3"}, "Unknown operator"),
    ({"cond_value_0": "3"}, "Choose a field for this condition."),
    ({"once_per_course": "1", "event_type": "badges.level.reached.v1"}, "needs an event about"),
]


def test_a_bad_point_rule_is_refused_with_a_message(world: Site, subtests: Any) -> None:
    world.sign_in("admin")
    token = world.token()
    before = world.counts()
    for change, message in RULE_CASES:
        with subtests.test(change=_short(change)):
            for url in ("/badges/admin/rules/new", f"/badges/admin/rules/{world.rule_id}"):
                response = world.client.post(url, data={"csrf_token": token, **RULE, **change})
                assert response.status_code == status_for(change), url
                assert shows(response, message), url
            assert world.counts() == before
            with world.site.session() as session:
                rule = session.get(PointRule, world.rule_id)
                assert rule is not None and (rule.name, rule.points) == ("Lesson done", 5)


def test_a_good_point_rule_is_saved_and_edited(world: Site) -> None:
    world.sign_in("admin")
    token = world.token()
    made = world.client.post(
        "/badges/admin/rules/new",
        data={"csrf_token": token, **RULE, "cond_field_0": "lesson_id", "cond_value_0": "4"},
    )
    assert made.status_code == 302
    edited = world.client.post(
        f"/badges/admin/rules/{world.rule_id}",
        data={"csrf_token": token, **RULE, "points": "-3", "daily_cap": "2", "active": "1"},
    )
    assert edited.status_code == 302
    with world.site.session() as session:
        rule = session.get(PointRule, world.rule_id)
        assert rule is not None and (rule.points, rule.daily_cap) == (-3, 2)
        assert session.scalar(select(func.count()).select_from(PointRule)) == 2


# -- the badge form -----------------------------------------------------------------------------

BADGE = {"name": "Extinguisher", "description": "Used one.", "active": "1"}
BADGE_CASES = [
    ({"name": ""}, "Give the name."),
    ({"name": LONG}, "The name is at most 120 characters."),
    ({"name": "Ex\x00t"}, NUL_REFUSED),
    ({"description": LONG}, "The description is at most 10000 characters."),
    ({"description": "a\x00b"}, NUL_REFUSED),
    ({"criteria_text": LONG}, "The criteria text is at most 10000 characters."),
    ({"expires_days": "soon"}, "Days until expiry must be a whole number."),
    ({"expires_days": "0"}, "Expiry is a number of days (1 to 36500)"),
    ({"expires_days": "36501"}, "Expiry is a number of days (1 to 36500)"),
    ({"expires_days": HUGE}, "Expiry is a number of days (1 to 36500)"),
    ({"course_id": "abc"}, "The course must be a whole number."),
    ({"course_id": HUGE}, "There is no such course."),
    ({"course_id": "999999"}, "There is no such course."),
    ({"req_0_0_type": "course", "req_0_0_value": "NOPE-1"}, "no course with the code NOPE-1"),
    ({"req_0_0_type": "course", "req_0_0_value": "A\x00B"}, NUL_REFUSED),
    ({"req_0_0_type": "course", "req_0_0_value": LONG[:300]}, "no course with the code"),
    ({"req_0_0_type": "course", "req_0_0_value": "A, B"}, "Enter one course code."),
    ({"req_0_0_type": "lesson", "req_0_0_value": "first"}, "The lesson id must be a whole"),
    ({"req_0_0_type": "lesson", "req_0_0_value": HUGE}, "lesson_id must be a whole number"),
    ({"req_0_0_type": "lesson", "req_0_0_value": "999999"}, "lessons that do not exist"),
    ({"req_0_0_type": "points", "req_0_0_value": HUGE}, "min must be a whole number"),
    ({"req_0_0_type": "points", "req_0_0_value": "-5"}, "min must be a whole number"),
    ({"req_0_0_type": "badges", "req_0_0_value": "nope"}, "no badge with the slug nope"),
    ({"req_0_0_type": "badges", "req_0_0_value": "a\x00b"}, NUL_REFUSED),
    (
        {"req_0_0_type": "courses", "req_0_0_value": "FIRE-1", "req_0_0_min": HUGE},
        "min must be a whole number",
    ),
    (
        {"req_0_0_type": "courses", "req_0_0_value": "FIRE-1", "req_0_0_min": "2"},
        "asks for 2 of only 1",
    ),
    ({"req_0_0_type": "event", "req_0_0_value": "nope.v1"}, "Unknown event type 'nope.v1'"),
    ({"req_0_0_type": "event", "req_0_0_value": LONG[:5000]}, "Unknown event type"),
    (
        {"req_0_0_type": "event", "req_0_0_value": LESSON_DONE, "req_0_0_conditions": "[" * 100000},
        "The saved conditions of this requirement are unreadable.",
    ),
    (
        {"req_0_0_type": "event", "req_0_0_value": LESSON_DONE, "req_0_0_conditions": '{"a": 1}'},
        "Conditions must be a list",
    ),
    (
        {
            "req_0_0_type": "event",
            "req_0_0_value": LESSON_DONE,
            "req_0_0_conditions": '[{"field": "lesson_id", "op": "eq", "value": 1e999}]',
        },
        "The condition on lesson_id needs a whole number.",
    ),
    ({"req_0_0_type": "teleport", "req_0_0_value": "x"}, "Unknown requirement type 'teleport'"),
    ({"req_0_0_type": LONG[:5000]}, "Unknown requirement type"),
]


def test_a_bad_badge_is_refused_with_a_message(world: Site, subtests: Any) -> None:
    world.sign_in("admin")
    token = world.token()
    before = world.counts()
    for change, message in BADGE_CASES:
        with subtests.test(change=_short(change)):
            for url in ("/badges/admin/classes/new", f"/badges/admin/classes/{world.badge_id}"):
                response = world.client.post(url, data={"csrf_token": token, **BADGE, **change})
                assert response.status_code == status_for(change), url
                html = response.get_data(as_text=True)
                assert shows(response, message), url
                if status_for(change) == 400 and len(change.get("name", "")) < 200:  # as typed
                    assert f'value="{change.get("name", BADGE["name"])}"' in html, url
            assert world.counts() == before
            with world.site.session() as session:
                badge = session.get(BadgeClass, world.badge_id)
                assert badge is not None and badge.name == "Fire warden" and badge.criteria == []


def test_a_badge_image_that_is_no_image_is_refused(world: Site) -> None:
    import io

    world.sign_in("admin")
    response = world.client.post(
        f"/badges/admin/classes/{world.badge_id}",
        data={
            "csrf_token": world.token(),
            **BADGE,
            "image": (io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), "x.png", "image/png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "not a valid PNG" in response.get_data(as_text=True)
    with world.site.session() as session:
        badge = session.get(BadgeClass, world.badge_id)
        assert badge is not None and badge.image is None and badge.name == "Fire warden"


def test_a_long_but_allowed_badge_is_saved(world: Site) -> None:
    world.sign_in("admin")
    response = world.client.post(
        "/badges/admin/classes/new",
        data={
            "csrf_token": world.token(),
            **BADGE,
            "name": "n" * 120,
            "description": "d" * 10000,
            "expires_days": "36500",
            "course_id": str(world.course.id),
            "req_0_0_type": "points",
            "req_0_0_value": str(2**31 - 1),
        },
    )
    assert response.status_code == 302
    with world.site.session() as session:
        badge = session.scalars(select(BadgeClass).where(BadgeClass.name == "n" * 120)).one()
        assert badge.expires_days == 36500 and len(badge.description) == 10000


# -- awarding and revoking ----------------------------------------------------------------------


AWARD_CASES = [
    ({"badge_id": "", "user_id": "LEARNER"}, "Choose one of this course's badges."),
    ({"badge_id": HUGE, "user_id": "LEARNER"}, "Choose one of this course's badges."),
    ({"badge_id": "SITE", "user_id": "LEARNER"}, "Choose one of this course's badges."),
    ({"badge_id": "BADGE", "user_id": "OUTSIDER"}, "Choose a learner enrolled in this course."),
    ({"badge_id": "BADGE", "user_id": "abc"}, "Choose a learner enrolled in this course."),
    (
        {"badge_id": "BADGE", "user_id": "LEARNER", "evidence": LONG},
        "The evidence is at most 10000 characters.",
    ),
    (
        {"badge_id": "BADGE", "user_id": "LEARNER", "evidence": "a\x00b"},
        NUL_REFUSED,
    ),
]


def test_a_bad_award_is_refused_with_a_message(world: Site, subtests: Any) -> None:
    ids = {
        "LEARNER": str(world.learner.id),
        "OUTSIDER": str(world.outsider.id),
        "BADGE": str(world.badge_id),
        "SITE": str(world.site_badge_id),
    }
    world.sign_in("instructor")
    c = world.course.id
    token = world.token(f"/badges/courses/{c}")
    before = world.counts()
    for form, field_message in AWARD_CASES:
        with subtests.test(form=_short(form)):
            data = {key: ids.get(value, value) for key, value in form.items()}
            response = world.client.post(
                f"/badges/courses/{c}/award", data={"csrf_token": token, **data}
            )
            assert response.status_code == status_for(data)
            assert shows(response, field_message)
            assert world.counts() == before


REVOKE_CASES = [
    ("", "Say why the badge is revoked."),
    ("   ", "Say why the badge is revoked."),
    ("r" * 1001, "The reason is at most 1000 characters."),
    ("a\x00b", NUL_REFUSED),
]


def test_a_revocation_without_a_proper_reason_is_refused(world: Site, subtests: Any) -> None:
    world.sign_in("instructor")
    c = world.course.id
    token = world.token(f"/badges/courses/{c}")
    for reason, message in REVOKE_CASES:
        with subtests.test(reason=reason[:20]):
            response = world.client.post(
                f"/badges/courses/{c}/awards/{world.award_id}/revoke",
                data={"csrf_token": token, "reason": reason},
            )
            assert response.status_code == status_for({"reason": reason})
            assert shows(response, message)
            with world.site.session() as session:
                award = session.get(Award, world.award_id)
                assert award is not None and award.revoked_at is None


def test_an_award_of_a_badge_that_expires_in_a_century_works(world: Site) -> None:
    with world.site.transaction(system=True) as ctx:
        badge = ctx.session.get(BadgeClass, world.site_badge_id)
        services.update_badge_class(ctx, badge, expires_days=36500)
    world.sign_in("admin")
    c = world.course.id
    response = world.client.post(
        f"/badges/courses/{c}/award",
        data={
            "csrf_token": world.token(f"/badges/courses/{c}"),
            "badge_id": str(world.site_badge_id),
            "user_id": str(world.learner.id),
        },
    )
    assert response.status_code == 302
    assert world.client.get(f"/badges/courses/{c}").status_code == 200


# -- the leaderboard and the opt-out -------------------------------------------------------------


def test_odd_leaderboard_queries_answer_404_or_the_site_board(world: Site) -> None:
    world.sign_in("learner")
    site_board = ["?scope=", "?period=forever", "?period=" + "x" * 5000, "?scope=site&period="]
    no_such_board = [
        "?scope=course:",
        "?scope=course:abc",
        "?scope=group:" + HUGE,
        "?scope=" + "course:1" * 1000,
    ]
    for query in site_board:
        assert world.client.get("/badges/leaderboard" + query).status_code == 200, query
    for query in no_such_board:
        assert world.client.get("/badges/leaderboard" + query).status_code == 404, query
    # A NUL is refused by the core before the view runs.
    assert world.client.get("/badges/leaderboard?scope=a%00b").status_code == 422


def test_the_opt_out_form_takes_any_value(world: Site) -> None:
    world.sign_in("learner")
    token = world.token()
    for value in ["1", "0", "1", "", "yes", LONG[:5000]]:
        response = world.client.post(
            "/badges/leaderboard/opt-out",
            data={"csrf_token": token, "opted_out": value, "next": value},
        )
        assert response.status_code == 302
        assert response.headers["Location"] == "/badges/"
        with world.site.session() as session:
            hidden = session.get(LeaderboardOptOut, world.learner.id) is not None
        assert hidden is (value == "1"), value[:20]


# -- the plugin's settings ----------------------------------------------------------------------

SETTINGS = {
    "s-leaderboards_enabled": "on",
    "s-recent_days": "30",
    "s-max_image_kb": "256",
    "s-issuer_email": "",
}
SETTINGS_CASES = [
    ({"s-recent_days": HUGE}, "(recent_days): must be at most 3650"),
    ({"s-recent_days": "0"}, "(recent_days): must be at least 1"),
    ({"s-recent_days": "2.7"}, "(recent_days): must be a whole number"),
    ({"s-max_image_kb": "-1"}, "(max_image_kb): must be at least 1"),
    ({"s-max_image_kb": HUGE}, "(max_image_kb): must be at most 16384"),
    ({"s-issuer_email": "nobody"}, "(issuer_email): must be an email address, or empty"),
    ({"s-issuer_email": "a@b.c" + "x" * 300}, "(issuer_email): must be an email address"),
]


def test_badges_settings_out_of_range_are_refused_and_the_pages_keep_working(
    world: Site, subtests: Any
) -> None:
    world.sign_in("admin")
    token = world.token("/admin/plugins")
    for change, message in SETTINGS_CASES:
        with subtests.test(change=_short(change)):
            response = world.client.post(
                "/admin/plugins/badges/settings", data={"csrf_token": token, **SETTINGS, **change}
            )
            assert response.status_code == 400
            assert shows(response, message)
    for url in ("/badges/leaderboard?period=recent", "/badges/admin", "/badges/public/issuer"):
        assert world.client.get(url).status_code == 200, url
    saved = world.client.post(
        "/admin/plugins/badges/settings",
        data={
            "csrf_token": token,
            **SETTINGS,
            "s-recent_days": "3650",
            "s-issuer_email": "b@c.org",
        },
    )
    assert saved.status_code == 302
    assert world.client.get("/badges/leaderboard?period=recent").status_code == 200
    issuer = world.client.get("/badges/public/issuer")
    assert issuer.status_code == 200 and issuer.get_json(force=True)["email"] == "b@c.org"


def test_settings_saved_before_their_limits_were_checked_break_no_page(world: Site) -> None:
    from lms_core.models import PluginState

    with world.site.transaction(system=True) as ctx:
        state = ctx.session.get(PluginState, "badges")
        assert state is not None
        state.settings = {**(state.settings or {}), "recent_days": 10**12}
    world.sign_in("admin")
    board = world.client.get("/badges/leaderboard?period=recent")
    assert board.status_code == 200
    assert shows(board, "(recent_days): must be at most 3650")
    admin = world.client.get("/badges/admin")
    assert admin.status_code == 200
    assert shows(admin, "(recent_days): must be at most 3650")
    issuer = world.client.get("/badges/public/issuer")
    assert issuer.status_code == 200
    assert issuer.get_json(force=True)["email"] == "lms@localhost"
