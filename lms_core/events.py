"""Event payloads: frozen, versioned, serializable facts published after a change commits.

Every event class names its versioned wire name (``NAME``) and the hook that delivers it
(``HOOK``). Payloads only ever grow by adding fields with defaults, so rows already in the
outbox still structure with cattrs. Personal data (email, name) sits in one nested
:class:`Person` field so that a sink which must not keep it can drop ``person``.

Every event says when its fact happened (:attr:`Event.occurred_at`): the time the recorded
data says (a completion's ``completed_at``), which is not when the event was written to the
outbox or delivered. A past completion recorded today is delivered with its own date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from typing import ClassVar

import attrs
from attrs import field
from attrs import frozen
from attrs.validators import in_
from attrs.validators import instance_of
from attrs.validators import optional

from lms_core.serde import converter

__all__ = [
    "Event",
    "Person",
    "UserCreated",
    "UserUpdated",
    "UserDeactivated",
    "UserReactivated",
    "UserLoggedIn",
    "GroupMembershipChanged",
    "CourseCreated",
    "CoursePublished",
    "CourseArchived",
    "UserEnrolled",
    "EnrollmentWithdrawn",
    "LessonCompleted",
    "CourseCompleted",
    "RoleAssigned",
    "RoleRevoked",
    "JobFinished",
    "EVENT_TYPES",
    "event_type",
    "register_event_type",
    "dump_event",
    "load_event",
]


def _int() -> Any:
    return field(validator=instance_of(int))


def _str() -> Any:
    return field(validator=instance_of(str))


def _names(value: Any) -> tuple[str, ...]:
    return tuple(value)


def _when() -> Any:
    return field(validator=instance_of(dt.datetime))


def _opt(tp: type) -> Any:
    return field(default=None, validator=optional(instance_of(tp)))


@frozen(kw_only=True)
class Person:
    """The personal data an event carries, in one place."""

    email: str = field(validator=instance_of(str))
    name: str = field(default="", validator=instance_of(str))


class Event:
    """Base of every event payload class."""

    NAME: ClassVar[str]
    HOOK: ClassVar[str]
    #: The field holding when the fact happened; None: the first ``at`` or ``*_at`` field.
    WHEN: ClassVar[str | None] = None

    @property
    def occurred_at(self) -> dt.datetime | None:
        """When the fact happened, as the recorded data says (None if the event has no time).

        Plugins date what they derive from an event by this (a badge awarded for a completion
        carries the completion's time), never by the time the event reached them.
        """
        names = [self.WHEN] if self.WHEN else []
        cls: Any = type(self)
        if attrs.has(cls):
            names += [f.name for f in attrs.fields(cls) if f.name == "at" or f.name.endswith("_at")]
        for name in names:
            value = getattr(self, name, None)
            if isinstance(value, dt.datetime):
                return value
        return None


EVENT_TYPES: dict[str, type[Event]] = {}


def register_event_type(cls: type[Event]) -> type[Event]:
    """Make ``cls`` known by its ``NAME`` so outbox rows of that name can be loaded.

    Plugins that publish their own events register them the same way.
    """
    existing = EVENT_TYPES.get(cls.NAME)
    if existing is not None and existing is not cls:
        raise ValueError(f"event name {cls.NAME!r} is already used by {existing.__qualname__}")
    EVENT_TYPES[cls.NAME] = cls
    return cls


def event_type(name: str) -> type[Event]:
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown event {name!r}") from None


def dump_event(event: Event) -> dict[str, Any]:
    return converter.unstructure(event)


def load_event(name: str, payload: dict[str, Any]) -> Event:
    return converter.structure(payload, event_type(name))


@register_event_type
@frozen(kw_only=True)
class UserCreated(Event):
    """A user account was created (by an admin, an import, single sign-on or self sign-up)."""

    NAME = "lms.user.created.v1"
    HOOK = "lms_on_user_created"
    WHEN = "created_at"
    user_id: int = _int()
    created_at: dt.datetime = _when()
    source: str = _str()
    person: Person = field(validator=instance_of(Person))


@register_event_type
@frozen(kw_only=True)
class UserUpdated(Event):
    """A user's profile changed; ``changed`` names the fields."""

    NAME = "lms.user.updated.v1"
    HOOK = "lms_on_user_updated"
    WHEN = "updated_at"
    user_id: int = _int()
    updated_at: dt.datetime = _when()
    changed: tuple[str, ...] = field(converter=_names)
    person: Person = field(validator=instance_of(Person))


@register_event_type
@frozen(kw_only=True)
class UserDeactivated(Event):
    """A user was deactivated: they can no longer sign in; their history stays."""

    NAME = "lms.user.deactivated.v1"
    HOOK = "lms_on_user_deactivated"
    WHEN = "deactivated_at"
    user_id: int = _int()
    deactivated_at: dt.datetime = _when()
    person: Person = field(validator=instance_of(Person))


@register_event_type
@frozen(kw_only=True)
class UserReactivated(Event):
    """A deactivated user was allowed to sign in again."""

    NAME = "lms.user.reactivated.v1"
    HOOK = "lms_on_user_reactivated"
    WHEN = "reactivated_at"
    user_id: int = _int()
    reactivated_at: dt.datetime = _when()
    person: Person = field(validator=instance_of(Person))


@register_event_type
@frozen(kw_only=True)
class UserLoggedIn(Event):
    """A user signed in; ``method`` is ``password`` or the name of an auth provider."""

    NAME = "lms.user.logged_in.v1"
    HOOK = "lms_on_user_logged_in"
    WHEN = "logged_in_at"
    user_id: int = _int()
    logged_in_at: dt.datetime = _when()
    method: str = _str()
    person: Person = field(validator=instance_of(Person))


@register_event_type
@frozen(kw_only=True)
class GroupMembershipChanged(Event):
    """A user joined or left a group (``change`` is ``added`` or ``removed``)."""

    NAME = "lms.group.membership_changed.v1"
    HOOK = "lms_on_group_membership_changed"
    WHEN = "changed_at"
    group_id: int = _int()
    group_name: str = _str()
    user_id: int = _int()
    change: str = field(validator=in_(("added", "removed")))
    source: str = _str()
    changed_at: dt.datetime = _when()


@frozen(kw_only=True)
class _CourseFact(Event):
    WHEN = "at"
    course_id: int = _int()
    code: str = _str()
    title: str = _str()
    category: str | None = _opt(str)
    at: dt.datetime = _when()


@register_event_type
@frozen(kw_only=True)
class CourseCreated(_CourseFact):
    """A course was created (as a draft)."""

    NAME = "lms.course.created.v1"
    HOOK = "lms_on_course_created"


@register_event_type
@frozen(kw_only=True)
class CoursePublished(_CourseFact):
    """A course was published: learners can now find it and enroll."""

    NAME = "lms.course.published.v1"
    HOOK = "lms_on_course_published"


@register_event_type
@frozen(kw_only=True)
class CourseArchived(_CourseFact):
    """A course was archived: it leaves the catalog; enrollments and records stay."""

    NAME = "lms.course.archived.v1"
    HOOK = "lms_on_course_archived"


@frozen(kw_only=True)
class _EnrollmentFact(Event):
    enrollment_id: int = _int()
    user_id: int = _int()
    course_id: int = _int()
    course_code: str = _str()
    course_category: str | None = _opt(str)


@register_event_type
@frozen(kw_only=True)
class UserEnrolled(_EnrollmentFact):
    """A user became actively enrolled in a course (directly, or when a request was approved)."""

    NAME = "lms.enrollment.created.v1"
    HOOK = "lms_on_user_enrolled"
    WHEN = "enrolled_at"
    source: str = _str()
    enrolled_at: dt.datetime = _when()
    due_at: dt.datetime | None = _opt(dt.datetime)


@register_event_type
@frozen(kw_only=True)
class EnrollmentWithdrawn(_EnrollmentFact):
    """A user left a course, or was withdrawn from it."""

    NAME = "lms.enrollment.withdrawn.v1"
    HOOK = "lms_on_enrollment_withdrawn"
    WHEN = "withdrawn_at"
    withdrawn_at: dt.datetime = _when()


@register_event_type
@frozen(kw_only=True)
class LessonCompleted(_EnrollmentFact):
    """A learner completed a lesson (recorded once per enrollment and lesson)."""

    NAME = "lms.lesson.completed.v1"
    HOOK = "lms_on_lesson_completed"
    WHEN = "completed_at"
    lesson_id: int = _int()
    completed_at: dt.datetime = _when()


@register_event_type
@frozen(kw_only=True)
class CourseCompleted(_EnrollmentFact):
    """A learner completed a course: its completion rule holds (recorded once)."""

    NAME = "lms.course.completed.v1"
    HOOK = "lms_on_course_completed"
    WHEN = "completed_at"
    completed_at: dt.datetime = _when()


@frozen(kw_only=True)
class _RoleFact(Event):
    WHEN = "at"
    user_id: int = _int()
    role: str = _str()
    course_id: int | None = _opt(int)
    by_user_id: int | None = _opt(int)
    at: dt.datetime = _when()


@register_event_type
@frozen(kw_only=True)
class RoleAssigned(_RoleFact):
    """A role was given to a user at site scope (``course_id`` None) or in one course."""

    NAME = "lms.role.assigned.v1"
    HOOK = "lms_on_role_assigned"


@register_event_type
@frozen(kw_only=True)
class RoleRevoked(_RoleFact):
    """A role was taken from a user at site scope or in one course."""

    NAME = "lms.role.revoked.v1"
    HOOK = "lms_on_role_revoked"


@register_event_type
@frozen(kw_only=True)
class JobFinished(Event):
    """A background job someone asked for finished (or gave up): tell them."""

    NAME = "lms.job.finished.v1"
    HOOK = "lms_on_job_finished"
    WHEN = "finished_at"
    job_id: int = _int()
    #: The job type's name (``reports.export``).
    job: str = _str()
    #: The user who asked for it.
    requested_by: int = _int()
    finished_at: dt.datetime = _when()
    failed: bool = field(default=False, validator=instance_of(bool))
    message: str = field(default="", validator=instance_of(str))
    #: The result file in the file store, if the job made one.
    file_id: int | None = _opt(int)
