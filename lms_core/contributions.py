"""Frozen attrs classes that plugins return from contribution hooks and the core renders."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from attrs import field
from attrs import frozen

if TYPE_CHECKING:
    from lms_core.models import Lesson

__all__ = ["Permission", "LessonKind"]


@frozen(kw_only=True)
class Permission:
    """A named permission, e.g. ``course.edit``.

    ``default_roles`` names the built-in roles (admin, manager, instructor, learner) that hold
    it on a new site; admins may change role permissions afterwards.
    """

    name: str
    title: str
    description: str = ""
    default_roles: tuple[str, ...] = field(default=(), converter=tuple)
    #: True when the permission makes sense inside one course (course-scope assignments).
    course_scoped: bool = False


@frozen(kw_only=True)
class LessonKind:
    """A kind of lesson content.

    ``render`` turns a lesson into safe HTML for the lesson page; ``validate`` checks the
    fields an author submitted (raising :class:`~lms_core.errors.Invalid`) and may return
    them normalised.
    """

    name: str
    title: str
    render: Callable[[Lesson], str]
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
