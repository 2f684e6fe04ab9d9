"""The notifications service: kinds, channels, preferences, mandatory kinds, disabled plugins,
batching, privacy, and the core's own notifications."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from lms_core import hookimpl
from lms_core.contributions import NotificationKind
from lms_core.contributions import PluginInfo
from lms_core.default_notifications import APPROVAL_REQUESTED
from lms_core.default_notifications import COURSE_COMPLETED
from lms_core.default_notifications import ENROLLED
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.models import Enrollment
from lms_core.models import EnrollmentPolicy
from lms_core.models import Notification
from lms_core.models import NotificationPreference
from lms_core.services import notifications as service
from lms_core.services import plugins as plugin_service
from lms_core.services import privacy
from lms_core.services import progress
from lms_core.testing import Factory
from lms_core.testing import count_statements
from lms_core.testing import run_jobs


class Shouter:
    """A plugin declaring two kinds (and one misnamed, which is ignored)."""

    PLUGIN = PluginInfo(name="shouter", version="1.0", title="Shouter")
    __name__ = "tests.test_notifications.shouter"

    @hookimpl
    def lms_register_notification_kinds(self):
        return [
            NotificationKind(name="shouter.hello", title="Hello", default="site"),
            NotificationKind(name="shouter.quiet", title="Quiet", default="off"),
            NotificationKind(name="other.thing", title="Not its name"),
        ]


@pytest.fixture
def site(lms_factory):
    return lms_factory([Shouter()])


@pytest.fixture
def make(site):
    return Factory(site)


def _rows(site, user_id=None):
    with site.session() as session:
        stmt = select(Notification).order_by(Notification.id)
        if user_id is not None:
            stmt = stmt.where(Notification.user_id == user_id)
        return list(session.scalars(stmt))


def test_kinds_come_from_enabled_plugins_and_the_core_named_after_their_plugin(site):
    with site.transaction(system=True) as ctx:
        names = set(service.kinds(ctx))
    assert {"shouter.hello", "shouter.quiet", ENROLLED, COURSE_COMPLETED} <= names
    assert "other.thing" not in names


def test_notify_writes_a_row_per_recipient_on_their_channel(site, make):
    ann, bob, gone = make.user(), make.user(), make.user()
    with site.transaction(system=True) as ctx:
        service.set_preferences(ctx, ctx.attach(bob), {"shouter.hello": "digest"})
        from lms_core.services.users import deactivate_user

        deactivate_user(ctx, ctx.attach(gone))
    with site.transaction(system=True) as ctx:
        ids = service.notify(
            ctx, "shouter.hello", [ann, bob.id, gone, 999_999], "Hi", "Hello there", "/courses"
        )
    assert len(ids) == 2
    rows = {r.user_id: r for r in _rows(site) if r.kind == "shouter.hello"}
    assert set(rows) == {ann.id, bob.id}
    assert rows[ann.id].channel == "site" and rows[bob.id].channel == "digest"
    assert rows[ann.id].subject == "Hi" and rows[ann.id].link == "/courses"
    assert rows[ann.id].read_at is None


def test_off_by_default_or_by_choice_writes_nothing(site, make):
    ann, bob = make.user(), make.user()
    with site.transaction(system=True) as ctx:
        service.set_preferences(ctx, ctx.attach(bob), {"shouter.hello": "off"})
    with site.transaction(system=True) as ctx:
        assert service.notify(ctx, "shouter.quiet", [ann, bob], "S", "T") == []
        assert service.notify(ctx, "shouter.hello", [bob], "S", "T") == []


def test_a_mandatory_kind_cannot_be_turned_off_and_an_earlier_off_no_longer_counts(site, make):
    admin, ann = make.admin(), make.user()
    with site.transaction(ann) as ctx:
        service.set_preferences(ctx, ctx.actor, {"shouter.hello": "off"})
    with site.transaction(admin) as ctx:
        service.set_kind_rule(ctx, "shouter.hello", default="email", mandatory=True)
    with site.transaction(ann) as ctx:
        with pytest.raises(Invalid) as refused:
            service.set_preferences(ctx, ctx.actor, {"shouter.hello": "off"})
        assert refused.value.field == "shouter.hello"
        assert "cannot be turned off" in refused.value.message
        prefs = {p.rule.name: p for p in service.preferences(ctx, ctx.actor)}
        assert prefs["shouter.hello"].channel == "email"  # her "off" gives way to the default
    with site.transaction(system=True) as ctx:
        assert len(service.notify(ctx, "shouter.hello", [ann], "Due", "Do it")) == 1
    assert _rows(site, ann.id)[-1].channel == "email"


def test_an_admin_rule_needs_site_configure_and_a_mandatory_kind_needs_a_channel(site, make):
    admin, ann = make.admin(), make.user()
    with site.transaction(ann) as ctx, pytest.raises(Forbidden):
        service.set_kind_rule(ctx, "shouter.hello", default="email", mandatory=False)
    with site.transaction(admin) as ctx, pytest.raises(Invalid):
        service.set_kind_rule(ctx, "shouter.hello", default="off", mandatory=True)
    with site.transaction(admin) as ctx:
        rule = service.set_kind_rule(ctx, "shouter.quiet", default="digest", mandatory=False)
    assert rule.default == "digest"
    with site.transaction(system=True) as ctx:
        assert len(service.notify(ctx, "shouter.quiet", [ann], "S", "T")) == 1


def test_preferences_are_ones_own(site, make):
    ann, bob = make.user(), make.user()
    with site.transaction(bob) as ctx, pytest.raises(Forbidden):
        service.set_preferences(ctx, ctx.attach(ann), {"shouter.hello": "off"})
    with site.transaction(ann) as ctx, pytest.raises(Invalid):
        service.set_preferences(ctx, ctx.actor, {"shouter.hello": "carrier pigeon"})
    with site.transaction(ann) as ctx, pytest.raises(Invalid):
        service.set_preferences(ctx, ctx.actor, {"nobody.kind": "site"})


def test_a_disabled_plugins_kinds_do_nothing_and_an_unknown_kind_is_refused(site, make):
    ann = make.user()
    assert plugin_service.disable_plugin(site, "shouter")
    with site.transaction(system=True) as ctx:
        assert "shouter.hello" not in service.kinds(ctx)
        assert service.notify(ctx, "shouter.hello", [ann], "S", "T") == []
        with pytest.raises(Invalid):
            service.notify(ctx, "shouter.helo", [ann], "S", "T")
    assert [r for r in _rows(site) if r.kind.startswith("shouter.")] == []


def test_a_link_must_be_a_path_on_this_site_and_long_texts_are_cut(site, make):
    ann = make.user()
    with site.transaction(system=True) as ctx:
        for link in ("https://evil.example/", "//evil.example", "javascript:alert(1)"):
            with pytest.raises(Invalid):
                service.notify(ctx, "shouter.hello", [ann], "S", "T", link)
        service.notify(ctx, "shouter.hello", [ann], "S" * 500, "T" * 5000)
    row = _rows(site, ann.id)[-1]
    assert len(row.subject) == service.SUBJECT_LIMIT and row.subject.endswith("…")
    assert len(row.text) == service.TEXT_LIMIT


def _statements_of_notify(site, people):
    with site.transaction(system=True) as ctx, count_statements(site) as seen:
        service.notify(ctx, "shouter.hello", people, "S", "T", "/")
    return seen


def test_notify_costs_the_same_statements_for_10_and_100_recipients(site, make):
    people = [make.user() for _ in range(100)]
    with site.transaction(system=True) as ctx:
        for person in people[::3]:
            service.set_preferences(ctx, ctx.attach(person), {"shouter.hello": "digest"})
    few = _statements_of_notify(site, people[:10])
    many = _statements_of_notify(site, people)
    assert len(few) == len(many), f"{few}\n\n{many}"
    assert len(many) <= 5, many
    assert len([r for r in _rows(site) if r.kind == "shouter.hello"]) == 110


def test_a_users_notifications_and_preferences_are_exported_and_erased(site, make):
    admin, ann = make.admin(), make.user("ann@example.com")
    with site.transaction(ann) as ctx:
        service.set_preferences(ctx, ctx.actor, {"shouter.hello": "digest"})
    with site.transaction(system=True) as ctx:
        service.notify(ctx, "shouter.hello", [ann], "Hi Ann", "Text", "/courses")
    with site.transaction(admin) as ctx:
        data = privacy.export_user(ctx, "ann@example.com")
    assert data["preferences"] == {"shouter.hello": "digest"}
    assert [n["subject"] for n in data["notifications"]] == ["Hi Ann"]
    with site.transaction(admin) as ctx:
        privacy.erase_user(ctx, "ann@example.com")
    assert _rows(site, ann.id) == []
    with site.session() as session:
        assert (
            session.scalars(
                select(NotificationPreference).where(NotificationPreference.user_id == ann.id)
            ).all()
            == []
        )


def test_mark_read_only_ones_own_and_mark_all_read(site, make):
    ann, bob = make.user(), make.user()
    with site.transaction(system=True) as ctx:
        first, _second = service.notify(ctx, "shouter.hello", [ann], "S", "T") + service.notify(
            ctx, "shouter.hello", [ann], "S2", "T2"
        )
    with site.transaction(bob) as ctx, pytest.raises(Exception) as refused:
        service.mark_read(ctx, first)
    assert type(refused.value).__name__ == "NotFound"
    with site.transaction(ann) as ctx:
        service.mark_read(ctx, first)
    with site.session() as session:
        assert service.unread_count(session, ann.id) == 1
    with site.transaction(ann) as ctx:
        assert service.mark_all_read(ctx) == 1
    with site.session() as session:
        assert service.unread_count(session, ann.id) == 0


# -- the core's own notifications --------------------------------------------------------------


def test_enrolling_tells_the_learner_with_the_due_date_and_completing_tells_them_too(
    site, make, clock
):
    learner = make.user()
    course = make.course(title="Fire safety", lessons=1, due_days=30)
    enrollment = make.enrollment(learner, course)
    rows = _rows(site, learner.id)
    assert [r.kind for r in rows] == [ENROLLED]
    assert "Fire safety" in rows[0].subject and "04 February 2026" in rows[0].text
    assert rows[0].link == f"/courses/{course.id}"
    with site.transaction(learner) as ctx:
        progress.complete_lesson(ctx, enrollment, ctx.attach(course).lessons[0])
    assert [r.kind for r in _rows(site, learner.id)] == [ENROLLED, COURSE_COMPLETED]


def test_an_enrollment_request_tells_those_who_may_approve_it(site, make):
    instructor, boss, other = make.user(), make.user(), make.user()
    learner = make.user(manager_id=boss.id, name="Lee")
    course = make.course(
        title="Forklifts", instructors=[instructor], enrollment_policy=EnrollmentPolicy.APPROVAL
    )
    make.course(instructors=[other])  # teaches elsewhere: not told
    with site.transaction(learner) as ctx:
        from lms_core.services.enrollments import enroll

        enroll(ctx, ctx.actor, ctx.attach(course))
    told = {r.user_id for r in _rows(site) if r.kind == APPROVAL_REQUESTED}
    assert told == {instructor.id, boss.id}
    row = next(r for r in _rows(site, instructor.id) if r.kind == APPROVAL_REQUESTED)
    assert row.subject == "Lee asks to join Forklifts"
    assert row.link == f"/teach/courses/{course.id}/learners"


def test_notifications_past_their_retention_are_pruned(site, make, clock):
    from lms_core.retention import prune

    ann = make.user()
    with site.transaction(system=True) as ctx:
        service.notify(ctx, "shouter.hello", [ann], "Old", "Old")
    clock.advance(days=site.config.retention.notifications_days + 1)
    with site.transaction(system=True) as ctx:
        service.notify(ctx, "shouter.hello", [ann], "New", "New")
    assert prune(site, "notifications") == 1
    assert [r.subject for r in _rows(site, ann.id) if r.kind == "shouter.hello"] == ["New"]


def test_history_is_told_in_the_site_dated_when_it_happened_and_never_mailed(site, make, clock):
    from lms_core.models import Delivery
    from lms_core.services.enrollments import enroll

    learner = make.user()
    old, new = make.course(title="Last spring"), make.course(title="This week")
    spring = clock.now - dt.timedelta(days=200)
    with site.transaction(system=True) as ctx:
        enroll(ctx, ctx.attach(learner), ctx.attach(old), at=spring)  # imported history
    with site.transaction(system=True) as ctx:
        enroll(ctx, ctx.attach(learner), ctx.attach(new))
    by_subject = {r.subject: r for r in _rows(site, learner.id)}
    past, recent = (
        by_subject["You are enrolled in Last spring"],
        by_subject["You are enrolled in This week"],
    )
    assert past.created_at == spring and past.channel == "site"
    assert recent.created_at == clock.now and recent.channel == "email"
    with site.session() as session:
        mail_jobs = session.scalars(
            select(Delivery.payload).where(Delivery.job == "core.notification_mail")
        ).all()
    mailed = {i for payload in mail_jobs for i in payload["ids"]}
    assert recent.id in mailed and past.id not in mailed


def test_a_redelivered_or_replayed_event_tells_nobody_twice(site, make, clock):
    from lms_core import outbox
    from lms_core.models import Delivery
    from lms_core.services.enrollments import enroll
    from lms_core.services.enrollments import withdraw

    learner, course = make.user(), make.course(title="Fire safety", lessons=1)
    with site.transaction(system=True) as ctx:
        enroll(ctx, ctx.attach(learner), ctx.attach(course))
    with site.session() as session:
        ids = session.scalars(
            select(Delivery.id).where(Delivery.plugin == "core.notifications")
        ).all()
    with site.transaction(system=True) as ctx:
        assert outbox.redeliver(ctx, ids, include_delivered=True) == len(ids)
    run_jobs(site)
    assert [r.kind for r in _rows(site, learner.id)] == [ENROLLED]
    # Enrolled again later, after leaving: that is news, and told.
    with site.transaction(system=True) as ctx:
        withdraw(ctx, ctx.session.scalars(select(Enrollment)).one())
    clock.advance(days=1)
    with site.transaction(system=True) as ctx:
        enroll(ctx, ctx.attach(learner), ctx.attach(course))
    assert [r.kind for r in _rows(site, learner.id)] == [ENROLLED, ENROLLED]
