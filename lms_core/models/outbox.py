"""The event outbox: events written in the same transaction as the change that caused them,
and one delivery record per (event, plugin) so each plugin gets each event reliably.

A background job is a delivery without an event: the row names the job type (``job``), holds
its payload and idempotency ``key``, and goes through the same retry, backoff, failure and
redelivery as an event delivery (see :mod:`lms_core.jobs`)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import bool_false
from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["OutboxEvent", "Delivery", "DeliveryStatus"]


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[intpk]
    # Versioned event name, e.g. "lms.course.completed.v1".
    name: Mapped[str] = mapped_column(String(120), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(index=True)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry; an admin may redeliver
    SKIPPED = "skipped"  # the plugin was disabled when its turn came


class Delivery(Base):
    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "plugin"),
        # A job's idempotency key is unique per job type: the same (job, key) is enqueued once.
        UniqueConstraint("job", "key"),
        Index("ix_outbox_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[intpk]
    #: The event delivered; None for a job.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column()
    #: The process that last attempted it (``host:pid:thread``), for admins chasing a problem.
    locked_by: Mapped[str | None] = mapped_column(String(100), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    # -- jobs only (None on event deliveries) ------------------------------------------------
    #: The job type's name (``certs.render_pdf``).
    job: Mapped[str | None] = mapped_column(String(120), default=None)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: The idempotency key the handler gets (given by the caller, or made up at enqueue).
    key: Mapped[str | None] = mapped_column(String(200), default=None)
    #: A long job: claimed alone with a lease and run in its own transaction.
    long: Mapped[bool_false]
    #: While a long job runs, until when its worker holds it (renewed while it runs).
    lease_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    progress_done: Mapped[int | None] = mapped_column(default=None)
    progress_total: Mapped[int | None] = mapped_column(default=None)
    #: What the handler returned (a message, a file id), for the UI.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: Who asked for it: told when it finishes.
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
