"""Notification mail through jobs, against a real SMTP server on loopback (aiosmtpd):
multipart text + HTML with one-click unsubscribe headers, a server down then up (the mail
arrives once), the daily digest, batching, and the core's scheduled reminders."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket

import attrs
import pytest
from sqlalchemy import select

from lms_core.config import MailConfig
from lms_core.default_notifications import COURSE_COMPLETED
from lms_core.default_notifications import DUE_SOON
from lms_core.default_notifications import ENROLLED
from lms_core.default_notifications import JOB_FINISHED
from lms_core.default_notifications import OVERDUE
from lms_core.default_notifications import TEAM_OVERDUE
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import Notification
from lms_core.notification_mail import MAIL_JOB
from lms_core.notification_mail import send_notification_mails
from lms_core.runtime import LMS
from lms_core.schedules import Scheduler
from lms_core.services import notifications as service
from lms_core.testing import Factory
from lms_core.testing import count_statements
from lms_core.testing import run_jobs
from lms_core.testing import text_of
from lms_core.web import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailServer:
    """An SMTP server on loopback that can be down, up, or refuse messages after some."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.messages: list[email.message.EmailMessage] = []
        #: Refuse every message after this many were accepted (None: accept all).
        self.accept_only: int | None = None
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.accept_only is not None and len(self.messages) >= self.accept_only:
            return "451 Try again later"
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"

    def up(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mail_server():
    server = MailServer()
    try:
        yield server
    finally:
        server.down()


@pytest.fixture
def site(lms_config, mail_server):
    runtime = LMS(
        attrs.evolve(
            lms_config,
            mail=MailConfig(host="127.0.0.1", port=mail_server.port, sender="lms@example.com"),
        )
    )
    try:
        yield runtime
    finally:
        runtime.dispose()


@pytest.fixture
def make(site, lms):  # ``lms``: the test database is emptied afterwards
    return Factory(site)


def _by_mail(site, people, kind=ENROLLED):
    with site.transaction(system=True) as ctx:
        for person in people:
            service.set_preferences(ctx, ctx.attach(person), {kind: "email"})


def _mail_jobs(site):
    with site.session() as session:
        return session.scalars(
            select(Delivery).where(Delivery.job == MAIL_JOB).order_by(Delivery.id)
        ).all()


def test_a_notification_mail_is_multipart_with_one_click_unsubscribe_headers(
    site, make, mail_server
):
    mail_server.up()
    ann = make.user("ann@example.com", name="Ann")
    with site.transaction(system=True) as ctx:
        service.notify(ctx, ENROLLED, [ann], "Hello <b>Ann</b>", "Fish & chips <i>now</i>", "/")
    assert mail_server.messages == []  # nothing is sent inside the unit of work
    assert run_jobs(site) >= 1
    assert len(mail_server.messages) == 1
    message = mail_server.messages[0]
    assert message["To"] == "ann@example.com" and message["From"] == "lms@example.com"
    assert message["Subject"] == "Hello <b>Ann</b>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Fish & chips <i>now</i>" in text
    assert "Fish &amp; chips &lt;i&gt;now&lt;/i&gt;" in html and "<i>" not in html
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://127.0.0.1:5000/unsubscribe/") and unsubscribe.endswith(
        ">"
    )
    assert unsubscribe[1:-1] in text and unsubscribe[1:-1] in html
    # the link in the mail works for the web app (same secret), without signing in
    app = create_app(lms=site)
    app.config["TESTING"] = True
    path = unsubscribe[1:-1].removeprefix("http://127.0.0.1:5000")
    assert "Unsubscribed" in text_of(app.test_client().post(path), 200)
    with site.transaction(ann) as ctx:
        prefs = {p.rule.name: p.channel for p in service.preferences(ctx, ctx.actor)}
    assert prefs[ENROLLED] == "site"


def test_mail_server_down_then_up_the_mail_arrives_once(site, make, mail_server, clock):
    ann = make.user("ann@example.com")
    with site.transaction(system=True) as ctx:
        service.notify(ctx, ENROLLED, [ann], "Enrolled", "You are enrolled.")
    run_jobs(site)  # the server is down: the job fails
    (job,) = _mail_jobs(site)
    assert job.status == DeliveryStatus.PENDING and job.attempts == 1
    assert "Connection" in (job.last_error or "") or "refused" in (job.last_error or "")
    mail_server.up()
    run_jobs(site)  # not due yet: it waits for its backoff
    assert mail_server.messages == []
    clock.advance(minutes=5)
    run_jobs(site)
    assert len(mail_server.messages) == 1
    (job,) = _mail_jobs(site)
    assert job.status == DeliveryStatus.DELIVERED
    clock.advance(days=1)
    run_jobs(site)
    assert len(mail_server.messages) == 1  # once


def test_a_server_failing_mid_batch_sends_each_mail_once_in_the_end(site, make, mail_server, clock):
    people = [make.user() for _ in range(5)]
    mail_server.up()
    mail_server.accept_only = 2
    with site.transaction(system=True) as ctx:
        service.notify(ctx, ENROLLED, people, "Enrolled", "You are enrolled.")
    run_jobs(site)
    assert len(mail_server.messages) == 2
    (job,) = _mail_jobs(site)
    assert job.status == DeliveryStatus.PENDING and job.attempts == 1
    mail_server.accept_only = None
    clock.advance(minutes=5)
    run_jobs(site)
    assert sorted(m["To"] for m in mail_server.messages) == sorted(p.email for p in people)


def test_email_notifications_go_100_to_a_job_and_a_batch_costs_the_same_statements(
    site, make, mail_server
):
    mail_server.up()
    people = [make.user() for _ in range(120)]
    with site.transaction(system=True) as ctx:
        ids = service.notify(ctx, ENROLLED, people, "Enrolled", "You are enrolled.", "/")
    jobs = _mail_jobs(site)
    assert [len(j.payload["ids"]) for j in jobs] == [100, 20]
    with site.transaction(system=True) as ctx, count_statements(site) as few:
        send_notification_mails(ctx, site.config, sorted(ids)[:10])
    with site.transaction(system=True) as ctx, count_statements(site) as many:
        send_notification_mails(ctx, site.config, sorted(ids)[10:110])
    assert len(few) == len(many) == 2, many  # load the batch, stamp what was sent
    assert len(mail_server.messages) == 110


def test_the_daily_digest_folds_a_day_into_one_mail_per_person(site, make, mail_server, clock):
    mail_server.up()
    ann, bob = make.user("ann@example.com"), make.user("bob@example.com")
    with site.transaction(system=True) as ctx:
        for person in (ann, bob):
            service.set_preferences(
                ctx, ctx.attach(person), {ENROLLED: "digest", COURSE_COMPLETED: "digest"}
            )
    Scheduler(site).tick(force=True)  # the schedules start from now
    with site.transaction(system=True) as ctx:
        service.notify(ctx, ENROLLED, [ann, bob], "Enrolled in A", "Text A", "/courses")
        service.notify(ctx, ENROLLED, [ann], "Enrolled in B", "Text B")
        service.notify(ctx, COURSE_COMPLETED, [ann], "Completed C", "Text C")
    run_jobs(site)
    assert mail_server.messages == []  # digests wait for the schedule
    clock.set("2026-01-06T07:00:30")
    run_jobs(site, schedules=True)
    assert sorted(m["To"] for m in mail_server.messages) == ["ann@example.com", "bob@example.com"]
    ann_mail = next(m for m in mail_server.messages if m["To"] == "ann@example.com")
    assert "3 notifications" in ann_mail["Subject"]
    text = ann_mail.get_body(("plain",)).get_content()
    assert "Enrolled in A" in text and "Enrolled in B" in text and "Completed C" in text
    assert ann_mail.get_body(("html",)) is not None
    clock.set("2026-01-07T07:00:30")
    run_jobs(site, schedules=True)
    assert len(mail_server.messages) == 2  # nothing new, no second digest


def test_due_soon_overdue_and_the_team_digest(site, make, mail_server, clock):
    boss = make.user("boss@example.com")
    lee = make.user("lee@example.com", name="Lee", manager_id=boss.id)
    soon = make.course(title="Ladders", due_days=3)
    late = make.course(title="Fire", due_days=1)
    make.enrollment(lee, soon)  # due 2026-01-08 09:00
    clock.set("2026-01-04T09:00")
    make.enrollment(lee, late)  # due 2026-01-05 09:00
    clock.set("2026-01-05T06:00:00")
    from lms_core.default_notifications import send_due_reminders
    from lms_core.default_notifications import send_team_overdue

    with site.transaction(system=True) as ctx:
        assert send_due_reminders(ctx, dt.datetime(2026, 1, 5, 6, tzinfo=dt.UTC)) == 1
    with site.transaction(system=True) as ctx:
        assert send_due_reminders(ctx, dt.datetime(2026, 1, 6, 6, tzinfo=dt.UTC)) == 1
        assert send_team_overdue(ctx, dt.datetime(2026, 1, 6, 7, tzinfo=dt.UTC)) == 1
    with site.session() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
    kinds = [(r.user_id, r.kind) for r in rows if r.kind != ENROLLED]
    assert kinds == [(lee.id, DUE_SOON), (lee.id, OVERDUE), (boss.id, TEAM_OVERDUE)]
    team = rows[-1]
    assert "Lee: Fire (due 05 Jan 2026)" in team.text and team.link == "/team/?show=overdue"


def test_a_finished_job_tells_whoever_asked_for_it(site, make):
    from lms_core import events
    from lms_core import outbox

    ann = make.user()
    with site.transaction(system=True) as ctx:
        outbox.record(
            ctx,
            events.JobFinished(
                job_id=1,
                job="core.prune",
                requested_by=ann.id,
                finished_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
                failed=False,
                message="Your export is ready.",
                file_id=None,
            ),
        )
    run_jobs(site)
    with site.session() as session:
        row = session.scalars(select(Notification).where(Notification.kind == JOB_FINISHED)).one()
    assert row.user_id == ann.id and row.text == "Your export is ready."
    assert "ready" in row.subject
    assert row.link == "/jobs/1"  # the job's page, with its result to download


def test_a_subject_in_any_language_arrives_and_cannot_add_a_header(site, make, mail_server):
    mail_server.up()
    ann = make.user("ann@example.com")
    with site.transaction(system=True) as ctx:
        service.notify(ctx, ENROLLED, [ann], "Sécurité incendie\r\nBcc: eve@example.com", "Ça va")
    run_jobs(site)
    (message,) = mail_server.messages
    assert message["Subject"] == "Sécurité incendie Bcc: eve@example.com"
    assert message["Bcc"] is None
    assert "Ça va" in message.get_body(("plain",)).get_content()


def test_notifications_written_in_one_unit_of_work_share_mail_jobs(site, make, mail_server):
    """A hundred deliveries in one batch (a hundred enrollments) make one mail job, not a
    hundred; a unit of work that rolls back enqueues none."""
    from lms_core.models import Delivery

    mail_server.up()
    people = [make.user(f"p{i}@example.com") for i in range(30)]
    with site.transaction(system=True) as ctx:
        for person in people:  # one notify() each, as thirty event handlers would
            service.notify(ctx, ENROLLED, [person], "Welcome", "You are enrolled.")
    with pytest.raises(RuntimeError), site.transaction(system=True) as ctx:
        service.notify(ctx, ENROLLED, people[:3], "Never", "Rolled back.")
        raise RuntimeError("the change failed")
    with site.session() as session:
        jobs = session.scalars(
            select(Delivery).where(Delivery.job == "core.notification_mail")
        ).all()
    assert len(jobs) == 1 and len(jobs[0].payload["ids"]) == 30
    run_jobs(site)
    assert len(mail_server.messages) == 30
