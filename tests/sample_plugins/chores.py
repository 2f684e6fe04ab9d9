"""A plugin with background jobs and a schedule, for the job and schedule tests.

* ``chores.note`` (short): writes an audit entry ``chores.note``; fails while ``FAIL`` is true.
* ``chores.slow`` (long, 1 s lease): reports progress step by step, optionally waiting for a
  file to appear between steps (so a test can kill its worker mid-job), then writes an audit
  entry ``chores.slow.done`` with its key.
* ``chores.tick`` (short): writes an audit entry ``chores.tick`` naming the tick it is for.
* ``chores.export`` (long): stores a small CSV for whoever asked (file use ``chores.export``)
  and returns it as its result.
* schedule ``chores.every_second``: ``chores.tick`` every second.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from attrs import frozen

from lms_core import hookimpl
from lms_core.contributions import FileUse
from lms_core.contributions import PluginInfo
from lms_core.jobs import JobResult
from lms_core.jobs import JobType
from lms_core.schedules import Schedule
from lms_core.services.audit import audit

PLUGIN = PluginInfo(name="chores", version="1.0", title="Chores")

FAIL = False
RUNS: list[str] = []


@frozen
class Note:
    text: str = ""


@frozen
class Slow:
    steps: int = 3
    pause: float = 0.0
    #: While this file does not exist, the job waits after its first step.
    wait_for: str = ""
    #: Touched when the job starts (so a test knows it is under way).
    started: str = ""


@frozen
class Tick:
    at: str = ""


def note(ctx, payload: Note, job) -> JobResult:
    RUNS.append(job.key)
    if FAIL:
        raise RuntimeError("chores cannot note today")
    audit(ctx, "chores.note", None, text=payload.text, key=job.key, attempt=job.attempt)
    return JobResult(message=f"noted {payload.text}")


def slow(ctx, payload: Slow, job) -> JobResult:
    if payload.started:
        Path(payload.started).write_text(str(job.attempt))
    for step in range(1, payload.steps + 1):
        time.sleep(payload.pause)
        job.progress(step, payload.steps)
        while payload.wait_for and step == 1 and not Path(payload.wait_for).exists():
            time.sleep(0.05)
    audit(ctx, "chores.slow.done", None, key=job.key, attempt=job.attempt)
    return JobResult(message="slow work done", file_id=None)


def tick(ctx, payload: Tick, job) -> None:
    audit(ctx, "chores.tick", None, at=payload.at, key=job.key)


@frozen
class Export:
    rows: int = 2


def export(ctx, payload: Export, job) -> JobResult:
    from lms_core.models import User
    from lms_core.services import files

    owner = ctx.session.get(User, job.requested_by) if job.requested_by else None
    body = "n,square\n" + "".join(f"{i},{i * i}\n" for i in range(payload.rows))
    stored = files.store(
        ctx, use="chores.export", data=body.encode(), filename="squares.csv", owner=owner
    )
    return JobResult(message=f"{payload.rows} rows exported", file_id=stored.id)


@hookimpl
def lms_register_file_uses():
    return [FileUse(name="chores.export", title="Exports", max_bytes=1_000_000, types=("text/*",))]


@hookimpl
def lms_register_jobs():
    return [
        JobType(name="chores.note", payload=Note, run=note, title="Write a note", max_attempts=3),
        JobType(name="chores.slow", payload=Slow, run=slow, long=True, lease=1.0, max_attempts=4),
        JobType(name="chores.tick", payload=Tick, run=tick),
        JobType(name="chores.export", payload=Export, run=export, long=True, title="Export"),
    ]


@hookimpl
def lms_register_schedules():
    return [
        Schedule(
            name="chores.every_second",
            cron="* * * * * *",
            job="chores.tick",
            title="Every second",
            payload=lambda when: Tick(at=when.astimezone(dt.UTC).isoformat()),
        )
    ]
