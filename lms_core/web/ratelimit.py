"""Fixed-window counters for sign-in attempts: Redis when configured (shared by every web
worker), in-process otherwise (the embedded single-process default)."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Limiter", "MemoryLimiter", "RedisLimiter", "make_limiter"]


class Limiter(Protocol):
    def hit(self, key: str, window_seconds: int) -> int:
        """Count one attempt for ``key``; returns the attempts in the current window."""

    def count(self, key: str) -> int:
        """Attempts in the current window, without counting one."""

    def reset(self, key: str) -> None: ...


class MemoryLimiter:
    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, window_seconds: int) -> int:
        now = time.monotonic()
        with self._lock:
            count, expires = self._data.get(key, (0, now + window_seconds))
            if expires <= now:
                count, expires = 0, now + window_seconds
            self._data[key] = (count + 1, expires)
            return count + 1

    def count(self, key: str) -> int:
        with self._lock:
            count, expires = self._data.get(key, (0, 0.0))
            return count if expires > time.monotonic() else 0

    def reset(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def hit(self, key: str, window_seconds: int) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(f"lms:rl:{key}")
        pipe.expire(f"lms:rl:{key}", window_seconds, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def count(self, key: str) -> int:
        value = self._redis.get(f"lms:rl:{key}")
        return int(value) if value else 0

    def reset(self, key: str) -> None:
        self._redis.delete(f"lms:rl:{key}")


def make_limiter(redis_url: str | None) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else MemoryLimiter()
