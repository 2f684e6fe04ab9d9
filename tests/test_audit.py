"""The audit log: who did what to whom, when and from where; append-only; filterable."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update

from lms_core.db import utcnow
from lms_core.models import AuditEntry
from lms_core.services import roles
from lms_core.services import users
from lms_core.services.audit import audit
from lms_core.services.audit import audit_query


def _entries(lms, **filters) -> list[AuditEntry]:
    with lms.session() as session:
        return list(session.scalars(audit_query(**filters)))


def test_an_entry_records_who_did_what_to_whom_when_and_from_where(lms, factory):
    admin = factory.admin("boss@example.com")
    person = factory.user("worker@example.com")
    before = utcnow()
    with lms.transaction(admin, address="203.0.113.9") as ctx:
        users.update_user(ctx, person, department="Finance")
    (entry,) = _entries(lms, action="user.update")
    assert entry.actor_id == admin.id
    assert entry.actor_label == "boss@example.com"
    assert entry.action == "user.update"
    assert (entry.target_type, entry.target_id) == ("user", str(person.id))
    assert entry.target_label == "worker@example.com"
    assert before <= entry.at <= utcnow()
    assert entry.at.tzinfo is not None
    assert entry.address == "203.0.113.9"
    assert entry.details == {"changed": {"department": [None, "Finance"]}}


def test_work_done_by_the_site_itself_is_labelled_system(lms, factory):
    factory.user("made@example.com")
    (entry,) = _entries(lms, action="user.create")
    assert entry.actor_id is None
    assert entry.actor_label == "system"
    assert entry.address is None


def test_an_entry_still_reads_correctly_after_its_target_is_gone(lms, factory):
    person = factory.user("gone@example.com")
    with lms.engine.begin() as conn:  # deleted outside the services, e.g. by a purge
        conn.exec_driver_sql(f"DELETE FROM users WHERE id = {person.id}")
    (entry,) = _entries(lms, action="user.create")
    assert entry.target_label == "gone@example.com"


def test_entries_cannot_be_modified(lms, factory):
    factory.user()
    with lms.transaction(system=True) as ctx:
        entry = ctx.session.scalars(select(AuditEntry)).first()
        assert entry is not None
        entry.action = "nothing.happened"
        with pytest.raises(RuntimeError, match="append-only"):
            ctx.session.flush()
        ctx.session.rollback()
    assert _entries(lms)[0].action == "user.create"


def test_entries_cannot_be_deleted(lms, factory):
    factory.user()
    with pytest.raises(RuntimeError, match="append-only"), lms.transaction(system=True) as ctx:
        entry = ctx.session.scalars(select(AuditEntry)).one()
        ctx.session.delete(entry)
        ctx.session.flush()
    assert len(_entries(lms)) == 1


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_entries_cannot_be_changed_by_bulk_statements_either(lms, factory, statement):
    factory.user()
    stmt = (
        update(AuditEntry).values(actor_label="someone else")
        if statement == "update"
        else delete(AuditEntry)
    )
    with pytest.raises(RuntimeError, match="append-only"), lms.transaction(system=True) as ctx:
        ctx.session.execute(stmt)
    (entry,) = _entries(lms)
    assert entry.actor_label == "system"


def test_an_error_in_the_unit_of_work_leaves_no_entry_behind(lms, factory):
    with pytest.raises(ZeroDivisionError), lms.transaction(system=True) as ctx:
        audit(ctx, "test.half_done")
        1 / 0  # noqa: B018
    assert _entries(lms) == []


def test_the_log_is_filtered_by_action_actor_target_and_time(lms, factory):
    admin = factory.admin()
    person = factory.user()
    course = factory.course()
    with lms.transaction(admin) as ctx:
        roles.assign_role(ctx, person, "instructor", course)
        users.update_user(ctx, person, location="Lisbon")
    everything = _entries(lms)
    assert [e.at for e in everything] == sorted((e.at for e in everything), reverse=True)
    assert {e.action for e in _entries(lms, action="role.*")} == {"role.assign"}
    assert {e.action for e in _entries(lms, actor_id=admin.id)} == {"role.assign", "user.update"}
    about_person = _entries(lms, target_type="user", target_id=str(person.id))
    assert {e.action for e in about_person} == {"user.create", "role.assign", "user.update"}
    assert _entries(lms, since=utcnow() + dt.timedelta(minutes=1)) == []
    assert len(_entries(lms, until=utcnow() + dt.timedelta(minutes=1))) == len(everything)


def test_audit_view_is_the_permission_that_reading_the_log_needs(lms, factory):
    from lms_core.services.permissions import can

    admin, learner = factory.admin(), factory.user()
    with lms.transaction(system=True) as ctx:
        assert can(ctx.attach(admin), "audit.view")
        assert not can(ctx.attach(learner), "audit.view")
