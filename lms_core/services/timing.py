"""When a service records that something happened: now, or the explicit time it is given.

Services stamp what they record with "now" unless the caller says when it happened (``at=``):
an import of past training records, a migration from another system, the demo's history.
The same time goes into the rows and into the events published about them, so every plugin
sees the fact at the time the data records, never at the time it was typed in.
"""

from __future__ import annotations

import datetime as dt

from lms_core.db import utcnow
from lms_core.errors import Invalid

__all__ = ["happened_at", "CLOCK_SKEW"]

#: How far into the future an explicit time may be (clocks of two machines disagree a little).
CLOCK_SKEW = dt.timedelta(minutes=5)


def happened_at(
    at: dt.datetime | None,
    *,
    field: str = "at",
    not_before: dt.datetime | None = None,
    what: str = "it started",
) -> dt.datetime:
    """The time to record: ``at`` in UTC, or now when it is None.

    :param not_before: the earliest time that makes sense (e.g. when the enrollment started).
    :raises Invalid: naming ``field`` for a value that is not a timezone-aware datetime, that
        lies in the future, or that is earlier than ``not_before``.
    """
    if at is None:
        return utcnow()
    if not isinstance(at, dt.datetime):
        raise Invalid(f"{field} must be a date and time; got {at!r}.", field=field)
    if at.tzinfo is None or at.utcoffset() is None:
        raise Invalid(
            f"{field} must say its time zone (e.g. UTC); got {at.isoformat()}.", field=field
        )
    at = at.astimezone(dt.UTC)
    if at > utcnow() + CLOCK_SKEW:
        raise Invalid(f"{field} cannot be in the future; got {at.isoformat()}.", field=field)
    if not_before is not None and at < not_before:
        raise Invalid(
            f"{field} ({at.isoformat()}) is before {what} ({not_before.isoformat()}).",
            field=field,
        )
    return at
