"""The one list of API endpoints: routes are declared through :func:`route`, which mounts
the view on the blueprint with its permission *and* records what the OpenAPI document says
about it, so the document cannot drift from the real endpoints.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from attrs import frozen
from flask import Blueprint
from flask_login import current_user

from lms_core.errors import Forbidden
from lms_core.services.permissions import can
from lms_core.web.decorators import PUBLIC
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import public
from lms_core.web.decorators import requires

__all__ = ["bp", "Endpoint", "QueryParam", "ENDPOINTS", "route", "PREFIX"]

PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=PREFIX)

F = TypeVar("F", bound=Callable[..., Any])


@frozen
class QueryParam:
    name: str
    description: str
    type: str = "string"


@frozen
class Endpoint:
    """What one (path, method) does, who may call it, and what it takes and returns."""

    rule: str  # Flask rule under the prefix, e.g. "/users/<int:user_id>"
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

    @property
    def full_rule(self) -> str:
        return PREFIX + self.rule


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
            )
        )
        result: F = guarded
        return result

    return decorate
