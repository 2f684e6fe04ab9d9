"""Benchmark: what a background job costs the transaction that asks for it, and to run.

1. Enqueue cost: ``--txns`` write units of work that each insert one audit entry (the
   baseline), then the same units of work each also enqueuing one job. Prints the statements
   per enqueue (one INSERT) and the time ratio against the baseline.
2. Running: ``--jobs`` short jobs of a no-op job type, run by a worker in this process
   (``lms_core.worker.run_worker(once=True)``), against the same number of event deliveries
   to a no-op plugin (the delivery machinery jobs share). Prints jobs/s, deliveries/s and the
   ratio.

The last line is one JSON object of the figures.

    python bench/jobs.py [--txns 2000] [--jobs 10000] [--database-url postgresql://postgres@127.0.0.1/lms_bench_jobs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from attrs import frozen
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from lms_core import PluginInfo  # noqa: E402
from lms_core import hookimpl  # noqa: E402
from lms_core.config import load_config  # noqa: E402
from lms_core.events import CourseCompleted  # noqa: E402
from lms_core.events import dump_event  # noqa: E402
from lms_core.jobs import JobType  # noqa: E402
from lms_core.migrate import upgrade  # noqa: E402
from lms_core.models import Delivery  # noqa: E402
from lms_core.models import DeliveryStatus  # noqa: E402
from lms_core.models import OutboxEvent  # noqa: E402
from lms_core.runtime import LMS  # noqa: E402
from lms_core.services.audit import audit  # noqa: E402
from lms_core.services.plugins import sync_plugin_states  # noqa: E402
from lms_core.testing import count_statements  # noqa: E402
from lms_core.worker import run_worker  # noqa: E402


@frozen
class Nothing:
    n: int = 0


def _make_plugin() -> ModuleType:
    module = ModuleType("bench_jobs", "A job type that does nothing, and an event no-op.")

    def run(ctx: Any, payload: Nothing, job: Any) -> None:
        return None

    @hookimpl
    def lms_register_jobs() -> list[JobType]:
        return [JobType(name="bench_jobs.nothing", payload=Nothing, run=run)]

    @hookimpl
    def lms_on_course_completed(event: Any) -> None:
        return None

    module.PLUGIN = PluginInfo(name="bench_jobs", version="1.0", title="Bench jobs")  # type: ignore[attr-defined]
    module.lms_register_jobs = lms_register_jobs  # type: ignore[attr-defined]
    module.lms_on_course_completed = lms_on_course_completed  # type: ignore[attr-defined]
    sys.modules["bench_jobs"] = module
    return module


def _recreate(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    from sqlalchemy import create_engine

    admin = parsed.set(database="postgres", drivername="postgresql+psycopg")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    engine.dispose()


def _clear(site: LMS) -> None:
    with site.engine.begin() as conn:
        conn.execute(Delivery.__table__.delete())
        conn.execute(OutboxEvent.__table__.delete())


def enqueue_cost(site: LMS, txns: int) -> dict[str, float]:
    def units(with_job: bool) -> float:
        started = time.perf_counter()
        for i in range(txns):
            with site.transaction(system=True) as ctx:
                audit(ctx, "bench.change", None, n=i)
                if with_job:
                    ctx.enqueue("bench_jobs.nothing", Nothing(n=i))
        return time.perf_counter() - started

    units(False)  # warm up
    baseline = units(False)
    with_jobs = units(True)
    with site.transaction(system=True) as ctx:
        ctx.session.execute(text("SELECT 1"))
        with count_statements(site) as seen:
            ctx.enqueue("bench_jobs.nothing", Nothing())
    _clear(site)
    return {
        "txn_baseline_s": round(baseline, 3),
        "txn_with_enqueue_s": round(with_jobs, 3),
        "enqueue_ratio": round(with_jobs / baseline, 3),
        "statements_per_enqueue": len(seen),
    }


def run_cost(site: LMS, count: int, config: Any) -> dict[str, float]:
    with site.transaction(system=True) as ctx:
        for i in range(count):
            ctx.enqueue("bench_jobs.nothing", Nothing(n=i))
    started = time.perf_counter()
    ran = run_worker(config, once=True)
    jobs_s = time.perf_counter() - started
    assert ran >= count, ran
    _clear(site)

    now = dt.datetime.now(dt.UTC)
    with site.engine.begin() as conn:
        ids = conn.execute(
            insert(OutboxEvent).returning(OutboxEvent.id),
            [
                {"name": CourseCompleted.NAME, "payload": _payload(i, now), "created_at": now}
                for i in range(count)
            ],
        ).scalars()
        conn.execute(
            insert(Delivery),
            [
                {
                    "event_id": event_id,
                    "plugin": "bench_jobs",
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for event_id in ids
            ],
        )
    started = time.perf_counter()
    delivered = run_worker(config, once=True)
    events_s = time.perf_counter() - started
    assert delivered >= count, delivered
    with site.session() as session:
        left = session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.PENDING))
    assert left == 0, left
    _clear(site)
    return {
        "jobs_s": round(jobs_s, 3),
        "events_s": round(events_s, 3),
        "jobs_per_s": round(count / jobs_s, 1),
        "deliveries_per_s": round(count / events_s, 1),
        "jobs_vs_deliveries": round(jobs_s / events_s, 3),
    }


def _payload(i: int, now: dt.datetime) -> Any:
    return dump_event(
        CourseCompleted(
            enrollment_id=i + 1, user_id=i + 1, course_id=1, course_code="B1", completed_at=now
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txns", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    _make_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        _recreate(url)
        config = load_config(
            env={},
            overrides={
                "database": {"url": url},
                "instance_path": tmp,
                "plugins": {"modules": ["bench_jobs"], "enabled": ["*"]},
                "events": {"deliver_inline": False},
            },
        )
        site = LMS(config, use_entry_points=False)
        upgrade(site)
        sync_plugin_states(site)
        site.refresh_plugins(force=True)
        figures: dict[str, Any] = {"database": make_url(url).get_backend_name()}
        figures.update(enqueue_cost(site, args.txns))
        print(
            f"enqueue: {figures['statements_per_enqueue']} statement(s); a unit of work with a "
            f"job takes {figures['enqueue_ratio']}x one without"
        )
        figures.update(run_cost(site, args.jobs, config))
        print(
            f"running {args.jobs} short jobs: {figures['jobs_per_s']}/s; the same number of "
            f"event deliveries: {figures['deliveries_per_s']}/s "
            f"(jobs take {figures['jobs_vs_deliveries']}x)"
        )
        site.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
