"""Enrollments: self-enrollment by policy, enrolling others and whole groups, approval, withdrawal.

Concurrency: an enrollment is decided with the course row locked (``SELECT ... FOR UPDATE``
on PostgreSQL; SQLite write transactions are already serialised), so capacity holds and, of
simultaneous enrollments of one person, exactly one creates the enrollment and the others find
it (:func:`enroll_or_find` tells which). The (user, course) pair is unique as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lms_core import limits
from lms_core import outbox
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.events import EnrollmentWithdrawn
from lms_core.events import UserEnrolled
from lms_core.limits import check_length
from lms_core.limits import excerpt
from lms_core.models import ALL_PERMISSIONS
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Enrollment
from lms_core.models import EnrollmentPolicy
from lms_core.models import EnrollmentSource
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import GroupCourse
from lms_core.models import GroupMember
from lms_core.models import RoleAssignment
from lms_core.models import RolePermission
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.permissions import can
from lms_core.services.permissions import require
from lms_core.services.timing import happened_at

__all__ = [
    "get_enrollment",
    "find_enrollment",
    "enroll",
    "enroll_or_find",
    "approve",
    "decline",
    "withdraw",
    "may_leave",
    "enroll_group",
    "sync_group_enrollments",
    "seats_taken",
    "parse_due_date",
    "check_due_date",
]

_OCCUPYING = (EnrollmentStatus.PENDING, EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)


def get_enrollment(ctx: Context, enrollment_id: int) -> Enrollment:
    enrollment = ctx.session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(f"There is no enrollment with id {enrollment_id}.")
    return enrollment


def find_enrollment(ctx: Context, user: User, course: Course) -> Enrollment | None:
    return ctx.session.scalars(
        select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.course_id == course.id)
    ).first()


def seats_taken(ctx: Context, course: Course) -> int:
    """Enrollments that occupy a seat: pending, active and completed."""
    return int(
        ctx.session.scalar(
            select(func.count()).where(
                Enrollment.course_id == course.id, Enrollment.status.in_(_OCCUPYING)
            )
        )
        or 0
    )


def _lock_course(ctx: Context, course: Course) -> None:
    if ctx.session.get_bind().dialect.name == "postgresql":
        ctx.session.execute(select(Course.id).where(Course.id == course.id).with_for_update())


def _may_manage(ctx: Context, user: User, course: Course) -> bool:
    if ctx.system:
        return True
    actor = ctx.actor
    if actor is None:
        return False
    if can(actor, "enrollment.manage", course):
        return True
    # Line managers may enroll their own direct reports.
    return user.manager_id == actor.id and actor.is_active


def _due(
    course: Course, start: dt.datetime, override: dt.datetime | None = None
) -> dt.datetime | None:
    if override is not None:
        return override
    return start + dt.timedelta(days=course.due_days) if course.due_days else None


#: How far ahead a due date may be set (a typo such as 2206 for 2026 is refused).
MAX_DUE_YEARS = 20


def check_due_date(
    due_at: dt.datetime | None, *, field: str = "due_at", now: dt.datetime | None = None
) -> dt.datetime | None:
    """A due date given when enrolling someone, checked: in the future, at most
    :data:`MAX_DUE_YEARS` ahead. A date-time without a time zone is taken as UTC.

    :raises Invalid: naming ``field``.
    """
    if due_at is None:
        return None
    if due_at.tzinfo is None:
        due_at = due_at.replace(tzinfo=dt.UTC)
    now = now or utcnow()
    # Aware date-times compare without converting, so year 9999 in any zone cannot overflow.
    if due_at <= now:
        raise Invalid(
            f"The due date {due_at:%Y-%m-%d %H:%M %Z} has passed; give a date in the future.",
            field=field,
        )
    if due_at > now + dt.timedelta(days=365 * MAX_DUE_YEARS):
        raise Invalid(
            f"The due date {due_at:%Y-%m-%d} is more than {MAX_DUE_YEARS} years away; "
            "check the year.",
            field=field,
        )
    due_at = due_at.astimezone(dt.UTC)
    return due_at


def parse_due_date(
    text: str | None, *, field: str = "due_date", now: dt.datetime | None = None
) -> dt.datetime | None:
    """A due date as people type it (forms, CSV files): ``YYYY-MM-DD`` means the end of that
    day (UTC); a full ISO 8601 date-time is taken as it is. Empty text means none (the
    course's due period applies).

    :raises Invalid: naming ``field`` when the text is not a date, or the date is past or
        too far ahead (:func:`check_due_date`).
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            value = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
        else:
            value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"{excerpt(text)} is not a date; write it as YYYY-MM-DD (for example 2027-03-31).",
            field=field,
        ) from None
    return check_due_date(value, field=field, now=now)


def _enrolled_event(enrollment: Enrollment, course: Course) -> UserEnrolled:
    return UserEnrolled(
        enrollment_id=enrollment.id,
        user_id=enrollment.user_id,
        course_id=course.id,
        course_code=course.code,
        course_category=course.category,
        source=enrollment.source,
        enrolled_at=enrollment.enrolled_at,
        due_at=enrollment.due_at,
    )


def enroll(
    ctx: Context,
    user: User,
    course: Course,
    *,
    source: str | None = None,
    check_capacity: bool = True,
    due_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> Enrollment:
    """Enroll ``user`` in ``course`` (or ask to, on approval-required courses).

    When the actor enrolls themselves the course's policy applies: open courses enroll at
    once, approval courses create a pending request, managers-only courses refuse. Enrolling
    someone else needs ``enrollment.manage`` in the course (or being their line manager).
    Enrolling someone already enrolled returns their enrollment unchanged, except that a
    manager enrolling someone with a pending request approves it.

    :param due_at: when the enrollment is due, instead of the course's due period (only
        for someone enrolling others; after the enrollment starts, see :func:`check_due_date`).
    :param at: when they enrolled (default now; not in the future): ``enrolled_at``, the due
        date counted from it, and ``UserEnrolled`` all follow it.
    """
    return enroll_or_find(
        ctx, user, course, source=source, check_capacity=check_capacity, due_at=due_at, at=at
    )[0]


def enroll_or_find(
    ctx: Context,
    user: User,
    course: Course,
    *,
    source: str | None = None,
    check_capacity: bool = True,
    due_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> tuple[Enrollment, bool]:
    """:func:`enroll`, and whether this call enrolled them.

    :returns: ``(enrollment, created)``: ``created`` is True if this call made the enrollment
        (a new one, or a withdrawn one taken up again), False if the person was already
        enrolled or had asked to be. Decided with the course locked, so of simultaneous calls
        for one person exactly one is told True.
    """
    user = ctx.attach(user)
    course = ctx.attach(course)
    when = happened_at(at)
    self_service = ctx.actor is not None and ctx.actor.id == user.id and not ctx.system
    manager = not self_service and _may_manage(ctx, user, course)
    if self_service and can(ctx.actor, "enrollment.manage", course):
        manager = True
    if source is None:
        source = EnrollmentSource.SELF if self_service else EnrollmentSource.MANAGER
    try:
        source = EnrollmentSource(source).value
    except ValueError:
        raise Invalid(f"{source!r} is not an enrollment source.", field="source") from None
    if not self_service and not manager:
        raise Forbidden(
            "You are not allowed to enroll other people in this course (it needs the enrollment.manage permission).",
            "enrollment.manage",
        )
    if due_at is not None and not manager:
        raise Forbidden(
            "Only someone who enrolls others (enrollment.manage) can set a due date.",
            "enrollment.manage",
        )
    due_at = check_due_date(due_at, now=when)
    if not user.is_active:
        raise Invalid(f"{user.email} is deactivated and cannot be enrolled.")
    if course.status == CourseStatus.ARCHIVED:
        raise Invalid(f"{course.code} is archived; it takes no new enrollments.")
    status = EnrollmentStatus.ACTIVE
    if self_service and not manager:
        require(ctx, "enrollment.self", to="enroll in courses")
        if course.status != CourseStatus.PUBLISHED:
            raise NotFound(f"There is no course {course.code} open for enrollment.")
        if course.enrollment_policy == EnrollmentPolicy.MANAGERS:
            raise Forbidden(
                f"Only managers can enroll people in {course.code}; ask your manager or the course's instructor."
            )
        if course.enrollment_policy == EnrollmentPolicy.APPROVAL:
            status = EnrollmentStatus.PENDING

    # Locked before looking: a simultaneous enrollment of the same person waits here, then
    # finds the one this call makes.
    _lock_course(ctx, course)
    existing = find_enrollment(ctx, user, course)
    if existing is not None and existing.status != EnrollmentStatus.WITHDRAWN:
        if existing.status == EnrollmentStatus.PENDING and status == EnrollmentStatus.ACTIVE:
            # A manager enrolling someone who asked approves the request.
            approve(ctx, existing, due_at=due_at, at=at)
        return existing, False
    ctx.hooks.before_enroll(ctx=ctx, user=user, course=course, source=source)
    if (
        check_capacity
        and course.capacity is not None
        and seats_taken(ctx, course) >= course.capacity
    ):
        raise Conflict(f"{course.code} is full ({course.capacity} places).")

    now = when
    if existing is not None:  # re-enrolling after a withdrawal: the same row comes back
        enrollment = existing
        enrollment.status = status
        enrollment.source = source
        enrollment.enrolled_at = now
        enrollment.due_at = _due(course, now, due_at)
        enrollment.withdrawn_at = None
        enrollment.completed_at = None
        enrollment.enrolled_by_id = ctx.actor_id
        ctx.session.flush()
    else:
        enrollment = Enrollment(
            user_id=user.id,
            course_id=course.id,
            status=status,
            source=source,
            enrolled_at=now,
            due_at=_due(course, now, due_at),
            enrolled_by_id=ctx.actor_id,
        )
        try:
            with ctx.session.begin_nested():
                ctx.session.add(enrollment)
        except IntegrityError:
            # A concurrent request enrolled the same user first: theirs stands.
            winner = find_enrollment(ctx, user, course)
            if winner is None:
                raise
            return winner, False
    if not self_service:
        audit(ctx, "enrollment.create", user, course=course.code, source=source, status=status)
    if status == EnrollmentStatus.ACTIVE:
        outbox.record(ctx, _enrolled_event(enrollment, course))
    else:
        _tell_approvers(ctx, user, course)
    return enrollment, True


def approvers(ctx: Context, user: User, course: Course) -> list[int]:
    """Who is told that ``user`` asks to join ``course``: those who hold
    ``enrollment.manage`` in the course and ``user``'s line manager; when there are none,
    those who hold it site-wide. Active people only, never ``user``; one query."""
    holds = RolePermission.permission.in_(("enrollment.manage", ALL_PERMISSIONS))
    rows = ctx.session.execute(
        select(RoleAssignment.user_id, RoleAssignment.course_id)
        .join(RolePermission, RolePermission.role_id == RoleAssignment.role_id)
        .join(User, User.id == RoleAssignment.user_id)
        .where(
            holds,
            User.is_active.is_(True),
            or_(RoleAssignment.course_id == course.id, RoleAssignment.course_id.is_(None)),
        )
    ).all()
    in_course = {uid for uid, course_id in rows if course_id is not None}
    if user.manager_id is not None:
        in_course.add(user.manager_id)
    chosen = in_course or {uid for uid, course_id in rows if course_id is None}
    chosen.discard(user.id)
    return sorted(chosen)


def _tell_approvers(ctx: Context, user: User, course: Course) -> None:
    from lms_core.default_notifications import APPROVAL_REQUESTED
    from lms_core.services.notifications import notify

    who = user.display_name
    notify(
        ctx,
        APPROVAL_REQUESTED,
        approvers(ctx, user, course),
        f"{who} asks to join {course.title}",
        f"{who} ({user.email}) asks to enroll in {course.title} ({course.code}). "
        "Approve or decline the request on the course's roster.",
        link=f"/teach/courses/{course.id}/learners",
    )


def approve(
    ctx: Context,
    enrollment: Enrollment,
    *,
    due_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> bool:
    """Approve a pending request. False if it was not pending.

    :param due_at: when it is due, instead of the course's due period.
    :param at: when it was approved (default now; not before the request): the enrollment
        starts then.
    """
    enrollment = ctx.attach(enrollment)
    course, user = enrollment.course, enrollment.user
    if not _may_manage(ctx, user, course):
        require(ctx, "enrollment.manage", course, to="approve enrollment requests")
    if enrollment.status != EnrollmentStatus.PENDING:
        return False
    now = happened_at(at, not_before=enrollment.enrolled_at, what="the request")
    due_at = check_due_date(due_at, now=now)
    enrollment.status = EnrollmentStatus.ACTIVE
    enrollment.enrolled_at = now
    enrollment.due_at = _due(course, now, due_at)
    audit(ctx, "enrollment.approve", user, course=course.code)
    outbox.record(ctx, _enrolled_event(enrollment, course))
    return True


def decline(ctx: Context, enrollment: Enrollment, reason: str = "") -> bool:
    """Decline a pending request (it becomes withdrawn). False if it was not pending."""
    reason = check_length("reason", reason or "", limits.REASON)
    enrollment = ctx.attach(enrollment)
    course, user = enrollment.course, enrollment.user
    if not _may_manage(ctx, user, course):
        require(ctx, "enrollment.manage", course, to="decline enrollment requests")
    if enrollment.status != EnrollmentStatus.PENDING:
        return False
    enrollment.status = EnrollmentStatus.WITHDRAWN
    enrollment.withdrawn_at = utcnow()
    audit(ctx, "enrollment.decline", user, course=course.code, reason=reason)
    return True


#: How each kind of assigned enrollment came about, for the message refusing to leave it.
_ASSIGNED_BY: dict[str, str] = {
    EnrollmentSource.MANAGER: "by a manager or the course's instructor",
    EnrollmentSource.GROUP: "through a group you belong to",
    EnrollmentSource.IMPORT: "by an import of the staff list",
    EnrollmentSource.API: "through the API",
    EnrollmentSource.SSO: "by your single sign-on provider",
}


def may_leave(ctx: Context, enrollment: Enrollment) -> bool:
    """Whether the actor may withdraw themselves from ``enrollment``: learners leave what
    they enrolled in themselves; assigned training (by a manager, a group, an import...)
    needs ``enrollment.manage`` in the course."""
    if ctx.system:
        return True
    actor = ctx.actor
    if actor is None or actor.id != enrollment.user_id:
        return False
    return enrollment.source == EnrollmentSource.SELF or can(
        actor, "enrollment.manage", enrollment.course
    )


def withdraw(
    ctx: Context, enrollment: Enrollment, reason: str = "", *, at: dt.datetime | None = None
) -> bool:
    """Withdraw from a course (learners themselves, or a manager). Progress is kept.

    Learners leave only what they enrolled in themselves (:func:`may_leave`): training a
    manager, a group or an import assigned them is theirs to finish unless someone with
    ``enrollment.manage`` (or their line manager) withdraws them.

    A completed enrollment stays completed: its record is history. False if already withdrawn.

    :param at: when they left (default now; not before the enrollment started).
    """
    reason = check_length("reason", reason or "", limits.REASON)
    enrollment = ctx.attach(enrollment)
    course, user = enrollment.course, enrollment.user
    is_self = ctx.actor is not None and ctx.actor.id == user.id
    if not is_self and not _may_manage(ctx, user, course):
        require(ctx, "enrollment.manage", course, to="withdraw other people")
    if enrollment.status == EnrollmentStatus.WITHDRAWN:
        return False
    if enrollment.status == EnrollmentStatus.COMPLETED:
        raise Invalid(
            f"{user.email} has completed {course.code}; a completed course cannot be withdrawn from."
        )
    if is_self and not may_leave(ctx, enrollment):
        how = _ASSIGNED_BY.get(enrollment.source, "for you")
        raise Forbidden(
            f"{course.code} was assigned to you {how}, so you cannot leave it yourself; "
            "ask your manager or the course's instructor to withdraw you.",
            "enrollment.manage",
        )
    was_active = enrollment.status == EnrollmentStatus.ACTIVE
    when = happened_at(at, not_before=enrollment.enrolled_at, what="the enrollment started")
    enrollment.status = EnrollmentStatus.WITHDRAWN
    enrollment.withdrawn_at = when
    if not is_self:
        audit(ctx, "enrollment.withdraw", user, course=course.code, reason=reason)
    if was_active:
        outbox.record(
            ctx,
            EnrollmentWithdrawn(
                enrollment_id=enrollment.id,
                user_id=user.id,
                course_id=course.id,
                course_code=course.code,
                course_category=course.category,
                withdrawn_at=enrollment.withdrawn_at,
            ),
        )
    return True


def enroll_group(
    ctx: Context,
    group: Group,
    course: Course,
    *,
    due_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> list[Enrollment]:
    """Enroll every member of ``group``; members who join later are enrolled too.

    All or nothing: if the members would not fit in the course's capacity, nobody is enrolled.

    :param due_at: when the members enrolled now are due, instead of the course's due period.
        Members who join later get the course's due period (a fixed date may long have
        passed by then).
    :param at: when the members were enrolled (default now), as for :func:`enroll`.
    """
    group = ctx.attach(group)
    course = ctx.attach(course)
    require(ctx, "enrollment.manage", course, to="enroll groups in this course")
    due_at = check_due_date(due_at, now=happened_at(at))
    if course.status == CourseStatus.ARCHIVED:
        raise Invalid(f"{course.code} is archived; it takes no new enrollments.")
    _lock_course(ctx, course)
    members = list(
        ctx.session.scalars(
            select(User)
            .join(GroupMember, GroupMember.user_id == User.id)
            .where(GroupMember.group_id == group.id, User.is_active.is_(True))
        )
    )
    enrolled = set(
        ctx.session.scalars(
            select(Enrollment.user_id).where(
                Enrollment.course_id == course.id, Enrollment.status.in_(_OCCUPYING)
            )
        )
    )
    newcomers = [m for m in members if m.id not in enrolled]
    if course.capacity is not None:
        free = course.capacity - seats_taken(ctx, course)
        if len(newcomers) > free:
            raise Conflict(
                f"{group.name} has {len(newcomers)} members not yet in {course.code}, "
                f"but only {max(free, 0)} of its {course.capacity} places are free. Nobody was enrolled."
            )
    if ctx.session.get(GroupCourse, (group.id, course.id)) is None:
        ctx.session.add(GroupCourse(group_id=group.id, course_id=course.id))
    out = [
        enroll(
            ctx,
            member,
            course,
            source=EnrollmentSource.GROUP,
            check_capacity=False,
            due_at=due_at,
            at=at,
        )
        for member in newcomers
    ]
    audit(ctx, "enrollment.group", group, course=course.code, enrolled=len(out))
    return out


def sync_group_enrollments(
    ctx: Context, group: Group, course_ids: Iterable[int], user_ids: Iterable[int]
) -> None:
    """Enroll new group members in the group's courses; a full course skips them (audited)."""
    users = list(ctx.session.scalars(select(User).where(User.id.in_(list(user_ids)))))
    for course_id in course_ids:
        course = ctx.session.get(Course, course_id)
        if course is None or course.status == CourseStatus.ARCHIVED:
            continue
        for user in users:
            try:
                with ctx.session.begin_nested():
                    sub = Context(
                        session=ctx.session,
                        hooks=ctx.hooks,
                        system=True,
                        address=ctx.address,
                        lms=ctx.lms,
                    )
                    enroll(sub, user, course, source=EnrollmentSource.GROUP)
                    ctx.event_ids.extend(sub.event_ids)
            except (Conflict, Invalid, Forbidden) as exc:
                audit(
                    ctx,
                    "enrollment.group_skipped",
                    user,
                    course=course.code,
                    group=group.name,
                    reason=exc.message,
                )
