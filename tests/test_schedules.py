"""Schedules: each due tick enqueues its job exactly once, however many workers race for it."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from lms_core.models import AuditEntry
from lms_core.models import Delivery
from lms_core.models import ScheduleState
from lms_core.schedules import Schedule
from lms_core.schedules import Scheduler
from lms_core.schedules import latest_tick
from lms_core.schedules import next_tick
from lms_core.schedules import run_now
from lms_core.schedules import set_enabled
from lms_core.services.plugins import disable_plugin
from lms_core.services.plugins import enable_plugin
from lms_core.testing import run_jobs

CHORES = "tests.sample_plugins.chores"
NAME = "chores.every_second"


@pytest.fixture
def site(lms_factory):
    site = lms_factory([CHORES])
    site.deliver_inline = False
    return site


def _tick_jobs(site) -> list[Delivery]:
    with site.session() as session:
        return list(
            session.scalars(
                select(Delivery).where(Delivery.job == "chores.tick").order_by(Delivery.id)
            )
        )


def _ticks_run(site) -> list[str]:
    with site.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "chores.tick").order_by(AuditEntry.id)
        )
        return [entry.details["at"] for entry in entries]


def test_a_schedule_starts_at_its_next_tick_then_fires_each_tick_once(site, clock):
    scheduler = Scheduler(site)
    assert scheduler.tick(force=True) == 0  # first seen: nothing yet
    assert scheduler.tick(force=True) == 0  # same second: still nothing
    clock.advance(seconds=1)
    assert scheduler.tick(force=True) == 1
    assert scheduler.tick(force=True) == 0  # the same tick again: no second job
    clock.advance(seconds=1)
    assert scheduler.tick(force=True) == 1
    run_jobs(site)
    start = clock.now - dt.timedelta(seconds=1)
    assert _ticks_run(site) == [start.isoformat(), clock.now.isoformat()]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_workers_racing_for_a_tick_enqueue_one_job(site, clock, lms_factory, workers):
    Scheduler(site).tick(force=True)
    clock.advance(seconds=1)
    sites = [site] + [lms_factory([CHORES], sync=False) for _ in range(workers - 1)]
    barrier = threading.Barrier(workers)
    results: list[int] = []

    def race(runtime) -> None:
        barrier.wait()
        results.append(Scheduler(runtime).tick(force=True))

    threads = [threading.Thread(target=race, args=(runtime,)) for runtime in sites]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0] * (workers - 1) + [1]
    assert len(_tick_jobs(site)) == 1


def test_after_downtime_missed_ticks_run_once_not_once_each(site, clock):
    scheduler = Scheduler(site)
    scheduler.tick(force=True)
    clock.advance(hours=3)  # 10,800 ticks missed
    assert scheduler.tick(force=True) == 1
    run_jobs(site)
    assert _ticks_run(site) == [clock.now.isoformat()]


def test_a_switched_off_schedule_does_not_run_and_resumes_at_its_next_tick(site, clock):
    scheduler = Scheduler(site)
    scheduler.tick(force=True)
    with site.transaction(system=True) as ctx:
        set_enabled(ctx, NAME, False)
    clock.advance(seconds=5)
    assert scheduler.tick(force=True) == 0
    with site.transaction(system=True) as ctx:
        set_enabled(ctx, NAME, True)
    assert scheduler.tick(force=True) == 0  # not at once for the ticks it was off
    clock.advance(seconds=1)
    assert scheduler.tick(force=True) == 1


def test_a_disabled_plugins_schedules_do_not_run(site, clock):
    scheduler = Scheduler(site)
    scheduler.tick(force=True)
    disable_plugin(site, "chores")
    clock.advance(seconds=3)
    assert scheduler.tick(force=True) == 0
    assert _tick_jobs(site) == []
    enable_plugin(site, "chores")
    assert scheduler.tick(force=True) == 1


def test_run_now_enqueues_the_job_at_once_and_is_audited(site, clock):
    with site.transaction(system=True) as ctx:
        job_id = run_now(ctx, NAME)
    with site.session() as session:
        state = session.get(ScheduleState, NAME)
        assert state is not None and state.last_delivery_id == job_id
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "schedule.run_now" in actions
    run_jobs(site)
    assert len(_ticks_run(site)) == 1


def test_an_idle_scheduler_reads_the_database_only_when_something_is_due(site, clock):
    from lms_core.testing import count_statements

    site.refresh_plugins()
    scheduler = Scheduler(site)
    scheduler.tick(force=True)
    with count_statements(site) as seen:
        scheduler.tick()  # the next tick is a second away
    assert seen == []


def test_cron_expressions_are_read_in_the_schedules_time_zone():
    morning = Schedule(name="x.y", cron="0 7 * * *", job="x.y", timezone="Europe/Berlin")
    winter = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    summer = dt.datetime(2026, 7, 6, 12, 0, tzinfo=dt.UTC)
    assert latest_tick(morning, winter) == dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)
    assert latest_tick(morning, summer) == dt.datetime(2026, 7, 6, 5, 0, tzinfo=dt.UTC)
    assert next_tick(morning, winter) == dt.datetime(2026, 1, 6, 6, 0, tzinfo=dt.UTC)


def test_a_bad_cron_expression_or_time_zone_is_refused_when_declared():
    with pytest.raises(ValueError, match="not a valid cron expression"):
        Schedule(name="x.y", cron="61 * * * *", job="x.y")
    with pytest.raises(ValueError, match="not a known time zone"):
        Schedule(name="x.y", cron="0 7 * * *", job="x.y", timezone="Mars/Olympus")
