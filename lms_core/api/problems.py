"""RFC 7807 problem details for the API: typed service errors and malformed bodies."""

from __future__ import annotations

import re
from typing import Any

import cattrs
from flask import Blueprint
from flask import Response
from flask import jsonify

from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import LMSError
from lms_core.errors import NotFound
from lms_core.errors import Rejected

__all__ = ["BadBody", "problem", "status_of", "field_of_cattrs_error", "register"]

PROBLEM_TYPE = "urn:lms:problem:"

_STATUS: tuple[tuple[type[LMSError], int, str], ...] = (
    (NotFound, 404, "Not found"),
    (Forbidden, 403, "Not allowed"),
    (Invalid, 422, "Invalid input"),
    (Conflict, 409, "Conflict"),
    (Rejected, 422, "Refused"),
)


class BadBody(Exception):
    """The request body is not JSON, or does not have the documented shape (400)."""

    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def problem(
    status: int, title: str, detail: str, *, code: str, field: str | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def status_of(exc: LMSError) -> tuple[int, str]:
    for cls, status, title in _STATUS:
        if isinstance(exc, cls):
            return status, title
    return 400, "Bad request"


_AT = re.compile(r" @ \$\.?(.*)$")


def field_of_cattrs_error(exc: BaseException, lines: list[str]) -> str | None:
    """The offending key: an unknown one if there is one, else the path of the first error."""
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if isinstance(current, cattrs.ForbiddenExtraKeysError):
            return sorted(current.extra_fields)[0]
        stack.extend(getattr(current, "exceptions", ()))
    for line in lines:
        match = _AT.search(line)
        if match and match.group(1):
            return match.group(1)
    return None


def register(bp: Blueprint) -> None:
    @bp.errorhandler(LMSError)
    def _service_error(exc: LMSError) -> Response:
        status, title = status_of(exc)
        return problem(status, title, exc.message, code=exc.code, field=getattr(exc, "field", None))

    @bp.errorhandler(BadBody)
    def _bad_body(exc: BadBody) -> Response:
        return problem(400, "Bad request", exc.message, code=exc.code, field=exc.field)
