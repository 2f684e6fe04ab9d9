"""Every view declares who may reach it; the app refuses to start if one does not.

* ``@public`` — anyone, signed in or not (sign-in page, public verification pages).
* ``@requires(SIGNED_IN)`` — any signed-in, active user (their own dashboard).
* ``@requires("course.edit", course_arg="course_id")`` — a named permission, checked with
  :func:`lms_core.services.permissions.can` at site scope or in the course given by the view
  argument ``course_arg``.

Anonymous visitors of a protected page are sent to sign in (401 for JSON requests); signed-in
users without the permission get 403.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from flask import abort
from flask import redirect
from flask import request
from flask import url_for
from flask_login import current_user

from lms_core.services.permissions import can

__all__ = ["SIGNED_IN", "PUBLIC", "public", "requires", "access_of"]

SIGNED_IN = "signed-in"
PUBLIC = "public"

F = TypeVar("F", bound=Callable[..., Any])


def access_of(view: Callable[..., Any]) -> str | None:
    """What a view declared (``public``, ``signed-in`` or a permission name), or None."""
    return getattr(view, "lms_access", None)


def public(view: F) -> F:
    view.lms_access = PUBLIC  # type: ignore[attr-defined]
    return view


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def requires(permission: str, *, course_arg: str | None = None) -> Callable[[F], F]:
    """Declare and enforce the permission a view needs."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if _wants_json():
                    abort(401)
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if permission != SIGNED_IN:
                course = kwargs.get(course_arg) if course_arg else None
                if not can(current_user._get_current_object(), permission, course):
                    abort(403)
            return view(*args, **kwargs)

        wrapper.lms_access = permission  # type: ignore[attr-defined]
        wrapper.lms_course_arg = course_arg  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
