"""Friendly error pages (HTML) and problem details (JSON API); never a stack trace.

* An HTTP error keeps its headers (a 405 says which methods the address takes in ``Allow``).
* A typed service error that no view caught (an :class:`~lms_core.errors.Invalid` from
  parsing ``?page=``, a :class:`~lms_core.errors.NotFound`, ...) answers with its own status and
  message, as the API's problem details do, instead of a 500.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask import got_request_exception
from flask import jsonify
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException

from lms_core.api.problems import problem
from lms_core.api.problems import status_of
from lms_core.errors import LMSError

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Please sign in", "You need to sign in to see this."),
    403: ("Not allowed", "Your account does not have permission to see this page."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Method not allowed", "That action is not possible here."),
    413: ("Too large", "The upload is too large."),
    429: ("Too many attempts", "Please wait a moment and try again."),
    500: ("Something went wrong", "The error has been logged. Please try again later."),
}


def _is_api() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        code = exc.code or 500
        title, text = MESSAGES.get(code, (exc.name, exc.description or ""))
        if code == 400 and exc.description and "CSRF" in exc.description:
            text = "The form expired or was sent from elsewhere. Reload the page and try again."
        if code == 413:
            from lms_core.services.files import human_size

            limit = request.max_content_length
            text = (
                f"The upload is over the {human_size(limit)} limit for one upload: "
                "choose a smaller file, or ask an administrator to raise the limit."
                if limit
                else text
            )
        # Werkzeug's own headers (Allow on a 405, Retry-After, ...), less its HTML content type.
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        if _is_api():
            response = jsonify(
                type="about:blank", title=title, status=code, detail=exc.description or text
            )
            response.status_code = code
            response.mimetype = "application/problem+json"
            response.headers.extend(headers)
            return response
        return render_template("error.html", code=code, title=title, text=text), code, headers

    @app.errorhandler(LMSError)
    def _service_error(exc: LMSError):  # type: ignore[no-untyped-def]
        code, title = status_of(exc)
        if _is_api():
            return problem(
                code, title, exc.message, code=exc.code, field=getattr(exc, "field", None)
            )
        return render_template("error.html", code=code, title=title, text=exc.message), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        # Handling every exception here keeps Flask from sending this signal itself; send it,
        # so error reporters (and the test client, which fails the test) still hear of it.
        got_request_exception.send(app, exception=exc)
        title, text = MESSAGES[500]
        if _is_api():
            response = jsonify(type="about:blank", title=title, status=500, detail=text)
            response.status_code = 500
            response.mimetype = "application/problem+json"
            return response
        return render_template("error.html", code=500, title=title, text=text), 500
