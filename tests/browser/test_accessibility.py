"""axe-core on the main pages (no serious or critical violations) and a phone-width check.

axe-core is vendored for the tests only (tests/browser/vendor, with its licence), so the
tests need no network.
"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from lms_core.models import Enrollment

PASSWORD = "correct horse battery staple"
SCREENSHOTS = "/tmp"


@pytest.fixture
def site(lms, factory):
    """A learner with a course in every state, an admin, and a few catalog entries."""
    learner = factory.user("ada@example.com", name="Ada Lovelace", password=PASSWORD)
    factory.admin("root@example.com", name="Site Admin", password=PASSWORD)
    factory.user(
        "teacher@example.com",
        name="Ida Instructor",
        roles=("course_creator", "learner"),
        password=PASSWORD,
    )
    courses = [
        factory.course(
            f"SAFE-{n}",
            title=title,
            lessons=3,
            category=category,
            summary="Everything you need to know, in short lessons with examples.",
        )
        for n, (title, category) in enumerate(
            [
                ("Fire safety", "Compliance"),
                ("Data protection essentials", "Compliance"),
                ("Writing clear emails", "Skills"),
                ("Onboarding: your first week", "Onboarding"),
                ("A very long course title that should wrap nicely on a phone screen", None),
            ]
        )
    ]
    active = factory.enrollment(learner, courses[0])
    overdue = factory.enrollment(learner, courses[1])
    done = factory.enrollment(learner, courses[2])
    with lms.transaction(system=True) as ctx:
        from lms_core.services import progress

        enrollment = ctx.session.get(Enrollment, done.id)
        for lesson in enrollment.course.lessons:
            progress.complete_lesson(ctx, enrollment, lesson)
        first = ctx.session.get(Enrollment, active.id).course.lessons[0]
        progress.complete_lesson(ctx, ctx.session.get(Enrollment, active.id), first)
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        ctx.session.execute(
            update(Enrollment).where(Enrollment.id == overdue.id).values(due_at=past)
        )
    return {"courses": courses, "active": active}


def _teach_and_admin_pages(app, course_id):
    """GET pages of the instructor and admin areas, collected at run time as they are added."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(("teach.", "admin.")) or "GET" not in rule.methods:
            continue
        if set(rule.arguments) - {"course_id"}:
            continue
        urls.append(rule.build({"course_id": course_id} if rule.arguments else {})[1])
    return sorted(urls)


def test_the_main_pages_have_no_serious_accessibility_problems(
    lms, site, live_server, new_page, sign_in, check_accessibility
):
    page = new_page()
    course = site["courses"][0]
    assert page.goto(f"{live_server}/auth/login").status == 200
    check_accessibility(page, "the sign-in page")
    assert page.goto(f"{live_server}/courses").status == 200
    check_accessibility(page, "the catalog, signed out")
    assert page.goto(f"{live_server}/courses/{course.id}").status == 200
    check_accessibility(page, "a course page, signed out")

    sign_in(page, live_server, "ada@example.com")
    check_accessibility(page, "the dashboard")
    assert page.goto(f"{live_server}/courses").status == 200
    check_accessibility(page, "the catalog")
    assert page.goto(f"{live_server}/courses/{course.id}").status == 200
    check_accessibility(page, "a course page")
    page.locator(".lesson-list a").nth(1).click()
    expect(page.get_by_role("button", name="Mark complete")).to_be_visible()
    check_accessibility(page, "a lesson page")
    assert page.goto(f"{live_server}/profile").status == 200
    check_accessibility(page, "the profile page")
    assert page.goto(f"{live_server}/courses/{course.id}/nothing-here").status == 404
    check_accessibility(page, "the not-found page")


def test_the_instructor_and_admin_pages_have_no_serious_accessibility_problems(
    lms, site, live_server, new_page, sign_in, check_accessibility
):
    from lms_core.web import create_app

    urls = _teach_and_admin_pages(create_app(lms=lms), site["courses"][0].id)
    assert urls, "no instructor or admin pages found"
    page = new_page()
    sign_in(page, live_server, "root@example.com")
    for url in urls:
        response = page.goto(f"{live_server}{url}")
        assert response is not None and response.status == 200, (url, response and response.status)
        check_accessibility(page, url)


@pytest.mark.parametrize(
    "path", ["/", "/courses", "/courses/{course}", "/courses/{course}/lessons/{lesson}"]
)
def test_pages_fit_a_phone_and_the_menu_works(
    lms, site, live_server, new_page, sign_in, no_horizontal_scroll, path
):
    page = new_page(375, 800)
    sign_in(page, live_server, "ada@example.com")
    course = site["courses"][0]
    with lms.session() as session:
        lesson = session.get(Enrollment, site["active"].id).course.lessons[0]
        lesson_id = lesson.id
    assert page.goto(live_server + path.format(course=course.id, lesson=lesson_id)).status == 200
    assert no_horizontal_scroll(page), f"{path} scrolls sideways at 375 px"
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Catalog")).to_be_visible()
    # the account menu opens and its entries can be reached and used
    nav.get_by_text("Ada Lovelace").click()
    profile = nav.get_by_role("link", name="Profile")
    expect(profile).to_be_in_viewport()
    profile.click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()


def test_screenshots_of_the_dashboard_and_catalog(lms, site, live_server, new_page, sign_in):
    """Not an assertion of looks: saves screenshots in /tmp for a person to review."""
    for width, height, label in ((1280, 900, "desktop"), (375, 800, "phone")):
        page = new_page(width, height)
        sign_in(page, live_server, "ada@example.com")
        page.screenshot(path=f"{SCREENSHOTS}/lms-dashboard-{label}.png", full_page=True)
        assert page.goto(f"{live_server}/courses").status == 200
        page.screenshot(path=f"{SCREENSHOTS}/lms-catalog-{label}.png", full_page=True)
