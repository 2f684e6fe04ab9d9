"""Instructor and admin journeys in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

PASSWORD = "correct horse battery staple"


def test_a_course_creator_creates_and_publishes_a_course_learners_then_find(
    lms, factory, live_server, new_page, sign_in
):
    factory.user(
        "ida@example.com",
        name="Ida Instructor",
        roles=("course_creator", "learner"),
        password=PASSWORD,
    )
    factory.user("ada@example.com", name="Ada Lovelace", password=PASSWORD)
    page = new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_server, "ida@example.com")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Teach").click()
    page.get_by_role("button", name="New course").click()
    page.get_by_label("Code", exact=True).fill("CHEM-201")
    page.get_by_label("Title", exact=True).fill("Handling solvents")
    page.get_by_label("Summary").fill("Storage, spills and disposal.")
    page.get_by_label("Category").fill("Safety")
    page.get_by_role("button", name="Create course").click()
    expect(page.get_by_text("Course CHEM-201 was created.")).to_be_visible()
    expect(page.get_by_role("heading", name="Handling solvents", level=1)).to_be_visible()

    for title in ("Storage", "Spills"):
        page.locator("summary", has_text="Add lesson").click()
        lesson_form = page.locator("form", has=page.get_by_role("button", name="Add lesson"))
        lesson_form.get_by_label("Title", exact=True).fill(title)
        lesson_form.get_by_label("Text (Markdown)").fill(
            f"# {title}\n\nWhat to do about {title.lower()}."
        )
        lesson_form.get_by_role("button", name="Add lesson").click()
        expect(page.get_by_role("link", name=title, exact=True)).to_be_visible()

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("button", name="Publish")).to_have_count(0)

    learner = new_page()
    sign_in(learner, live_server, "ada@example.com")
    assert learner.goto(f"{live_server}/courses?q=solvents").status == 200
    learner.get_by_role("link", name="Handling solvents").click()
    expect(learner.get_by_role("heading", name="Handling solvents", level=1)).to_be_visible()
    expect(learner.get_by_role("button", name="Enroll")).to_be_visible()
    expect(learner.locator(".lesson-list li")).to_have_count(2)


@pytest.fixture
def nav_site(lms_factory, serve, factory):
    """A site running the sample plugin with a menu item, served over HTTP."""
    from lms_core.web import create_app

    factory.admin("root@example.com", name="Site Admin", password=PASSWORD)
    site = lms_factory(["sample_plugins.navplugin"])
    return serve(create_app(lms=site))


def test_an_admin_turns_a_plugin_off_and_on_and_its_menu_item_follows(nav_site, new_page, sign_in):
    page = new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, nav_site, "root@example.com")
    nav = page.get_by_role("navigation", name="Main")
    item = nav.get_by_role("link", name="Nav plugin page")
    expect(item).to_be_visible()
    item.click()
    expect(page.get_by_text("A page from the nav plugin.")).to_be_visible()

    assert page.goto(f"{nav_site}/admin/plugins").status == 200
    card = page.locator("#plugin-navplugin")
    card.get_by_role("button", name="Disable").click()
    expect(card.get_by_role("button", name="Enable")).to_be_visible()
    expect(item).to_have_count(0)
    assert page.goto(f"{nav_site}/navplugin/").status == 404
    assert page.goto(f"{nav_site}/admin/plugins").status == 200

    card.get_by_role("button", name="Enable").click()
    expect(card.get_by_role("button", name="Disable")).to_be_visible()
    expect(item).to_be_visible()
    item.click()
    expect(page.get_by_text("A page from the nav plugin.")).to_be_visible()


def test_a_bad_csv_import_shows_the_rejected_rows_and_imports_nothing(
    lms, factory, live_server, new_page, sign_in, tmp_path
):
    from lms_core.services import users

    factory.admin("root@example.com", name="Site Admin", password=PASSWORD)
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "email,name,department\n"
        "grace@example.com,Grace Hopper,Engineering\n"
        "not-an-email,Nobody,Sales\n"
        "linus@example.com,Linus,Engineering\n"
        ",Missing Email,Sales\n",
        encoding="utf-8",
    )
    page = new_page()
    sign_in(page, live_server, "root@example.com")
    assert page.goto(f"{live_server}/admin/users/import").status == 200
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Import").click()

    result = page.locator("#import-result")
    expect(result.get_by_role("alert")).to_contain_text("nothing was imported")
    table = result.get_by_role("table", name=re.compile("Rejected rows"))
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").first).to_have_text("3")
    expect(rows.nth(0)).to_contain_text("not-an-email")
    expect(rows.nth(1).locator("td").first).to_have_text("5")
    with lms.transaction(system=True) as ctx:
        assert users.find_user(ctx, "grace@example.com") is None
