"""The admin pages' layout, measured in a real browser: action cells line up with their rows,
the users table fits its container, checkbox labels clear their boxes, a huge audit entry
stays short behind "show all", and the audit filters have room to type in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from lms_core.models import Role
from lms_core.services.audit import audit

PASSWORD = "correct horse battery staple"
SCREENSHOTS = "/tmp"

#: For every row of the first table in main: (row centre, centre of the actions cell, of its
#: first button or link, row height, cell height).
ACTION_ROWS = """(selector) => [...document.querySelectorAll(selector)].map(cell => {
  const row = cell.closest('tr').getBoundingClientRect();
  const box = cell.getBoundingClientRect();
  const control = cell.querySelector('button, a').getBoundingClientRect();
  const mid = r => r.top + r.height / 2;
  return [mid(row), mid(box), mid(control), row.height, box.height];
})"""

#: Checkbox labels where two of these intersect: the box, and each run of the label's text
#: (its title, the small print after it): [value, what, what].
CHECKBOX_OVERLAPS = """() => {
  const bad = [];
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  for (const box of document.querySelectorAll('main label > input[type=checkbox]')) {
    const parts = [['box', box.getBoundingClientRect()]];
    const walker = document.createTreeWalker(box.parentElement, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width > 0) parts.push([node.textContent.trim(), r]);
      }
    }
    for (let i = 0; i < parts.length; i++) {
      for (let j = i + 1; j < parts.length; j++) {
        if (parts[i][0] !== parts[j][0] && hit(parts[i][1], parts[j][1])) {
          bad.push([box.value, parts[i][0], parts[j][0]]);
        }
      }
    }
  }
  return bad;
}"""


@pytest.fixture
def admin_site(lms, factory):
    """An admin, people with long emails and profiles, a custom role, a huge audit entry."""
    factory.admin("root@example.com", name="Site Admin", password=PASSWORD)
    for n in range(6):
        factory.user(
            f"a.rather.long.address.number{n}@subsidiary.example-company.com",
            name=f"Person With A Longish Name {n}",
            department="Research and development",
            location="Building 7, third floor",
            job_title="Senior principal safety engineer",
        )
    with lms.transaction(system=True) as ctx:
        # What one bulk redelivery of 20,000 deliveries records.
        audit(ctx, "event.redeliver", None, deliveries=list(range(1, 20_001)), replay=False)
        audit(ctx, "user.update", None, note="x" * 5_000)
        audit(ctx, "user.update", None, name="short")
    return lms


@pytest.fixture
def admin_page(admin_site, live_server, new_page, sign_in):
    page = new_page(width=1280, height=900)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_server, "root@example.com")
    return page


def _role_id(lms, name: str) -> int:
    with lms.session() as session:
        return session.query(Role.id).filter(Role.name == name).scalar()


@pytest.mark.parametrize(
    ("path", "cell"),
    [("/admin/users", "td.row-actions"), ("/admin/roles", "td.row-actions")],
)
def test_action_cells_are_centred_on_their_rows(admin_page, live_server, path, cell):
    assert admin_page.goto(live_server + path).status == 200
    rows = admin_page.evaluate(ACTION_ROWS, f"main table {cell}:has(button, a)")
    assert rows, f"no {cell} on {path}"
    for row_mid, cell_mid, control_mid, row_height, cell_height in rows:
        assert abs(cell_mid - row_mid) <= 1 and abs(cell_height - row_height) <= 1, rows
        assert abs(control_mid - row_mid) <= 4, rows


@pytest.mark.parametrize("width", [1280, 1024])
def test_the_users_table_is_no_wider_than_its_container(
    admin_site, live_server, new_page, sign_in, width
):
    page = new_page(width=width)
    sign_in(page, live_server, "root@example.com")
    assert page.goto(f"{live_server}/admin/users").status == 200
    wrap, table = page.evaluate(
        "() => { const w = document.querySelector('main .table-wrap');"
        " return [w.clientWidth, w.querySelector('table').getBoundingClientRect().width]; }"
    )
    assert table <= wrap + 0.5, f"the table is {table}px wide in a {wrap}px container"


@pytest.mark.parametrize("where", ["role", "roles", "user", "new user"])
def test_checkbox_boxes_and_their_label_text_do_not_overlap(
    admin_page, admin_site, live_server, where
):
    path = {
        "role": f"/admin/roles/{_role_id(admin_site, 'manager')}",
        "roles": "/admin/roles",
        "user": "/admin/users/2",
        "new user": "/admin/users/new",
    }[where]
    assert admin_page.goto(live_server + path).status == 200
    assert admin_page.locator("main label > input[type=checkbox]").count() >= 3
    assert admin_page.evaluate(CHECKBOX_OVERLAPS) == []
    # and at a width where long permission titles wrap
    admin_page.set_viewport_size({"width": 700, "height": 900})
    assert admin_page.evaluate(CHECKBOX_OVERLAPS) == []


def test_a_huge_audit_entry_is_folded_behind_show_all(admin_page, live_server):
    assert admin_page.goto(f"{live_server}/admin/audit?action=event.").status == 200
    row = admin_page.locator("main tbody tr").first
    expect(row).to_contain_text("event.redeliver")
    assert row.bounding_box()["height"] < 200
    show_all = row.get_by_text("show all")
    expect(show_all).to_be_visible()
    expect(row).to_contain_text("20,000 in all")
    show_all.click()
    full = row.locator(".detail-full")
    expect(full).to_be_visible()
    expect(full).to_contain_text("19999, 20000")
    assert row.bounding_box()["height"] < 500  # opened, the whole list scrolls in a box
    admin_page.screenshot(path=f"{SCREENSHOTS}/lms-admin-audit.png")

    assert admin_page.goto(f"{live_server}/admin/audit?action=user.update").status == 200
    rows = admin_page.locator("main tbody tr")
    long_text = rows.filter(has_text="5,000 characters")
    expect(long_text.get_by_text("show all")).to_be_visible()
    assert long_text.bounding_box()["height"] < 200
    expect(rows.filter(has_text="name: short").get_by_text("show all")).to_have_count(0)


def test_the_audit_filter_inputs_have_room(admin_page, live_server):
    assert admin_page.goto(f"{live_server}/admin/audit").status == 200
    form = admin_page.locator("main form").first
    widths = {
        name: form.locator(f"[name={name}]").bounding_box()["width"]
        for name in ("action", "actor", "target_type", "target", "since", "until")
    }
    assert min(widths.values()) >= 250, widths
    labels = form.locator("label")
    for n in range(labels.count()):
        assert labels.nth(n).bounding_box()["height"] < 40, labels.nth(n).inner_text()
