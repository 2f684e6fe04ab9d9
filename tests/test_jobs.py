"""Background jobs: enqueued with the change that asks for them, run by workers, retried.

The sample plugin ``tests/sample_plugins/chores.py`` declares the jobs used here.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from lms_core import jobs
from lms_core import outbox
from lms_core.events import JobFinished
from lms_core.models import AuditEntry
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import OutboxEvent
from lms_core.services.plugins import disable_plugin
from lms_core.services.plugins import enable_plugin
from lms_core.testing import count_statements
from lms_core.testing import run_jobs
from tests.sample_plugins import chores

CHORES = "tests.sample_plugins.chores"


@pytest.fixture
def site(lms_factory):
    chores.FAIL = False
    chores.RUNS.clear()
    site = lms_factory([CHORES])
    site.deliver_inline = False
    yield site
    chores.FAIL = False


def _audits(site, action: str) -> list[AuditEntry]:
    with site.session() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by("id"))
        )


def _job(site, job_id: int) -> Delivery:
    with site.session() as session:
        row = session.get(Delivery, job_id)
        assert row is not None
        return row


def test_a_job_runs_after_the_transaction_that_asked_for_it_commits(site):
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.note", chores.Note(text="hello"))
        assert _audits(site, "chores.note") == []  # not inside the request
    assert run_jobs(site) == 1
    [entry] = _audits(site, "chores.note")
    assert entry.details["text"] == "hello"
    row = _job(site, job_id)
    assert row.status == DeliveryStatus.DELIVERED
    assert row.result == {"message": "noted hello", "file_id": None}
    assert run_jobs(site) == 0  # and only once


def test_a_job_asked_for_in_a_transaction_that_rolls_back_never_exists(site):
    with pytest.raises(RuntimeError), site.transaction(system=True) as ctx:
        ctx.enqueue("chores.note", chores.Note(text="never"))
        raise RuntimeError("the change failed")
    with site.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert run_jobs(site) == 0
    assert chores.RUNS == []


def test_enqueueing_costs_one_insert_in_the_business_transaction(site):
    with site.transaction(system=True) as ctx:
        ctx.session.execute(text("SELECT 1"))  # the transaction has begun
        with count_statements(site) as seen:
            ctx.enqueue("chores.note", chores.Note(text="one"))
    assert len(seen) == 1, seen
    assert seen[0].lstrip().upper().startswith("INSERT INTO OUTBOX_DELIVERIES")


def test_the_same_idempotency_key_is_enqueued_once(site):
    with site.transaction(system=True) as ctx:
        first = ctx.enqueue("chores.note", chores.Note(text="a"), key="welcome-42")
        second = ctx.enqueue("chores.note", chores.Note(text="a"), key="welcome-42")
    assert first is not None and second is None
    run_jobs(site)
    assert chores.RUNS == ["welcome-42"]


def test_enqueueing_an_unknown_job_or_a_wrong_payload_is_a_programming_error(site):
    with pytest.raises(LookupError, match="chores.nope"), site.transaction(system=True) as ctx:
        ctx.enqueue("chores.nope", chores.Note())
    with pytest.raises(TypeError, match="Note payload"), site.transaction(system=True) as ctx:
        ctx.enqueue("chores.note", chores.Tick())


def test_a_failing_job_is_retried_with_backoff_then_marked_failed_and_redelivered(site, clock):
    chores.FAIL = True
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.note", chores.Note(text="retry me"))
    run_jobs(site)
    row = _job(site, job_id)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert "chores cannot note today" in (row.last_error or "")
    assert row.next_attempt_at == clock.now + outbox.backoff(1)
    run_jobs(site)
    assert _job(site, job_id).attempts == 1  # not due yet
    for _ in range(2):  # max_attempts=3
        clock.advance(hours=2)
        run_jobs(site)
    row = _job(site, job_id)
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 3)

    chores.FAIL = False
    with site.transaction(system=True) as ctx:
        assert outbox.redeliver(ctx, [job_id]) == 1
    run_jobs(site)
    assert _job(site, job_id).status == DeliveryStatus.DELIVERED
    assert [e.details["text"] for e in _audits(site, "chores.note")] == ["retry me"]


def test_a_failing_job_does_not_undo_the_others_in_its_batch(site):
    with site.transaction(system=True) as ctx:
        ok = ctx.enqueue("chores.note", chores.Note(text="fine"))
        bad = ctx.enqueue("chores.note", chores.Note(text="boom"), key="boom")
    real = chores.note

    def picky(ctx, payload, job):
        if payload.text == "boom":
            raise ValueError("no booms")
        return real(ctx, payload, job)

    original = jobs.job_types

    def types(lms):
        found = original(lms)
        plugin, job_type = found["chores.note"]
        import attrs

        found["chores.note"] = (plugin, attrs.evolve(job_type, run=picky))
        return found

    jobs.job_types = types
    try:
        run_jobs(site)
    finally:
        jobs.job_types = original
    assert _job(site, ok).status == DeliveryStatus.DELIVERED
    assert _job(site, bad).status == DeliveryStatus.PENDING
    assert [e.details["text"] for e in _audits(site, "chores.note")] == ["fine"]


def test_a_disabled_plugins_jobs_wait_and_run_when_it_is_enabled_again(site):
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.note", chores.Note(text="later"))
    disable_plugin(site, "chores")
    assert run_jobs(site) == 0
    row = _job(site, job_id)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)
    enable_plugin(site, "chores")
    assert run_jobs(site) == 1
    assert _job(site, job_id).status == DeliveryStatus.DELIVERED


def test_a_long_job_reports_progress_and_its_result_and_tells_who_asked(site):
    from lms_core.testing import Factory

    person = Factory(site).user(email="asker@example.org")
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.slow", chores.Slow(steps=4), requested_by=person.id)
    assert run_jobs(site) >= 1
    row = _job(site, job_id)
    assert row.status == DeliveryStatus.DELIVERED
    assert (row.progress_done, row.progress_total) == (4, 4)
    assert row.result == {"message": "slow work done", "file_id": None}
    assert row.lease_until is None
    with site.session() as session:
        [payload] = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.name == JobFinished.NAME)
        ).all()
    assert payload["job_id"] == job_id and payload["requested_by"] == person.id
    assert payload["message"] == "slow work done" and payload["failed"] is False


def test_a_long_jobs_lease_is_renewed_while_it_runs_so_no_other_worker_takes_it(site, tmp_path):
    go = tmp_path / "go"
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.slow", chores.Slow(steps=2, wait_for=str(go)))
    worker = threading.Thread(target=jobs.run_next_long_job, args=(site, "worker-a"))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while _job(site, job_id).progress_done != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        first_lease = _job(site, job_id).lease_until
        time.sleep(1.5)  # longer than the 1 s lease: only renewals keep it
        row = _job(site, job_id)
        assert row.locked_by == "worker-a" and row.lease_until > first_lease
        assert (row.progress_done, row.progress_total) == (1, 2)  # visible while it runs
        assert jobs.run_next_long_job(site, "worker-b") is False
    finally:
        go.write_text("go")
        worker.join(timeout=20)
    row = _job(site, job_id)
    assert (row.status, row.attempts, row.locked_by) == (DeliveryStatus.DELIVERED, 1, "worker-a")
    assert len(_audits(site, "chores.slow.done")) == 1


def test_a_long_job_on_sqlite_may_write_after_others_wrote_while_it_was_reading(site, tmp_path):
    """Its reads hold no snapshot (READ COMMITTED), so its first write does not fail because
    the heartbeat and the site wrote meanwhile."""
    go = tmp_path / "go"
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.slow", chores.Slow(steps=2, wait_for=str(go)))
    worker = threading.Thread(target=jobs.run_next_long_job, args=(site, "worker-a"))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while _job(site, job_id).progress_done != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        with site.transaction(system=True) as ctx:  # someone else writes meanwhile
            ctx.enqueue("chores.note", chores.Note(text="meanwhile"))
    finally:
        go.write_text("go")
        worker.join(timeout=20)
    assert _job(site, job_id).status == DeliveryStatus.DELIVERED
