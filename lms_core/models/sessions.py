"""Signed-in sessions that were signed out before their cookies expire."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["EndedSession"]


class EndedSession(Base):
    """A session that was signed out: a copy of its cookies signs nobody in.

    Only sessions of the user's current session version need a row (bumping the version ends
    every session at once and clears the user's rows); a row is kept until the session's
    cookies would have expired anyway (``expires_at``).
    """

    __tablename__ = "ended_sessions"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The random part of the session token (it is in signed cookies only; not a secret).
    session_id: Mapped[str] = mapped_column(String(32), unique=True)
    ended_at: Mapped[dt.datetime] = mapped_column()
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
