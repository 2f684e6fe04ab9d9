"""Security headers on every response, and no caching of what is private."""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import request

from lms_core.web.decorators import PUBLIC
from lms_core.web.decorators import access_of

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'self'; "
    "object-src 'none'; frame-ancestors 'none'"
)


def _is_private() -> bool:
    """Whether this response may hold someone's data: it answers a signed-in user or an API
    token, or comes from a page behind sign-in. Static assets are the same for everyone."""
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static"):
        return False
    # Only look at a user the request already loaded: a page that never asked for the user
    # cannot show their data (and loading one here would cost a query on every public page).
    user = g.get("_login_user")
    if user is not None and user.is_authenticated:
        return True
    if "Authorization" in request.headers:
        return True
    view = current_app.view_functions.get(endpoint)
    return view is not None and access_of(view) not in (None, PUBLIC)


def init_app(app: Flask) -> None:
    secure = app.config.get("SESSION_COOKIE_SECURE", False)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # Neither the browser's cache nor a proxy's keeps a private page. A view that chose
        # its own caching (a public badge image, say) keeps its choice.
        if "Cache-Control" not in response.headers and _is_private():
            response.headers["Cache-Control"] = "no-store"
        return response
