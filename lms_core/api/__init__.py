"""The JSON API under ``/api/v1``: personal-token authentication, problem details, OpenAPI.

* Authentication is by ``Authorization: Bearer lms_...`` only, never by the session cookie
  (the blueprint is exempt from CSRF, so a cookie must not authenticate it). The user comes
  from the ``lms_user_from_request`` hook (the core's default implementation reads personal
  tokens, :mod:`lms_core.default_api_auth`) and acts with their own permissions. Nothing
  here writes to the session, so API responses set no cookie.
* Endpoints are declared in :mod:`.views` through :func:`.registry.route`, the single list
  the OpenAPI document (:mod:`.openapi`, served at ``/api/v1/openapi.json``) is built from.
* Service errors become RFC 7807 problem details (:mod:`.problems`).
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask import request

from lms_core.api import problems
from lms_core.api import views  # noqa: F401  (declares the routes)
from lms_core.api.registry import ENDPOINTS
from lms_core.api.registry import bp
from lms_core.context import Context
from lms_core.web import csrf
from lms_core.web import login_manager
from lms_core.web.db import client_address
from lms_core.web.db import db
from lms_core.web.db import lms

__all__ = ["bp", "ENDPOINTS", "user_from_request"]


def user_from_request(req: Any) -> Any:
    """The first user any ``lms_user_from_request`` implementation finds, or None."""
    ctx = Context(session=db(), hooks=lms().hooks, address=client_address(), lms=lms())
    for _plugin, fn in lms().hooks.implementations("lms_user_from_request"):
        user = fn(ctx=ctx, request=req)
        if user is not None:
            return user
    return None


@login_manager.request_loader
def _load_user_from_request(req: Any) -> Any:
    """For requests without a session (Flask-Login asks after the cookie)."""
    return user_from_request(req)


@bp.before_request
def _authenticate_by_token_only() -> None:
    # Decide the user here, before anything reads the session: a cookie never signs in an
    # API request, and Flask-Login's cookie loaders (which may write the session) never run.
    user = user_from_request(request)
    g._login_user = user if user is not None else login_manager.anonymous_user()


csrf.exempt(bp)
problems.register(bp)
