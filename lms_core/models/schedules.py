"""Schedules: one row per declared schedule, holding the last tick it fired for.

The row is what makes a tick fire once however many workers run: a worker enqueues the job
of a tick only if it moved ``last_tick_at`` forward (a conditional UPDATE), and the job's
idempotency key names the tick, so two workers racing get one job.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import bool_true
from lms_core.db import Base

__all__ = ["ScheduleState"]


class ScheduleState(Base):
    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    #: The plugin that declares it (for the admin page).
    plugin: Mapped[str] = mapped_column(String(100))
    #: An admin's on/off switch.
    enabled: Mapped[bool_true]
    #: The latest tick a job was enqueued for (None: never).
    last_tick_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: The job of the latest run (a tick or "run now").
    last_delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_deliveries.id", ondelete="SET NULL"), default=None
    )
