"""Fixed-window attempt counters (sign-in failures, password-reset requests) that every web
worker shares: in the database by default, in Redis when ``redis_url`` is configured.

Nothing here lives in process memory: with several gunicorn workers an in-process counter
would let each worker allow the full count, so the limit would grow with the workers.

A counter may be used inside a write unit of work by passing its ``session``: the database
limiter then counts in that transaction (needed on SQLite, where a second connection would
wait for the write lock the unit of work holds); Redis counts at once either way.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from typing import Protocol

from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from lms_core.db import UTCDateTime
from lms_core.db import utcnow
from lms_core.models import RateLimitCounter

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["Limiter", "DatabaseLimiter", "RedisLimiter", "make_limiter"]


class Limiter(Protocol):
    def hit(self, key: str, window_seconds: int, *, session: Session | None = None) -> int:
        """Count one attempt for ``key``; returns the attempts in the current window (a window
        of ``window_seconds`` starts with the first attempt after the last one ended)."""

    def count(self, key: str, *, session: Session | None = None) -> int:
        """Attempts in the current window, without counting one."""

    def seconds_left(self, key: str, *, session: Session | None = None) -> int:
        """Seconds until the current window ends (0 when there is none)."""

    def reset(self, key: str, *, session: Session | None = None) -> None:
        """Forget the attempts counted for ``key``."""


_ROW = RateLimitCounter


class DatabaseLimiter:
    """Counters in the ``rate_limits`` table, one row per key, expired rows pruned on each hit."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def hit(self, key: str, window_seconds: int, *, session: Session | None = None) -> int:
        now = utcnow()
        ends = literal(now + dt.timedelta(seconds=window_seconds), UTCDateTime())
        expired = _ROW.window_ends <= literal(now, UTCDateTime())
        upsert = (
            self._insert(_ROW)
            .values(key=key, count=1, window_ends=ends)
            .on_conflict_do_update(
                index_elements=[_ROW.key],
                # Both expressions read the row as it was: a window that has ended starts anew.
                set_={
                    "count": case((expired, 1), else_=_ROW.count + 1),
                    "window_ends": case((expired, ends), else_=_ROW.window_ends),
                },
            )
            .returning(_ROW.count)
        )
        # Expired rows go as attempts come; rows another transaction holds are left for later
        # (waiting for them could deadlock two sign-ins that prune each other's rows).
        stale = select(_ROW.key).where(expired).limit(100).with_for_update(skip_locked=True)
        prune = delete(_ROW).where(_ROW.key.in_(stale))
        if session is not None:
            count = session.execute(upsert).scalar_one()
            session.execute(prune)
            return int(count)
        with self._engine.execution_options(sqlite_write=True).begin() as conn:
            count = conn.execute(upsert).scalar_one()
            conn.execute(prune)
        return int(count)

    def _window(self, key: str, session: Session | None) -> tuple[int, dt.datetime] | None:
        query = select(_ROW.count, _ROW.window_ends).where(
            _ROW.key == key, _ROW.window_ends > literal(utcnow(), UTCDateTime())
        )
        if session is not None:
            row = session.execute(query).first()
        else:
            with self._engine.connect() as conn:
                row = conn.execute(query).first()
        return (int(row[0]), row[1]) if row is not None else None

    def count(self, key: str, *, session: Session | None = None) -> int:
        window = self._window(key, session)
        return window[0] if window else 0

    def seconds_left(self, key: str, *, session: Session | None = None) -> int:
        window = self._window(key, session)
        if window is None:
            return 0
        return max(1, int((window[1] - utcnow()).total_seconds() + 0.999))

    def reset(self, key: str, *, session: Session | None = None) -> None:
        statement = delete(_ROW).where(_ROW.key == key)
        if session is not None:
            session.execute(statement)
            return
        with self._engine.execution_options(sqlite_write=True).begin() as conn:
            conn.execute(statement)


class RedisLimiter:
    """Counters in Redis (``INCR`` with an expiry set by the window's first attempt)."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def hit(self, key: str, window_seconds: int, *, session: Session | None = None) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(f"lms:rl:{key}")
        pipe.expire(f"lms:rl:{key}", window_seconds, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def count(self, key: str, *, session: Session | None = None) -> int:
        value = self._redis.get(f"lms:rl:{key}")
        return int(value) if value else 0

    def seconds_left(self, key: str, *, session: Session | None = None) -> int:
        ttl = int(self._redis.ttl(f"lms:rl:{key}"))
        return max(ttl, 0)

    def reset(self, key: str, *, session: Session | None = None) -> None:
        self._redis.delete(f"lms:rl:{key}")


def make_limiter(engine: Engine, redis_url: str | None) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else DatabaseLimiter(engine)
