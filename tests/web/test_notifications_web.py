"""Notification pages: the bell, the list, mark read, preferences, the admin's rules and the
unsubscribe link (which works without signing in, for one person and one kind only)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lms_core.default_notifications import COURSE_COMPLETED
from lms_core.default_notifications import ENROLLED
from lms_core.models import NotificationPreference
from lms_core.services import notifications as service
from lms_core.testing import DEFAULT_PASSWORD
from lms_core.testing import count_statements
from lms_core.testing import csrf_token
from lms_core.testing import text_of


@pytest.fixture
def ann(factory):
    return factory.user("ann@example.com", password=DEFAULT_PASSWORD)


def _tell(lms, user, n=1, link="/courses", kind=ENROLLED):
    with lms.transaction(system=True) as ctx:
        return [
            service.notify(ctx, kind, [user], f"Subject {i}", f"Text {i}", link)[0]
            for i in range(n)
        ]


def _bell(html):
    match = re.search(r'aria-label="Notifications: (\d+) unread"', html)
    assert match, "no bell on the page"
    return int(match.group(1))


def _preference(lms, user_id, kind):
    with lms.session() as session:
        return session.scalar(
            select(NotificationPreference.channel).where(
                NotificationPreference.user_id == user_id, NotificationPreference.kind == kind
            )
        )


def test_the_bell_shows_the_unread_count_on_every_page(client, auth, lms, ann):
    assert auth.login("ann@example.com").status_code == 302
    assert _bell(text_of(client.get("/"))) == 0
    _tell(lms, ann, 3)
    assert _bell(text_of(client.get("/courses"))) == 3
    assert auth.logout().status_code == 302
    assert 'class="bell' not in text_of(client.get("/courses"))  # nobody signed in: no bell


def test_the_bell_costs_one_indexed_query_whatever_the_number_of_notifications(
    client, auth, lms, ann
):
    assert auth.login("ann@example.com").status_code == 302
    _tell(lms, ann, 2)
    assert client.get("/").status_code == 200
    with count_statements(lms) as few:
        assert client.get("/").status_code == 200
    _tell(lms, ann, 60)
    with count_statements(lms) as many:
        assert client.get("/").status_code == 200
    assert len(few) == len(many)
    assert len([s for s in many if "FROM notifications" in s]) == 1
    with count_statements(lms) as listed_few:
        assert client.get("/notifications/").status_code == 200
    _tell(lms, ann, 60)
    with count_statements(lms) as listed_many:
        assert client.get("/notifications/?page=2").status_code == 200
    assert len(listed_few) == len(listed_many)


def test_the_list_pages_marks_read_and_marks_all_read(client, auth, lms, ann, factory):
    other = factory.user()
    first, second = _tell(lms, ann, 2)
    (theirs,) = _tell(lms, other, 1)
    assert auth.login("ann@example.com").status_code == 302
    page = text_of(client.get("/notifications/"))
    assert "Subject 0" in page and "Subject 1" in page
    token = csrf_token(client, "/notifications/")
    read = client.post(f"/notifications/{first}/read", data={"csrf_token": token})
    assert read.status_code == 302
    assert _bell(text_of(client.get("/notifications/"))) == 1
    # someone else's notification is not found, and nothing changes
    assert (
        client.post(f"/notifications/{theirs}/read", data={"csrf_token": token}).status_code == 404
    )
    assert (
        client.post(f"/notifications/{theirs}/open", data={"csrf_token": token}).status_code == 404
    )
    # no CSRF token, no change
    assert client.post(f"/notifications/{second}/read").status_code == 400
    done = client.post("/notifications/read-all", data={"csrf_token": token})
    assert done.status_code == 302
    assert _bell(text_of(client.get("/notifications/"))) == 0
    assert text_of(client.get("/notifications/?page=0"), 422)


def test_opening_goes_to_the_link_only_if_it_is_a_path_on_this_site(client, auth, lms, ann):
    (inside,) = _tell(lms, ann, 1, link="/courses?q=fire")
    assert auth.login("ann@example.com").status_code == 302
    token = csrf_token(client, "/notifications/")
    opened = client.post(f"/notifications/{inside}/open", data={"csrf_token": token})
    assert opened.status_code == 302
    assert opened.headers["Location"] == "/courses?q=fire"
    # a link that could not be stored as a path elsewhere is never followed (defence in depth)
    from lms_core.models import Notification

    with lms.transaction(system=True) as ctx:
        ctx.session.get(Notification, inside).link = "//evil.example/"
    again = client.post(f"/notifications/{inside}/open", data={"csrf_token": token})
    assert again.status_code == 302
    assert again.headers["Location"] == "/notifications/"


def test_the_preferences_form_saves_choices_and_refuses_off_for_a_mandatory_kind(
    client, auth, lms, ann, factory
):
    admin = factory.admin()
    with lms.transaction(admin) as ctx:
        service.set_kind_rule(ctx, ENROLLED, default="email", mandatory=True)
    assert auth.login("ann@example.com").status_code == 302
    page = text_of(client.get("/notifications/preferences"))
    assert "Required on this site: it cannot be turned off." in page
    token = csrf_token(client, "/notifications/preferences")
    saved = client.post(
        "/notifications/preferences",
        data={
            "csrf_token": token,
            f"kind:{COURSE_COMPLETED}": "digest",
            f"kind:{ENROLLED}": "site",
        },
    )
    assert saved.status_code == 302
    assert _preference(lms, ann.id, COURSE_COMPLETED) == "digest"
    assert _preference(lms, ann.id, ENROLLED) == "site"
    refused = client.post(
        "/notifications/preferences", data={"csrf_token": token, f"kind:{ENROLLED}": "off"}
    )
    assert "cannot be turned off" in text_of(refused, 422)
    assert _preference(lms, ann.id, ENROLLED) == "site"
    odd = client.post(
        "/notifications/preferences", data={"csrf_token": token, f"kind:{ENROLLED}": "x" * 10_000}
    )
    assert text_of(odd, 422)
    assert client.post("/notifications/preferences", data={}).status_code == 400
    assert "/notifications/preferences" in text_of(client.get("/profile"))


def test_the_admin_page_sets_defaults_and_mandatory_kinds(client, auth, lms, ann, factory):
    factory.admin("root@example.com", password=DEFAULT_PASSWORD)
    assert auth.login("ann@example.com").status_code == 302
    assert client.get("/admin/notifications/").status_code == 403
    assert auth.logout().status_code == 302
    assert auth.login("root@example.com").status_code == 302
    assert "/admin/notifications/" in text_of(client.get("/admin/"))
    token = csrf_token(client, "/admin/notifications/")
    saved = client.post(
        "/admin/notifications/",
        data={
            "csrf_token": token,
            f"default:{COURSE_COMPLETED}": "email",
            f"mandatory:{COURSE_COMPLETED}": "on",
        },
    )
    assert saved.status_code == 302
    with lms.transaction(system=True) as ctx:
        rule = {r.name: r for r in service.rules(ctx)}[COURSE_COMPLETED]
    assert rule.default == "email" and rule.mandatory
    refused = client.post(
        "/admin/notifications/",
        data={"csrf_token": token, f"default:{ENROLLED}": "off", f"mandatory:{ENROLLED}": "on"},
    )
    assert "cannot be mandatory and off" in text_of(refused, 422)


def _unsubscribe_link(app, user_id, kind):
    token = service.make_unsubscribe_token(app.config["SECRET_KEY"], user_id, kind)
    return f"/unsubscribe/{token}"


def test_unsubscribing_changes_only_that_users_preference_for_that_kind(
    app, client, lms, ann, factory
):
    bob = factory.user()
    with lms.transaction(system=True) as ctx:
        service.set_preferences(ctx, ctx.attach(ann), {COURSE_COMPLETED: "email"})
        service.set_preferences(ctx, ctx.attach(bob), {ENROLLED: "digest"})
    link = _unsubscribe_link(app, ann.id, ENROLLED)
    page = text_of(client.get(link))  # not signed in
    assert "Stop these mails?" in page and "a…@example.com" in page
    assert _preference(lms, ann.id, ENROLLED) is None  # opening the link changed nothing
    # RFC 8058: the mail client's POST carries no session and no CSRF token
    done = client.post(link, data={"List-Unsubscribe": "One-Click"})
    assert "Unsubscribed" in text_of(done, 200)
    assert _preference(lms, ann.id, ENROLLED) == "site"
    assert _preference(lms, ann.id, COURSE_COMPLETED) == "email"  # her other kind: untouched
    assert _preference(lms, bob.id, ENROLLED) == "digest"  # his, of the same kind: untouched


def test_a_tampered_or_foreign_unsubscribe_link_is_refused(app, client, lms, ann):
    link = _unsubscribe_link(app, ann.id, ENROLLED)
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert "not valid" in text_of(client.get(tampered), 400)
    assert "not valid" in text_of(client.post(tampered), 400)
    assert text_of(client.get("/unsubscribe/not-a-token"), 400)
    signed_elsewhere = service.make_unsubscribe_token("another site's key", ann.id, ENROLLED)
    assert text_of(client.post(f"/unsubscribe/{signed_elsewhere}"), 400)
    nobody = _unsubscribe_link(app, 999_999, ENROLLED)
    assert text_of(client.post(nobody), 404)
    unknown_kind = _unsubscribe_link(app, ann.id, "nobody.kind")
    assert text_of(client.get(unknown_kind), 404)
    assert _preference(lms, ann.id, ENROLLED) is None


def test_an_old_unsubscribe_link_has_expired(app, client, lms, ann, monkeypatch):
    import time

    from itsdangerous.timed import TimestampSigner

    long_ago = int(time.time()) - service.UNSUBSCRIBE_MAX_AGE - 60
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
        link = _unsubscribe_link(app, ann.id, ENROLLED)
    assert "expired" in text_of(client.post(link), 400)
    assert _preference(lms, ann.id, ENROLLED) is None


def test_only_the_unsubscribe_route_is_exempt_from_csrf(app):
    from lms_core.web import csrf

    exempt = {name for name in csrf._exempt_views}
    assert exempt == {"lms_core.web.notifications.unsubscribe"}
