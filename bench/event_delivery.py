"""Benchmark: deliver 10,000 course-completed events to 3 plugins with 1 and 2 `lms worker` processes.

Runs on PostgreSQL (row locking is what lets workers share the queue). For each worker count
it fills a fresh outbox with the same events (one delivery per event and plugin), times
`lms worker --once --processes N` as a real subprocess, checks that every delivery was made
exactly once, and prints events/s. The last line is a JSON object of the figures.

    python bench/event_delivery.py [--events 10000] [--database-url postgresql://postgres@127.0.0.1/lms_bench_events]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lms_core.config import load_config  # noqa: E402
from lms_core.events import CourseCompleted  # noqa: E402
from lms_core.events import dump_event  # noqa: E402
from lms_core.migrate import upgrade  # noqa: E402
from lms_core.models import Delivery  # noqa: E402
from lms_core.models import DeliveryStatus  # noqa: E402
from lms_core.models import OutboxEvent  # noqa: E402
from lms_core.runtime import LMS  # noqa: E402
from lms_core.services.plugins import sync_plugin_states  # noqa: E402

PLUGINS = ["bench_plugins.noop_a", "bench_plugins.noop_b", "bench_plugins.noop_c"]


def recreate_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    from sqlalchemy import create_engine

    engine = create_engine(
        admin.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    engine.dispose()


def fill_outbox(lms: LMS, events: int) -> None:
    now = dt.datetime.now(dt.UTC)
    with lms.engine.begin() as conn:
        conn.execute(text("TRUNCATE outbox_deliveries, outbox_events RESTART IDENTITY"))
        rows = [
            {
                "name": CourseCompleted.NAME,
                "payload": dump_event(
                    CourseCompleted(
                        enrollment_id=i,
                        user_id=i,
                        course_id=1,
                        course_code="BENCH-1",
                        completed_at=now,
                    )
                ),
                "created_at": now,
            }
            for i in range(1, events + 1)
        ]
        conn.execute(insert(OutboxEvent), rows)
        ids = list(conn.execute(select(OutboxEvent.id)).scalars())
        deliveries = [
            {
                "event_id": event_id,
                "plugin": plugin.rpartition(".")[2],
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "locked_by": None,
                "last_error": None,
                "delivered_at": None,
            }
            for event_id in ids
            for plugin in PLUGINS
        ]
        conn.execute(insert(Delivery), deliveries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/lms_bench_events"
    )
    args = parser.parse_args()

    recreate_database(args.database_url)
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    config_path = workdir / "lms.toml"
    modules = ", ".join(f'"{m}"' for m in PLUGINS)
    config_path.write_text(
        f'[database]\nurl = "{args.database_url}"\n\n[plugins]\nenabled = ["*"]\nmodules = [{modules}]\n\n'
        "[events]\ndeliver_inline = false\n",
        encoding="utf-8",
    )
    lms = LMS(load_config(config_path, env={}), use_entry_points=False)
    upgrade(lms)
    sync_plugin_states(lms)
    assert lms.enabled_plugins == {"noop_a", "noop_b", "noop_c"}, lms.enabled_plugins

    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    lms_cmd = [sys.executable, "-m", "lms_core", "--config", str(config_path), "worker", "--once"]
    figures: dict[str, float | int] = {"events": args.events, "plugins": len(PLUGINS)}
    for processes in (1, 2):
        fill_outbox(lms, args.events)
        started = time.perf_counter()
        subprocess.run(
            [*lms_cmd, "--processes", str(processes)], env=env, check=True, capture_output=True
        )
        elapsed = time.perf_counter() - started
        with lms.session() as session:
            delivered = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == DeliveryStatus.DELIVERED)
            )
            attempts = session.scalar(select(func.sum(Delivery.attempts)))
        expected = args.events * len(PLUGINS)
        assert delivered == expected, f"{delivered} of {expected} delivered"
        assert attempts == expected, (
            f"{attempts} attempts for {expected} deliveries: something was delivered twice"
        )
        rate = args.events / elapsed
        figures[f"workers_{processes}_s"] = round(elapsed, 2)
        figures[f"workers_{processes}_events_per_s"] = round(rate, 1)
        print(
            f"{processes} worker(s): {args.events} events x {len(PLUGINS)} plugins in {elapsed:.2f} s = {rate:.0f} events/s"
        )
    figures["speedup_2_vs_1"] = round(figures["workers_1_s"] / figures["workers_2_s"], 2)
    print(f"2 workers vs 1: {figures['speedup_2_vs_1']}x")
    lms.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
