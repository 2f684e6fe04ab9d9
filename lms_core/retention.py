"""Retention: the daily schedules that prune old records, in small batches.

Registered like any plugin's jobs and schedules (default plugin ``core.retention``). Each
prune deletes at most :data:`BATCH` rows per transaction, by primary key, so no table is
locked for long and the site's requests slip in between batches; a run stops after
:data:`MAX_BATCHES` and the next day's run goes on. How long records are kept is configured
in ``[retention]`` (:class:`lms_core.config.RetentionConfig`); the admin Schedules page shows
the settings and what the last prune did.

* audit entries older than ``audit_days`` (default seven years);
* outbox events older than ``events_days`` (default four weeks) once none of their
  deliveries is pending or failed, with their deliveries; finished jobs (delivered or skipped)
  of the same age.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from attrs import field
from attrs import frozen
from attrs.validators import in_
from sqlalchemy import Table
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import select

from lms_core.db import utcnow
from lms_core.hooks.markers import hookimpl
from lms_core.jobs import JobResult
from lms_core.jobs import JobRun
from lms_core.jobs import JobType
from lms_core.models import AuditEntry
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import Notification
from lms_core.models import OutboxEvent
from lms_core.schedules import Schedule

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from lms_core.context import Context
    from lms_core.runtime import LMS

__all__ = ["Prune", "prune", "PRUNERS", "BATCH"]

BATCH = 500
MAX_BATCHES = 2000


def _audit_batch(session: Session, cutoff: dt.datetime) -> int:
    ids = list(
        session.scalars(
            select(AuditEntry.id).where(AuditEntry.at < cutoff).order_by(AuditEntry.id).limit(BATCH)
        )
    )
    if ids:
        # The audit log refuses ORM deletes (append-only, lms_core.models.audit); retention
        # is the one deleter, past the configured period, through the table itself.
        table = cast(Table, AuditEntry.__table__)
        session.connection().execute(delete(table).where(table.c.id.in_(ids)))
    return len(ids)


_UNFINISHED = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)


def _outbox_batch(session: Session, cutoff: dt.datetime) -> int:
    events = list(
        session.scalars(
            select(OutboxEvent.id)
            .where(
                OutboxEvent.created_at < cutoff,
                ~exists().where(
                    Delivery.event_id == OutboxEvent.id, Delivery.status.in_(_UNFINISHED)
                ),
            )
            .order_by(OutboxEvent.id)
            .limit(BATCH)
        )
    )
    if events:
        session.execute(delete(Delivery).where(Delivery.event_id.in_(events)))
        session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(events)))
    finished = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.job.is_not(None),
                Delivery.status.not_in(_UNFINISHED),
                Delivery.next_attempt_at < cutoff,
            )
            .order_by(Delivery.id)
            .limit(BATCH)
        )
    )
    if finished:
        session.execute(delete(Delivery).where(Delivery.id.in_(finished)))
    return len(events) + len(finished)


def _notifications_batch(session: Session, cutoff: dt.datetime) -> int:
    ids = list(
        session.scalars(
            select(Notification.id)
            .where(Notification.created_at < cutoff)
            .order_by(Notification.id)
            .limit(BATCH)
        )
    )
    if ids:
        session.execute(delete(Notification).where(Notification.id.in_(ids)))
    return len(ids)


@frozen
class Pruner:
    """One kind of record retention prunes."""

    title: str
    #: The ``[retention]`` setting holding the days to keep.
    setting: str
    batch: Callable[[Session, dt.datetime], int]
    #: What the rows are called in the result ("audit entries").
    rows: str


#: What ``core.prune`` can prune, by name. The notifications service adds its own.
PRUNERS: dict[str, Pruner] = {
    "audit": Pruner("Audit log", "audit_days", _audit_batch, "audit entries"),
    "outbox": Pruner(
        "Delivered events and finished jobs", "events_days", _outbox_batch, "events and jobs"
    ),
    "notifications": Pruner(
        "Notifications", "notifications_days", _notifications_batch, "notifications"
    ),
}


@frozen
class Prune:
    """Payload of ``core.prune``: which records."""

    what: str = field(default="audit", validator=in_(sorted(PRUNERS)))


def cutoff(lms: LMS, what: str, now: dt.datetime | None = None) -> dt.datetime:
    """Records of kind ``what`` older than this are pruned."""
    days = getattr(lms.config.retention, PRUNERS[what].setting)
    return (now or utcnow()) - dt.timedelta(days=days)


def prune(lms: LMS, what: str, *, progress: Callable[[int], Any] | None = None) -> int:
    """Delete the records of kind ``what`` past their retention, a batch per transaction."""
    pruner = PRUNERS[what]
    before = cutoff(lms, what)
    total = 0
    for _ in range(MAX_BATCHES):
        with lms.Session() as session:
            session.connection(execution_options={"sqlite_write": True})
            count = pruner.batch(session, before)
            session.commit()
        total += count
        if progress is not None:
            progress(total)
        if count == 0:
            break
    return total


#: A blob or temporary file no row names is swept once it is older than this (an upload in
#: progress writes its bytes before its row commits).
SWEEP_GRACE = dt.timedelta(days=1)


def _modified(info: dict[str, Any]) -> float | None:
    """When a file in the store was last written (seconds since the epoch), if it says."""
    for key in ("mtime", "LastModified", "last_modified", "created", "updated"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, dt.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return None


def sweep_files(lms: LMS, *, grace: dt.timedelta = SWEEP_GRACE) -> int:
    """Delete what the file store holds that no ``files`` row names: the bytes of uploads
    whose transaction rolled back, and temporary files a crash left. Only what is older than
    ``grace``; a file the store cannot date is kept. Returns how many were deleted."""
    from lms_core.models import StoredFile

    store = lms.files
    before = (utcnow() - grace).timestamp()
    removed = 0
    tmp = f"{store.root}/tmp"
    if store.fs.exists(tmp):
        for path, info in store.fs.find(tmp, detail=True).items():
            stamp = _modified(info)
            if stamp is not None and stamp < before:
                store.fs.rm(path)
                removed += 1
    blobs = f"{store.root}/sha256"
    if not store.fs.exists(blobs):
        return removed
    found = [
        (path, path.rsplit("/", 1)[-1], _modified(info))
        for path, info in store.fs.find(blobs, detail=True).items()
    ]
    for start in range(0, len(found), BATCH):
        chunk = found[start : start + BATCH]
        with lms.session() as session:
            named = set(
                session.scalars(
                    select(StoredFile.sha256).where(
                        StoredFile.sha256.in_([s for _p, s, _m in chunk])
                    )
                )
            )
        for path, sha, stamp in chunk:
            if sha not in named and stamp is not None and stamp < before:
                store.fs.rm(path)
                removed += 1
    return removed


@frozen
class Sweep:
    """Payload of ``core.sweep_files``."""


def _run_sweep(ctx: Context, payload: Sweep, job: JobRun) -> JobResult:
    assert ctx.lms is not None
    count = sweep_files(ctx.lms)
    return JobResult(message=f"Deleted {count} stored file(s) that nothing named any more.")


def _run(ctx: Context, payload: Prune, job: JobRun) -> JobResult:
    assert ctx.lms is not None
    pruner = PRUNERS[payload.what]
    before = cutoff(ctx.lms, payload.what)
    # Each batch commits on its own (pruning is idempotent): a long prune never holds a lock.
    count = prune(ctx.lms, payload.what, progress=lambda done: job.progress(done))
    return JobResult(message=f"Deleted {count} {pruner.rows} older than {before:%d %b %Y}.")


@hookimpl
def lms_register_jobs() -> list[JobType]:
    return [
        JobType(
            name="core.prune",
            payload=Prune,
            run=_run,
            long=True,
            title="Prune old records",
        ),
        JobType(
            name="core.sweep_files",
            payload=Sweep,
            run=_run_sweep,
            long=True,
            title="Sweep the file store",
        ),
    ]


def _payload_for(what: str) -> Callable[[dt.datetime], Prune]:
    return lambda _tick: Prune(what=what)


@hookimpl
def lms_register_schedules() -> list[Schedule]:
    sweep = Schedule(
        name="core.sweep_files",
        cron="50 3 * * *",
        timezone="UTC",
        job="core.sweep_files",
        title="Sweep the file store",
        description="Deletes stored bytes no file names (rolled-back uploads, crashed writes).",
    )
    prunes = [
        Schedule(
            name=f"core.prune_{what}",
            cron=f"{10 * (i + 1)} 3 * * *",
            timezone="UTC",
            job="core.prune",
            title=f"Prune: {pruner.title.lower()}",
            description=f"Deletes {pruner.rows} past the [retention] {pruner.setting} setting.",
            payload=_payload_for(what),
        )
        for i, (what, pruner) in enumerate(PRUNERS.items())
    ]
    return [*prunes, sweep]
