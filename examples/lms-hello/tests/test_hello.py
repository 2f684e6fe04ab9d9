"""Tests of the hello plugin, through the fixtures lms-core ships (``lms_core.testing``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lms_core.contributions import NavItem
from lms_core.db import utcnow
from lms_core.events import load_event
from lms_core.models import AuditEntry
from lms_core.models import Course
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import Enrollment
from lms_core.models import OutboxEvent
from lms_core.models import User
from lms_core.outbox import deliver_due
from lms_core.outbox import redeliver
from lms_core.plugins import plugin_tables
from lms_core.runtime import LMS
from lms_core.services import progress
from lms_core.services.plugins import disable_plugin
from lms_core.services.plugins import enable_plugin
from lms_core.testing import Factory
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from lms_hello.hooks import CONGRATULATED


@pytest.fixture
def site(lms_factory: Callable[..., LMS]) -> LMS:
    """An LMS that loads only this plugin (no other installed plugin), with it turned on.

    ``lms_factory`` (from ``lms_core.testing``) runs ``sync_plugin_states`` as
    ``lms db upgrade`` does for a newly installed plugin: it records the deployment's
    default, and the default config enables ``"*"``. It disposes the LMS afterwards, and the
    ``lms`` fixture underneath it empties the database.
    """
    lms = lms_factory(["lms_hello.hooks"])
    assert lms.plugin_enabled("hello")
    return lms


@pytest.fixture
def make(site: LMS) -> Factory:
    return Factory(site)


def complete_course(site: LMS, make: Factory) -> tuple[User, Course, Enrollment]:
    """A learner enrolls in a one-lesson course and completes it, as the site would."""
    learner = make.user()
    course = make.course(lessons=1)
    enrollment = make.enrollment(learner, course)
    with site.transaction(learner) as ctx:
        lesson = ctx.attach(course).lessons[0]
        assert progress.complete_lesson(ctx, enrollment, lesson)
    return learner, course, enrollment


def congratulations(site: LMS, user: User | None = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action == CONGRATULATED)
    if user is not None:
        stmt = stmt.where(AuditEntry.target_id == str(user.id))
    with site.session() as session:
        return list(session.scalars(stmt))


def test_plugin_loads_cleanly(site: LMS) -> None:
    assert "hello" in site.plugins.loaded
    assert site.plugins.quarantined == {}
    assert plugin_tables("hello") == []  # no tables, so no personal data of its own


def test_installed_entry_point_is_discovered(lms: LMS) -> None:
    # The ``lms`` fixture's LMS uses the entry points: the installed package is found, but
    # stays off until its state row says otherwise.
    assert "hello" in lms.plugins.loaded, lms.plugins.quarantined
    assert lms.plugins.loaded["hello"].distribution == "lms-hello 0.1.0"
    assert not lms.plugin_enabled("hello")


def test_completing_a_course_congratulates_once(site: LMS, make: Factory) -> None:
    learner, course, _ = complete_course(site, make)

    entries = congratulations(site)
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.target_type, entry.target_id) == ("user", str(learner.id))
    assert entry.details == {"course": course.code}
    assert entry.actor_label == "system"


def test_redelivery_adds_nothing(site: LMS, make: Factory) -> None:
    learner, _, enrollment = complete_course(site, make)
    with site.session() as session:
        delivery = session.scalars(
            select(Delivery)
            .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
            .where(OutboxEvent.name == "lms.course.completed.v1", Delivery.plugin == "hello")
        ).one()
    assert delivery.status == DeliveryStatus.DELIVERED

    # An admin's "redeliver" leaves delivered deliveries alone ...
    with site.transaction(system=True) as ctx:
        assert redeliver(ctx, [delivery.id]) == 0

    # ... but after a crash the same delivery can run again: simulate that.
    with site.transaction(system=True) as ctx:
        ctx.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(status=DeliveryStatus.PENDING, next_attempt_at=utcnow())
        )
    assert deliver_due(site, worker="test") == 1

    # And calling the hook directly with the same payload is just as harmless.
    with site.session() as session:
        row = session.get(OutboxEvent, delivery.event_id)
        assert row is not None
        event = load_event(row.name, row.payload)
    assert event.enrollment_id == enrollment.id
    with site.transaction(system=True) as ctx:
        assert site.hooks.deliver("hello", event, ctx)

    assert len(congratulations(site, learner)) == 1


def test_each_course_gets_its_own_congratulation(site: LMS, make: Factory) -> None:
    learner = make.user()
    for _ in range(2):
        course = make.course(lessons=1)
        enrollment = make.enrollment(learner, course)
        with site.transaction(learner) as ctx:
            progress.complete_lesson(ctx, enrollment, ctx.attach(course).lessons[0])
    assert len(congratulations(site, learner)) == 2


def hello_nav(site: LMS, user: object) -> list[object]:
    """The nav items this plugin contributes (the core contributes its own beside them)."""
    return [
        item
        for name, fn in site.hooks.implementations("lms_nav_items")
        if name == "hello"
        for item in fn(user=user) or []
    ]


def test_nav_item_for_signed_in_users_only(site: LMS, make: Factory) -> None:
    user = make.user()
    assert hello_nav(site, user) == [NavItem(label="Hello", endpoint="hello.index")]
    assert hello_nav(site, None) == []


def test_disabled_plugin_does_nothing(site: LMS, make: Factory) -> None:
    user = make.user()
    assert disable_plugin(site, "hello")
    assert not site.plugin_enabled("hello")

    complete_course(site, make)
    assert congratulations(site) == []
    assert hello_nav(site, user) == []
    with site.session() as session:
        deliveries = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.plugin == "hello")
        )
    assert deliveries == 0  # a disabled plugin is not even queued

    # Turned back on, it handles new completions again (its old data stays).
    assert enable_plugin(site, "hello")
    complete_course(site, make)
    assert len(congratulations(site)) == 1
    assert hello_nav(site, user) != []


def test_the_hello_page_lists_the_congratulations_of_whoever_is_signed_in(
    site: LMS, make: Factory
) -> None:
    from lms_core.testing import DEFAULT_PASSWORD
    from lms_core.testing import AuthActions
    from lms_core.testing import text_of
    from lms_core.web import create_app

    learner = make.user("ann@example.com", password=DEFAULT_PASSWORD)
    course = make.course(lessons=1)
    enrollment = make.enrollment(learner, course)
    with site.transaction(learner) as ctx:
        assert progress.complete_lesson(ctx, enrollment, ctx.attach(course).lessons[0])
    make.user("bo@example.com", password=DEFAULT_PASSWORD)  # completed nothing
    app = create_app(lms=site)
    app.config.update(TESTING=True)
    client = app.test_client()
    auth = AuthActions(client)
    assert client.get("/hello/").status_code == 302  # to the sign-in page
    assert auth.login("ann@example.com").status_code == 302
    assert course.code in text_of(client.get("/hello/"), status=200)
    assert auth.logout().status_code == 302
    assert auth.login("bo@example.com").status_code == 302
    page = text_of(client.get("/hello/"), status=200)
    assert course.code not in page and "Complete a course" in page
