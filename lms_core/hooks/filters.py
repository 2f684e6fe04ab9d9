"""Filter hooks (``lms_before_*``): called inside an action, before it happens.

A filter may adjust what it is given or veto the action by raising
:class:`lms_core.Rejected`; the message reaches the user as it is. Gating filters fail
closed: if an implementation raises anything other than ``Rejected``, the action is refused
(and the error logged), never waved through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lms_core.hooks.markers import hookspec

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.models import Course
    from lms_core.models import Enrollment
    from lms_core.models import User


@hookspec
def lms_before_enroll(ctx: Context, user: User, course: Course, source: str) -> None:
    """Called before ``user`` is enrolled in ``course`` (or asks to be, on approval courses).

    :param ctx: the unit of work: ``ctx.session``, ``ctx.actor`` (who is acting).
    :param user: the learner to be enrolled.
    :param course: the course.
    :param source: how: ``self``, ``manager``, ``group``, ``import``, ``api`` or ``sso``.
    :returns: nothing. Raise ``Rejected(reason)`` to refuse.

    Example: only let people in the Sales department take courses tagged ``sales``::

        @hookimpl
        def lms_before_enroll(ctx, user, course, source):
            if "sales" in course.tags and user.department != "Sales":
                raise Rejected("This course is for the Sales department.")

    .. versionadded:: 0.1
    """


@hookspec
def lms_before_course_completion(ctx: Context, enrollment: Enrollment) -> None:
    """Called when every required lesson of a course is done, before it is marked complete.

    Plugins add completion criteria here (a passed quiz, an attendance record). Raise
    ``Rejected(reason)`` to keep the course open; the completion is checked again the next
    time the learner completes a lesson, or when your plugin calls
    :func:`lms_core.services.progress.check_completion` (``check_completion(ctx, enrollment)``,
    for instance once the quiz is passed).

    :param ctx: the unit of work.
    :param enrollment: the enrollment about to complete (``enrollment.user``, ``.course``).
    :returns: nothing.

    .. versionadded:: 0.1
    """


@hookspec
def lms_before_login(user: User, method: str, address: str | None) -> None:
    """Called after a user's credentials check out, before the session starts.

    :param user: the user signing in.
    :param method: ``password`` or the name of an auth provider.
    :param address: the client's IP address, when known.
    :returns: nothing. Raise ``Rejected(reason, redirect_to=...)`` to refuse the sign-in
        (for example to demand a second factor first).

    .. versionadded:: 0.1
    """
