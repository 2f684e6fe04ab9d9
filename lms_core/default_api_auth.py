"""The core's API authentication, as a default plugin: personal tokens sent as
``Authorization: Bearer lms_...`` on ``/api/`` requests.

Other plugins may answer ``lms_user_from_request`` too (trusted proxy headers, say); the
first non-None answer wins. Tokens are honoured on API paths only: the HTML pages keep to
cookie sessions, where CSRF protection applies.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any

from lms_core.hooks.markers import hookimpl

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.models import User

log = logging.getLogger(__name__)


def bearer_secret(request: Any) -> str | None:
    """The credentials of an ``Authorization: Bearer ...`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    return str(value)


@hookimpl
def lms_user_from_request(ctx: Context, request: Any) -> User | None:
    if not str(request.path).startswith("/api/"):
        return None
    secret = bearer_secret(request)
    if secret is None:
        return None
    from lms_core.services import tokens

    found = tokens.user_for_secret(ctx, secret)
    if found is None:
        return None
    user, token = found
    if tokens.needs_touch(token) and ctx.lms is not None:
        try:
            with ctx.lms.transaction(system=True, address=ctx.address) as wctx:
                tokens.touch_token(wctx, token.id)
        except Exception:  # bookkeeping must never refuse a valid request
            log.exception("could not record the use of API token %s", token.id)
    return user
