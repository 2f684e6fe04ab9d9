"""The core's own notifications, declared and sent through the same hooks plugins use.

Kinds: enrolled (with the due date), due soon, overdue (to the learner), the team's overdue
(a weekly digest to line managers), an enrollment awaiting approval (to those who may
approve), a course completed, and "what you asked for is ready" (a finished job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import escape

from lms_core.contributions import AdminPage
from lms_core.contributions import NotificationKind
from lms_core.contributions import ProfileSection
from lms_core.hooks.markers import hookimpl
from lms_core.models import Course
from lms_core.services import notifications

if TYPE_CHECKING:
    from lms_core import events
    from lms_core.context import Context
    from lms_core.models import User

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


@hookimpl
def lms_on_user_enrolled(event: events.UserEnrolled, ctx: Context) -> None:
    course = _course(ctx, event.course_id)
    if course is None:
        return
    due = f" It is due on {event.due_at:%d %B %Y}." if event.due_at is not None else ""
    notifications.notify(
        ctx,
        ENROLLED,
        [event.user_id],
        f"You are enrolled in {course.title}",
        f"You are enrolled in {course.title} ({course.code}).{due}",
        link=f"/courses/{course.id}",
    )


@hookimpl
def lms_on_course_completed(event: events.CourseCompleted, ctx: Context) -> None:
    course = _course(ctx, event.course_id)
    if course is None:
        return
    notifications.notify(
        ctx,
        COURSE_COMPLETED,
        [event.user_id],
        f"You completed {course.title}",
        f"Well done: you completed every required lesson of {course.title} ({course.code}).",
        link=f"/courses/{course.id}",
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
