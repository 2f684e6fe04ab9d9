"""Signing in and out, passwords, reset by mail, and the protections around them."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import uuid

import attrs
import pytest
from flask import Blueprint

from lms_core.config import MailConfig
from lms_core.runtime import LMS
from lms_core.testing import csrf_token
from lms_core.testing import text_of
from lms_core.web import create_app
from lms_core.web.auth import safe_next

PASSWORD = "correct horse battery"


@pytest.fixture
def learner(factory):
    return factory.user("lee@example.com", password=PASSWORD, name="Lee")


def test_signing_in_and_out(client, auth, learner):
    assert client.get("/").status_code == 302
    response = auth.login("LEE@example.com", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Welcome, Lee" in text_of(client.get("/"))
    assert auth.logout().status_code == 302
    assert client.get("/").status_code == 302


def test_a_wrong_password_and_an_unknown_account_get_the_same_message(client, auth, learner):
    wrong = text_of(auth.login("lee@example.com", "not the password"))
    unknown = text_of(auth.login("nobody@example.com", "not the password"))
    message = "The email or password is not correct."
    assert message in wrong and message in unknown


def test_repeated_failures_lock_the_account_for_a_while(client, auth, learner, lms):
    for _ in range(lms.config.auth.max_failed_logins):
        assert auth.login("lee@example.com", "wrong password!").status_code == 200
    page = text_of(auth.login("lee@example.com", PASSWORD))
    assert "Too many failed sign-in attempts" in page
    assert client.get("/").status_code == 302


def test_too_many_attempts_from_one_address_are_refused(client, auth, app, learner):
    limiter = app.extensions["lms_limiter"]
    for _ in range(20):
        limiter.hit("login:addr:127.0.0.1", 900)
    response = auth.login("lee@example.com", PASSWORD)
    assert response.status_code == 429
    assert "Too many sign-in attempts from your network" in response.get_data(as_text=True)


@pytest.mark.skipif(
    not os.environ.get("LMS_TEST_REDIS_URL"), reason="set LMS_TEST_REDIS_URL to test Redis"
)
def test_the_redis_limiter_is_shared_by_every_worker():
    from lms_core.web.ratelimit import RedisLimiter

    key = f"test:{uuid.uuid4()}"
    one, two = (
        RedisLimiter(os.environ["LMS_TEST_REDIS_URL"]),
        RedisLimiter(os.environ["LMS_TEST_REDIS_URL"]),
    )
    assert one.hit(key, 60) == 1
    assert two.hit(key, 60) == 2
    assert one.count(key) == 2
    two.reset(key)
    assert one.count(key) == 0


def test_a_deactivated_user_cannot_sign_in(client, auth, learner, lms):
    from lms_core.services.users import deactivate_user

    with lms.transaction(system=True) as ctx:
        deactivate_user(ctx, ctx.attach(learner))
    page = text_of(auth.login("lee@example.com", PASSWORD))
    assert "This account is deactivated" in page


def test_next_only_goes_to_this_site(client, auth, learner):
    for bad in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        assert safe_next(bad) is None
    assert safe_next("/courses?q=safety") == "/courses?q=safety"
    token = csrf_token(client, "/auth/login")
    response = client.post(
        "/auth/login",
        data={
            "email": "lee@example.com",
            "password": PASSWORD,
            "next": "https://evil.example/",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_forms_without_a_csrf_token_are_refused(client, learner):
    response = client.post("/auth/login", data={"email": "lee@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "The form expired or was sent from elsewhere" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert client.post("/auth/logout").status_code == 400


def test_changing_the_password_needs_the_current_one(client, auth, learner):
    assert auth.login("lee@example.com", PASSWORD).status_code == 302
    token = csrf_token(client, "/auth/password")
    page = client.post(
        "/auth/password",
        data={
            "current_password": "wrong one!!",
            "new_password": "a new passphrase",
            "confirm": "a new passphrase",
            "csrf_token": token,
        },
    )
    assert page.status_code == 200
    assert "The current password is not correct." in page.get_data(as_text=True)
    short = client.post(
        "/auth/password",
        data={
            "current_password": PASSWORD,
            "new_password": "short",
            "confirm": "short",
            "csrf_token": token,
        },
    )
    assert short.status_code == 200
    assert "at least 10 characters" in short.get_data(as_text=True)
    done = client.post(
        "/auth/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new passphrase",
            "confirm": "a new passphrase",
            "csrf_token": token,
        },
    )
    assert done.status_code == 302
    assert auth.logout().status_code == 302
    assert auth.login("lee@example.com", "a new passphrase").status_code == 302


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], str]] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append((list(envelope.rcpt_tos), message.get_content()))
            return "250 OK"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def mail_client(lms_config, smtp_server):
    controller, inbox = smtp_server
    site = LMS(
        attrs.evolve(
            lms_config,
            mail=MailConfig(host="127.0.0.1", port=controller.port, sender="lms@example.com"),
        )
    )
    app = create_app(lms=site)
    app.config["TESTING"] = True
    try:
        yield app.test_client(), inbox
    finally:
        site.dispose()


def test_a_password_can_be_reset_through_a_mailed_one_time_link(mail_client, learner):
    client, inbox = mail_client
    token = csrf_token(client, "/auth/reset")
    response = client.post("/auth/reset", data={"email": "lee@example.com", "csrf_token": token})
    assert response.status_code == 302
    assert len(inbox.messages) == 1
    recipients, body = inbox.messages[0]
    assert recipients == ["lee@example.com"]
    link = re.search(r"http://127\.0\.0\.1:5000(/auth/reset/\S+)", body).group(1)
    assert client.get(link).status_code == 200, link
    form_token = csrf_token(client, link)
    done = client.post(
        link,
        data={
            "new_password": "brand new passphrase",
            "confirm": "brand new passphrase",
            "csrf_token": form_token,
        },
    )
    assert done.status_code == 302
    # used once: the link no longer works
    again = text_of(client.get(link, follow_redirects=True))
    assert "already been used" in again
    token = csrf_token(client, "/auth/login")
    assert (
        client.post(
            "/auth/login",
            data={
                "email": "lee@example.com",
                "password": "brand new passphrase",
                "csrf_token": token,
            },
        ).status_code
        == 302
    )


def test_asking_to_reset_an_unknown_address_sends_nothing_and_says_the_same(mail_client):
    client, inbox = mail_client
    token = csrf_token(client, "/auth/reset")
    page = client.post(
        "/auth/reset",
        data={"email": "nobody@example.com", "csrf_token": token},
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert "If an account exists for that address" in page.get_data(as_text=True)
    assert inbox.messages == []


def test_a_forged_reset_link_is_refused(client):
    page = text_of(client.get("/auth/reset/not-a-token", follow_redirects=True))
    assert "not valid" in page


def test_responses_carry_security_headers_and_safe_cookies(client, auth, learner):
    response = client.get("/auth/login")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp
        and "frame-ancestors 'none'" in csp
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    signed_in = auth.login("lee@example.com", PASSWORD)
    assert signed_in.status_code == 302
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_cookies_are_secure_behind_https(lms_config):
    site = LMS(attrs.evolve(lms_config, base_url="https://learn.example.com"))
    try:
        app = create_app(lms=site)
        assert app.config["SESSION_COOKIE_SECURE"] is True
        page = app.test_client().get("/auth/login")
        assert page.status_code == 200
        assert "Strict-Transport-Security" in page.headers
    finally:
        site.dispose()


def test_error_pages_are_friendly_and_leak_nothing(lms):
    app = create_app(lms=lms)

    def boom():
        raise RuntimeError("secret internals")

    boom.lms_access = "public"
    app.add_url_rule("/boom", "boom", boom)
    client = app.test_client()
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "There is nothing at this address." in missing.get_data(
        as_text=True
    )
    with client.expect_server_error():
        broken = client.get("/boom")
    body = broken.get_data(as_text=True)
    assert broken.status_code == 500
    assert (
        "Something went wrong" in body
        and "secret internals" not in body
        and "Traceback" not in body
    )


def test_the_app_refuses_to_start_with_a_route_that_declares_no_permission(lms):
    bp = Blueprint("careless", __name__)

    @bp.route("/careless")
    def careless():  # pragma: no cover
        return "oops"

    from lms_core.web import pages

    original = pages.BLUEPRINTS
    pages.BLUEPRINTS = (*original, bp)
    try:
        with pytest.raises(RuntimeError, match="careless.careless"):
            create_app(lms=lms)
    finally:
        pages.BLUEPRINTS = original


@pytest.mark.skipif(
    not os.environ.get("LMS_TEST_REDIS_URL"), reason="set LMS_TEST_REDIS_URL to test Redis"
)
def test_two_web_workers_with_redis_share_the_sign_in_counters(lms_config, learner):
    url = os.environ["LMS_TEST_REDIS_URL"]
    sites = [LMS(attrs.evolve(lms_config, redis_url=url)) for _ in range(2)]
    try:
        first, second = (create_app(lms=site) for site in sites)
        first.extensions["lms_limiter"].reset("login:addr:127.0.0.1")
        client = first.test_client()
        for _ in range(20):
            token = csrf_token(client, "/auth/login")
            failed = client.post(
                "/auth/login",
                data={
                    "email": "nobody@example.com",
                    "password": "wrong password",
                    "csrf_token": token,
                },
            )
            assert failed.status_code == 200
        other = second.test_client()
        token = csrf_token(other, "/auth/login")
        refused = other.post(
            "/auth/login",
            data={"email": "lee@example.com", "password": PASSWORD, "csrf_token": token},
        )
        assert refused.status_code == 429
        first.extensions["lms_limiter"].reset("login:addr:127.0.0.1")
    finally:
        for site in sites:
            site.dispose()
