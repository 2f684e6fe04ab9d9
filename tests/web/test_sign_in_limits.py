"""Sign-in limits: shared by every web worker, counting failures only, telling nothing about
which accounts exist, and not locking out browsers that have signed in to the account before."""

from __future__ import annotations

import re
import statistics
import time

import pytest

from lms_core.runtime import LMS
from lms_core.testing import csrf_token
from lms_core.web import create_app
from lms_core.web.auth import ADDRESS_LIMIT

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
NETWORK_LIMITED = "Too many sign-in attempts from your network"
ACCOUNT_LOCKED = "Too many failed sign-in attempts"
WRONG_MESSAGE = "The email or password is not correct."


@pytest.fixture
def learner(factory):
    return factory.user("lee@example.com", password=PASSWORD, name="Lee")


def attempt(client, email, password):
    return client.post(
        "/auth/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf_token(client, "/auth/login"),
        },
    )


def flashes(response) -> list[str]:
    return re.findall(r'<p class="flash[^"]*"[^>]*>([^<]*)</p>', response.get_data(as_text=True))


def sign_out(client):
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302


def fail_for(client, email, times):
    for _ in range(times):
        response = attempt(client, email, WRONG)
        assert response.status_code == 200 and flashes(response) == [WRONG_MESSAGE]


# --- one count for every worker ---------------------------------------------------------------


def test_two_web_workers_refuse_at_the_same_attempt_as_one(lms, lms_config, learner):
    """Two runtimes on one database are two gunicorn workers: the counters are in the database."""
    sites = [LMS(lms_config) for _ in range(2)]
    try:
        clients = [create_app(lms=site).test_client() for site in sites]
        for n in range(ADDRESS_LIMIT):
            response = attempt(clients[n % 2], f"guess{n}@example.com", WRONG)
            assert response.status_code == 200, f"attempt {n + 1} was refused"
        refused = attempt(clients[ADDRESS_LIMIT % 2], "lee@example.com", PASSWORD)
        assert refused.status_code == 429
        assert NETWORK_LIMITED in flashes(refused)[0]
        assert (
            attempt(clients[(ADDRESS_LIMIT + 1) % 2], "lee@example.com", PASSWORD).status_code
            == 429
        )
    finally:
        for site in sites:
            site.dispose()


def test_the_database_limiter_is_the_default_and_is_shared(lms, lms_config):
    from lms_core.ratelimit import DatabaseLimiter

    other = LMS(lms_config)
    try:
        assert isinstance(lms.limiter, DatabaseLimiter)
        assert lms.limiter.hit("test:key", 60) == 1
        assert other.limiter.hit("test:key", 60) == 2
        assert lms.limiter.count("test:key") == 2
        assert 0 < lms.limiter.seconds_left("test:key") <= 60
        other.limiter.reset("test:key")
        assert lms.limiter.count("test:key") == 0
    finally:
        other.dispose()


def test_an_expired_window_starts_counting_again(lms):
    assert lms.limiter.hit("test:short", 1) == 1
    assert lms.limiter.hit("test:short", 1) == 2
    time.sleep(1.1)
    assert lms.limiter.count("test:short") == 0
    assert lms.limiter.hit("test:short", 1) == 1


def test_successful_sign_ins_are_not_counted(app, learner):
    for _ in range(ADDRESS_LIMIT + 1):
        browser = app.test_client()  # a new browser each time: no device cookie
        assert attempt(browser, "lee@example.com", PASSWORD).status_code == 302
    assert app.extensions["lms_limiter"].count("login:addr:127.0.0.1") == 0


# --- device cookies: the address limit and the lock-out spare browsers known to the account ----


def test_a_browser_that_signed_in_before_is_not_refused_for_its_networks_failures(app, learner):
    own = app.test_client()
    assert attempt(own, "lee@example.com", PASSWORD).status_code == 302
    assert own.get_cookie("lms_device", path="/auth") is not None
    sign_out(own)
    neighbour = app.test_client()  # someone else behind the same NAT address
    for n in range(ADDRESS_LIMIT):
        assert attempt(neighbour, f"guess{n}@example.com", WRONG).status_code == 200
    assert attempt(app.test_client(), "lee@example.com", PASSWORD).status_code == 429
    assert attempt(own, "lee@example.com", PASSWORD).status_code == 302


def test_an_attacker_cannot_lock_the_owner_out_of_their_account(app, learner, lms):
    own = app.test_client()
    assert attempt(own, "lee@example.com", PASSWORD).status_code == 302
    sign_out(own)
    attacker = app.test_client()
    fail_for(attacker, "lee@example.com", lms.config.auth.max_failed_logins)
    locked = attempt(attacker, "lee@example.com", PASSWORD)
    assert locked.status_code == 429 and ACCOUNT_LOCKED in flashes(locked)[0]
    assert attempt(own, "lee@example.com", PASSWORD).status_code == 302


def test_a_device_cookie_vouches_only_for_its_own_account(app, learner, factory, lms):
    factory.user("kim@example.com", password=PASSWORD)
    own = app.test_client()
    assert attempt(own, "lee@example.com", PASSWORD).status_code == 302
    sign_out(own)
    fail_for(app.test_client(), "kim@example.com", lms.config.auth.max_failed_logins)
    assert attempt(own, "kim@example.com", PASSWORD).status_code == 429


def test_failures_through_a_device_cookie_use_it_up(app, learner, lms):
    own = app.test_client()
    assert attempt(own, "lee@example.com", PASSWORD).status_code == 302
    sign_out(own)
    limit = lms.config.auth.max_failed_logins
    fail_for(own, "lee@example.com", limit)  # counted against the device cookie ...
    assert app.extensions["lms_limiter"].count("login:addr:127.0.0.1") == 0
    fail_for(own, "lee@example.com", limit)  # ... then against the account and the address
    assert attempt(own, "lee@example.com", PASSWORD).status_code == 429


def test_a_tampered_device_cookie_is_ignored(app, learner, lms):
    own = app.test_client()
    assert attempt(own, "lee@example.com", PASSWORD).status_code == 302
    sign_out(own)
    cookie = own.get_cookie("lms_device", path="/auth")
    forged = app.test_client()
    forged.set_cookie("lms_device", cookie.value[:-2] + "xx", path="/auth")
    fail_for(app.test_client(), "lee@example.com", lms.config.auth.max_failed_logins)
    assert attempt(forged, "lee@example.com", PASSWORD).status_code == 429


# --- telling nothing about which accounts exist ------------------------------------------------


def _median_seconds(send, n=5) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        send()  # status: timing only; the tests assert each request's answer
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_a_locked_account_and_an_unknown_one_answer_alike(app, learner, lms):
    limit = lms.config.auth.max_failed_logins
    attacker = app.test_client()
    fail_for(attacker, "lee@example.com", limit)
    fail_for(attacker, "nobody@example.com", limit)
    real = attempt(attacker, "lee@example.com", PASSWORD)
    unknown = attempt(attacker, "nobody@example.com", PASSWORD)
    assert real.status_code == unknown.status_code == 429
    assert flashes(real) == flashes(unknown)
    assert ACCOUNT_LOCKED in flashes(real)[0]
    # and alike in time: both check the password against a hash (medians, generous slack)
    app.extensions["lms_limiter"].reset("login:addr:127.0.0.1")
    locked = _median_seconds(lambda: attempt(attacker, "lee@example.com", PASSWORD))
    nobody = _median_seconds(lambda: attempt(attacker, "nobody@example.com", PASSWORD))
    fresh = _median_seconds(lambda: attempt(app.test_client(), "fresh@example.com", WRONG), n=3)
    assert 0.5 < locked / nobody < 2, (locked, nobody)
    assert 0.5 < locked / fresh < 2, (locked, fresh)


def test_an_unknown_address_locks_after_as_many_failures_as_a_real_one(app, learner, lms):
    limit = lms.config.auth.max_failed_logins
    attacker = app.test_client()
    for email in ("lee@example.com", "nobody@example.com"):
        answers = [attempt(attacker, email, WRONG).status_code for _ in range(limit + 1)]
        assert answers == [200] * limit + [429], email
