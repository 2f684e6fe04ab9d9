"""The API's payloads: frozen attrs classes, structured and unstructured with the project
converter (:mod:`lms_core.serde`). The OpenAPI document derives its JSON Schemas from them.

Request bodies end in ``In`` (``*Patch`` for partial updates: only the keys sent change);
responses end in ``Out``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from attrs import field
from attrs import frozen

from lms_core import limits

__all__ = [
    "UserOut",
    "UserIn",
    "UserPatch",
    "DeactivateIn",
    "GroupOut",
    "GroupIn",
    "MemberOut",
    "GroupDetailOut",
    "MembersIn",
    "CourseOut",
    "CourseIn",
    "CoursePatch",
    "LessonOut",
    "LessonIn",
    "LessonPatch",
    "ProgressOut",
    "EnrollmentOut",
    "EnrollIn",
    "WithdrawIn",
    "PAYLOADS",
]


def _text(limit: int, **kwargs: Any) -> Any:
    """A text field whose documented ``maxLength`` is the service's limit."""
    return field(metadata={"max_length": limit}, **kwargs)


def _items(limit: int, **kwargs: Any) -> Any:
    """A list field whose documented ``maxItems`` is the service's limit."""
    return field(metadata={"max_items": limit}, **kwargs)


# -- users ---------------------------------------------------------------------------
@frozen
class UserOut:
    """A user account."""

    id: int
    email: str
    name: str
    is_active: bool
    department: str | None
    location: str | None
    job_title: str | None
    manager_id: int | None
    timezone: str
    locale: str
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    deactivated_at: dt.datetime | None


@frozen
class UserIn:
    """A new account. It signs in by single sign-on or after a password reset."""

    email: str = _text(limits.EMAIL)
    name: str = _text(limits.USER_NAME, default="")
    department: str | None = _text(limits.PROFILE_ATTRIBUTE, default=None)
    location: str | None = _text(limits.PROFILE_ATTRIBUTE, default=None)
    job_title: str | None = _text(limits.PROFILE_ATTRIBUTE, default=None)
    manager_id: int | None = None
    timezone: str = "UTC"
    locale: str = "en"
    roles: list[str] = _items(limits.LIST_ITEMS, factory=lambda: ["learner"])


@frozen
class UserPatch:
    """Profile fields to change; keys left out stay as they are."""

    email: str | None = _text(limits.EMAIL, default=None)
    name: str | None = _text(limits.USER_NAME, default=None)
    department: str | None = _text(limits.PROFILE_ATTRIBUTE, default=None)
    location: str | None = _text(limits.PROFILE_ATTRIBUTE, default=None)
    job_title: str | None = _text(limits.PROFILE_ATTRIBUTE, default=None)
    manager_id: int | None = None
    timezone: str | None = None
    locale: str | None = None


@frozen
class DeactivateIn:
    """Why the account is deactivated (kept in the audit log)."""

    reason: str = _text(limits.REASON, default="")


# -- groups --------------------------------------------------------------------------
@frozen
class GroupOut:
    """A group (cohort) of users."""

    id: int
    name: str
    kind: str
    description: str
    rule: dict[str, str] | None
    member_count: int
    created_at: dt.datetime


@frozen
class GroupIn:
    """A new group. With a ``rule`` its members are the users whose profile matches."""

    name: str = _text(limits.GROUP_NAME)
    kind: str = "custom"
    description: str = _text(limits.GROUP_DESCRIPTION, default="")
    rule: dict[str, str] | None = None


@frozen
class MemberOut:
    """A member of a group."""

    user_id: int
    email: str
    name: str
    source: str
    added_at: dt.datetime


@frozen
class GroupDetailOut:
    """A group with its members."""

    id: int
    name: str
    kind: str
    description: str
    rule: dict[str, str] | None
    member_count: int
    created_at: dt.datetime
    members: list[MemberOut]


@frozen
class MembersIn:
    """Users to add to a group, by email."""

    emails: list[str] = _items(limits.LIST_ITEMS)


# -- courses and lessons -------------------------------------------------------------
@frozen
class CourseOut:
    """A course."""

    id: int
    code: str
    title: str
    summary: str
    category: str | None
    tags: list[str]
    status: str
    enrollment_policy: str
    capacity: int | None
    due_days: int | None
    created_at: dt.datetime
    published_at: dt.datetime | None
    archived_at: dt.datetime | None


@frozen
class CourseIn:
    """A new (draft) course; its creator becomes its instructor."""

    code: str = _text(limits.COURSE_CODE)
    title: str = _text(limits.COURSE_TITLE)
    summary: str = _text(limits.COURSE_SUMMARY, default="")
    category: str | None = _text(limits.COURSE_CATEGORY, default=None)
    tags: list[str] = _items(limits.COURSE_TAGS, factory=list)
    enrollment_policy: str = "open"
    capacity: int | None = None
    due_days: int | None = None


@frozen
class CoursePatch:
    """Course fields to change; keys left out stay as they are."""

    code: str | None = _text(limits.COURSE_CODE, default=None)
    title: str | None = _text(limits.COURSE_TITLE, default=None)
    summary: str | None = _text(limits.COURSE_SUMMARY, default=None)
    category: str | None = _text(limits.COURSE_CATEGORY, default=None)
    tags: list[str] | None = _items(limits.COURSE_TAGS, default=None)
    enrollment_policy: str | None = None
    capacity: int | None = None
    due_days: int | None = None


@frozen
class LessonOut:
    """A lesson. ``body``, ``url`` and ``data`` are null for people not enrolled."""

    id: int
    course_id: int
    position: int
    title: str
    kind: str
    required: bool
    body: str | None
    url: str | None
    data: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime | None


@frozen
class LessonIn:
    """A lesson appended to the course."""

    title: str = _text(limits.LESSON_TITLE)
    kind: str = "page"
    body: str = _text(limits.LESSON_BODY, default="")
    url: str | None = _text(limits.LESSON_URL, default=None)
    required: bool = True
    data: dict[str, Any] = field(factory=dict)


@frozen
class LessonPatch:
    """Lesson fields to change; keys left out stay as they are."""

    title: str | None = _text(limits.LESSON_TITLE, default=None)
    body: str | None = _text(limits.LESSON_BODY, default=None)
    url: str | None = _text(limits.LESSON_URL, default=None)
    required: bool | None = None
    data: dict[str, Any] | None = None


# -- enrollments and progress ----------------------------------------------------------
@frozen
class ProgressOut:
    """Required lessons done out of required lessons (every lesson when none is required)."""

    done: int
    total: int
    percent: int


@frozen
class EnrollmentOut:
    """A user's enrollment in a course, with progress."""

    id: int
    user_id: int
    user_email: str
    course_id: int
    course_code: str
    course_title: str
    status: str
    source: str
    enrolled_at: dt.datetime
    due_at: dt.datetime | None
    completed_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    progress: ProgressOut
    completed_lesson_ids: list[int]


@frozen
class EnrollIn:
    """Whom to enroll: by ``email`` or ``user_id``; neither enrolls the caller.

    ``due_at`` (ISO 8601; without a time zone, UTC) sets when the enrollment is due instead
    of the course's due period: only when enrolling someone else, and in the future.
    """

    email: str | None = _text(limits.EMAIL, default=None)
    user_id: int | None = None
    due_at: dt.datetime | None = None


@frozen
class WithdrawIn:
    """Why (kept in the audit log when a manager withdraws someone)."""

    reason: str = _text(limits.REASON, default="")


#: Every payload class, for the OpenAPI components.
PAYLOADS: tuple[type, ...] = (
    UserOut,
    UserIn,
    UserPatch,
    DeactivateIn,
    GroupOut,
    GroupIn,
    MemberOut,
    GroupDetailOut,
    MembersIn,
    CourseOut,
    CourseIn,
    CoursePatch,
    LessonOut,
    LessonIn,
    LessonPatch,
    ProgressOut,
    EnrollmentOut,
    EnrollIn,
    WithdrawIn,
)

for _cls in PAYLOADS:
    attrs.resolve_types(_cls)
