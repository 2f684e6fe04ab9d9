"""Event hooks (``lms_on_*``): facts, called after the transaction that made them true committed.

Each event is written to the outbox in the same transaction as the change, then delivered to
every enabled plugin that implements the hook, with a delivery record per (event, plugin):
retried with exponential backoff when the implementation raises, and visible to admins when
it keeps failing. An implementation that raises never undoes the change and never stops
other plugins from getting the event.

Implementations must be idempotent: after a crash or an admin's "redeliver" the same event
(same payload) may arrive again. Return values are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lms_core.hooks.markers import hookspec

if TYPE_CHECKING:
    from lms_core import events
    from lms_core.context import Context


@hookspec
def lms_on_user_created(event: events.UserCreated, ctx: Context) -> None:
    """Called after a user account was created (event ``lms.user.created.v1``).

    :param event: :class:`lms_core.events.UserCreated` with ``user_id``, ``created_at``, ``source`` and ``person``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_user_updated(event: events.UserUpdated, ctx: Context) -> None:
    """Called after a user's profile changed (event ``lms.user.updated.v1``).

    :param event: :class:`lms_core.events.UserUpdated` with ``user_id``, ``updated_at``, ``changed`` (field names) and ``person``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_user_deactivated(event: events.UserDeactivated, ctx: Context) -> None:
    """Called after a user was deactivated (event ``lms.user.deactivated.v1``).

    :param event: :class:`lms_core.events.UserDeactivated` with ``user_id``, ``deactivated_at`` and ``person``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_user_reactivated(event: events.UserReactivated, ctx: Context) -> None:
    """Called after a deactivated user was reactivated (event ``lms.user.reactivated.v1``).

    :param event: :class:`lms_core.events.UserReactivated` with ``user_id``, ``reactivated_at`` and ``person``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_user_logged_in(event: events.UserLoggedIn, ctx: Context) -> None:
    """Called after a user signed in (event ``lms.user.logged_in.v1``).

    :param event: :class:`lms_core.events.UserLoggedIn` with ``user_id``, ``logged_in_at``, ``method`` and ``person``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_group_membership_changed(event: events.GroupMembershipChanged, ctx: Context) -> None:
    """Called after a user joined or left a group (event ``lms.group.membership_changed.v1``).

    :param event: :class:`lms_core.events.GroupMembershipChanged` with ``group_id``, ``group_name``, ``user_id``, ``change``, ``source`` and ``changed_at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_course_created(event: events.CourseCreated, ctx: Context) -> None:
    """Called after a course was created (event ``lms.course.created.v1``).

    :param event: :class:`lms_core.events.CourseCreated` with ``course_id``, ``code``, ``title``, ``category`` and ``at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_course_published(event: events.CoursePublished, ctx: Context) -> None:
    """Called after a course was published (event ``lms.course.published.v1``).

    :param event: :class:`lms_core.events.CoursePublished` with ``course_id``, ``code``, ``title``, ``category`` and ``at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_course_archived(event: events.CourseArchived, ctx: Context) -> None:
    """Called after a course was archived (event ``lms.course.archived.v1``).

    :param event: :class:`lms_core.events.CourseArchived` with ``course_id``, ``code``, ``title``, ``category`` and ``at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_user_enrolled(event: events.UserEnrolled, ctx: Context) -> None:
    """Called after a user became actively enrolled in a course (event ``lms.enrollment.created.v1``).

    :param event: :class:`lms_core.events.UserEnrolled` with ``enrollment_id``, ``user_id``, ``course_id``, ``course_code``, ``course_category``, ``source``, ``enrolled_at`` and ``due_at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_enrollment_withdrawn(event: events.EnrollmentWithdrawn, ctx: Context) -> None:
    """Called after a user was withdrawn from a course (event ``lms.enrollment.withdrawn.v1``).

    :param event: :class:`lms_core.events.EnrollmentWithdrawn` with ``enrollment_id``, ``user_id``, ``course_id``, ``course_code``, ``course_category`` and ``withdrawn_at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_lesson_completed(event: events.LessonCompleted, ctx: Context) -> None:
    """Called after a learner completed a lesson (event ``lms.lesson.completed.v1``).

    :param event: :class:`lms_core.events.LessonCompleted` with ``enrollment_id``, ``user_id``, ``course_id``, ``course_code``, ``course_category``, ``lesson_id`` and ``completed_at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_course_completed(event: events.CourseCompleted, ctx: Context) -> None:
    """Called after a learner completed a course (event ``lms.course.completed.v1``).

    :param event: :class:`lms_core.events.CourseCompleted` with ``enrollment_id``, ``user_id``, ``course_id``, ``course_code``, ``course_category`` and ``completed_at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    Example: a point per completed course, idempotent on ``enrollment_id``::

        @hookimpl
        def lms_on_course_completed(event, ctx):
            award_points_once(ctx, key=("course", event.enrollment_id), user_id=event.user_id)

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_role_assigned(event: events.RoleAssigned, ctx: Context) -> None:
    """Called after a role was assigned to a user (event ``lms.role.assigned.v1``).

    :param event: :class:`lms_core.events.RoleAssigned` with ``user_id``, ``role``, ``course_id`` (None at site scope), ``by_user_id`` and ``at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_role_revoked(event: events.RoleRevoked, ctx: Context) -> None:
    """Called after a role was revoked from a user (event ``lms.role.revoked.v1``).

    :param event: :class:`lms_core.events.RoleRevoked` with ``user_id``, ``role``, ``course_id`` (None at site scope), ``by_user_id`` and ``at``.
    :param ctx: a unit of work whose transaction also marks this delivery done, so writes made
        through ``ctx.session`` commit exactly when the delivery does (take it only if needed).
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def lms_on_job_finished(event: events.JobFinished, ctx: Context) -> None:
    """Called after a background job someone asked for finished or gave up (event ``lms.job.finished.v1``).

    :param event: :class:`lms_core.events.JobFinished` with ``job_id``, ``job`` (the job type),
        ``requested_by`` (the user to tell), ``finished_at``, ``failed``, ``message`` and
        ``file_id`` (its result in the file store, or None).
    :param ctx: a unit of work whose transaction also marks this delivery done.
    :returns: nothing (ignored).

    Example (the core's notifications tell the requester their export is ready)::

        @hookimpl
        def lms_on_job_finished(event, ctx):
            if event.job == "reports.export" and not event.failed:
                notify(ctx, "reports.export_ready", [event.requested_by], ...)

    .. versionadded:: 0.2
    """


@hookspec
def lms_on_event(event: events.Event, ctx: Context) -> None:
    """Called after any event committed, core or plugin-published, for plugins that react to
    events generically (rules engines, exporters, webhooks).

    A plugin that implements the event's own hook (``lms_on_course_completed``) gets that one
    instead, never both. Delivery is the same: after commit, one delivery record per
    (event, plugin), retried with backoff.

    :param event: any :class:`lms_core.events.Event`; ``event.NAME`` says which
        (``lms.course.completed.v1``, ``forums.post.created.v1`` ...).
    :param ctx: a unit of work whose transaction also marks this delivery done.
    :returns: nothing (ignored).

    Example::

        @hookimpl
        def lms_on_event(event, ctx):
            for rule in rules_for(ctx, event.NAME):
                rule.apply(ctx, event)

    .. versionadded:: 0.1
    """
