"""The plugin system: loading and quarantine, toggles, reliable events, migrations, privacy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sample_plugins import flaky
from sample_plugins import gate
from sample_plugins import recorder
from sqlalchemy import func
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from lms_core import outbox
from lms_core.errors import PluginError
from lms_core.errors import Rejected
from lms_core.models import AuditEntry
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import EnrollmentStatus
from lms_core.models import OutboxEvent
from lms_core.services import enrollments
from lms_core.services import progress
from lms_core.services.plugins import disable_plugin
from lms_core.services.plugins import enable_plugin
from lms_core.services.plugins import plugin_statuses
from lms_core.services.plugins import purge_plugin
from lms_core.services.privacy import erase_user
from lms_core.services.privacy import export_user
from lms_core.worker import run_worker

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def _reset_sample_plugins():
    recorder.RECEIVED.clear()
    flaky.CALLS.clear()
    flaky.FAIL = True
    gate.CLOSED = False
    yield


def complete_course(site, user, course):
    with site.transaction(user) as ctx:
        enrollment = enrollments.enroll(ctx, user, course)
        for lesson in ctx.attach(course).lessons:
            progress.complete_lesson(ctx, enrollment, lesson)
        return enrollment


# -- loading and quarantine ---------------------------------------------------------------


def test_broken_incompatible_misspelt_and_careless_plugins_are_quarantined_with_reasons(
    lms_factory,
):
    site = lms_factory(
        [
            "sample_plugins.recorder",
            "sample_plugins.broken",
            "sample_plugins.incompatible",
            "sample_plugins.misspelt",
            "sample_plugins.nosy",
            "sample_plugins.gate",
            "sample_plugins.misnamed",
        ],
        sync=False,
    )
    quarantined = site.plugins.quarantined
    assert "failed to import" in quarantined["sample_plugins.broken"]
    assert "needs core <0.1" in quarantined["ancient"]
    assert "lms_on_course_complete" in quarantined["misspelt"]
    assert "nosy_notes" in quarantined["nosy"] and "lms_privacy_erase" in quarantined["nosy"]
    assert "must be named misnamed_*: things" in quarantined["misnamed"]
    # the rest of the site starts: good plugins are loaded
    assert set(site.plugins.loaded) == {"recorder", "gate"}
    states = {s.name: s.state for s in plugin_statuses(site)}
    assert states["misspelt"] == "quarantined"


def test_a_plugin_whose_requirement_is_not_installed_is_quarantined(lms_factory):
    site = lms_factory(["sample_plugins.gate"], sync=False)
    assert "requires recorder" in site.plugins.quarantined["gate"]


def test_new_plugins_follow_the_deployment_default_and_safe_mode_turns_everything_off(lms_factory):
    on = lms_factory(["sample_plugins.recorder", "sample_plugins.flaky"], enabled=("recorder",))
    assert on.enabled_plugins == {"recorder"}
    safe = lms_factory(["sample_plugins.recorder"], plugin_config={"safe_mode": True})
    assert safe.enabled_plugins == frozenset()


# -- toggles ------------------------------------------------------------------------------


def test_enabling_a_plugin_whose_requirement_is_off_is_refused_naming_it(lms_factory):
    site = lms_factory(["sample_plugins.recorder", "sample_plugins.gate"], enabled=())
    with pytest.raises(PluginError, match="gate requires recorder: enable recorder first"):
        enable_plugin(site, "gate")
    assert enable_plugin(site, "recorder") is True
    assert enable_plugin(site, "gate") is True
    with pytest.raises(PluginError, match="recorder cannot be disabled: gate require"):
        disable_plugin(site, "recorder")


def test_toggles_are_audited_and_survive_a_restart(lms_factory, lms):
    site = lms_factory(["sample_plugins.recorder"])
    disable_plugin(site, "recorder")
    # "upgrade": a new process with the same config sees the admin's choice, not the default
    again = lms_factory(["sample_plugins.recorder"])
    assert "recorder" not in again.enabled_plugins
    with lms.session() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("plugin.%"))
        ).all()
    assert "plugin.install" in actions and "plugin.disable" in actions


def test_a_toggle_is_seen_by_another_process_on_its_next_request(lms_factory, lms_config):
    site = lms_factory(["sample_plugins.recorder"])
    assert "recorder" in site.enabled_plugins
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1])\n"
        "from lms_core.config import load_config\n"
        "from lms_core.runtime import LMS\n"
        "site = LMS(load_config(env={}, overrides={'database': {'url': sys.argv[2]}}),"
        " plugins=['sample_plugins.recorder'], use_entry_points=False)\n"
        "print(json.dumps(sorted(site.enabled_plugins)))\n"
    )

    def other_process() -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", script, str(TESTS), lms_config.database_url],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert other_process() == ["recorder"]
    disable_plugin(site, "recorder")
    assert other_process() == []
    # and a long-lived runtime in this process notices on its next unit of work
    second = lms_factory(["sample_plugins.recorder"], sync=False)
    enable_plugin(site, "recorder")
    with second.transaction(system=True):
        pass
    assert "recorder" in second.enabled_plugins


def test_a_disabled_plugin_gets_no_events_and_its_nav_items_vanish(lms_factory, factory):
    site = lms_factory(["sample_plugins.recorder"])
    learner, course = factory.user(), factory.course(lessons=1)

    def labels():
        return [i.label for i in site.hooks.collect("lms_nav_items", user=None)]

    assert "Recorded" in labels()
    disable_plugin(site, "recorder")
    complete_course(site, learner, course)
    assert recorder.RECEIVED == []
    assert "Recorded" not in labels() and "Catalog" in labels()
    with site.session() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.plugin == "recorder")
            )
            == 0
        )


# -- reliable events ----------------------------------------------------------------------


def test_events_are_delivered_after_commit_to_each_enabled_plugin(lms_factory, factory):
    site = lms_factory(["sample_plugins.recorder"])
    learner, course = factory.user(), factory.course(lessons=1)
    enrollment = complete_course(site, learner, course)
    kinds = [type(e).__name__ for e in recorder.RECEIVED]
    assert kinds == ["UserEnrolled", "CourseCompleted"]
    assert recorder.RECEIVED[1].enrollment_id == enrollment.id
    with site.session() as session:
        statuses = session.scalars(
            select(Delivery.status).where(Delivery.plugin == "recorder")
        ).all()
    assert statuses == [DeliveryStatus.DELIVERED] * 2


def test_a_raising_plugin_never_undoes_the_write_nor_stops_other_plugins_and_is_retried(
    lms_factory, factory
):
    site = lms_factory(["sample_plugins.recorder", "sample_plugins.flaky"])
    learner, course = factory.user(), factory.course()
    with site.transaction(learner) as ctx:
        enrollment = enrollments.enroll(ctx, learner, course)
    with site.session() as session:
        assert session.get(type(enrollment), enrollment.id).status == EnrollmentStatus.ACTIVE
        failed = session.scalars(select(Delivery).where(Delivery.plugin == "flaky")).one()
    assert [type(e).__name__ for e in recorder.RECEIVED] == ["UserEnrolled"]
    assert failed.status == DeliveryStatus.PENDING and failed.attempts == 1
    assert "flaky is down" in failed.last_error
    # not due yet: the backoff holds it back
    assert outbox.deliver_due(site, worker="test") == 0
    # an admin retries once the plugin is fixed
    flaky.FAIL = False
    with site.transaction(system=True) as ctx:
        assert outbox.redeliver(ctx, [failed.id]) == 1
    assert outbox.deliver_due(site, worker="test") == 1
    with site.session() as session:
        assert session.get(Delivery, failed.id).status == DeliveryStatus.DELIVERED
    assert [enrollment.id, enrollment.id] == flaky.CALLS


def test_a_delivery_that_keeps_failing_is_marked_failed_with_its_error(lms_factory, factory):
    site = lms_factory(["sample_plugins.flaky"])
    learner, course = factory.user(), factory.course()
    factory.enrollment(
        learner, course
    )  # delivered inline by the factory's own runtime? no: flaky is off there
    with site.transaction(system=True) as ctx:
        enrollments.withdraw(
            ctx, enrollments.find_enrollment(ctx, ctx.attach(learner), ctx.attach(course))
        )
        enrollments.enroll(ctx, ctx.attach(learner), ctx.attach(course))
    for _ in range(outbox.MAX_ATTEMPTS):
        with site.transaction(system=True) as ctx:
            ids = list(ctx.session.scalars(select(Delivery.id).where(Delivery.plugin == "flaky")))
            ctx.session.execute(
                Delivery.__table__.update()
                .where(Delivery.id.in_(ids))
                .values(next_attempt_at=func.now())
            )
        outbox.deliver_due(site, worker="test")
    with site.session() as session:
        delivery = session.scalars(select(Delivery).where(Delivery.plugin == "flaky")).one()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == outbox.MAX_ATTEMPTS
    assert "RuntimeError: flaky is down" in delivery.last_error


def test_backoff_grows_exponentially_and_is_capped():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert outbox.backoff(30).total_seconds() == 3600


def test_a_plugins_writes_commit_with_its_delivery_so_redelivery_is_harmless(lms_factory, factory):
    site = lms_factory(["sample_plugins.notes.hooks"])
    learner, course = factory.user(), factory.course(lessons=1)
    complete_course(site, learner, course)
    with site.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(sa_table(site, "notes_entries"))) == 1
        )
        delivery = session.scalars(select(Delivery).where(Delivery.plugin == "notes")).one()
    # delivered already: a second attempt finds nothing to do
    assert outbox.deliver_due(site, worker="again") == 0
    with site.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(sa_table(site, "notes_entries"))) == 1
        )
        assert session.get(Delivery, delivery.id).status == DeliveryStatus.DELIVERED


def test_a_plugin_failing_after_writing_leaves_nothing_and_the_rest_of_its_batch_commits(
    lms_factory, factory, monkeypatch
):
    # Batches are tried without a savepoint per delivery; a writing plugin's failure sends
    # the whole batch round again with one, so only the failed delivery's writes are undone.
    from sample_plugins.notes import hooks as notes_hooks

    site = lms_factory(["sample_plugins.notes.hooks", "sample_plugins.recorder"])
    learner = factory.user()
    good, bad = factory.course(lessons=1), factory.course(lessons=1)
    monkeypatch.setattr(notes_hooks, "FAIL_AFTER_WRITING_FOR", bad.code)
    with site.transaction(learner) as ctx:  # both completions are delivered in one batch
        for course in (good, bad):
            enrollment = enrollments.enroll(ctx, learner, course)
            progress.complete_lesson(ctx, enrollment, ctx.attach(course).lessons[0])
    with site.session() as session:
        notes = session.execute(select(sa_table(site, "notes_entries").c.text)).scalars().all()
        deliveries = {
            (d.plugin, d.status, d.attempts)
            for d in session.scalars(select(Delivery).where(Delivery.plugin == "notes"))
        }
    assert notes == [f"Completed {good.code}"]
    assert (("notes", DeliveryStatus.DELIVERED, 1)) in deliveries
    assert (("notes", DeliveryStatus.PENDING, 1)) in deliveries  # to be retried, once
    assert "CourseCompleted" in [type(e).__name__ for e in recorder.RECEIVED]


def sa_table(site, name):
    from lms_core.db import Base

    return Base.metadata.tables[name]


def test_two_workers_never_deliver_the_same_event_twice(lms_factory, factory):
    from sample_plugins.notes import hooks as notes_hooks

    site = lms_factory(["sample_plugins.notes.hooks"])
    site.deliver_inline = False  # leave everything to the workers
    course = factory.course(lessons=1)
    learners = [factory.user() for _ in range(12)]
    for learner in learners:
        complete_course(site, learner, course)
    notes_hooks.DELAY = 0.01
    results: list[int] = []
    try:
        threads = [
            threading.Thread(
                target=lambda: results.append(
                    run_worker(
                        site.config, once=True, batch=3, plugins=("sample_plugins.notes.hooks",)
                    )
                )
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        notes_hooks.DELAY = 0.0
    with site.session() as session:
        notes = session.scalar(select(func.count()).select_from(sa_table(site, "notes_entries")))
        # The notes plugin's deliveries (the core's notifications get these events too, and
        # their mail jobs wait for a mail server this test has not got).
        pending = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.plugin == "notes", Delivery.status != DeliveryStatus.DELIVERED)
        )
        statuses = session.execute(select(Delivery.status, Delivery.last_error)).all()
    assert pending == 0, statuses
    assert notes == 12
    assert sum(results) >= 12


# -- filters ------------------------------------------------------------------------------


def test_a_filter_can_veto_an_enrollment_with_a_message(lms_factory, factory):
    site = lms_factory(["sample_plugins.recorder", "sample_plugins.gate"])
    learner, vip = factory.user(), factory.course(code="VIP-1")
    with pytest.raises(Rejected) as info, site.transaction(learner) as ctx:
        enrollments.enroll(ctx, learner, vip)
    assert info.value.message == "VIP courses are by invitation only."
    assert info.value.redirect_to == "/courses"


def test_a_crashing_gating_filter_fails_closed(lms_factory, factory):
    site = lms_factory(["sample_plugins.crashing_filter"])
    learner, course = factory.user(), factory.course()
    with (
        pytest.raises(Rejected, match="crashfilter plugin failed"),
        site.transaction(learner) as ctx,
    ):
        enrollments.enroll(ctx, learner, course)
    with site.session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.name == "lms.enrollment.created.v1")
            )
            == 0
        )


def test_a_completion_filter_holds_the_course_open_until_its_criterion_is_met(lms_factory, factory):
    site = lms_factory(["sample_plugins.recorder", "sample_plugins.gate"])
    learner, course = factory.user(), factory.course(lessons=1)
    gate.CLOSED = True
    enrollment = complete_course(site, learner, course)
    assert enrollment.status == EnrollmentStatus.ACTIVE
    gate.CLOSED = False
    with site.transaction(system=True) as ctx:
        assert progress.check_completion(ctx, ctx.attach(enrollment)) is True


# -- per-plugin data ----------------------------------------------------------------------


def test_a_plugins_tables_appear_on_first_enable_and_go_on_purge(lms_factory):
    site = lms_factory(["sample_plugins.notes.hooks"], enabled=())
    tables = set(sa_inspect(site.engine).get_table_names())
    if "notes_entries" in tables:  # an earlier test migrated it on this database: start clean
        purge_plugin(site, "notes")
        site = lms_factory(["sample_plugins.notes.hooks"], enabled=(), sync=False)
    assert "notes_entries" not in sa_inspect(site.engine).get_table_names()
    assert enable_plugin(site, "notes") is True
    assert "notes_entries" in sa_inspect(site.engine).get_table_names()
    with pytest.raises(PluginError, match="disable it before purging"):
        purge_plugin(site, "notes")
    disable_plugin(site, "notes")
    assert purge_plugin(site, "notes") == ["notes_entries"]
    assert "notes_entries" not in sa_inspect(site.engine).get_table_names()


def test_a_plugins_permissions_join_their_default_roles_when_it_is_enabled(lms_factory, factory):
    from lms_core.services.permissions import can

    site = lms_factory(["sample_plugins.notes.hooks"])
    manager = factory.user(roles=("manager",))
    with site.transaction(system=True) as ctx:
        assert can(ctx.attach(manager), "notes.read")


# -- privacy ------------------------------------------------------------------------------


def test_export_and_erase_cover_the_core_and_every_plugin(lms_factory, factory):
    site = lms_factory(["sample_plugins.notes.hooks"])
    learner, course = (
        factory.user(email="pat@example.com", department="Sales"),
        factory.course(lessons=1),
    )
    complete_course(site, learner, course)
    disable_plugin(site, "notes")  # still covered: its data is still there
    with site.transaction(system=True) as ctx:
        data = export_user(ctx, "pat@example.com")
    assert data["user"]["department"] == "Sales"
    assert data["enrollments"][0]["status"] == "completed"
    assert data["plugins"]["notes"] == {"notes": [f"Completed {course.code}"]}
    with site.transaction(system=True) as ctx:
        uid = erase_user(ctx, "pat@example.com")
    with site.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(sa_table(site, "notes_entries"))) == 0
        )
        from lms_core.models import User

        erased = session.get(User, uid)
        assert (
            erased.email.startswith("erased-")
            and not erased.is_active
            and erased.department is None
        )
        labels = session.scalars(select(AuditEntry.target_label)).all()
        assert "pat@example.com" not in labels
        payloads = session.scalars(select(OutboxEvent.payload)).all()
        assert "pat@example.com" not in json.dumps(payloads)


def test_a_generic_listener_gets_every_event_once(lms_factory, factory):
    from sample_plugins import generic

    generic.SEEN.clear()
    site = lms_factory(["sample_plugins.generic"])
    learner, course = factory.user(), factory.course(lessons=1)
    complete_course(site, learner, course)
    assert generic.SEEN == [
        "lms.enrollment.created.v1",
        "lms.lesson.completed.v1",
        "lms.course.completed.v1",
    ]


def _completions(count):
    from lms_core.db import utcnow
    from lms_core.events import CourseCompleted

    now = utcnow()
    return [
        CourseCompleted(
            enrollment_id=1000 + i,
            user_id=1,
            course_id=1,
            course_code="C-1",
            course_category=None,
            completed_at=now,
        )
        for i in range(count)
    ]


def test_record_many_writes_any_number_of_events_in_two_statements(lms_factory):
    from lms_core.testing import count_statements

    site = lms_factory(["sample_plugins.recorder", "sample_plugins.generic"])
    for count in (2, 7):
        events = _completions(count)
        with site.transaction(system=True) as ctx:
            with count_statements(site) as seen:
                ids = outbox.record_many(ctx, [*events, events[0]])  # twice the same: two rows
            assert len(seen) == 2, seen
            assert ctx.event_ids[-count - 1 :] == ids
            assert len(set(ids)) == count + 1
        with site.session() as session:
            rows = session.execute(
                select(OutboxEvent.id, OutboxEvent.payload).where(OutboxEvent.id.in_(ids))
            ).all()
            plugins = session.scalars(
                select(Delivery.plugin)
                .where(Delivery.event_id == ids[-1])
                .order_by(Delivery.plugin)
            ).all()
        # in order: each id is its own event's
        found = {event_id: payload["enrollment_id"] for event_id, payload in rows}
        assert [found[i] for i in ids] == [*range(1000, 1000 + count), 1000]
        # (the core's own notifications hear of completions too)
        assert plugins == ["core.notifications", "generic", "recorder"]


def test_an_event_its_publisher_applied_is_not_delivered_back_but_a_replay_reaches_it(
    lms_factory,
):
    from sample_plugins import generic

    generic.SEEN.clear()
    site = lms_factory(["sample_plugins.recorder", "sample_plugins.generic"])
    with site.transaction(system=True) as ctx:
        (event_id,) = outbox.record_many(ctx, _completions(1), applied_by="generic")
    outbox.deliver_events(site, [event_id])
    assert generic.SEEN == []  # it said it had applied the event itself
    assert len(recorder.RECEIVED) == 1  # the others get it as usual
    with site.session() as session:
        rows = dict(
            session.execute(
                select(Delivery.plugin, Delivery.status).where(Delivery.event_id == event_id)
            ).all()
        )
    assert rows == {
        "core.notifications": DeliveryStatus.DELIVERED,
        "generic": DeliveryStatus.DELIVERED,
        "recorder": DeliveryStatus.DELIVERED,
    }
    with site.transaction(system=True) as ctx:
        ids = ctx.session.scalars(
            select(Delivery.id).where(Delivery.event_id == event_id, Delivery.plugin == "generic")
        ).all()
        assert outbox.redeliver(ctx, ids, include_delivered=True) == 1
    outbox.deliver_due(site, worker="t")
    assert generic.SEEN == ["lms.course.completed.v1"]


def test_a_plugin_whose_migration_fails_is_quarantined_and_the_rest_start(lms_factory):
    site = lms_factory(["sample_plugins.badmigration", "sample_plugins.recorder"])
    states = {s.name: s for s in plugin_statuses(site)}
    assert states["badmigration"].state == "quarantined"
    assert "migration failed" in states["badmigration"].reason
    assert states["recorder"].state == "enabled"
    with pytest.raises(PluginError, match="migration failed"):
        enable_plugin(site, "badmigration")


def test_a_login_filter_can_refuse_a_sign_in(lms_factory, factory):
    from lms_core.services.sessions import start_session
    from lms_core.services.users import authenticate

    site = lms_factory(["sample_plugins.doorman"])
    factory.user("temp@example.com", password="a long password", department="Contractors")
    with pytest.raises(Rejected) as info, site.transaction(system=True) as ctx:
        user = authenticate(ctx, "temp@example.com", "a long password")
        start_session(ctx, user, method="password")
    assert info.value.redirect_to == "/partners"


def test_the_event_collector_fixture_sees_what_plugins_see(lms_factory, factory, event_collector):
    site = lms_factory([event_collector])
    learner, course = factory.user(), factory.course(lessons=1)
    complete_course(site, learner, course)
    assert event_collector.names() == [
        "lms.enrollment.created.v1",
        "lms.lesson.completed.v1",
        "lms.course.completed.v1",
    ]


def test_old_outbox_rows_still_load_after_a_payload_gains_a_field():
    from lms_core.events import UserEnrolled
    from lms_core.events import load_event

    # a row written before ``due_at`` existed
    old = {
        "enrollment_id": 1,
        "user_id": 2,
        "course_id": 3,
        "course_code": "A",
        "source": "self",
        "enrolled_at": "2026-01-01T00:00:00+00:00",
    }
    event = load_event(UserEnrolled.NAME, old)
    assert event.due_at is None and event.course_category is None


def test_a_payload_is_checked_when_it_is_sent():
    import datetime as dt

    from lms_core.events import CourseCompleted

    with pytest.raises(TypeError, match="enrollment_id"):
        CourseCompleted(
            enrollment_id="7",
            user_id=1,
            course_id=1,
            course_code="A",
            completed_at=dt.datetime.now(dt.UTC),
        )


def test_the_plugins_cli_lists_enables_and_disables(lms_factory, lms_config, tmp_path):
    from click.testing import CliRunner

    from lms_core.cli import cli

    lms_factory(["sample_plugins.recorder", "sample_plugins.gate"])
    config = tmp_path / "lms.toml"
    config.write_text(
        f'[database]\nurl = "{lms_config.database_url}"\n\n[plugins]\nmodules = ["sample_plugins.recorder", "sample_plugins.gate", "sample_plugins.misspelt"]\n'
    )
    runner = CliRunner()
    listing = runner.invoke(cli, ["--config", str(config), "plugins", "list"])
    assert listing.exit_code == 0, listing.output
    assert re.search(r"recorder\s+1.0\s+enabled", listing.output)
    assert re.search(r"misspelt\s+\?\s+quarantined.*lms_on_course_complete", listing.output)
    refused = runner.invoke(cli, ["--config", str(config), "plugins", "disable", "recorder"])
    assert refused.exit_code != 0 and "gate require" in str(refused.exception)
    assert (
        runner.invoke(cli, ["--config", str(config), "plugins", "disable", "gate"]).exit_code == 0
    )
    info = runner.invoke(cli, ["--config", str(config), "plugins", "info", "gate"])
    assert "State: disabled" in info.output and "Requires: recorder" in info.output
    hooks = runner.invoke(
        cli, ["--config", str(config), "hooks", "list", "--hook", "lms_on_user_enrolled"]
    )
    # the core implements it too: its notifications tell the learner
    assert hooks.output.strip() == "lms_on_user_enrolled: recorder, core.notifications"
