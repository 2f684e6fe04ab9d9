"""Signed-in sessions end when they should, for the session cookie and the remember cookie alike.

Signing out ends that session (and any copy of its cookies); changing or resetting a password
ends every other session; an admin can end all of someone's sessions; "sign out everywhere"
and deactivation end them all.
"""

from __future__ import annotations

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import select

from lms_core.models import AuditEntry
from lms_core.models import User
from lms_core.services import sessions as session_service
from lms_core.testing import csrf_token
from lms_core.testing import text_of

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
SESSION = "session"
REMEMBER = "remember_token"


@pytest.fixture
def learner(factory):
    return factory.user("lee@example.com", password=PASSWORD, name="Lee")


@pytest.fixture
def admin(factory):
    return factory.admin("boss@example.com", password=PASSWORD, name="Boss")


def sign_in(client, email="lee@example.com", password=PASSWORD, *, remember=False):
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/auth/login")}
    if remember:
        data["remember"] = "y"
    response = client.post("/auth/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/"
    return response


def is_signed_in(client) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/auth/login")
    return response.status_code == 200


def copy_cookies(app, client, *names):
    """A new browser holding copies of ``client``'s cookies ``names`` (a stolen cookie, say)."""
    thief = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, f"{name} was not set"
        thief.set_cookie(name, cookie.value)
    return thief


def post_form(client, path, page="/", **data):
    data["csrf_token"] = csrf_token(client, page)
    return client.post(path, data=data)


def _audit_actions(lms, action):
    with lms.session() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


# --- signing out ------------------------------------------------------------------------------


def test_signing_out_ends_the_session_and_any_copy_of_its_cookie(app, client, learner):
    sign_in(client)
    copy = copy_cookies(app, client, SESSION)
    assert is_signed_in(copy)  # the copy works while the session lives
    response = post_form(client, "/auth/logout")
    assert response.status_code == 302
    assert not is_signed_in(client)
    assert not is_signed_in(copy)


def test_signing_out_ends_the_remember_cookie_even_when_it_is_used_on_its_own(app, client, learner):
    sign_in(client, remember=True)
    remembered = copy_cookies(app, client, REMEMBER)
    assert is_signed_in(remembered)  # a remember cookie alone signs in ...
    assert post_form(client, "/auth/logout").status_code == 302
    assert client.get_cookie(REMEMBER) is None
    # ... until its session is signed out, even where the browser kept a copy
    assert not is_signed_in(copy_cookies(app, remembered, REMEMBER))
    assert not is_signed_in(remembered)


def test_signing_out_leaves_the_users_other_sessions_signed_in(app, learner):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop)
    sign_in(phone, remember=True)
    assert post_form(laptop, "/auth/logout").status_code == 302
    assert not is_signed_in(laptop)
    assert is_signed_in(phone)
    assert is_signed_in(copy_cookies(app, phone, REMEMBER))


def test_signing_out_is_audited(client, learner, lms):
    sign_in(client)
    assert post_form(client, "/auth/logout").status_code == 302
    (entry,) = _audit_actions(lms, "auth.logout")
    assert entry.target_id == str(learner.id)


# --- passwords --------------------------------------------------------------------------------


def test_changing_the_password_ends_every_other_session_but_keeps_this_one(app, client, learner):
    sign_in(client, remember=True)
    other = app.test_client()
    sign_in(other, remember=True)
    stolen_session = copy_cookies(app, client, SESSION)
    stolen_remember = copy_cookies(app, other, REMEMBER)
    response = post_form(
        client,
        "/auth/password",
        page="/auth/password",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm=NEW_PASSWORD,
    )
    assert response.status_code == 302
    assert is_signed_in(client)
    # this browser's remember cookie was renewed with the session and keeps working alone
    assert is_signed_in(copy_cookies(app, client, REMEMBER))
    assert not is_signed_in(other)
    assert not is_signed_in(stolen_session)
    assert not is_signed_in(stolen_remember)


def test_an_admin_setting_a_new_password_ends_the_users_sessions(app, learner, admin):
    browser = app.test_client()
    sign_in(browser, remember=True)
    remembered = copy_cookies(app, browser, REMEMBER)
    boss = app.test_client()
    sign_in(boss, "boss@example.com")
    page = f"/admin/users/{learner.id}"
    response = post_form(
        boss,
        page,
        page=page,
        email="lee@example.com",
        name="Lee",
        password=NEW_PASSWORD,
        roles="learner",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert not is_signed_in(browser)
    assert not is_signed_in(remembered)
    assert is_signed_in(boss)


def test_a_password_reset_ends_every_session(app, learner):
    from lms_core.web.auth import make_reset_token

    browser = app.test_client()
    sign_in(browser, remember=True)
    remembered = copy_cookies(app, browser, REMEMBER)
    with app.test_request_context():
        link = f"/auth/reset/{make_reset_token(learner)}"
    visitor = app.test_client()
    response = post_form(visitor, link, page=link, new_password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert response.status_code == 302
    assert not is_signed_in(browser)
    assert not is_signed_in(remembered)
    sign_in(visitor, password=NEW_PASSWORD)
    assert is_signed_in(visitor)


# --- ending every session ---------------------------------------------------------------------


def test_an_admin_can_end_all_of_a_users_sessions_and_it_is_audited(app, learner, admin, lms):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop)
    sign_in(phone, remember=True)
    remembered = copy_cookies(app, phone, REMEMBER)
    boss = app.test_client()
    sign_in(boss, "boss@example.com")
    page = f"/admin/users/{learner.id}"
    assert "End all sessions" in boss.get(page).get_data(as_text=True)
    response = post_form(boss, f"/admin/users/{learner.id}/end-sessions", page=page)
    assert response.status_code == 302
    assert response.headers["Location"] == page
    assert "All of lee@example.com" in boss.get(page).get_data(as_text=True)
    for browser in (laptop, phone, remembered):
        assert not is_signed_in(browser)
    assert is_signed_in(boss)
    (entry,) = _audit_actions(lms, "user.sessions_ended")
    assert entry.target_id == str(learner.id) and entry.actor_id == admin.id
    sign_in(laptop)  # the account itself is fine: signing in again works
    assert is_signed_in(laptop)


def test_ending_someone_elses_sessions_needs_user_manage(app, client, learner, factory):
    other = factory.user("other@example.com", password=PASSWORD)
    sign_in(client)
    victim = app.test_client()
    sign_in(victim, "other@example.com")
    response = post_form(client, f"/admin/users/{other.id}/end-sessions")
    assert response.status_code == 403
    assert is_signed_in(victim)


def test_ending_sessions_needs_a_csrf_token(app, learner, admin):
    browser = app.test_client()
    sign_in(browser)
    boss = app.test_client()
    sign_in(boss, "boss@example.com")
    assert boss.post(f"/admin/users/{learner.id}/end-sessions").status_code == 400
    assert boss.post("/auth/logout-everywhere").status_code == 400
    assert is_signed_in(browser) and is_signed_in(boss)


def test_sign_out_everywhere_on_the_profile_ends_every_session_including_this_one(
    app, client, learner, lms
):
    sign_in(client, remember=True)
    phone = app.test_client()
    sign_in(phone, remember=True)
    remembered = copy_cookies(app, phone, REMEMBER)
    profile = client.get("/profile")
    assert profile.status_code == 200
    assert "Sign out everywhere" in profile.get_data(as_text=True)
    response = post_form(client, "/auth/logout-everywhere", page="/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    assert "signed out everywhere" in text_of(client.get("/auth/login"))
    for browser in (client, phone, remembered):
        assert not is_signed_in(browser)
    (entry,) = _audit_actions(lms, "user.sessions_ended")
    assert entry.actor_id == learner.id and entry.target_id == str(learner.id)


def test_deactivation_ends_the_sessions_for_good(app, learner, admin, lms):
    from lms_core.services.users import deactivate_user
    from lms_core.services.users import reactivate_user

    browser = app.test_client()
    sign_in(browser, remember=True)
    stolen = copy_cookies(app, browser, SESSION, REMEMBER)
    with lms.transaction(admin) as ctx:
        deactivate_user(ctx, learner)
    assert not is_signed_in(browser)
    with lms.transaction(admin) as ctx:
        reactivate_user(ctx, learner)
    assert not is_signed_in(stolen)


# --- what a session cookie holds -------------------------------------------------------------


def _version_of(lms, user) -> int:
    with lms.session() as session:
        return session.get(User, user.id).session_version


def test_the_session_version_moves_with_each_event_that_ends_sessions(app, client, learner, lms):
    start = _version_of(lms, learner)
    sign_in(client)
    assert post_form(client, "/auth/logout").status_code == 302
    assert _version_of(lms, learner) == start  # one session ended, not all
    with lms.transaction(learner) as ctx:
        session_service.end_all_sessions(ctx, learner)
    assert _version_of(lms, learner) == start + 1


def test_cookies_that_name_only_the_user_sign_nobody_in(app, learner):
    """Cookies written before sessions had versions (or forged without the version)."""
    browser = app.test_client()
    serializer = app.session_interface.get_signing_serializer(app)
    browser.set_cookie(SESSION, serializer.dumps({"_user_id": str(learner.id), "_fresh": True}))
    assert not is_signed_in(browser)
    remembered = app.test_client()
    with app.test_request_context():
        remembered.set_cookie(REMEMBER, encode_cookie(str(learner.id)))
    assert not is_signed_in(remembered)


def test_a_remember_cookie_is_refused_once_it_is_older_than_its_lifetime(app, learner, lms):
    import datetime as dt

    from lms_core.db import utcnow

    def remember_cookie_issued(at):
        with lms.session() as session:
            token = session_service.session_token(session.get(User, learner.id), issued_at=at)
        browser = app.test_client()
        with app.test_request_context():
            browser.set_cookie(REMEMBER, encode_cookie(token))
        return browser

    assert is_signed_in(remember_cookie_issued(utcnow() - dt.timedelta(days=300)))
    too_old = utcnow() - session_service.SESSION_LIFETIME - dt.timedelta(minutes=1)
    assert not is_signed_in(remember_cookie_issued(too_old))
