"""Every view declares who may reach it; the app refuses to start if one does not.

* ``@public`` — anyone, signed in or not (sign-in page, public verification pages).
* ``@requires(SIGNED_IN)`` — any signed-in, active user (their own dashboard).
* ``@requires("course.edit", course_arg="course_id")`` — a named permission, checked with
  :func:`lms_core.services.permissions.can` at site scope or in the course given by the view
  argument ``course_arg``.
* ``@requires("course.create", "course.edit", anywhere=True)`` — any one of the permissions,
  held at site scope or in at least one course (the entrance page of a per-course area, which
  lists only what the user may reach; see :func:`~lms_core.services.permissions.can_anywhere`).

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
from lms_core.services.permissions import can_anywhere

__all__ = ["SIGNED_IN", "PUBLIC", "public", "requires", "access_of", "allows"]

SIGNED_IN = "signed-in"
PUBLIC = "public"

F = TypeVar("F", bound=Callable[..., Any])


def access_of(view: Callable[..., Any]) -> str | None:
    """What a view declared (``public``, ``signed-in`` or a permission name), or None.

    For a view that accepts any of several permissions, their names joined by " or ".
    """
    return getattr(view, "lms_access", None)


def allows(view: Callable[..., Any], user: Any, course: int | None = None) -> bool:
    """Whether ``user`` holds what ``view`` declared (in ``course``, for a per-course view)."""
    access = access_of(view)
    if access == PUBLIC:
        return True
    if user is None or not getattr(user, "is_active", False):
        return False
    if access == SIGNED_IN:
        return True
    permissions: tuple[str, ...] = getattr(view, "lms_permissions", ())
    if getattr(view, "lms_anywhere", False):
        return can_anywhere(user, *permissions)
    return any(can(user, permission, course) for permission in permissions)


def public(view: F) -> F:
    view.lms_access = PUBLIC  # type: ignore[attr-defined]
    return view


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def requires(
    *permissions: str, course_arg: str | None = None, anywhere: bool = False
) -> Callable[[F], F]:
    """Declare and enforce the permission a view needs (any one of several, if given several).

    ``anywhere=True``: held at site scope or in at least one course, for a page that lists
    per-course things; it cannot be combined with ``course_arg``.
    """
    if not permissions:
        raise TypeError("requires() needs a permission (or SIGNED_IN)")
    if SIGNED_IN in permissions and len(permissions) > 1:
        raise TypeError("SIGNED_IN cannot be combined with permissions")
    if anywhere and course_arg is not None:
        raise TypeError("anywhere=True checks every course; it takes no course_arg")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if _wants_json():
                    abort(401)
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            course = kwargs.get(course_arg) if course_arg else None
            if not allows(wrapper, current_user._get_current_object(), course):
                abort(403)
            return view(*args, **kwargs)

        wrapper.lms_access = " or ".join(permissions)  # type: ignore[attr-defined]
        wrapper.lms_permissions = permissions  # type: ignore[attr-defined]
        wrapper.lms_anywhere = anywhere  # type: ignore[attr-defined]
        wrapper.lms_course_arg = course_arg  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
