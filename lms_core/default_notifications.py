"""The core's own notifications, declared and sent through the same hooks plugins use.

Kinds: enrolled (with the due date), due soon, overdue (to the learner), the team's overdue
(a weekly digest to line managers), an enrollment awaiting approval (to those who may
approve), a course completed, and "what you asked for is ready" (a finished job).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from typing import Any

from attrs import frozen
from markupsafe import escape
from sqlalchemy import select

from lms_core.contributions import AdminPage
from lms_core.contributions import NotificationKind
from lms_core.contributions import ProfileSection
from lms_core.hooks.markers import hookimpl
from lms_core.jobs import JobResult
from lms_core.jobs import JobRun
from lms_core.jobs import JobType
from lms_core.models import Course
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import User
from lms_core.notification_mail import DIGEST_JOB
from lms_core.notification_mail import JOB_TYPES as MAIL_JOB_TYPES
from lms_core.notification_mail import Digest
from lms_core.schedules import Schedule
from lms_core.services import notifications
from lms_core.services.notifications import Message

if TYPE_CHECKING:
    from lms_core import events
    from lms_core.context import Context

ENROLLED = "core.enrolled"
DUE_SOON = "core.due_soon"
OVERDUE = "core.overdue"
TEAM_OVERDUE = "core.team_overdue"
APPROVAL_REQUESTED = "core.approval_requested"
COURSE_COMPLETED = "core.course_completed"
JOB_FINISHED = "core.job_finished"

KINDS = [
    NotificationKind(
        name=ENROLLED,
        title="You are enrolled in a course",
        description="When you, or someone for you, enrolls you; with the due date.",
        default="email",
    ),
    NotificationKind(
        name=DUE_SOON,
        title="A course of yours is due soon",
        description="A few days before a course you are enrolled in is due.",
        default="email",
    ),
    NotificationKind(
        name=OVERDUE,
        title="A course of yours is overdue",
        description="When the due date of a course you have not completed has passed.",
        default="email",
    ),
    NotificationKind(
        name=TEAM_OVERDUE,
        title="Your team's overdue courses (weekly)",
        description="For line managers: once a week, who in your team is overdue with what.",
        default="email",
    ),
    NotificationKind(
        name=APPROVAL_REQUESTED,
        title="An enrollment awaits your approval",
        description="When someone asks to join a course whose requests you may approve.",
        default="email",
    ),
    NotificationKind(
        name=COURSE_COMPLETED,
        title="You completed a course",
        description="When you complete every required lesson of a course.",
        default="site",
    ),
    NotificationKind(
        name=JOB_FINISHED,
        title="Something you asked for is ready",
        description="When an export or another long task you started has finished.",
        default="site",
    ),
]


@hookimpl
def lms_register_notification_kinds() -> list[NotificationKind]:
    return KINDS


def _course(ctx: Context, course_id: int) -> Course | None:
    return ctx.session.get(Course, course_id)


def _told_already(ctx: Context, kind: str, user_id: int, link: str, at: dt.datetime | None) -> bool:
    """Whether this event was already told (a redelivery or an admin's replay: event handlers
    are idempotent). A notification dated by the event's own time identifies it; a later
    fact of the same kind (enrolled again after leaving) has another time."""
    if at is None:
        return False
    from lms_core.models import Notification

    return (
        ctx.session.scalar(
            select(Notification.id).where(
                Notification.user_id == user_id,
                Notification.kind == kind,
                Notification.link == link,
                Notification.created_at == at,
            )
        )
        is not None
    )


@hookimpl
def lms_on_user_enrolled(event: events.UserEnrolled, ctx: Context) -> None:
    course = _course(ctx, event.course_id)
    if course is None:
        return
    if _told_already(ctx, ENROLLED, event.user_id, f"/courses/{course.id}", event.occurred_at):
        return
    due = f" It is due on {event.due_at:%d %B %Y}." if event.due_at is not None else ""
    notifications.notify(
        ctx,
        ENROLLED,
        [event.user_id],
        f"You are enrolled in {course.title}",
        f"You are enrolled in {course.title} ({course.code}).{due}",
        link=f"/courses/{course.id}",
        at=event.occurred_at,
    )


@hookimpl
def lms_on_course_completed(event: events.CourseCompleted, ctx: Context) -> None:
    course = _course(ctx, event.course_id)
    if course is None:
        return
    link = f"/courses/{course.id}"
    if _told_already(ctx, COURSE_COMPLETED, event.user_id, link, event.occurred_at):
        return
    notifications.notify(
        ctx,
        COURSE_COMPLETED,
        [event.user_id],
        f"You completed {course.title}",
        f"Well done: you completed every required lesson of {course.title} ({course.code}).",
        link=f"/courses/{course.id}",
        at=event.occurred_at,
    )


@hookimpl
def lms_profile_sections(ctx: Context, user: User, viewer: User) -> list[ProfileSection]:
    if user.id != viewer.id:
        return []
    html = (
        "<p>Choose, for each kind of notification, whether you are told in the site, by email, "
        "in a daily digest, or not at all.</p>"
        f'<p><a href="{escape("/notifications/preferences")}">Notification preferences</a>'
        f' · <a href="{escape("/notifications/")}">Your notifications</a></p>'
    )
    return [ProfileSection(title="Notifications", html=html, order=20)]


@hookimpl
def lms_admin_pages() -> list[AdminPage]:
    return [
        AdminPage(
            label="Notifications",
            endpoint="notifications_admin.index",
            permission="site.configure",
            description="Default channels, mandatory kinds",
            task="Site",
            order=85,
        )
    ]


@hookimpl
def lms_on_job_finished(event: events.JobFinished, ctx: Context) -> None:
    """Tell whoever asked for a job (an export, a report) that it is ready, or that it failed."""
    if not event.requested_by:
        return
    from lms_core.jobs import job_title

    assert ctx.lms is not None
    title = job_title(ctx.lms, event.job)
    if event.failed:
        subject = f"{title}: it failed"
        text = event.message or "It failed after several attempts; an administrator can retry it."
    else:
        subject = f"{title}: it is ready"
        text = event.message or "What you asked for is ready."
    # The job's page shows its result (with the file to download, if it made one).
    link = f"/jobs/{event.job_id}"
    notifications.notify(ctx, JOB_FINISHED, [event.requested_by], subject, text, link=link)


# -- reminders: due soon, overdue, and the team's overdue ------------------------------------


@frozen
class Reminders:
    """Payload of ``core.due_reminders`` and ``core.team_overdue``: the schedule's tick."""

    tick: dt.datetime


def _open_enrollments(ctx: Context, start: dt.datetime, end: dt.datetime) -> list[tuple[Any, ...]]:
    """(user id, course id, title, code, due) of open enrollments due in [start, end)."""
    return list(
        ctx.session.execute(
            select(Enrollment.user_id, Course.id, Course.title, Course.code, Enrollment.due_at)
            .join(Course, Course.id == Enrollment.course_id)
            .where(
                Enrollment.status.in_((EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING)),
                Enrollment.due_at >= start,
                Enrollment.due_at < end,
            )
            .order_by(Enrollment.due_at, Enrollment.id)
        ).all()
    )


def send_due_reminders(ctx: Context, now: dt.datetime) -> int:
    """Tell learners what falls due in ``due_soon_days`` days (the day that many days ahead)
    and what became overdue in the last day. A fixed number of statements."""
    assert ctx.lms is not None
    days = ctx.lms.config.notifications.due_soon_days
    soon = _open_enrollments(ctx, now + dt.timedelta(days=days), now + dt.timedelta(days=days + 1))
    late = _open_enrollments(ctx, now - dt.timedelta(days=1), now)
    written = notifications.notify_each(
        ctx,
        DUE_SOON,
        [
            Message(
                user_id=uid,
                subject=f"{title} is due in {days} day{'s' if days != 1 else ''}",
                text=f"{title} ({code}) is due on {due:%d %B %Y}. Finish it before then.",
                link=f"/courses/{course_id}",
            )
            for uid, course_id, title, code, due in soon
        ],
    )
    written += notifications.notify_each(
        ctx,
        OVERDUE,
        [
            Message(
                user_id=uid,
                subject=f"{title} is overdue",
                text=f"{title} ({code}) was due on {due:%d %B %Y}. Please finish it as soon as "
                "you can.",
                link=f"/courses/{course_id}",
            )
            for uid, course_id, title, code, due in late
        ],
    )
    return len(written)


#: Overdue items listed in one manager's weekly mail (the rest are counted).
TEAM_ITEMS = 20


def send_team_overdue(ctx: Context, now: dt.datetime) -> int:
    """Tell each line manager what their direct reports have overdue (one notification each)."""
    rows = ctx.session.execute(
        select(User.manager_id, User.name, User.email, Course.title, Enrollment.due_at)
        .join(Enrollment, Enrollment.user_id == User.id)
        .join(Course, Course.id == Enrollment.course_id)
        .where(
            User.manager_id.is_not(None),
            User.is_active.is_(True),
            Enrollment.status.in_((EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING)),
            Enrollment.due_at < now,
        )
        .order_by(User.manager_id, Enrollment.due_at)
    ).all()
    teams: dict[int, list[str]] = {}
    for manager_id, name, email, title, due in rows:
        if manager_id is None:
            continue
        teams.setdefault(manager_id, []).append(f"{name or email}: {title} (due {due:%d %b %Y})")
    messages = []
    for manager_id, items in teams.items():
        shown = "; ".join(items[:TEAM_ITEMS])
        more = f"; and {len(items) - TEAM_ITEMS} more" if len(items) > TEAM_ITEMS else ""
        messages.append(
            Message(
                user_id=manager_id,
                subject=f"Your team has {len(items)} overdue course{'s' if len(items) != 1 else ''}",
                text=f"{shown}{more}.",
                link="/team/?show=overdue",
            )
        )
    return len(notifications.notify_each(ctx, TEAM_OVERDUE, messages))


def _run_due_reminders(ctx: Context, payload: Reminders, job: JobRun) -> JobResult:
    return JobResult(message=f"{send_due_reminders(ctx, payload.tick)} reminder(s).")


def _run_team_overdue(ctx: Context, payload: Reminders, job: JobRun) -> JobResult:
    return JobResult(message=f"{send_team_overdue(ctx, payload.tick)} manager(s) told.")


@hookimpl
def lms_register_jobs() -> list[JobType]:
    return [
        *MAIL_JOB_TYPES,
        JobType(
            name="core.due_reminders",
            payload=Reminders,
            run=_run_due_reminders,
            long=True,
            title="Due-soon and overdue reminders",
        ),
        JobType(
            name="core.team_overdue",
            payload=Reminders,
            run=_run_team_overdue,
            long=True,
            title="Weekly overdue digest for managers",
        ),
    ]


@hookimpl
def lms_register_schedules() -> list[Schedule]:
    return [
        Schedule(
            name="core.notification_digest",
            cron="0 7 * * *",
            timezone="UTC",
            job=DIGEST_JOB,
            payload=lambda tick: Digest(day=tick - dt.timedelta(days=1)),
            title="Daily notification digest",
            description="One mail per person folding the previous day's digest notifications.",
        ),
        Schedule(
            name="core.due_reminders",
            cron="0 6 * * *",
            timezone="UTC",
            job="core.due_reminders",
            payload=lambda tick: Reminders(tick=tick),
            title="Due-soon and overdue reminders",
            description="Learners: what is due in [notifications] due_soon_days days, and what "
            "became overdue.",
        ),
        Schedule(
            name="core.team_overdue",
            cron="0 7 * * 1",
            timezone="UTC",
            job="core.team_overdue",
            payload=lambda tick: Reminders(tick=tick),
            title="Weekly overdue digest for managers",
            description="Each line manager: their direct reports' overdue courses.",
        ),
    ]
