"""Retention: old audit entries, delivered events and finished jobs are pruned in batches;
what is unfinished, and what is recent, stays."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from lms_core import retention
from lms_core.models import AuditEntry
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import OutboxEvent
from lms_core.testing import run_jobs


def _count(site, model) -> int:
    with site.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _audit_rows(site, ages_in_days: list[int], now: dt.datetime) -> None:
    with site.session() as session, session.begin():
        session.execute(
            insert(AuditEntry),
            [
                {
                    "at": now - dt.timedelta(days=age),
                    "actor_label": "system",
                    "action": "test.old",
                    "target_type": None,
                    "details": {},
                }
                for age in ages_in_days
            ],
        )


def test_audit_entries_past_their_retention_are_pruned_in_batches(lms, clock, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 7)  # several batches
    days = lms.config.retention.audit_days
    _audit_rows(lms, [days + 1] * 20 + [days - 1] * 3, clock.now)
    assert retention.prune(lms, "audit") == 20
    assert _count(lms, AuditEntry) == 3


def _event(site, created: dt.datetime, statuses: list[str]) -> int:
    with site.session() as session, session.begin():
        event_id = session.execute(
            insert(OutboxEvent).returning(OutboxEvent.id),
            {"name": "lms.user.created.v1", "payload": {}, "created_at": created},
        ).scalar_one()
        for i, status in enumerate(statuses):
            session.execute(
                insert(Delivery),
                {
                    "event_id": event_id,
                    "plugin": f"p{i}",
                    "status": status,
                    "attempts": 1,
                    "next_attempt_at": created,
                },
            )
    return int(event_id)


def test_delivered_events_go_after_their_retention_but_unfinished_ones_stay(lms, clock):
    old = clock.now - dt.timedelta(days=lms.config.retention.events_days + 1)
    gone = _event(lms, old, ["delivered", "skipped"])
    failed = _event(lms, old, ["delivered", "failed"])
    pending = _event(lms, old, ["pending"])
    recent = _event(lms, clock.now - dt.timedelta(days=1), ["delivered"])
    assert retention.prune(lms, "outbox") == 1
    with lms.session() as session:
        left = set(session.scalars(select(OutboxEvent.id)))
        assert session.scalar(select(func.count()).where(Delivery.event_id == gone)) == 0
    assert left == {failed, pending, recent}


def test_finished_jobs_are_pruned_with_the_events(lms, clock):
    from lms_core.retention import Prune

    with lms.transaction(system=True) as ctx:
        ctx.enqueue("core.prune", Prune(what="audit"))
    run_jobs(lms)
    clock.advance(days=lms.config.retention.events_days + 1)
    with lms.transaction(system=True) as ctx:
        waiting = ctx.enqueue(
            "core.prune", Prune(what="audit"), run_at=clock.now + dt.timedelta(days=1)
        )
    assert retention.prune(lms, "outbox") == 1
    with lms.session() as session:
        assert list(session.scalars(select(Delivery.id))) == [waiting]
        assert session.get(Delivery, waiting).status == DeliveryStatus.PENDING


def test_the_prune_schedules_run_the_prune_job(lms, clock):
    from lms_core.schedules import Scheduler

    days = lms.config.retention.audit_days
    _audit_rows(lms, [days + 5], clock.now)
    scheduler = Scheduler(lms)
    scheduler.tick(force=True)
    clock.set(clock.now.replace(hour=3, minute=10) + dt.timedelta(days=1))
    assert scheduler.tick(force=True) >= 1
    run_jobs(lms)
    with lms.session() as session:
        results = [
            row.result["message"]
            for row in session.scalars(select(Delivery).where(Delivery.job == "core.prune"))
            if row.result
        ]
    assert any(message.startswith("Deleted 1 audit entries") for message in results), results


def test_retention_periods_must_be_whole_positive_days():
    import pytest

    from lms_core.config import load_config
    from lms_core.errors import ConfigError

    with pytest.raises(ConfigError, match="audit_days"):
        load_config(env={}, overrides={"retention": {"audit_days": 0}})
    with pytest.raises(ConfigError, match="events_days"):
        load_config(env={}, overrides={"retention": {"events_days": "soon"}})


def test_the_file_sweep_deletes_only_old_bytes_that_no_file_names(lms, factory):
    import os
    import time

    from lms_core.models import StoredFile
    from lms_core.retention import sweep_files
    from lms_core.services import files

    pdf = b"%PDF-1.4\n%kept\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        kept = files.store(
            ctx, use="core.lesson", data=pdf, filename="kept.pdf", course=ctx.attach(course)
        )
        orphan = files.store(
            ctx,
            use="core.lesson",
            data=pdf.replace(b"kept", b"gone"),
            filename="gone.pdf",
            course=ctx.attach(course),
        )
        fresh = files.store(
            ctx,
            use="core.lesson",
            data=pdf.replace(b"kept", b"new!"),
            filename="new.pdf",
            course=ctx.attach(course),
        )
        kept_sha, orphan_sha, fresh_sha = kept.sha256, orphan.sha256, fresh.sha256
    with lms.session() as session, session.begin():  # as if their transactions rolled back
        session.execute(
            StoredFile.__table__.delete().where(StoredFile.sha256.in_([orphan_sha, fresh_sha]))
        )
    store = lms.files
    store.fs.makedirs(f"{store.root}/tmp", exist_ok=True)
    crashed = f"{store.root}/tmp/crashed-upload"
    store.fs.pipe(crashed, b"half a file")
    two_days_ago = time.time() - 2 * 86400
    for path in (store.path(kept_sha), store.path(orphan_sha), crashed):
        os.utime(path, (two_days_ago, two_days_ago))

    assert sweep_files(lms) == 2  # the old orphan and the crashed upload
    assert store.exists(kept_sha)  # a file names it, however old
    assert store.exists(fresh_sha)  # too recent: its upload may still be committing
    assert not store.exists(orphan_sha) and not store.fs.exists(crashed)
