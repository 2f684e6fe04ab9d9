"""A learner's whole journey in a real browser: sign in, find, enroll, learn, complete."""

from __future__ import annotations

import re

from playwright.sync_api import expect

PASSWORD = "correct horse battery staple"


def test_a_learner_finds_enrolls_completes_and_sees_it_on_the_dashboard(
    lms, factory, live_server, page, sign_in
):
    factory.user("ada@example.com", name="Ada Lovelace", password=PASSWORD)
    factory.course("CHEM-101", title="Lab safety basics", lessons=3, category="Safety")
    factory.course("OTHER-1", title="Something else entirely", lessons=1)

    sign_in(page, live_server, "ada@example.com")
    expect(page.get_by_role("heading", name="Welcome, Ada Lovelace")).to_be_visible()

    assert page.goto(f"{live_server}/courses").status == 200
    page.get_by_role("searchbox", name="Search").fill("lab safety")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("1 course", exact=True)).to_be_visible()
    page.get_by_role("link", name="Lab safety basics").click()

    expect(page.get_by_role("heading", name="Lab safety basics", level=1)).to_be_visible()
    page.get_by_role("button", name="Enroll").click()
    expect(page.get_by_text("You are enrolled in Lab safety basics.")).to_be_visible()

    lessons = page.locator(".lesson-list a")
    expect(lessons).to_have_count(3)
    lessons.first.click()
    for n in (1, 2, 3):
        expect(page.get_by_role("heading", name=f"Lesson {n}", level=1)).to_be_visible()
        expect(page.get_by_text(f"Text of lesson {n}")).to_be_visible()
        page.get_by_role("button", name="Mark complete").click()
    # the last lesson completes the course and lands on the course page
    expect(page.get_by_text("Well done: you completed Lab safety basics!")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/courses/\d+$"))

    page.get_by_role("navigation", name="Main").locator("a.brand").click()
    completed = page.locator("section", has=page.get_by_role("heading", name="Completed"))
    expect(completed.get_by_role("link", name="Lab safety basics")).to_be_visible()
    my_courses = page.locator("section", has=page.get_by_role("heading", name="My courses"))
    expect(my_courses.get_by_role("link", name="Lab safety basics")).to_have_count(0)
