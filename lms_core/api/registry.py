"""The one list of API endpoints: routes are declared through :func:`route`, which mounts
the view on the blueprint with its permission *and* records what the OpenAPI document says
about it, so the document cannot drift from the real endpoints.

That includes the statuses: :attr:`Endpoint.statuses` is every status an operation may answer
(its success statuses as declared, the problems its shape allows, see :func:`problem_statuses`),
the document lists exactly those, and a response with any other status is an error: logged,
and raised under ``app.testing`` so that a test that provokes it fails.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from attrs import field
from attrs import frozen
from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from flask_login import current_user

from lms_core.errors import Forbidden
from lms_core.services.permissions import can
from lms_core.web.decorators import PUBLIC
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import public
from lms_core.web.decorators import requires

__all__ = [
    "bp",
    "Endpoint",
    "QueryParam",
    "ENDPOINTS",
    "route",
    "PREFIX",
    "problem_statuses",
    "UndocumentedStatus",
]

log = logging.getLogger(__name__)

PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=PREFIX)

F = TypeVar("F", bound=Callable[..., Any])


@frozen
class QueryParam:
    name: str
    description: str
    type: str = "string"
    #: The values it takes, when it is one of a few words.
    enum: tuple[str, ...] = ()


@frozen
class Endpoint:
    """What one (path, method) does, who may call it, and what it takes and returns."""

    rule: str  # Flask rule under the prefix, e.g. "/users/<id:user_id>"
    method: str
    name: str  # Flask endpoint (view function name)
    summary: str
    permission: str
    course_arg: str | None
    body: type | None
    body_required: bool
    response: type | None
    paginated: bool
    status: int
    tag: str
    description: str
    query: tuple[QueryParam, ...]
    #: Other success statuses and what they mean, e.g. ``{200: "Already enrolled."}``.
    also: dict[int, str] = field(factory=dict)

    @property
    def full_rule(self) -> str:
        return PREFIX + self.rule

    @property
    def statuses(self) -> frozenset[int]:
        """Every status this operation may answer (and the document lists)."""
        return frozenset({self.status, *self.also, *problem_statuses(self)})


_PATH_PARAM = re.compile(r"<[^>]+>")


def problem_statuses(endpoint: Endpoint) -> frozenset[int]:
    """The error statuses an operation's shape allows.

    * 400 and 413: it reads a JSON body, which may be malformed or larger than the site takes.
    * 401 and 403: it needs a token (anything but ``public``).
    * 404: its path names things by id, which may not exist.
    * 409 and 422: it changes something (POST, PATCH, DELETE), or reads query parameters,
      whose values may be refused (422).
    """
    codes: set[int] = set()
    if endpoint.body is not None:
        codes |= {400, 413, 422}
    if endpoint.permission != PUBLIC:
        codes |= {401, 403}
    if _PATH_PARAM.search(endpoint.rule):
        codes.add(404)
    if endpoint.method in ("POST", "PATCH", "DELETE"):
        codes |= {409, 422}
    if endpoint.paginated or endpoint.query:
        codes.add(422)
    return frozenset(codes)


class UndocumentedStatus(AssertionError):
    """An operation answered a status its OpenAPI description does not list."""


ENDPOINTS: list[Endpoint] = []


def _named_refusal(permission: str, course_arg: str | None, view: Any) -> Any:
    """Refuse with a problem that names the permission, before ``requires`` says a bare 403."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if permission != SIGNED_IN and current_user.is_authenticated:
            course = kwargs.get(course_arg) if course_arg else None
            if not can(current_user._get_current_object(), permission, course):
                raise Forbidden(
                    f"Your account is not allowed to do this (it needs the {permission} "
                    "permission).",
                    permission,
                )
        return view(*args, **kwargs)

    return wrapper


def route(
    rule: str,
    method: str,
    *,
    summary: str,
    permission: str,
    tag: str,
    course_arg: str | None = None,
    body: type | None = None,
    body_required: bool = True,
    response: type | None = None,
    paginated: bool = False,
    status: int = 200,
    description: str = "",
    query: tuple[QueryParam, ...] = (),
    also: dict[int, str] | None = None,
) -> Callable[[F], F]:
    """Declare an API endpoint: mount it on :data:`bp` guarded by ``permission``."""

    def decorate(view: F) -> F:
        if permission == PUBLIC:
            guarded: Any = public(view)
        else:
            guarded = _named_refusal(
                permission, course_arg, requires(permission, course_arg=course_arg)(view)
            )
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=guarded, methods=[method])
        ENDPOINTS.append(
            Endpoint(
                rule=rule,
                method=method.upper(),
                name=view.__name__,
                summary=summary,
                permission=permission,
                course_arg=course_arg,
                body=body,
                body_required=body_required,
                response=response,
                paginated=paginated,
                status=status,
                tag=tag,
                description=description,
                query=query,
                also=dict(also or {}),
            )
        )
        _BY_VIEW[(bp.name + "." + view.__name__, method.upper())] = ENDPOINTS[-1]
        result: F = guarded
        return result

    return decorate


_BY_VIEW: dict[tuple[str, str], Endpoint] = {}


@bp.after_request
def _documented_statuses_only(response: Response) -> Response:
    method = "GET" if request.method == "HEAD" else request.method
    endpoint = _BY_VIEW.get((request.endpoint or "", method))
    if endpoint is not None and response.status_code not in endpoint.statuses:
        message = (
            f"{request.method} {request.path} answered {response.status_code}, which the OpenAPI "
            f"document does not list for {endpoint.name} ({', '.join(map(str, sorted(endpoint.statuses)))})"
        )
        log.error(message)
        if current_app.testing:
            raise UndocumentedStatus(message)
    return response
