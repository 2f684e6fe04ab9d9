"""Error pages, and the test client that never lets a test read text off one unnoticed.

A 500 page used to draw the flash messages waiting in the session, so a test that looked
for "Level added" passed on the error page. Two fixes, each tested here: error pages
neither show nor use up flash messages, and the test client raises on any 5xx unless the
test says it expects one (``client.expect_server_error()``).
"""

from __future__ import annotations

import pytest
from flask import flash
from flask import redirect

from lms_core.testing import LMSClient
from lms_core.testing import ServerError
from lms_core.web import create_app
from lms_core.web.decorators import public


@pytest.fixture
def app(lms):
    """The test site's app with three extra public routes: one flashes and redirects to a
    page that fails, one fails outright, one answers 503 without raising."""
    application = create_app(lms=lms)
    application.config["TESTING"] = True

    @public
    def saved():
        flash("Level saved.", "success")
        return redirect("/boom")

    @public
    def boom():
        raise RuntimeError("the page broke")

    @public
    def busy():
        return "come back later", 503

    application.add_url_rule("/saved", "saved", saved)
    application.add_url_rule("/boom", "boom", boom)
    application.add_url_rule("/busy", "busy", busy)
    return application


def _text(response):
    return response.get_data(as_text=True)


# -- error pages and flash messages ---------------------------------------------------------


def test_a_server_error_page_neither_shows_nor_uses_up_the_flash_messages(app, client):
    assert client.get("/saved").status_code == 302
    with client.expect_server_error():
        broken = client.get("/boom")
    assert broken.status_code == 500
    assert "Something went wrong" in _text(broken)
    assert "Level saved." not in _text(broken)
    # The message belongs to the next real page the user sees.
    catalog = client.get("/courses")
    assert catalog.status_code == 200
    assert "Level saved." in _text(catalog)


def test_a_not_found_page_neither_shows_nor_uses_up_the_flash_messages(app, client):
    assert client.get("/saved").status_code == 302
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "There is nothing at this address." in _text(missing)
    assert "Level saved." not in _text(missing)
    catalog = client.get("/courses")
    assert catalog.status_code == 200
    assert "Level saved." in _text(catalog)


# -- the test client ------------------------------------------------------------------------


def test_every_test_client_of_the_app_is_the_loud_one(app, client):
    assert isinstance(client, LMSClient)
    assert isinstance(app.test_client(), LMSClient)


def test_a_server_error_fails_the_test_with_the_traceback(app, client):
    with pytest.raises(ServerError) as caught:
        client.get("/boom")
    error = caught.value
    assert isinstance(error, AssertionError)  # pytest reports it as a failed test
    assert error.response.status_code == 500
    assert error.url == "/boom"
    message = str(error)
    assert "GET /boom answered 500" in message
    assert "RuntimeError: the page broke" in message
    assert "Traceback (most recent call last)" in message
    assert "in boom" in message  # the view's own frame is in the traceback


def test_a_server_error_reached_through_a_redirect_fails_too(app, client):
    with pytest.raises(ServerError, match="GET /boom answered 500"):
        client.get("/saved", follow_redirects=True)


def test_a_5xx_answered_without_an_exception_fails_and_shows_the_body(app, client):
    with pytest.raises(ServerError) as caught:
        client.get("/busy")
    assert caught.value.response.status_code == 503
    assert "no exception was raised" in str(caught.value)
    assert "come back later" in str(caught.value)


def test_a_test_that_expects_a_server_error_says_so(app, client):
    with client.expect_server_error() as expected:
        broken = client.get("/boom")
        busy = client.get("/busy")
    assert (broken.status_code, busy.status_code) == (500, 503)
    assert [r.status_code for r in expected.responses] == [500, 503]
    assert [type(e) for e in expected.exceptions] == [RuntimeError]
    # Outside the block the client is loud again.
    with pytest.raises(ServerError):
        client.get("/boom")


def test_expecting_a_server_error_that_does_not_happen_fails(app, client):
    with pytest.raises(AssertionError, match="no request answered 5xx"):  # noqa: SIM117
        with client.expect_server_error():
            assert client.get("/courses").status_code == 200


def test_statuses_below_500_pass_through_untouched(app, client):
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/admin/").status_code == 302
