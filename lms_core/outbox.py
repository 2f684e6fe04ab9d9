"""Reliable events: write to the outbox with the change, deliver after commit, retry failures.

``record`` runs inside the service's transaction and writes the event plus one delivery row per
enabled plugin implementing the event's hook. After the commit, deliveries are attempted one
at a time, each in its own transaction that also holds the plugin's own writes, so a plugin's
effect and its delivery record commit together. A failure rolls back only that plugin's work
and schedules a retry with exponential backoff; after ``MAX_ATTEMPTS`` the delivery is marked
failed and waits for an admin to redeliver it.

A batch is first attempted optimistically, without a savepoint per delivery (two statements
each that nearly always go unused). If any plugin that writes through ``ctx`` fails, that
attempt is rolled back whole and the batch is attempted again with a savepoint around each
delivery, so the failure is isolated as before. Handlers are idempotent by contract, so running
the ones before the failure a second time is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from lms_core import jobs
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.events import EVENT_TYPES
from lms_core.events import Event
from lms_core.events import dump_event
from lms_core.events import event_type
from lms_core.events import load_event
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import OutboxEvent

if TYPE_CHECKING:
    from lms_core.runtime import LMS

__all__ = [
    "record",
    "record_many",
    "deliver_events",
    "deliver_due",
    "redeliver",
    "backoff",
    "MAX_ATTEMPTS",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
#: Deliveries attempted per transaction.
BATCH = 100


def backoff(attempts: int) -> dt.timedelta:
    """Delay before retry number ``attempts``: 5 s, 10 s, 20 s ... capped at one hour."""
    return dt.timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


#: Built once: Core statements on the tables, so recording skips the ORM's bulk machinery.
#: (On a Connection, an insert() of a mapped class is plain Core.)
_INSERT_EVENT = insert(OutboxEvent).returning(OutboxEvent.id)
#: Several events in one INSERT ... RETURNING. Not ``sort_by_parameter_order``: SQLite has no
#: way to keep the order of a multi-row RETURNING, so SQLAlchemy would send a statement per row;
#: each id is matched to its event by the event's name and payload instead (two events equal in
#: both are interchangeable).
_INSERT_EVENTS = insert(OutboxEvent).returning(
    OutboxEvent.id, OutboxEvent.name, OutboxEvent.payload
)
_INSERT_DELIVERIES = insert(Delivery)


def _canonical(payload: Any) -> bytes:
    """A payload as the JSON columns encode it (orjson, see :mod:`lms_core.db`), keys sorted:
    what was sent and what RETURNING gives back compare equal."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def record(ctx: Context, event: Event, *, applied_by: str | None = None) -> int:
    """Write ``event`` to the outbox in the caller's transaction; returns the event's id.

    Two Core INSERT statements on the transaction's connection (the event, then its
    deliveries in one executemany) and no ORM objects to track, so a plugin publishing
    events in a loop pays no unit-of-work flush per event.

    ``applied_by`` names the publishing plugin when it has already applied the event to
    itself, in this transaction (a rules engine reacting to its own awards in process): its
    delivery row is written as delivered, so the event is not delivered back to it, and an
    admin's replay (:func:`redeliver` with ``include_delivered``) still reaches it.
    """
    return record_many(ctx, [event], applied_by=applied_by)[0]


def record_many(
    ctx: Context, events: Iterable[Event], *, applied_by: str | None = None
) -> list[int]:
    """:func:`record` several events at once; returns their ids, in order.

    Two statements however many events there are (the events in one INSERT ... RETURNING
    executemany, then all their deliveries in one executemany): a plugin that publishes
    several events from one delivery (badges: the awards and levels one completion earned)
    pays for two statements, not two per event.
    """
    events = list(events)
    if not events:
        return []
    now = utcnow()
    connection = ctx.session.connection()
    rows: list[dict[str, Any]] = [
        {"name": e.NAME, "payload": dump_event(e), "created_at": now} for e in events
    ]
    if len(rows) == 1:
        ids: list[int] = [connection.execute(_INSERT_EVENT, rows[0]).scalar_one()]
    else:
        by_content: dict[tuple[str, bytes], list[int]] = {}
        for event_id, name, payload in connection.execute(_INSERT_EVENTS, rows):
            by_content.setdefault((name, _canonical(payload)), []).append(event_id)
        ids = [by_content[(r["name"], _canonical(r["payload"]))].pop() for r in rows]
    recipients: dict[str, list[str]] = {}
    deliveries = []
    for event, event_id in zip(events, ids, strict=True):
        found = recipients.get(event.HOOK)
        if found is None:
            found = recipients[event.HOOK] = ctx.hooks.event_recipients(event.HOOK)
        for plugin in found:
            applied = plugin == applied_by
            deliveries.append(
                {
                    "event_id": event_id,
                    "plugin": plugin,
                    "next_attempt_at": now,
                    "status": (
                        DeliveryStatus.DELIVERED if applied else DeliveryStatus.PENDING
                    ).value,
                    "attempts": 1 if applied else 0,
                    "locked_by": None,
                    "last_error": None,
                    "delivered_at": now if applied else None,
                }
            )
    if deliveries:
        connection.execute(_INSERT_DELIVERIES, deliveries)
    ctx.event_ids.extend(ids)
    return ids


def deliver_events(lms: LMS, event_ids: Iterable[int], worker: str = "inline") -> int:
    """Attempt the pending deliveries of these events now (the embedded default, after commit).

    Events the plugins record while handling them are delivered too. Returns how many
    deliveries succeeded.
    """
    pending = list(event_ids)
    delivered = 0
    rounds = 0
    while pending and rounds < 20:  # a chain of events causing events ends; guard anyway
        rounds += 1
        chunks = [pending[i : i + 1000] for i in range(0, len(pending), 1000)]
        pending = []
        for chunk in chunks:  # bounded IN lists: databases cap bound parameters
            condition = Delivery.event_id.in_(chunk)
            while True:
                done, attempted, caused = _deliver_batch(lms, condition, worker, BATCH)
                delivered += done
                pending.extend(caused)
                if attempted < BATCH:
                    break
    return delivered


def deliver_due(lms: LMS, worker: str, limit: int = BATCH) -> int:
    """Deliver up to ``limit`` due deliveries (the ``lms worker`` loop body)."""
    done, _attempted, caused = _deliver_batch(
        lms, Delivery.next_attempt_at <= utcnow(), worker, limit
    )
    if caused and lms.deliver_inline:
        done += deliver_events(lms, caused, worker)
    return done


class _Isolate(Exception):
    """A plugin writing through ``ctx`` failed in an optimistic batch: redo it with savepoints."""


def _deliver_batch(lms: LMS, condition: Any, worker: str, limit: int) -> tuple[int, int, list[int]]:
    """Deliver a batch: optimistically in one go, or, when a writing plugin fails, again with a
    savepoint around each delivery (see the module's docstring)."""
    try:
        return _attempt_batch(lms, condition, worker, limit, isolate=False)
    except _Isolate:
        return _attempt_batch(lms, condition, worker, limit, isolate=True)


def _attempt_batch(
    lms: LMS, condition: Any, worker: str, limit: int, *, isolate: bool
) -> tuple[int, int, list[int]]:
    """Deliver a batch in one transaction (each delivery in its own savepoint if ``isolate``).

    Returns (succeeded, attempted, events the plugins recorded). The rows are locked for the
    whole transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so concurrent workers take
    disjoint batches, and a worker that dies mid-batch simply releases them. A plugin's writes
    commit together with its delivery record, or not at all; one commit per batch keeps the
    commit (fsync) cost off each delivery.
    """
    with lms.Session() as session:
        session.connection(execution_options={"sqlite_write": True})
        stmt = (
            select(Delivery, OutboxEvent)
            .outerjoin(OutboxEvent, OutboxEvent.id == Delivery.event_id)
            .where(
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.long.is_(False),
                condition,
                jobs.runnable(lms),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        )
        if lms.is_postgres:
            stmt = stmt.with_for_update(of=Delivery, skip_locked=True)
        rows = session.execute(stmt).all()
        ctx = Context(session=session, hooks=lms.hooks, system=True, lms=lms)
        done = 0
        changes: list[dict[str, Any]] = []
        # Each event is structured once for all the plugins it goes to (events are frozen).
        loaded: dict[int, Event] = {}
        types: dict[str, tuple[str, jobs.JobType]] | None = None
        for delivery, row in rows:
            change: dict[str, Any] = {
                "id": delivery.id,
                "locked_by": worker,
                "attempts": delivery.attempts + 1,
            }
            changes.append(change)
            if row is None:  # a job
                if types is None:
                    types = jobs.job_types(lms)
                done += _run_job(ctx, delivery, types, change, isolate=isolate)
                continue
            handler = (
                lms.hooks.event_handler(delivery.plugin, event_type(row.name).HOOK)
                if row.name in EVENT_TYPES
                else None
            )
            if not lms.plugin_enabled(delivery.plugin) or handler is None:
                change.update(
                    status=DeliveryStatus.SKIPPED,
                    attempts=delivery.attempts,
                    last_error="plugin disabled, or no longer handles this event, when it was delivered",
                )
                continue
            call, wants_ctx = handler
            try:
                event = loaded.get(row.id)
                if event is None:
                    event = loaded[row.id] = load_event(row.name, row.payload)
                if wants_ctx and isolate:
                    # The plugin writes through ctx.session: a savepoint keeps a failure's
                    # writes out while the rest of the batch commits.
                    with session.begin_nested():
                        call(event=event, ctx=ctx)
                else:
                    call(event=event, ctx=ctx)
            except Exception as exc:
                if wants_ctx and not isolate:
                    # Its writes may be half made: leave with the whole attempt (the session's
                    # context rolls it back) and take the batch again, isolating each one.
                    log.info("delivery %s failed in an optimistic batch; isolating", delivery.id)
                    raise _Isolate from exc
                error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                log.warning(
                    "delivery %s of %s to %s failed: %s",
                    delivery.id,
                    row.name,
                    delivery.plugin,
                    error,
                )
                log.debug("traceback", exc_info=True)
                change["last_error"] = error[:4000]
                if change["attempts"] >= MAX_ATTEMPTS:
                    change["status"] = DeliveryStatus.FAILED
                else:
                    change["next_attempt_at"] = utcnow() + backoff(change["attempts"])
                continue
            change.update(status=DeliveryStatus.DELIVERED, delivered_at=utcnow(), last_error=None)
            done += 1
        # One executemany for the batch's bookkeeping, grouped by the columns set.
        by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in changes:
            by_shape.setdefault(tuple(sorted(change)), []).append(change)
        for group in by_shape.values():
            session.execute(update(Delivery), group)
        session.commit()
        return done, len(rows), list(ctx.event_ids)


def _run_job(
    ctx: Context,
    delivery: Delivery,
    types: dict[str, tuple[str, jobs.JobType]],
    change: dict[str, Any],
    *,
    isolate: bool,
) -> int:
    """Run a short job in the batch; fills in ``change``; returns 1 when it succeeded."""
    entry = types.get(delivery.job or "")
    if entry is None:
        change.update(
            status=DeliveryStatus.SKIPPED,
            attempts=delivery.attempts,
            last_error="no enabled plugin handles this job any more",
        )
        return 0
    job_type = entry[1]
    try:
        if isolate:
            with ctx.session.begin_nested():
                result = jobs.run_in_batch(ctx, delivery, job_type)
        else:
            result = jobs.run_in_batch(ctx, delivery, job_type)
    except Exception as exc:
        if not isolate:
            log.info("job %s failed in an optimistic batch; isolating", delivery.id)
            raise _Isolate from exc
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log.warning("job %s (%s) failed: %s", delivery.id, delivery.job, error)
        log.debug("traceback", exc_info=True)
        change["last_error"] = error[:4000]
        if change["attempts"] >= job_type.max_attempts:
            change["status"] = DeliveryStatus.FAILED
            if delivery.requested_by_id is not None:
                jobs.record_finished(ctx, delivery, None, failed=True)
        else:
            change["next_attempt_at"] = utcnow() + backoff(change["attempts"])
        return 0
    change.update(
        status=DeliveryStatus.DELIVERED, delivered_at=utcnow(), last_error=None, result=result
    )
    return 1


def redeliver(ctx: Context, delivery_ids: Iterable[int], *, include_delivered: bool = False) -> int:
    """Put deliveries back in the queue (an admin's "retry").

    Failed, skipped and pending ones by default; ``include_delivered`` replays delivered ones
    too (plugins are idempotent, so a replay must be harmless).
    """
    ids = list(delivery_ids)
    stmt = update(Delivery).where(Delivery.id.in_(ids))
    if not include_delivered:
        stmt = stmt.where(Delivery.status != DeliveryStatus.DELIVERED)
    result = ctx.session.execute(
        stmt.values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=utcnow(),
            attempts=0,
            lease_until=None,
            progress_done=None,
            progress_total=None,
        )
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        from lms_core.services.audit import audit

        audit(ctx, "event.redeliver", None, deliveries=ids, replay=include_delivered)
    return count
