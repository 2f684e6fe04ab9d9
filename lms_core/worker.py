"""``lms worker``: deliver outbox events, run background jobs and fire schedules.

Each process loops: pick up plugin toggles, deliver what is due (event deliveries and short
jobs, in batches), enqueue the jobs of due schedules, run one due long job (leased, see
:mod:`lms_core.jobs`), and sleep briefly when there was nothing to do.
Several processes (or machines) may run at once: on PostgreSQL each delivery is claimed with
``SELECT ... FOR UPDATE SKIP LOCKED``, so no (event, plugin) is delivered twice concurrently;
on SQLite, write transactions are serialised (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from typing import Any

from lms_core import jobs
from lms_core import outbox
from lms_core.config import Config
from lms_core.runtime import LMS
from lms_core.schedules import Scheduler

__all__ = ["run_worker", "run_workers", "worker_name"]

log = logging.getLogger(__name__)


def run_worker(
    config: Config,
    *,
    once: bool = False,
    poll: float = 1.0,
    batch: int = 100,
    stop_after: float | None = None,
    plugins: tuple[Any, ...] = (),
    parent: int | None = None,
) -> int:
    """Work until stopped (or, with ``once``, until nothing is due). Returns how many
    deliveries and jobs it ran."""
    lms = LMS(config, plugins=plugins)
    lms.deliver_inline = False
    name = worker_name()
    scheduler = Scheduler(lms)
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    if multiprocessing.current_process().name == "MainProcess" or not once:
        with contextlib.suppress(ValueError):  # not in the main thread (tests)
            signal.signal(signal.SIGTERM, stop)
    total = 0
    started = time.monotonic()
    try:
        while not stopping:
            if parent is not None and os.getppid() != parent:
                log.warning("the process that started this worker is gone; stopping")
                break
            lms.refresh_plugins()
            done = outbox.deliver_due(lms, worker=name, limit=batch)
            done += scheduler.tick()
            if jobs.run_next_long_job(lms, name):
                done += 1
            total += done
            if stop_after is not None and time.monotonic() - started > stop_after:
                break
            if done == 0:
                if once:
                    break
                time.sleep(poll)
    finally:
        lms.dispose()
    return total


def worker_name() -> str:
    """``host:pid:thread``: shown on the deliveries page as who last attempted a row."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _child(
    config: Config, once: bool, poll: float, batch: int, queue: Any, parent: int | None
) -> None:
    queue.put(run_worker(config, once=once, poll=poll, batch=batch, parent=parent))


def run_workers(
    config: Config,
    processes: int,
    *,
    once: bool = False,
    poll: float = 1.0,
    batch: int = 100,
    parent: int | None = None,
) -> int:
    """Run ``processes`` worker processes; returns how many deliveries and jobs they ran.

    :param parent: stop when the process with this id is no longer this one's parent.
    """
    if processes <= 1:
        return run_worker(config, once=once, poll=poll, batch=batch, parent=parent)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    children = [
        # Each child stops if this process goes (which is what watches ``parent``).
        ctx.Process(target=_child, args=(config, once, poll, batch, queue, os.getpid()))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    try:
        for child in children:
            child.join()
    except KeyboardInterrupt:
        for child in children:
            child.terminate()
        raise
    return sum(queue.get() for _ in children if not queue.empty())
