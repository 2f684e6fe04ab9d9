"""Events the badges plugin publishes (through the core's outbox) for other plugins."""

from __future__ import annotations

import datetime as dt

from attrs import field
from attrs import frozen
from attrs.validators import instance_of
from attrs.validators import optional

from lms_core.events import Event
from lms_core.events import register_event_type

__all__ = ["BadgeAwarded", "BadgeRevoked", "LevelReached"]


@register_event_type
@frozen(kw_only=True)
class BadgeAwarded(Event):
    """A user was awarded a badge (automatically when its criteria held, or by hand)."""

    NAME = "badges.badge.awarded.v1"
    HOOK = "badges_on_badge_awarded"
    award_id: int = field(validator=instance_of(int))
    award_uid: str = field(validator=instance_of(str))
    badge_id: int = field(validator=instance_of(int))
    badge_slug: str = field(validator=instance_of(str))
    badge_name: str = field(validator=instance_of(str))
    user_id: int = field(validator=instance_of(int))
    course_id: int | None = field(default=None, validator=optional(instance_of(int)))
    manual: bool = field(default=False, validator=instance_of(bool))
    awarded_at: dt.datetime = field(validator=instance_of(dt.datetime))
    expires_at: dt.datetime | None = field(
        default=None, validator=optional(instance_of(dt.datetime))
    )


@register_event_type
@frozen(kw_only=True)
class BadgeRevoked(Event):
    """An award was revoked, with a reason."""

    NAME = "badges.badge.revoked.v1"
    HOOK = "badges_on_badge_revoked"
    award_id: int = field(validator=instance_of(int))
    award_uid: str = field(validator=instance_of(str))
    badge_id: int = field(validator=instance_of(int))
    user_id: int = field(validator=instance_of(int))
    reason: str = field(validator=instance_of(str))
    revoked_by_id: int | None = field(default=None, validator=optional(instance_of(int)))
    revoked_at: dt.datetime = field(validator=instance_of(dt.datetime))


@register_event_type
@frozen(kw_only=True)
class LevelReached(Event):
    """A user's points reached a level's threshold for the first time."""

    NAME = "badges.level.reached.v1"
    HOOK = "badges_on_level_reached"
    user_id: int = field(validator=instance_of(int))
    level_id: int = field(validator=instance_of(int))
    level_name: str = field(validator=instance_of(str))
    threshold: int = field(validator=instance_of(int))
    points: int = field(validator=instance_of(int))
    reached_at: dt.datetime = field(validator=instance_of(dt.datetime))
