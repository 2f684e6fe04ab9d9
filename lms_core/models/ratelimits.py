"""Fixed-window attempt counters (sign-in, password-reset requests) shared by every worker."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.db import Base

__all__ = ["RateLimitCounter"]


class RateLimitCounter(Base):
    """Attempts counted under ``key`` in the window that ends at ``window_ends``."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column()
    window_ends: Mapped[dt.datetime] = mapped_column(index=True)
