"""Authentication hooks: other ways to sign in, and finding the user behind a request."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from lms_core.hooks.markers import hookspec

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.contributions import AuthProvider
    from lms_core.models import User


@hookspec
def lms_auth_providers() -> list[AuthProvider]:
    """Called when the sign-in page is drawn.

    :returns: :class:`~lms_core.contributions.AuthProvider` objects, one button each.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def lms_user_from_request(ctx: Context, request: Any) -> User | None:
    """Called for a request with no signed-in session (API tokens, trusted proxy headers).

    Stops at first non-None result.

    :param ctx: read access through ``ctx.session``.
    :param request: the Flask request.
    :returns: the :class:`~lms_core.models.User` the request acts as, or None.

    .. versionadded:: 0.1
    """
