"""Background work on the web: a person's own jobs with their progress, and the admin's
Schedules page (every schedule, its last run and result, its next run, run now, on/off, and
the retention settings with what the last prunes did)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from attrs import frozen
from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from lms_core import retention
from lms_core import schedules as schedule_service
from lms_core.db import utcnow
from lms_core.errors import LMSError
from lms_core.jobs import job_types
from lms_core.models import Delivery
from lms_core.models import ScheduleState
from lms_core.models import StoredFile
from lms_core.schedules import Schedule
from lms_core.services.files import url_for_file
from lms_core.services.permissions import can
from lms_core.web.db import db
from lms_core.web.db import lms
from lms_core.web.db import write
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import requires
from lms_core.web.forms import EmptyForm

__all__ = ["bp"]

bp = Blueprint("jobs", __name__)

#: A person's most recent jobs listed.
MY_JOBS = 50


def _check_csrf() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


@frozen
class JobView:
    """A job as the pages show it."""

    row: Delivery
    title: str

    @property
    def state(self) -> str:
        row = self.row
        if row.status == "pending" and row.lease_until is not None:
            return "running"
        if row.status == "pending":
            return "waiting" if row.attempts == 0 else "retrying"
        return {"delivered": "done", "failed": "failed", "skipped": "cancelled"}.get(
            row.status, row.status
        )

    @property
    def percent(self) -> int | None:
        done, total = self.row.progress_done, self.row.progress_total
        if done is None or not total:
            return None
        return max(0, min(100, round(100 * done / total)))

    @property
    def message(self) -> str:
        result = self.row.result or {}
        return str(result.get("message") or "")


def _view(row: Delivery, titles: dict[str, str]) -> JobView:
    return JobView(row=row, title=titles.get(row.job or "", row.job or ""))


def _titles() -> dict[str, str]:
    return {name: (jt.title or name) for name, (_plugin, jt) in job_types(lms()).items()}


# -- a person's own jobs ------------------------------------------------------------------


@bp.route("/jobs/")
@requires(SIGNED_IN)
def mine() -> Any:
    rows = db().scalars(
        select(Delivery)
        .where(Delivery.requested_by_id == current_user.id, Delivery.job.is_not(None))
        .order_by(Delivery.id.desc())
        .limit(MY_JOBS)
    )
    titles = _titles()
    return render_template("jobs/mine.html", jobs=[_view(row, titles) for row in rows])


@bp.route("/jobs/<id:job_id>")
@requires(SIGNED_IN)
def job(job_id: int) -> Any:
    row = db().get(Delivery, job_id)
    if row is None or row.job is None:
        abort(404)
    if row.requested_by_id != current_user.id and not can(current_user, "plugin.manage"):
        abort(404)  # someone else's: as if it did not exist
    result_file = None
    file_id = (row.result or {}).get("file_id")
    if isinstance(file_id, int):
        stored = db().get(StoredFile, file_id)
        if stored is not None:
            result_file = (url_for_file(stored), stored)
    return render_template("jobs/job.html", job=_view(row, _titles()), result_file=result_file)


# -- the admin's schedules ----------------------------------------------------------------


@frozen
class ScheduleView:
    schedule: Schedule
    plugin: str
    enabled: bool
    last: JobView | None
    next_run: dt.datetime | None


@bp.route("/admin/schedules")
@requires("plugin.manage")
def schedules() -> Any:
    runtime = lms()
    declared = schedule_service.schedules(runtime)
    states = {
        state.name: state
        for state in db().scalars(
            select(ScheduleState).where(ScheduleState.name.in_(sorted(declared)))
        )
    }
    last_ids = [s.last_delivery_id for s in states.values() if s.last_delivery_id]
    lasts = (
        {row.id: row for row in db().scalars(select(Delivery).where(Delivery.id.in_(last_ids)))}
        if last_ids
        else {}
    )
    titles = _titles()
    now = utcnow()
    rows = []
    for name, (plugin, schedule) in sorted(declared.items()):
        state = states.get(name)
        enabled = state.enabled if state is not None else True
        last = lasts.get(state.last_delivery_id) if state and state.last_delivery_id else None
        rows.append(
            ScheduleView(
                schedule=schedule,
                plugin=plugin,
                enabled=enabled,
                last=_view(last, titles) if last is not None else None,
                next_run=schedule_service.next_tick(schedule, now) if enabled else None,
            )
        )
    settings = runtime.config.retention
    kept = [
        (pruner.title, getattr(settings, pruner.setting), pruner.setting, f"core.prune_{what}")
        for what, pruner in retention.PRUNERS.items()
    ]
    last_prunes = {row.schedule.name: row.last for row in rows}
    return render_template(
        "jobs/schedules.html", rows=rows, kept=kept, last_prunes=last_prunes, form=EmptyForm()
    )


@bp.route("/admin/schedules/<name>/run", methods=["POST"])
@requires("plugin.manage")
def run_now(name: str) -> Any:
    _check_csrf()
    try:
        with write() as ctx:
            job_id = schedule_service.run_now(ctx, name)
    except LMSError as exc:
        flash(exc.message, "error")
        return redirect(url_for("jobs.schedules"))
    flash("Queued: a worker runs it within seconds.", "success")
    return redirect(url_for("jobs.job", job_id=job_id))


@bp.route("/admin/schedules/<name>/toggle", methods=["POST"])
@requires("plugin.manage")
def toggle(name: str) -> Any:
    _check_csrf()
    state = db().get(ScheduleState, name)
    enabled = state.enabled if state is not None else True
    try:
        with write() as ctx:
            schedule_service.set_enabled(ctx, name, not enabled)
    except LMSError as exc:
        flash(exc.message, "error")
        return redirect(url_for("jobs.schedules"))
    flash(f"{name} is {'off' if enabled else 'on'}.", "success")
    return redirect(url_for("jobs.schedules"))
