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

    email: str
    name: str = ""
    department: str | None = None
    location: str | None = None
    job_title: str | None = None
    manager_id: int | None = None
    timezone: str = "UTC"
    locale: str = "en"
    roles: list[str] = field(factory=lambda: ["learner"])


@frozen
class UserPatch:
    """Profile fields to change; keys left out stay as they are."""

    email: str | None = None
    name: str | None = None
    department: str | None = None
    location: str | None = None
    job_title: str | None = None
    manager_id: int | None = None
    timezone: str | None = None
    locale: str | None = None


@frozen
class DeactivateIn:
    """Why the account is deactivated (kept in the audit log)."""

    reason: str = ""


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

    name: str
    kind: str = "custom"
    description: str = ""
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

    emails: list[str]


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

    code: str
    title: str
    summary: str = ""
    category: str | None = None
    tags: list[str] = field(factory=list)
    enrollment_policy: str = "open"
    capacity: int | None = None
    due_days: int | None = None


@frozen
class CoursePatch:
    """Course fields to change; keys left out stay as they are."""

    code: str | None = None
    title: str | None = None
    summary: str | None = None
    category: str | None = None
    tags: list[str] | None = None
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

    title: str
    kind: str = "page"
    body: str = ""
    url: str | None = None
    required: bool = True
    data: dict[str, Any] = field(factory=dict)


@frozen
class LessonPatch:
    """Lesson fields to change; keys left out stay as they are."""

    title: str | None = None
    body: str | None = None
    url: str | None = None
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
    """Whom to enroll: by ``email`` or ``user_id``; neither enrolls the caller."""

    email: str | None = None
    user_id: int | None = None


@frozen
class WithdrawIn:
    """Why (kept in the audit log when a manager withdraws someone)."""

    reason: str = ""


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
