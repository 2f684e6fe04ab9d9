"""Signing in and out, passwords, reset by mail, and the protections around them."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
import re
import socket
import statistics
import threading
import time
import uuid

import attrs
import pytest
from flask import Blueprint
from sqlalchemy import select

from lms_core.config import MailConfig
from lms_core.models import AuditEntry
from lms_core.runtime import LMS
from lms_core.testing import csrf_token
from lms_core.testing import run_jobs
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
    page = text_of(auth.login("lee@example.com", PASSWORD), status=429)
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
    from lms_core.ratelimit import RedisLimiter

    key = f"test:{uuid.uuid4()}"
    one, two = (
        RedisLimiter(os.environ["LMS_TEST_REDIS_URL"]),
        RedisLimiter(os.environ["LMS_TEST_REDIS_URL"]),
    )
    assert one.hit(key, 60) == 1
    assert two.hit(key, 60) == 2
    assert one.count(key) == 2
    assert 0 < one.seconds_left(key) <= 60
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
        " //evil.example",
        "/\t/evil.example",
        "/\x7f/evil.example",
        "evil.example/path",
        "",
        None,
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
            #: Cleared by a test to make the server hold each message (a slow mail server).
            self.accepting = threading.Event()
            self.accepting.set()

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            await asyncio.get_running_loop().run_in_executor(None, self.accepting.wait, 10)
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


def drain_mail(client) -> int:
    """Run the mail jobs the requests asked for (a worker's work); how many ran."""
    return run_jobs(client.application.extensions["lms"])


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
    response.close()
    assert inbox.messages == []  # never sent inside the request: a job sends it
    assert drain_mail(client) == 1
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
    assert drain_mail(client) == 1  # the job looked the address up, and sent nothing
    assert inbox.messages == []


def _ask_for_a_reset(client, address):
    """Ask, and close the answer as a WSGI server does once it is sent (the mail goes then)."""
    token = csrf_token(client, "/auth/reset")
    with client.post("/auth/reset", data={"email": address, "csrf_token": token}) as response:
        assert response.status_code == 302  # to the sign-in page, account or not
        return response


def _flashes(client) -> list[str]:
    page = client.get("/auth/login")
    assert page.status_code == 200
    return re.findall(r'<p class="flash[^"]*"[^>]*>([^<]*)</p>', page.get_data(as_text=True))


def _median_seconds(send, n=5, settle=None) -> float:
    times = []
    for _ in range(n):
        if settle is not None:
            drain_mail(settle)
        start = time.perf_counter()
        send()  # status: timing only; the tests assert each request's answer
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_reset_mail_is_sent_by_a_job_not_inside_the_request(mail_client, learner):
    client, inbox = mail_client
    inbox.accepting.clear()  # the mail server is slow to take the message
    try:
        response = _ask_for_a_reset(client, "lee@example.com")
        assert response.status_code == 302
        assert inbox.messages == []  # answered before any mail was sent
    finally:
        inbox.accepting.set()
    assert drain_mail(client) == 1
    assert [recipients for recipients, _ in inbox.messages] == [["lee@example.com"]]


def test_a_reset_request_answers_alike_for_real_and_unknown_accounts(mail_client, learner):
    client, inbox = mail_client
    real = _ask_for_a_reset(client, "lee@example.com")
    real_flashes = _flashes(client)
    unknown = _ask_for_a_reset(client, "nobody@example.com")
    assert real.status_code == unknown.status_code == 302
    assert real.headers["Location"] == unknown.headers["Location"]
    assert real_flashes == _flashes(client) != []
    # The answer itself takes as long either way; what happens after it (the look-up, the
    # mail) runs in the background and is left to finish between samples.
    real_time = _median_seconds(lambda: _ask_for_a_reset(client, "lee@example.com"), settle=client)
    unknown_time = _median_seconds(
        lambda: _ask_for_a_reset(client, "nobody@example.com"), settle=client
    )
    assert 0.5 < real_time / unknown_time < 2, (real_time, unknown_time)
    drain_mail(client)
    assert len(inbox.messages) == 6


@pytest.fixture
def mail_down_client(lms_config):
    """A site whose mail server is down (nothing listens on its port)."""
    site = LMS(attrs.evolve(lms_config, mail=MailConfig(host="127.0.0.1", port=_free_port())))
    app = create_app(lms=site)
    app.config["TESTING"] = True
    try:
        yield app.test_client()
    finally:
        site.dispose()


def test_a_reset_request_answers_alike_when_mail_is_down_and_logs_no_link(
    mail_down_client, learner, caplog
):
    client = mail_down_client
    with caplog.at_level(logging.INFO):
        real = _ask_for_a_reset(client, "lee@example.com")
        real_flashes = _flashes(client)
        unknown = _ask_for_a_reset(client, "nobody@example.com")
        assert drain_mail(client) == 2
    assert real.status_code == unknown.status_code == 302
    assert real.headers["Location"] == unknown.headers["Location"]
    assert real_flashes == _flashes(client) != []
    # The real account's job failed and will be retried (with backoff); the other had nothing
    # to send. Neither the log nor the job's recorded error holds a reset link.
    from lms_core.models import Delivery
    from lms_core.notification_mail import RESET_MAIL_JOB

    site = client.application.extensions["lms"]
    with site.session() as session:
        jobs = session.scalars(
            select(Delivery).where(Delivery.job == RESET_MAIL_JOB).order_by(Delivery.id)
        ).all()
    assert [(j.status, j.attempts) for j in jobs] == [("pending", 1), ("delivered", 1)]
    assert "Connection" in jobs[0].last_error and "/auth/reset/" not in jobs[0].last_error
    assert "lee@example.com" not in str(jobs[0].payload.get("link"))
    assert "/auth/reset/" not in caplog.text


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


def test_pages_behind_sign_in_and_pages_for_signed_in_users_are_not_stored(
    client, auth, learner, lms
):
    def cache_control(path, **kw):
        response = client.get(path, **kw)
        assert response.status_code in (200, 302), path
        return response.status_code, response.headers.get("Cache-Control")

    assert cache_control("/auth/login")[1] is None  # public, nobody signed in
    assert cache_control("/courses")[1] is None
    assert cache_control("/profile") == (302, "no-store")  # behind sign-in: to the sign-in page
    signed_in = auth.login("lee@example.com", PASSWORD)
    assert signed_in.status_code == 302
    assert signed_in.headers["Cache-Control"] == "no-store"
    for path in ("/", "/profile", "/courses", "/auth/password", "/profile/tokens"):
        assert cache_control(path) == (200, "no-store"), path
    with client.get("/static/app.css") as static:
        assert static.status_code == 200
        assert "no-store" not in static.headers.get("Cache-Control", "")
    signed_out = auth.logout()
    assert signed_out.status_code == 302
    assert signed_out.headers["Cache-Control"] == "no-store"


def test_api_responses_to_a_token_are_not_stored(client, lms, learner):
    from lms_core.services import tokens as token_service

    with lms.transaction(learner) as ctx:
        _row, secret = token_service.create_token(ctx, learner, "script")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.headers["Cache-Control"] == "no-store"
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer lms_wrong"})
    assert bad.status_code == 401 and bad.headers["Cache-Control"] == "no-store"


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
        run = uuid.uuid4().hex[:8]  # Redis outlives the test: fresh addresses every run
        for n in range(20):
            token = csrf_token(client, "/auth/login")
            failed = client.post(
                "/auth/login",
                data={
                    # Different unknown addresses: each counts towards the network's limit
                    # without locking any one of them (five failures would).
                    "email": f"nobody{n}.{run}@example.com",
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


def test_a_successful_sign_in_is_audited_with_the_person_who_signed_in_as_actor(
    client, auth, learner, lms
):
    assert auth.login("lee@example.com", PASSWORD).status_code == 302
    with lms.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login")).one()
        assert (entry.actor_id, entry.actor_label) == (learner.id, "lee@example.com")
        assert entry.details == {"method": "password"}
