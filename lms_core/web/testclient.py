"""The test client of every LMS app: Flask's, except that a server error fails the test.

The site's error pages are friendly, and a friendly 500 page is still an HTML page with text
on it: a test that only looked for a word on the page could pass while the page was broken.
So :class:`LMSClient` raises :class:`ServerError` (an ``AssertionError``, so pytest reports a
failed test) on any response with a status of 500 or more, with the exception and traceback
the app logged. A test that means to provoke a server error says so::

    with client.expect_server_error() as expected:
        response = client.get("/boom")
    assert response.status_code == 500

:func:`lms_core.web.create_app` makes this the app's ``test_client_class``, so the fixtures of
:mod:`lms_core.testing` and any ``app.test_client()`` a test builds itself use it. It imports
nothing from pytest and costs a deployment nothing: only ``app.test_client()`` uses it.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import got_request_exception
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

__all__ = ["ExpectedServerErrors", "LMSClient", "ServerError"]

#: How much of a response body a :class:`ServerError` quotes when no exception was raised.
BODY_EXCERPT = 2000


class ServerError(AssertionError):
    """A request answered 5xx while the test did not say it expected one.

    :ivar response: the response.
    :ivar url: the path (and query) that was requested.
    :ivar exceptions: what the app raised while answering (usually one; none for a view that
        returned a 5xx status itself).
    """

    def __init__(self, response: TestResponse, exceptions: list[BaseException]) -> None:
        self.response = response
        self.method = response.request.method
        self.url = _path_of(response)
        self.exceptions = list(exceptions)
        super().__init__(self._describe())

    @property
    def traceback(self) -> str:
        """The formatted traceback(s) of what the app raised ("" when it raised nothing)."""
        return "\n".join("".join(traceback.format_exception(exc)) for exc in self.exceptions)

    def _describe(self) -> str:
        head = f"{self.method} {self.url} answered {self.response.status}"
        if self.exceptions:
            return f"{head}; the app raised:\n{self.traceback}"
        body = self.response.get_data(as_text=True)
        return (
            f"{head}; no exception was raised (the view answered with that status). "
            f"Body:\n{body[:BODY_EXCERPT]}"
        )


class ExpectedServerErrors:
    """What happened inside :meth:`LMSClient.expect_server_error`."""

    def __init__(self) -> None:
        #: every 5xx response answered inside the block, in order
        self.responses: list[TestResponse] = []
        #: every exception the app raised while answering them, in order
        self.exceptions: list[BaseException] = []


class LMSClient(FlaskClient):
    """Flask's test client, failing loudly on any server error (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._expected: list[ExpectedServerErrors] = []

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        raised: list[BaseException] = []

        def record(sender: Any, exception: BaseException, **extra: Any) -> None:
            raised.append(exception)

        # Redirects followed with follow_redirects=True come back through open() as well,
        # so a 5xx at any hop is caught at that hop.
        with got_request_exception.connected_to(record, self.application):
            response = super().open(*args, **kwargs)
        if response.status_code >= 500:
            if not self._expected:
                raise ServerError(response, raised)
            self._expected[-1].responses.append(response)
            self._expected[-1].exceptions.extend(raised)
        return response

    @contextmanager
    def expect_server_error(self) -> Iterator[ExpectedServerErrors]:
        """Let requests inside the block answer 5xx; fail if none of them does.

        Yields an :class:`ExpectedServerErrors` listing the 5xx responses and what the app
        raised. Failing when no request answered 5xx keeps the block honest: once the bug it
        documents is fixed, the test says so.
        """
        expected = ExpectedServerErrors()
        self._expected.append(expected)
        try:
            yield expected
        finally:
            self._expected.pop()
        if not expected.responses:
            raise AssertionError("expect_server_error(): no request answered 5xx inside the block")


def _path_of(response: TestResponse) -> str:
    environ = response.request.environ
    query = environ.get("QUERY_STRING")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return f"{path}?{query}" if query else path
