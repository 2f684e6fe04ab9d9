"""The OpenAPI 3.1 document, built from the endpoint registry and the payload classes."""

from __future__ import annotations

import re
from typing import Any

from lms_core.api.registry import ENDPOINTS
from lms_core.api.registry import Endpoint
from lms_core.api.schemas import PAYLOADS
from lms_core.api.typeschema import component_schema
from lms_core.api.typeschema import ref
from lms_core.api.views import DEFAULT_PER_PAGE
from lms_core.api.views import MAX_PER_PAGE
from lms_core.limits import DB_INT_MAX
from lms_core.web.decorators import PUBLIC
from lms_core.web.decorators import SIGNED_IN

__all__ = ["document", "openapi_path"]

_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")

_PROBLEMS = {
    400: (
        "BadRequest",
        "The body is not JSON or does not match the schema; `field` names the key.",
    ),
    401: ("Unauthorized", "No valid token: send `Authorization: Bearer lms_...`."),
    403: ("Forbidden", "The token's owner lacks the permission."),
    404: ("NotFound", "There is no such thing (or the caller may not see it)."),
    409: ("Conflict", "The change clashes with the current state."),
    413: ("TooLarge", "The body is larger than the site accepts (16 MB)."),
    422: ("Unprocessable", "The input failed validation; `field` names it when known."),
}


def openapi_path(rule: str) -> str:
    """``/users/<id:user_id>`` → ``/users/{user_id}``."""
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)


def _path_params(rule: str) -> list[dict[str, Any]]:
    out = []
    for match in _PARAM.finditer(rule):
        converter, name = match.group(1), match.group(2)
        param: dict[str, Any] = {"name": name, "in": "path", "required": True}
        if converter == "id":
            param["schema"] = {"type": "integer", "minimum": 1, "maximum": DB_INT_MAX}
            param["description"] = "An id; one beyond this range is not found (404)."
        else:
            param["schema"] = {"type": "string"}
        out.append(param)
    return out


def _success(endpoint: Endpoint, status: int, meaning: str | None = None) -> dict[str, Any]:
    if status == 204:
        return {"description": meaning or "Done; no content."}
    if endpoint.response is None:
        return {
            "description": "A JSON document.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    schema: dict[str, Any] = ref(endpoint.response)
    if endpoint.paginated:
        schema = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": schema},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                "total": {"type": "integer", "minimum": 0},
            },
            "required": ["items", "page", "per_page", "total"],
        }
    description = meaning or endpoint.response.__doc__ or endpoint.response.__name__
    return {
        "description": " ".join(description.split()),
        "content": {"application/json": {"schema": schema}},
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    who = {
        PUBLIC: "Anyone, without a token.",
        SIGNED_IN: "Any active user with a token.",
    }.get(endpoint.permission, f"Needs the `{endpoint.permission}` permission")
    if endpoint.permission not in (PUBLIC, SIGNED_IN):
        who += " in the course." if endpoint.course_arg else "."
    description = (endpoint.description + "\n\n" if endpoint.description else "") + who
    op: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "description": description,
        "tags": [endpoint.tag],
        "x-lms-permission": endpoint.permission,
    }
    params = _path_params(endpoint.rule)
    if endpoint.paginated:
        params += [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "description": "The page, from 1; past the last page the list is empty.",
                "allowEmptyValue": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": DB_INT_MAX, "default": 1},
            },
            {
                "name": "per_page",
                "in": "query",
                "required": False,
                "description": f"Items per page, at most {MAX_PER_PAGE}; more is refused (422).",
                "allowEmptyValue": True,
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PER_PAGE,
                    "default": DEFAULT_PER_PAGE,
                },
            },
        ]
    for q in endpoint.query:
        schema: dict[str, Any] = {"type": q.type}
        if q.enum:
            schema["enum"] = list(q.enum)
        params.append(
            {
                "name": q.name,
                "in": "query",
                "required": False,
                "description": q.description,
                "allowEmptyValue": True,  # empty is the same as not given
                "schema": schema,
            }
        )
    if params:
        op["parameters"] = params
    if endpoint.body is not None:
        op["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": ref(endpoint.body)}},
        }
    if endpoint.permission == PUBLIC:
        op["security"] = []
    responses: dict[str, Any] = {}
    for code in sorted(endpoint.statuses):
        if code == endpoint.status:
            responses[str(code)] = _success(endpoint, code)
        elif code in endpoint.also:
            responses[str(code)] = _success(endpoint, code, endpoint.also[code])
        else:
            responses[str(code)] = {"$ref": f"#/components/responses/{_PROBLEMS[code][0]}"}
    op["responses"] = responses
    return op


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of ``/api/v1``."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(openapi_path(endpoint.full_rule), {})[endpoint.method.lower()] = (
            _operation(endpoint)
        )
    schemas: dict[str, Any] = {
        cls.__name__: component_schema(cls, closed=cls.__name__.endswith(("In", "Patch")))
        for cls in PAYLOADS
    }
    schemas["Problem"] = {
        "type": "object",
        "description": "RFC 7807 problem details (media type application/problem+json).",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "field": {"type": "string", "description": "The offending input, when known."},
        },
        "required": ["type", "title", "status", "detail"],
    }
    responses = {
        name: {
            "description": text,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for name, text in _PROBLEMS.values()
    }
    from lms_core import __version__

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lms-core API",
            "version": __version__,
            "description": (
                "The JSON API of lms-core. Authenticate with a personal API token (made on "
                "your profile's API tokens page) sent as `Authorization: Bearer lms_...`; "
                "a token acts with its owner's permissions. Lists are paginated with "
                f"`page` and `per_page` (at most {MAX_PER_PAGE}; more is refused). "
                "An empty query value (`status=`) is the same as leaving it out, one given "
                "twice is refused (422), and query parameters an operation does not list are "
                "ignored. "
                "A PATCH changes only the keys it sends: an empty object (or no body) changes "
                "nothing and answers the current state. Ids are whole numbers from 1 to "
                f"{DB_INT_MAX:,}; any other is not found (404). Errors are RFC 7807 problem "
                "details; `field` names the input at fault."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in sorted({e.tag for e in ENDPOINTS})],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "lms_<token>",
                    "description": "A personal API token.",
                }
            },
            "schemas": schemas,
            "responses": responses,
        },
    }
