"""Hooks the badges plugin offers to other plugins.

Other plugins contribute event types that admins can use in point rules and badge criteria
(``badges_register_event_types``), and react to what badges publishes: a badge awarded or
revoked, a level reached. Those three are events like the core's: written to the outbox in the
transaction that made them true and delivered after commit, one delivery per plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import field
from attrs import frozen

from lms_core import hookspec

if TYPE_CHECKING:
    from lms_core.context import Context
    from plugins.badges import events

__all__ = ["EventType", "FIELD_TYPES"]

#: The field types an event type may declare (what a rule's condition value is checked against).
FIELD_TYPES = ("int", "str", "bool", "datetime")


def _fields(value: dict[str, str]) -> dict[str, str]:
    out = dict(value)
    for name, kind in out.items():
        if kind not in FIELD_TYPES:
            raise ValueError(
                f"field {name!r} has type {kind!r}; use one of {', '.join(FIELD_TYPES)}"
            )
    return out


@frozen(kw_only=True)
class EventType:
    """An event that point rules and badge criteria may use.

    :param name: the event's wire name (its class's ``NAME``), e.g. ``forums.post.created.v1``.
    :param title: what admins see in the rule editor ("Forum post written").
    :param fields: the payload fields a condition may test, name → ``int``, ``str``, ``bool``
        or ``datetime``. The payload must carry ``user_id`` (whose points or badge it is).
    """

    name: str
    title: str
    fields: dict[str, str] = field(factory=dict, converter=_fields)


@hookspec
def badges_register_event_types() -> list[EventType]:  # type: ignore[empty-body]
    """Called when the badges plugin lists the event types admins can build rules on.

    Events a plugin publishes (with ``lms_core.outbox.record``) reach badges through the
    core's generic ``lms_on_event``; declaring them here lets an admin pick them in a point
    rule or an ``{"type": "event"}`` badge requirement, and lets badges check the rule's
    conditions against the field schema when it is saved.

    :returns: :class:`EventType` objects. The event's payload needs a ``user_id`` field.

    Example::

        @hookimpl
        def badges_register_event_types():
            return [EventType(name="forums.post.created.v1", title="Forum post written",
                              fields={"user_id": "int", "forum_id": "int"})]

    .. versionadded:: 0.1
    """


@hookspec
def badges_on_badge_awarded(event: events.BadgeAwarded, ctx: Context) -> None:
    """Called after a badge was awarded (event ``badges.badge.awarded.v1``).

    :param event: :class:`plugins.badges.events.BadgeAwarded` with ``award_id``, ``award_uid``,
        ``badge_id``, ``badge_slug``, ``badge_name``, ``user_id``, ``course_id``, ``manual``,
        ``awarded_at`` and ``expires_at``.
    :param ctx: a unit of work whose transaction also marks this delivery done.
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def badges_on_badge_revoked(event: events.BadgeRevoked, ctx: Context) -> None:
    """Called after an award was revoked (event ``badges.badge.revoked.v1``).

    :param event: :class:`plugins.badges.events.BadgeRevoked` with ``award_id``,
        ``award_uid``, ``badge_id``, ``user_id``, ``reason``, ``revoked_by_id`` and
        ``revoked_at``.
    :param ctx: a unit of work whose transaction also marks this delivery done.
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """


@hookspec
def badges_on_level_reached(event: events.LevelReached, ctx: Context) -> None:
    """Called after a user's points first reached a level's threshold (event
    ``badges.level.reached.v1``; published once per user and level).

    :param event: :class:`plugins.badges.events.LevelReached` with ``user_id``, ``level_id``,
        ``level_name``, ``threshold``, ``points`` and ``reached_at``.
    :param ctx: a unit of work whose transaction also marks this delivery done.
    :returns: nothing (ignored).

    .. versionadded:: 0.1
    """
