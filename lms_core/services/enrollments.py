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
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Enrollment
from lms_core.models import EnrollmentPolicy
from lms_core.models import EnrollmentSource
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import GroupCourse
from lms_core.models import GroupMember
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
    "enroll_group",
    "sync_group_enrollments",
    "seats_taken",
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


def _due(course: Course, start: dt.datetime) -> dt.datetime | None:
    return start + dt.timedelta(days=course.due_days) if course.due_days else None


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
    at: dt.datetime | None = None,
) -> Enrollment:
    """Enroll ``user`` in ``course`` (or ask to, on approval-required courses).

    When the actor enrolls themselves the course's policy applies: open courses enroll at
    once, approval courses create a pending request, managers-only courses refuse. Enrolling
    someone else needs ``enrollment.manage`` in the course (or being their line manager).
    Enrolling someone already enrolled returns their enrollment unchanged, except that a
    manager enrolling someone with a pending request approves it.

    :param at: when they enrolled (default now; not in the future): ``enrolled_at``, the due
        date counted from it, and ``UserEnrolled`` all follow it.
    """
    return enroll_or_find(ctx, user, course, source=source, check_capacity=check_capacity, at=at)[0]


def enroll_or_find(
    ctx: Context,
    user: User,
    course: Course,
    *,
    source: str | None = None,
    check_capacity: bool = True,
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
            approve(ctx, existing, at=at)  # a manager enrolling someone who asked approves it
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
        enrollment.due_at = _due(course, now)
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
            due_at=_due(course, now),
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
    return enrollment, True


def approve(ctx: Context, enrollment: Enrollment, *, at: dt.datetime | None = None) -> bool:
    """Approve a pending request. False if it was not pending.

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
    enrollment.status = EnrollmentStatus.ACTIVE
    enrollment.enrolled_at = now
    enrollment.due_at = _due(course, now)
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


def withdraw(
    ctx: Context, enrollment: Enrollment, reason: str = "", *, at: dt.datetime | None = None
) -> bool:
    """Withdraw from a course (learners themselves, or a manager). Progress is kept.

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
    ctx: Context, group: Group, course: Course, *, at: dt.datetime | None = None
) -> list[Enrollment]:
    """Enroll every member of ``group``; members who join later are enrolled too.

    All or nothing: if the members would not fit in the course's capacity, nobody is enrolled.

    :param at: when the members were enrolled (default now), as for :func:`enroll`.
    """
    group = ctx.attach(group)
    course = ctx.attach(course)
    require(ctx, "enrollment.manage", course, to="enroll groups in this course")
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
        enroll(ctx, member, course, source=EnrollmentSource.GROUP, check_capacity=False, at=at)
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
                        session=ctx.session, hooks=ctx.hooks, system=True, address=ctx.address
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
