"""Background jobs: work a unit of work asks for, done after it commits, by a worker.

A plugin declares job types with ``lms_register_jobs`` and asks for one with
:meth:`Context.enqueue <lms_core.context.Context.enqueue>` inside a unit of work. The job is a
row of the outbox (``outbox_deliveries`` with no event, see :mod:`lms_core.models.outbox`)
written by one INSERT in the caller's transaction, so it runs if and only if that transaction
commits, and it has the retry, backoff, failure and redelivery of an event delivery (the
admin deliveries page lists both).

Short jobs (the default) run in the workers' delivery batches, like event handlers. A job
declared ``long`` (a PDF, an export, mail to a slow server) is claimed alone with a lease:
the worker marks it leased until a time it keeps pushing forward while the job runs
(:class:`_Heartbeat`), runs it in a transaction of its own and marks it done in that same
transaction. A worker that dies mid-job commits nothing; once the lease runs out another
worker takes the job again. Handlers are idempotent by contract and get the job's
idempotency key (:attr:`JobRun.key`).

Jobs never run inside a web request: ``lms worker`` runs them (``lms serve`` and ``lms demo``
start one beside the web workers). Tests run them with :func:`lms_core.testing.run_jobs`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from attrs import define
from attrs import field
from attrs import frozen
from attrs.validators import gt
from attrs.validators import instance_of
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from lms_core.db import utcnow
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.serde import structure
from lms_core.serde import unstructure

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.runtime import LMS

__all__ = [
    "JobResult",
    "JobRun",
    "JobType",
    "enqueue",
    "job_types",
    "run_next_long_job",
    "job_title",
]

log = logging.getLogger(__name__)

#: Names of the core's own default plugins, jobs and schedules start with this
#: (:data:`lms_core.plugins.CORE_PLUGIN_PREFIX`; not imported: that module loads this one).
_CORE = "core."

#: Attempts before a job is marked failed (a job type may say otherwise).
MAX_ATTEMPTS = 8


@frozen
class JobResult:
    """What a job handler may return: a short message and/or a file in the file store.

    Shown to the person who asked for the job (``requested_by``) when it finishes.
    """

    message: str = ""
    file_id: int | None = None


@frozen(kw_only=True)
class JobType:
    """A kind of background job a plugin runs.

    :param name: ``<plugin>.<job>`` (``certs.render_pdf``); the core's start with ``core.``.
    :param payload: an attrs class; enqueued payloads are unstructured to JSON and structured
        back with the project converter, like event payloads (so only add fields with defaults).
    :param run: ``run(ctx, payload, job) -> JobResult | None``. Idempotent: after a crash or an
        admin's redelivery it may run again for the same ``job.key``. Writes go through
        ``ctx.session`` and commit together with the job being marked done.
    :param long: claimed alone with a lease and run in its own transaction (seconds of work);
        otherwise it runs in a delivery batch with event handlers (milliseconds of work).
    :param lease: seconds a long job's worker holds it before another may take it; renewed
        every third of that while it runs.
    """

    name: str = field(validator=instance_of(str))
    payload: type
    run: Callable[[Context, Any, JobRun], JobResult | None] = field(eq=False)
    title: str = ""
    long: bool = False
    max_attempts: int = field(default=MAX_ATTEMPTS, validator=gt(0))
    lease: float = field(default=60.0, validator=gt(0))


@define
class JobRun:
    """The job being run, as its handler sees it."""

    id: int
    name: str
    #: The idempotency key: the same key means the same piece of work.
    key: str
    #: 1 on the first attempt, 2 on the first retry ...
    attempt: int
    #: The user who asked for it, if any.
    requested_by: int | None = None
    _report: Callable[[int, int | None], None] | None = field(default=None, alias="report")

    def progress(self, done: int, total: int | None = None) -> None:
        """Report progress (``done`` of ``total``); long jobs show it to the UI while they run."""
        if self._report is not None:
            self._report(done, total)


def _owned(plugin: str, name: str) -> bool:
    if plugin.startswith(_CORE):
        return name.startswith(_CORE)
    return name.startswith(f"{plugin}.")


def job_types(lms: LMS) -> dict[str, tuple[str, JobType]]:
    """name -> (owning plugin, job type) of every enabled plugin's job types.

    Collected once per set of enabled plugins (``lms_register_jobs`` is called again when a
    plugin is turned on or off), so enqueueing costs the INSERT and little else.
    """
    cached = getattr(lms, "_job_types", None)
    if cached is not None and cached[0] is lms.enabled_plugins:
        return cached[1]
    found = _collect_job_types(lms)
    lms._job_types = (lms.enabled_plugins, found)  # type: ignore[attr-defined]
    return found


def _collect_job_types(lms: LMS) -> dict[str, tuple[str, JobType]]:
    found: dict[str, tuple[str, JobType]] = {}
    for plugin, fn in lms.hooks.implementations("lms_register_jobs"):
        for job_type in fn() or ():
            if not _owned(plugin, job_type.name):
                log.warning(
                    "plugin %s declares job %r, whose name does not start with %r; ignored",
                    plugin,
                    job_type.name,
                    f"{plugin}.",
                )
                continue
            found.setdefault(job_type.name, (plugin, job_type))
    return found


def job_title(lms: LMS, name: str) -> str:
    """A job type's title for people (its name when it declares none or is gone)."""
    entry = job_types(lms).get(name)
    return (entry[1].title or name) if entry else name


def enqueue(
    ctx: Context,
    name: str,
    payload: Any,
    *,
    key: str | None = None,
    run_at: dt.datetime | None = None,
    requested_by: int | None = None,
) -> int | None:
    """Store a job in the caller's transaction; see :meth:`lms_core.context.Context.enqueue`."""
    if ctx.lms is None:
        raise RuntimeError("this unit of work has no runtime attached: cannot enqueue jobs")
    entry = job_types(ctx.lms).get(name)
    if entry is None:
        raise LookupError(f"no enabled plugin declares a job called {name!r}")
    plugin, job_type = entry
    if not isinstance(payload, job_type.payload):
        raise TypeError(
            f"job {name!r} takes a {job_type.payload.__qualname__} payload, "
            f"not {type(payload).__qualname__}"
        )
    if run_at is not None and run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware")
    values = {
        "event_id": None,
        "plugin": plugin,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": run_at or utcnow(),
        "job": name,
        "payload": unstructure(payload),
        "key": key if key is not None else uuid.uuid4().hex,
        "long": job_type.long,
        "requested_by_id": requested_by,
    }
    connection = ctx.session.connection()
    stmt = _INSERT_JOB.get(connection.dialect.name)
    if stmt is None:
        insert_ = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        stmt = _INSERT_JOB[connection.dialect.name] = (
            insert_(Delivery)
            .on_conflict_do_nothing(index_elements=["job", "key"])
            .returning(Delivery.id)
        )
    job_id: int | None = connection.execute(stmt, values).scalar_one_or_none()
    return job_id


#: The enqueue statement per dialect, built once (building it per call was most of its cost).
_INSERT_JOB: dict[str, Any] = {}


def runnable(lms: LMS) -> Any:
    """SQL condition: an event delivery, or a job of a plugin that is on (a disabled plugin's
    jobs wait, untouched, until it is turned on again)."""
    return or_(
        Delivery.job.is_(None),
        Delivery.plugin.in_(sorted(lms.enabled_plugins)),
        Delivery.plugin.startswith(_CORE),
    )


def run_in_batch(ctx: Context, delivery: Delivery, job_type: JobType) -> dict[str, Any] | None:
    """Run a short job inside a delivery batch's transaction; returns its result for the row."""
    run = JobRun(
        id=delivery.id,
        name=job_type.name,
        key=delivery.key or str(delivery.id),
        attempt=delivery.attempts + 1,
        requested_by=delivery.requested_by_id,
    )
    payload: Any = structure(delivery.payload or {}, job_type.payload)
    result = job_type.run(ctx, payload, run)
    stored = _result_row(result)
    if delivery.requested_by_id is not None:
        record_finished(ctx, delivery, stored, failed=False)
    return stored


def _result_row(result: JobResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {"message": result.message, "file_id": result.file_id}


def record_finished(
    ctx: Context, delivery: Delivery, result: dict[str, Any] | None, *, failed: bool
) -> None:
    from lms_core import outbox
    from lms_core.events import JobFinished

    result = result or {}
    outbox.record(
        ctx,
        JobFinished(
            job_id=delivery.id,
            job=delivery.job or "",
            requested_by=delivery.requested_by_id or 0,
            finished_at=utcnow(),
            failed=failed,
            message=str(result.get("message") or ""),
            file_id=result.get("file_id"),
        ),
    )


# -- long jobs ------------------------------------------------------------------------------


class _Heartbeat(threading.Thread):
    """Renews a long job's lease (and writes its progress) from its own connection."""

    def __init__(self, lms: LMS, delivery_id: int, worker: str, lease: float) -> None:
        super().__init__(name=f"lms-lease-{delivery_id}", daemon=True)
        self.lms, self.delivery_id, self.worker, self.lease = lms, delivery_id, worker, lease
        self.interval = max(lease / 3, 0.2)
        self._stop_event = threading.Event()
        self._poke = threading.Event()
        self._lock = threading.Lock()
        self._progress: tuple[int, int | None] | None = None
        #: The latest progress reported (written with the job's completion too).
        self.last_progress: tuple[int, int | None] | None = None

    def report(self, done: int, total: int | None) -> None:
        with self._lock:
            self._progress = (max(int(done), 0), None if total is None else max(int(total), 0))
            self.last_progress = self._progress
        self._poke.set()

    def run(self) -> None:
        next_renewal = 0.0
        import time

        while not self._stop_event.is_set():
            now = time.monotonic()
            with self._lock:
                progress, self._progress = self._progress, None
            if progress is not None or now >= next_renewal:
                self._write(progress)
                next_renewal = now + self.interval
            self._poke.wait(timeout=min(self.interval, 0.5))
            self._poke.clear()

    def _write(self, progress: tuple[int, int | None] | None) -> None:
        values: dict[str, Any] = {"lease_until": utcnow() + dt.timedelta(seconds=self.lease)}
        if progress is not None:
            values.update(progress_done=progress[0], progress_total=progress[1])
        try:
            with self.lms.Session() as session:
                session.connection(execution_options={"sqlite_write": True})
                session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id == self.delivery_id,
                        Delivery.locked_by == self.worker,
                        Delivery.status == DeliveryStatus.PENDING,
                    )
                    .values(**values)
                )
                session.commit()
        except Exception:  # the next renewal tries again; the lease is long enough for that
            log.warning("could not renew the lease of job %s", self.delivery_id, exc_info=True)

    def stop(self, *, wait: bool = True) -> None:
        """Stop renewing. ``wait=False`` while the job's own transaction may hold SQLite's
        write lock: a renewal waiting for that lock would otherwise wait for us, and we for it."""
        self._stop_event.set()
        self._poke.set()
        if wait and self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=35)


@frozen
class _Claim:
    id: int
    job_type: JobType
    payload: dict[str, Any]
    key: str
    attempt: int
    requested_by: int | None


def _claim(lms: LMS, worker: str, types: dict[str, tuple[str, JobType]]) -> _Claim | None | bool:
    """Lease the next due long job. None: nothing due; False: one was settled, look again."""
    with lms.Session() as session:
        session.connection(execution_options={"sqlite_write": True})
        now = utcnow()
        stmt = (
            select(Delivery)
            .where(
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.long.is_(True),
                Delivery.next_attempt_at <= now,
                or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                runnable(lms),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(1)
        )
        if lms.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        delivery = session.scalars(stmt).first()
        if delivery is None:
            return None
        entry = types.get(delivery.job or "")
        if entry is None:
            delivery.status = DeliveryStatus.SKIPPED
            delivery.last_error = "no enabled plugin handles this job any more"
            session.commit()
            return False
        job_type = entry[1]
        if delivery.attempts >= job_type.max_attempts:
            # Its worker stopped (or the job outlived its lease) on every attempt.
            delivery.status = DeliveryStatus.FAILED
            delivery.lease_until = None
            delivery.last_error = (
                delivery.last_error
                or f"the worker running it stopped before it finished, {delivery.attempts} times"
            )
            if delivery.requested_by_id is not None:
                from lms_core.context import Context

                record_finished(
                    Context(session=session, hooks=lms.hooks, system=True, lms=lms),
                    delivery,
                    None,
                    failed=True,
                )
            session.commit()
            return False
        if delivery.lease_until is not None:
            log.warning(
                "job %s (%s): the lease of %s ran out; taking it again",
                delivery.id,
                delivery.job,
                delivery.locked_by,
            )
        delivery.attempts += 1
        delivery.locked_by = worker
        delivery.lease_until = now + dt.timedelta(seconds=job_type.lease)
        claim = _Claim(
            id=delivery.id,
            job_type=job_type,
            payload=dict(delivery.payload or {}),
            key=delivery.key or str(delivery.id),
            attempt=delivery.attempts,
            requested_by=delivery.requested_by_id,
        )
        session.commit()
        return claim


def run_next_long_job(lms: LMS, worker: str) -> bool:
    """Claim and run one due long job. Returns False when none was due."""
    from lms_core import outbox
    from lms_core.context import Context

    types = job_types(lms)
    claim = _claim(lms, worker, types)
    while claim is False:
        claim = _claim(lms, worker, types)
    if claim is None or claim is True:
        return False
    heartbeat = _Heartbeat(lms, claim.id, worker, claim.job_type.lease)
    heartbeat.start()
    event_ids: list[int] = []
    try:
        with lms.Session() as session:
            # Reads see committed data statement by statement (as PostgreSQL's READ COMMITTED
            # does); on SQLite the write lock is taken at the first write, not for the whole
            # job, so the heartbeat and the site's requests are not held up meanwhile.
            session.connection(execution_options={"sqlite_lazy_write": True})
            ctx = Context(session=session, hooks=lms.hooks, system=True, lms=lms)
            run = JobRun(
                id=claim.id,
                name=claim.job_type.name,
                key=claim.key,
                attempt=claim.attempt,
                requested_by=claim.requested_by,
                report=heartbeat.report,
            )
            result = claim.job_type.run(ctx, structure(claim.payload, claim.job_type.payload), run)
            heartbeat.stop(wait=False)
            stored = _result_row(result)
            now = utcnow()
            final: dict[str, Any] = {}
            if heartbeat.last_progress is not None:
                final = {
                    "progress_done": heartbeat.last_progress[0],
                    "progress_total": heartbeat.last_progress[1],
                }
            done = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == claim.id,
                    Delivery.locked_by == worker,
                    Delivery.status == DeliveryStatus.PENDING,
                )
                .values(
                    status=DeliveryStatus.DELIVERED,
                    delivered_at=now,
                    lease_until=None,
                    last_error=None,
                    result=stored,
                    **final,
                )
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                # Another worker took it over (our lease ran out): its run counts, not ours.
                session.rollback()
                log.warning("job %s: lost its lease before finishing; discarded", claim.id)
                return True
            if claim.requested_by is not None:
                delivery = session.get(Delivery, claim.id)
                assert delivery is not None
                record_finished(ctx, delivery, stored, failed=False)
            session.commit()
            event_ids = list(ctx.event_ids)
    except Exception as exc:
        heartbeat.stop()  # the job's transaction is over: a renewal under way may finish
        _failed(lms, claim, worker, exc)
        return True
    finally:
        heartbeat.stop()
    if event_ids and lms.deliver_inline:
        outbox.deliver_events(lms, event_ids, worker)
    return True


def _failed(lms: LMS, claim: _Claim, worker: str, exc: BaseException) -> None:
    from lms_core.context import Context
    from lms_core.outbox import backoff

    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    log.warning("job %s (%s) failed: %s", claim.id, claim.job_type.name, error)
    log.debug("traceback", exc_info=exc)
    with lms.Session() as session:
        session.connection(execution_options={"sqlite_write": True})
        delivery = session.get(Delivery, claim.id)
        if delivery is None or delivery.locked_by != worker:
            return
        delivery.lease_until = None
        delivery.last_error = error[:4000]
        if delivery.attempts >= claim.job_type.max_attempts:
            delivery.status = DeliveryStatus.FAILED
            if delivery.requested_by_id is not None:
                ctx = Context(session=session, hooks=lms.hooks, system=True, lms=lms)
                record_finished(ctx, delivery, None, failed=True)
        else:
            delivery.next_attempt_at = utcnow() + backoff(delivery.attempts)
        session.commit()
