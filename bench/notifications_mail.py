"""Benchmark: 10,000 email notifications to 10,000 people, sent by 1 and by 2 worker processes.

On PostgreSQL (row locks let workers share the queue). One ``notify()`` call tells 10,000
people something of a kind they get by email; that writes the rows and 100 mail jobs
(100 notifications each). Then ``lms_core.worker.run_workers(config, N, once=True)`` sends
them to an SMTP sink on loopback (aiosmtpd, in a process of its own), which answers each message after
``--latency-ms`` (a mail server on a network is not instant; 0 for none). The bench checks
that every notification was mailed exactly once, and prints mails/s for each worker count
(from the first mail to the last as the sink saw them, so process start-up is left out) and
the ratio. The last line is a JSON object of the figures.

    python bench/notifications_mail.py [--users 10000] [--latency-ms 2] \\
        [--database-url postgresql://postgres@127.0.0.1:5432/lms_notify_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lms_core.config import load_config  # noqa: E402
from lms_core.default_notifications import ENROLLED  # noqa: E402
from lms_core.migrate import upgrade  # noqa: E402
from lms_core.models import Delivery  # noqa: E402
from lms_core.models import Notification  # noqa: E402
from lms_core.models import User  # noqa: E402
from lms_core.notification_mail import MAIL_JOB  # noqa: E402
from lms_core.runtime import LMS  # noqa: E402
from lms_core.services import notifications  # noqa: E402
from lms_core.testing import count_statements  # noqa: E402
from lms_core.worker import run_workers  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/lms_notify_bench"


def _recreate(url: str) -> None:
    from sqlalchemy import create_engine

    parsed = make_url(url)
    admin = parsed.set(database="postgres", drivername="postgresql+psycopg")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """An SMTP server that counts what it is sent, per recipient."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.received: dict[str, int] = {}
        self.lock = threading.Lock()
        self.first: float | None = None
        self.last: float | None = None

    def clear(self) -> None:
        self.received.clear()
        self.first = self.last = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.latency:
            await asyncio.sleep(self.latency)
        with self.lock:
            now = time.perf_counter()
            self.first = self.first if self.first is not None else now
            self.last = now
            for rcpt in envelope.rcpt_tos:
                self.received[rcpt] = self.received.get(rcpt, 0) + 1
        return "250 OK"


def _sink_main(port: int, latency: float, conn: Any) -> None:
    """The SMTP sink, in a process of its own (so it shares no interpreter lock with a worker)."""
    from aiosmtpd.controller import Controller

    sink = Sink(latency)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    conn.send("up")
    try:
        while True:
            command = conn.recv()
            if command == "clear":
                sink.clear()
                conn.send("ok")
            elif command == "report":
                with sink.lock:
                    conn.send(
                        (
                            len(sink.received),
                            sorted(set(sink.received.values())),
                            sink.first,
                            sink.last,
                        )
                    )
            else:
                break
    finally:
        controller.stop()


class SinkProcess:
    def __init__(self, latency: float) -> None:
        self.port = _free_port()
        self.conn, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_sink_main, args=(self.port, latency, child), daemon=True
        )
        self.process.start()
        assert self.conn.recv() == "up"

    def clear(self) -> None:
        self.conn.send("clear")
        assert self.conn.recv() == "ok"

    def report(self) -> tuple[int, list[int], float | None, float | None]:
        self.conn.send("report")
        return self.conn.recv()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


def _people(site: LMS, count: int) -> list[int]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "email": f"person{i}@example.com",
            "email_key": f"person{i}@example.com",
            "name": f"Person {i}",
            "is_active": True,
            "timezone": "UTC",
            "locale": "en",
            "created_at": now,
            "session_version": 1,
        }
        for i in range(count)
    ]
    with site.engine.begin() as conn:
        conn.execute(insert(User), rows)
        return list(conn.execute(select(User.id).order_by(User.id)).scalars())


def _reset(site: LMS) -> None:
    with site.engine.begin() as conn:
        conn.execute(text("TRUNCATE notifications, outbox_deliveries RESTART IDENTITY CASCADE"))


def run(site: LMS, config: Any, ids: list[int], sink: SinkProcess, workers: int) -> dict[str, Any]:
    _reset(site)
    sink.clear()
    started = time.perf_counter()
    with site.transaction(system=True) as ctx, count_statements(site) as seen:
        written = notifications.notify(
            ctx, ENROLLED, ids, "You are enrolled in Fire safety", "It is due in 30 days.", "/"
        )
    notify_s = time.perf_counter() - started
    assert len(written) == len(ids), len(written)
    with site.session() as session:
        jobs = session.scalar(select(func.count()).where(Delivery.job == MAIL_JOB))
    started = time.perf_counter()
    run_workers(config, workers, once=True, poll=0.05)
    send_s = time.perf_counter() - started
    with site.session() as session:
        unmailed = session.scalar(select(func.count()).where(Notification.mailed_at.is_(None)))
        left = session.scalar(
            select(func.count()).where(Delivery.job == MAIL_JOB, Delivery.status != "delivered")
        )
    assert unmailed == 0 and left == 0, (unmailed, left)
    received, counts, first, last = sink.report()
    assert received == len(ids) and counts == [1], ("not once each", received, counts)
    assert first is not None and last is not None
    # From the first mail to the last, as the mail server saw them: the workers' start-up
    # (a spawned process imports the site; one worker runs in this process) is left out.
    window = last - first
    return {
        "workers": workers,
        "notify_s": round(notify_s, 3),
        "notify_statements": len(seen),
        "mail_jobs": jobs,
        "wall_s": round(send_s, 3),
        "send_s": round(window, 3),
        "mails_per_s": round(len(ids) / window, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=2.0)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    sink = SinkProcess(args.latency_ms / 1000)
    port = sink.port
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _recreate(args.database_url)
            config = load_config(
                env={},
                overrides={
                    "database": {"url": args.database_url},
                    "instance_path": tmp,
                    "secret_key": "bench secret key, the same for every process",
                    "events": {"deliver_inline": False},
                    "mail": {"host": "127.0.0.1", "port": port, "sender": "lms@example.com"},
                },
            )
            site = LMS(config)
            upgrade(site)
            ids = _people(site, args.users)
            one = run(site, config, ids, sink, 1)
            print(one, flush=True)
            two = run(site, config, ids, sink, 2)
            print(two, flush=True)
            site.dispose()
    finally:
        sink.stop()
    ratio = round(two["mails_per_s"] / one["mails_per_s"], 2)
    print(f"2 workers / 1 worker: {ratio}x ({one['mails_per_s']} -> {two['mails_per_s']} mails/s)")
    print(
        json.dumps(
            {
                "bench": "notifications_mail",
                "users": args.users,
                "latency_ms": args.latency_ms,
                "one_worker": one,
                "two_workers": two,
                "ratio": ratio,
            }
        )
    )


if __name__ == "__main__":
    main()
