"""Background work on the web: the admin's Schedules page, the deliveries page's jobs, and a
person's own background tasks with their progress."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import ScheduleState
from lms_core.retention import Prune
from lms_core.testing import AuthActions
from lms_core.testing import csrf_token
from lms_core.testing import run_jobs
from lms_core.testing import text_of
from lms_core.web import create_app
from tests.sample_plugins import chores

PASSWORD = "correct horse battery"


@pytest.fixture
def site(lms_factory):
    chores.FAIL = False
    site = lms_factory(["tests.sample_plugins.chores"])
    site.deliver_inline = False
    yield site
    chores.FAIL = False


@pytest.fixture
def client(site):
    app = create_app(lms=site)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture
def admin(site, client):
    from lms_core.testing import Factory

    person = Factory(site).admin("ada@example.com", password=PASSWORD)
    assert AuthActions(client).login("ada@example.com", PASSWORD).status_code == 302
    return person


def test_the_schedules_page_lists_every_schedule_with_its_owner_and_next_run(client, admin):
    page = text_of(client.get("/admin/schedules"), 200)
    assert 'id="schedule-core-prune_audit"' in page and "core.retention" in page
    assert 'id="schedule-chores-every_second"' in page and "chores" in page
    assert '<code class="cron">10 3 * * *</code>' in page  # the audit prune, nightly at 03:10 UTC
    assert "never" in page
    # retention: the settings an admin needs to see
    assert 'id="retention-audit_days"' in page and "2555 days (about 7.0 years)" in page
    assert "28 days" in page


def test_run_now_queues_the_job_for_a_worker_and_shows_its_result(site, client, admin):
    token = csrf_token(client, "/admin/schedules")
    answer = client.post("/admin/schedules/core.prune_audit/run", data={"csrf_token": token})
    assert answer.status_code == 302
    job_page = answer.headers["Location"]
    assert "waiting" in text_of(client.get(job_page), 200)  # not run inside the request
    run_jobs(site)
    page = text_of(client.get(job_page), 200)
    assert "done" in page and "Deleted 0 audit entries older than" in page
    schedules = text_of(client.get("/admin/schedules"), 200)
    assert "Deleted 0 audit entries" in schedules  # the last prune, on the retention table


def test_switching_a_schedule_off_and_on(site, client, admin):
    token = csrf_token(client, "/admin/schedules")
    off = client.post("/admin/schedules/chores.every_second/toggle", data={"csrf_token": token})
    assert off.status_code == 302
    with site.session() as session:
        state = session.get(ScheduleState, "chores.every_second")
        assert state is not None and state.enabled is False
    page = text_of(client.get("/admin/schedules"), 200)
    assert "Switch on" in page
    on = client.post("/admin/schedules/chores.every_second/toggle", data={"csrf_token": token})
    assert on.status_code == 302
    with site.session() as session:
        assert session.get(ScheduleState, "chores.every_second").enabled is True


def test_an_unknown_schedule_is_named_in_the_message(client, admin):
    token = csrf_token(client, "/admin/schedules")
    answer = client.post(
        "/admin/schedules/nope.never/run", data={"csrf_token": token}, follow_redirects=True
    )
    assert answer.status_code == 200
    assert "no schedule called &#39;nope.never&#39;" in answer.get_data(as_text=True)


def test_schedule_buttons_need_the_csrf_token_and_the_permission(site, client, admin):
    assert client.post("/admin/schedules/core.prune_audit/run").status_code == 400
    from lms_core.testing import Factory

    Factory(site).user("lee@example.com", password=PASSWORD)
    assert AuthActions(client).logout().status_code == 302
    assert AuthActions(client).login("lee@example.com", PASSWORD).status_code == 302
    assert client.get("/admin/schedules").status_code == 403
    token = csrf_token(client, "/jobs/")
    assert (
        client.post("/admin/schedules/core.prune_audit/run", data={"csrf_token": token}).status_code
        == 403
    )


def test_a_person_sees_their_own_background_tasks_and_not_anyone_elses(site, client, admin):
    from lms_core.testing import Factory

    other = Factory(site).user("lee@example.com", password=PASSWORD)
    with site.transaction(system=True) as ctx:
        mine = ctx.enqueue("chores.slow", chores.Slow(steps=2), requested_by=admin.id)
        theirs = ctx.enqueue("core.prune", Prune(what="audit"), requested_by=other.id)
    page = text_of(client.get("/jobs/"), 200)
    assert f'id="job-{mine}"' in page and f'id="job-{theirs}"' not in page
    run_jobs(site)
    done = text_of(client.get(f"/jobs/{mine}"), 200)
    assert "slow work done" in done and 'http-equiv="refresh"' not in done
    assert AuthActions(client).logout().status_code == 302
    assert AuthActions(client).login("lee@example.com", PASSWORD).status_code == 302
    assert client.get(f"/jobs/{mine}").status_code == 404
    assert client.get(f"/jobs/{theirs}").status_code == 200
    assert client.get("/jobs/999999999").status_code == 404


def test_a_running_job_shows_its_progress_and_refreshes_itself(site, client, admin):
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.slow", chores.Slow(steps=4), requested_by=admin.id)
    with site.session() as session, session.begin():
        session.execute(
            update(Delivery)
            .where(Delivery.id == job_id)
            .values(
                lease_until=Delivery.next_attempt_at, attempts=1, progress_done=1, progress_total=4
            )
        )
    page = text_of(client.get(f"/jobs/{job_id}"), 200)
    assert 'value="1" max="4"' in page and "1 of 4 · 25%" in page
    assert 'http-equiv="refresh"' in page
    admin_page = text_of(client.get("/admin/deliveries"), 200)
    assert f'id="job-{job_id}"' in admin_page and "running" in admin_page


def test_a_failed_job_is_on_the_deliveries_page_and_retry_gives_it_back_to_the_workers(
    site, client, admin
):
    chores.FAIL = True
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.note", chores.Note(text="x"))
    with site.session() as session, session.begin():
        session.execute(
            update(Delivery)
            .where(Delivery.id == job_id)
            .values(
                status=DeliveryStatus.FAILED,
                attempts=3,
                last_error="RuntimeError: chores cannot note today",
            )
        )
    page = text_of(client.get("/admin/deliveries"), 200)
    assert f'id="delivery-{job_id}"' in page and "Write a note" in page
    chores.FAIL = False
    runs = len(chores.RUNS)
    token = csrf_token(client, "/admin/deliveries")
    answer = client.post(f"/admin/deliveries/{job_id}/retry", data={"csrf_token": token})
    assert answer.status_code == 302
    assert len(chores.RUNS) == runs  # not run inside the request
    with site.session() as session:
        row = session.get(Delivery, job_id)
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)
    run_jobs(site)
    with site.session() as session:
        assert session.get(Delivery, job_id).status == DeliveryStatus.DELIVERED


def test_a_finished_export_is_offered_for_download_to_whoever_asked_only(site, client, admin):
    from lms_core.testing import Factory

    Factory(site).user("lee@example.com", password=PASSWORD)
    with site.transaction(system=True) as ctx:
        job_id = ctx.enqueue("chores.export", chores.Export(rows=3), requested_by=admin.id)
    run_jobs(site)
    page = text_of(client.get(f"/jobs/{job_id}"), 200)
    assert "3 rows exported" in page and "Download squares.csv" in page
    import re

    [url] = re.findall(r'href="(/files/\d+/squares\.csv)\?download=1"', page)
    download = client.get(url + "?download=1")
    assert download.status_code == 200
    assert download.data == b"n,square\n0,0\n1,1\n2,4\n"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert AuthActions(client).logout().status_code == 302
    assert AuthActions(client).login("lee@example.com", PASSWORD).status_code == 302
    assert client.get(url).status_code == 403  # not theirs


@pytest.mark.parametrize("path", ["/jobs/", "/admin/schedules", "/admin/deliveries"])
def test_the_background_pages_do_not_query_per_job(site, client, admin, path):
    from lms_core.schedules import run_now
    from lms_core.testing import count_statements

    def statements() -> int:
        with count_statements(site) as seen:
            assert client.get(path).status_code == 200
        return len(seen)

    def add(jobs: int) -> None:
        with site.transaction(admin) as ctx:
            for i in range(jobs):
                ctx.enqueue(
                    "chores.slow", chores.Slow(steps=1), requested_by=admin.id, key=f"k{i}-{jobs}"
                )
            run_now(ctx, "core.prune_audit")
            run_now(ctx, "chores.every_second")

    add(2)
    small = statements()
    add(25)
    assert statements() == small
