"""Real ``lms worker`` processes: schedules fire once per tick across workers, and a job whose
worker is killed mid-way runs again and finishes once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from lms_core.models import AuditEntry
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from tests.sample_plugins import chores

ROOT = Path(__file__).resolve().parents[1]
CHORES = "tests.sample_plugins.chores"


@pytest.fixture
def site(lms_factory):
    site = lms_factory([CHORES])
    site.deliver_inline = False
    return site


@pytest.fixture
def start_worker(site, tmp_path):
    """Start an ``lms worker`` process on the test database with the chores plugin loaded."""
    config = tmp_path / "worker.toml"
    config.write_text(
        f"instance_path = {str(tmp_path / 'instance')!r}\n"
        f"[database]\nurl = {site.config.database_url!r}\n"
        f"[plugins]\nmodules = [{CHORES!r}]\n"
        "[events]\ndeliver_inline = false\n"
    )
    env = {**os.environ, "LMS_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "lms_core", "worker", "--poll", "0.05"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    for log in sorted(tmp_path.glob("worker-*.log")):
        print(log.name, log.read_text(errors="replace")[-3000:])  # shown when a test fails


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _audits(site, action: str) -> list[AuditEntry]:
    with site.session() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by("id"))
        )


def _job(site, job_id: int) -> Delivery:
    with site.session() as session:  # a new session each time: a fresh view
        row = session.get(Delivery, job_id)
        assert row is not None
        return row


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_two_workers_run_a_schedule_firing_every_second_once_per_tick(site, start_worker):
    first, second = start_worker(), start_worker()
    _wait_for(lambda: len(_audits(site, "chores.tick")) >= 5)
    _stop(first)
    _stop(second)
    ticks = [entry.details["at"] for entry in _audits(site, "chores.tick")]
    assert len(ticks) == len(set(ticks)), f"a tick ran twice: {ticks}"
    with site.session() as session:
        jobs = session.scalars(select(Delivery).where(Delivery.job == "chores.tick")).all()
    assert len(jobs) == len(ticks)
    assert {job.status for job in jobs} == {DeliveryStatus.DELIVERED}


def test_a_job_whose_worker_is_killed_runs_again_and_finishes_once(site, start_worker, tmp_path):
    go, started = tmp_path / "go", tmp_path / "started"
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue(
            "chores.slow", chores.Slow(steps=3, wait_for=str(go), started=str(started))
        )
    doomed = start_worker()
    _wait_for(started.exists)
    _wait_for(lambda: _job(site, job_id).progress_done == 1)  # under way, and visible
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    assert _audits(site, "chores.slow.done") == []  # nothing half-written
    go.write_text("go")

    start_worker()
    _wait_for(lambda: _job(site, job_id).status == DeliveryStatus.DELIVERED)
    assert _job(site, job_id).attempts == 2
    [done] = _audits(site, "chores.slow.done")
    assert done.details["attempt"] == 2
