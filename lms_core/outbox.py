"""Reliable events: write to the outbox with the change, deliver after commit, retry failures.

``record`` runs inside the service's transaction and writes the event plus one delivery row per
enabled plugin implementing the event's hook. After the commit, deliveries are attempted one
at a time, each in its own transaction that also holds the plugin's own writes, so a plugin's
effect and its delivery record commit together. A failure rolls back only that plugin's work
and schedules a retry with exponential backoff; after ``MAX_ATTEMPTS`` the delivery is marked
failed and waits for an admin to redeliver it.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.events import Event
from lms_core.events import dump_event
from lms_core.events import load_event
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import OutboxEvent

if TYPE_CHECKING:
    from lms_core.runtime import LMS

__all__ = ["record", "deliver_events", "deliver_due", "redeliver", "backoff", "MAX_ATTEMPTS"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
#: How long a worker may hold a delivery before another may take it over.
CLAIM_SECONDS = 300


def backoff(attempts: int) -> dt.timedelta:
    """Delay before retry number ``attempts``: 5 s, 10 s, 20 s ... capped at one hour."""
    return dt.timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


def record(ctx: Context, event: Event) -> OutboxEvent:
    """Write ``event`` to the outbox in the caller's transaction."""
    now = utcnow()
    row = OutboxEvent(name=event.NAME, payload=dump_event(event), created_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    for plugin in ctx.hooks.implementers(event.HOOK):
        ctx.session.add(Delivery(event_id=row.id, plugin=plugin, next_attempt_at=now))
    ctx.event_ids.append(row.id)
    return row


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
        with lms.Session() as session:
            ids = session.scalars(
                select(Delivery.id)
                .where(Delivery.event_id.in_(pending), Delivery.status == DeliveryStatus.PENDING)
                .order_by(Delivery.id)
            ).all()
        pending = []
        for delivery_id in ids:
            ok, caused = _attempt(lms, delivery_id, worker)
            delivered += ok
            pending.extend(caused)
    return delivered


def deliver_due(lms: LMS, worker: str, limit: int = 100) -> int:
    """Lease up to ``limit`` due deliveries to ``worker`` and deliver them (``lms worker``).

    The lease (``locked_by``/``locked_until``) is taken in one short transaction with
    ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers take disjoint batches;
    a crashed worker's lease expires after ``CLAIM_SECONDS``.
    """
    now = utcnow()
    with lms.Session() as session:
        session.connection(execution_options={"sqlite_write": True})
        stmt = (
            select(Delivery.id)
            .where(
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.next_attempt_at <= now,
                or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        )
        if lms.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(session.scalars(stmt))
        if ids:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(locked_by=worker, locked_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
            )
        session.commit()
    done = 0
    for delivery_id in ids:
        ok, caused = _attempt(lms, delivery_id, worker)
        done += ok
        if caused and lms.deliver_inline:
            deliver_events(lms, caused, worker)
    return done


def _claim(lms: LMS, session: Session, delivery_id: int, worker: str) -> Delivery | None:
    now = utcnow()
    stmt = select(Delivery).where(
        Delivery.id == delivery_id,
        Delivery.status == DeliveryStatus.PENDING,
        or_(
            Delivery.locked_until.is_(None),
            Delivery.locked_until < now,
            Delivery.locked_by == worker,
        ),
    )
    if lms.is_postgres:
        # Two deliverers never hold the same delivery: the loser skips it instead of waiting.
        stmt = stmt.with_for_update(skip_locked=True)
    # On SQLite the transaction began with BEGIN IMMEDIATE: one writer at a time.
    return session.scalars(stmt).first()


def _attempt(lms: LMS, delivery_id: int, worker: str) -> tuple[bool, list[int]]:
    """One attempt at one delivery. Returns (succeeded, events the plugin recorded)."""
    with lms.Session() as session:
        session.connection(execution_options={"sqlite_write": True})
        delivery = _claim(lms, session, delivery_id, worker)
        if delivery is None:
            session.rollback()
            return False, []
        row = session.get(OutboxEvent, delivery.event_id)
        assert row is not None
        plugin = delivery.plugin
        if not lms.plugin_enabled(plugin):
            delivery.status = DeliveryStatus.SKIPPED
            delivery.last_error = "plugin disabled when the event was delivered"
            session.commit()
            return False, []
        ctx = Context(session=session, hooks=lms.hooks, system=True)
        error: str | None = None
        try:
            event = load_event(row.name, row.payload)
            with session.begin_nested():
                handled = lms.hooks.deliver(plugin, event, ctx)
            if not handled:
                delivery.status = DeliveryStatus.SKIPPED
                delivery.last_error = f"{plugin} no longer implements {event.HOOK}"
                session.commit()
                return False, []
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = utcnow()
            delivery.attempts += 1
            delivery.last_error = None
            delivery.locked_until = None
            session.commit()
            return True, list(ctx.event_ids)
        except Exception as exc:
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            log.warning("delivery %s of %s to %s failed: %s", delivery_id, row.name, plugin, error)
            log.debug("traceback", exc_info=True)
            session.rollback()
    _record_failure(lms, delivery_id, error or "unknown error")
    return False, []


def _record_failure(lms: LMS, delivery_id: int, error: str) -> None:
    with lms.Session() as session:
        session.connection(execution_options={"sqlite_write": True})
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return
        delivery.attempts += 1
        delivery.locked_until = None
        delivery.last_error = error[:4000]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = utcnow() + backoff(delivery.attempts)
        session.commit()


def redeliver(ctx: Context, delivery_ids: Iterable[int]) -> int:
    """Put failed or skipped deliveries back in the queue (an admin's "retry")."""
    ids = list(delivery_ids)
    result = ctx.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status != DeliveryStatus.DELIVERED)
        .values(
            status=DeliveryStatus.PENDING, next_attempt_at=utcnow(), attempts=0, locked_until=None
        )
    )
    count = result.rowcount  # type: ignore[attr-defined]
    return int(count or 0)
