"""Schedules: jobs enqueued on a cron timetable, each due tick exactly once.

Plugins (and the core) declare :class:`Schedule` objects through ``lms_register_schedules``.
Every worker calls :meth:`Scheduler.tick` in its loop. For each schedule whose latest tick
(the last time its cron expression names, up to now, in its time zone) is later than the
tick recorded in its ``schedules`` row, the worker moves the row forward with a conditional
UPDATE and, only if that UPDATE changed the row, enqueues the schedule's job with the
idempotency key ``schedule:<name>:<tick>``. Two workers racing for the same tick: one UPDATE
wins (PostgreSQL re-checks the condition after the row lock; SQLite serialises writers), and
the key is unique besides, so the tick's job exists once. A worker down for a day finds only
the latest tick due: missed ticks run once, not once each. A schedule seen for the first time
starts at its next tick.

Crons are parsed by croniter (maintained, time-zone aware, five fields or six with seconds
last); time zones are IANA names (zoneinfo).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from attrs import define
from attrs import field
from attrs import frozen
from croniter import croniter
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from lms_core.db import utcnow
from lms_core.models import ScheduleState

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.runtime import LMS

__all__ = ["Schedule", "Scheduler", "schedules", "run_now", "latest_tick", "next_tick"]

log = logging.getLogger(__name__)

#: Names of the core's own default plugins, jobs and schedules start with this
#: (:data:`lms_core.plugins.CORE_PLUGIN_PREFIX`; not imported: that module loads this one).
_CORE = "core."

#: How often a worker looks at the schedules when none is due sooner (picks up toggles).
RECHECK = dt.timedelta(seconds=15)


def _valid_cron(_instance: Any, _attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not croniter.is_valid(value):
        raise ValueError(f"not a valid cron expression: {value!r}")


def _valid_zone(_instance: Any, _attribute: Any, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"not a known time zone: {value!r}") from None


@frozen(kw_only=True)
class Schedule:
    """A job enqueued on a timetable.

    :param name: ``<plugin>.<schedule>``; the core's start with ``core.``.
    :param cron: five fields (minute hour day month weekday), or six with seconds last.
    :param job: the job type to enqueue (declared with ``lms_register_jobs``).
    :param timezone: the IANA zone the cron expression is read in ("0 7 * * *" in
        ``Europe/Berlin`` is 07:00 there, summer and winter).
    :param payload: ``payload(tick) -> payload object``; None: the job's payload class called
        with no arguments.
    """

    name: str
    cron: str = field(validator=_valid_cron)
    job: str
    timezone: str = field(default="UTC", validator=_valid_zone)
    title: str = ""
    description: str = ""
    payload: Callable[[dt.datetime], Any] | None = field(default=None, eq=False)


def latest_tick(schedule: Schedule, now: dt.datetime) -> dt.datetime:
    """The last tick of ``schedule`` at or before ``now`` (UTC)."""
    local = now.astimezone(ZoneInfo(schedule.timezone)) + dt.timedelta(microseconds=1)
    tick: dt.datetime = croniter(schedule.cron, local).get_prev(dt.datetime)
    return tick.astimezone(dt.UTC)


def next_tick(schedule: Schedule, now: dt.datetime) -> dt.datetime:
    """The first tick of ``schedule`` after ``now`` (UTC)."""
    local = now.astimezone(ZoneInfo(schedule.timezone))
    tick: dt.datetime = croniter(schedule.cron, local).get_next(dt.datetime)
    return tick.astimezone(dt.UTC)


def schedules(lms: LMS) -> dict[str, tuple[str, Schedule]]:
    """name -> (owning plugin, schedule) of every enabled plugin's schedules."""
    from lms_core.jobs import job_types

    types = job_types(lms)
    found: dict[str, tuple[str, Schedule]] = {}
    for plugin, fn in lms.hooks.implementations("lms_register_schedules"):
        for schedule in fn() or ():
            own = (
                schedule.name.startswith(_CORE)
                if plugin.startswith(_CORE)
                else schedule.name.startswith(f"{plugin}.")
            )
            if not own:
                log.warning("plugin %s declares schedule %r: not its name", plugin, schedule.name)
            elif schedule.job not in types:
                log.warning(
                    "schedule %s names job %r, which no enabled plugin declares",
                    schedule.name,
                    schedule.job,
                )
            else:
                found.setdefault(schedule.name, (plugin, schedule))
    return found


def _payload(lms: LMS, schedule: Schedule, tick: dt.datetime) -> Any:
    if schedule.payload is not None:
        return schedule.payload(tick)
    from lms_core.jobs import job_types

    return job_types(lms)[schedule.job][1].payload()


def _insert_state(ctx: Context, values: dict[str, Any]) -> None:
    dialect = ctx.session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    ctx.session.execute(
        insert_(ScheduleState).values(values).on_conflict_do_nothing(index_elements=["name"])
    )


@define
class Scheduler:
    """Enqueues the jobs of due schedules; one per worker process."""

    lms: LMS
    _wake_at: dt.datetime | None = None

    def tick(self, now: dt.datetime | None = None, *, force: bool = False) -> int:
        """Enqueue the job of every schedule with a tick due; returns how many were enqueued.

        Cheap when nothing is due: the database is read only when a schedule's next tick
        has come or :data:`RECHECK` has passed (``force`` reads it now).
        """
        now = now or utcnow()
        if not force and self._wake_at is not None and now < self._wake_at:
            return 0
        declared = schedules(self.lms)
        if not declared:
            self._wake_at = now + RECHECK
            return 0
        enqueued = 0
        wake = now + RECHECK
        with self.lms.transaction(system=True) as ctx:
            states = {
                state.name: state
                for state in ctx.session.scalars(
                    select(ScheduleState).where(ScheduleState.name.in_(sorted(declared)))
                )
            }
            for name, (plugin, schedule) in sorted(declared.items()):
                tick = latest_tick(schedule, now)
                wake = min(wake, next_tick(schedule, now))
                state = states.get(name)
                if state is None:  # first seen: it starts at its next tick
                    _insert_state(ctx, {"name": name, "plugin": plugin, "last_tick_at": tick})
                    continue
                if not state.enabled:
                    continue
                if state.last_tick_at is not None and tick <= state.last_tick_at:
                    continue
                moved = ctx.session.execute(
                    update(ScheduleState)
                    .where(
                        ScheduleState.name == name,
                        or_(
                            ScheduleState.last_tick_at.is_(None), ScheduleState.last_tick_at < tick
                        ),
                    )
                    .values(last_tick_at=tick)
                    .execution_options(synchronize_session=False)
                )
                if not moved.rowcount:  # type: ignore[attr-defined]
                    continue  # another worker took this tick
                job_id = ctx.enqueue(
                    schedule.job,
                    _payload(self.lms, schedule, tick),
                    key=f"schedule:{name}:{tick.isoformat()}",
                )
                if job_id is not None:
                    enqueued += 1
                    ctx.session.execute(
                        update(ScheduleState)
                        .where(ScheduleState.name == name)
                        .values(last_delivery_id=job_id)
                        .execution_options(synchronize_session=False)
                    )
        self._wake_at = wake
        return enqueued


def run_now(ctx: Context, name: str) -> int:
    """Enqueue a schedule's job now, outside its timetable (an admin's "run now")."""
    from lms_core.errors import NotFound

    assert ctx.lms is not None
    entry = schedules(ctx.lms).get(name)
    if entry is None:
        raise NotFound(f"There is no schedule called {name!r} (or its plugin is off).")
    plugin, schedule = entry
    now = utcnow()
    job_id = ctx.enqueue(
        schedule.job,
        _payload(ctx.lms, schedule, now),
        key=f"schedule:{name}:manual:{uuid.uuid4().hex}",
        requested_by=ctx.actor_id,
    )
    _insert_state(ctx, {"name": name, "plugin": plugin, "last_tick_at": latest_tick(schedule, now)})
    ctx.session.execute(
        update(ScheduleState)
        .where(ScheduleState.name == name)
        .values(last_delivery_id=job_id)
        .execution_options(synchronize_session=False)
    )
    from lms_core.services.audit import audit

    audit(ctx, "schedule.run_now", None, schedule=name, job=job_id)
    assert job_id is not None
    return job_id


def set_enabled(ctx: Context, name: str, enabled: bool) -> None:
    """Switch a schedule on or off (an admin's toggle); audited."""
    from lms_core.errors import NotFound

    assert ctx.lms is not None
    entry = schedules(ctx.lms).get(name)
    if entry is None:
        raise NotFound(f"There is no schedule called {name!r} (or its plugin is off).")
    plugin, schedule = entry
    _insert_state(
        ctx, {"name": name, "plugin": plugin, "last_tick_at": latest_tick(schedule, utcnow())}
    )
    values: dict[str, Any] = {"enabled": enabled}
    if enabled:  # back on: from its next tick, not at once for the ticks it was off
        values["last_tick_at"] = latest_tick(schedule, utcnow())
    ctx.session.execute(
        update(ScheduleState)
        .where(ScheduleState.name == name)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    from lms_core.services.audit import audit

    audit(ctx, "schedule.enable" if enabled else "schedule.disable", None, schedule=name)
