"""User accounts: identity, passwords, sign-in, deactivation and profile editing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from lms_core.db import utcnow
from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import TooManyAttempts
from lms_core.models import AuditEntry
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import OutboxEvent
from lms_core.models import RateLimitCounter
from lms_core.models import User
from lms_core.services import roles
from lms_core.services import sessions
from lms_core.services import users

PASSWORD = "correct horse battery"


def _reload(lms, user: User) -> User:
    with lms.session() as session:
        fresh = session.get(User, user.id)
        assert fresh is not None
        return fresh


ADDRESS = "198.51.100.7"


def _sign_in(lms, email: str, password: str) -> User:
    """A password sign-in as the web does it: check the password, then start the session."""
    with lms.transaction(address=ADDRESS) as ctx:
        user = users.authenticate(ctx, email, password)
        sessions.start_session(ctx, user, method="password")
        return user


def _fail(lms, email: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Invalid, match="email or password is not correct"):
            _sign_in(lms, email, "wrong password")


# --- identity -------------------------------------------------------------------------------


def test_emails_are_unique_regardless_of_case(factory):
    factory.user("Ada@Example.com")
    with pytest.raises(Conflict, match="already exists"):
        factory.user("ada@EXAMPLE.com")


def test_an_email_keeps_its_spelling_but_is_found_case_insensitively(lms, factory):
    user = factory.user("Grace.Hopper@Example.com")
    assert user.email == "Grace.Hopper@Example.com"
    with lms.transaction(system=True) as ctx:
        found = users.find_user(ctx, "  grace.hopper@example.COM ")
        assert found is not None and found.id == user.id


@pytest.mark.parametrize(
    "email", ["no-at-sign.example.com", "two@@example.com", "a b@example.com", "x@nodot", ""]
)
def test_a_malformed_email_is_invalid_and_named_in_the_message(factory, email):
    with pytest.raises(Invalid) as excinfo:
        factory.user(email or "   ")
    assert excinfo.value.field == "email"
    if email:
        assert email in excinfo.value.message


def test_changing_an_email_to_one_in_use_is_a_conflict(lms, factory):
    factory.user("taken@example.com")
    other = factory.user("other@example.com")
    with pytest.raises(Conflict), lms.transaction(system=True) as ctx:
        users.update_user(ctx, other, email="TAKEN@example.com")


# --- passwords --------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes(factory):
    user = factory.user(password=PASSWORD)
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_an_account_without_a_password_is_sso_only_and_cannot_sign_in_with_one(lms, factory):
    user = factory.user("sso@example.com")
    assert user.password_hash is None
    with pytest.raises(Invalid, match="email or password is not correct"):
        _sign_in(lms, "sso@example.com", "")


def test_a_too_short_password_is_refused(factory):
    with pytest.raises(Invalid) as excinfo:
        factory.user(password="short")
    assert excinfo.value.field == "password"


def test_users_change_their_own_password_only_with_the_current_one(lms, factory):
    user = factory.user("pw@example.com", password=PASSWORD)
    with pytest.raises(Invalid, match="current password"), lms.transaction(user) as ctx:
        users.set_password(ctx, user, "a brand new secret", current_password="wrong guess!")
    with lms.transaction(user) as ctx:
        users.set_password(ctx, user, "a brand new secret", current_password=PASSWORD)
    assert _sign_in(lms, "pw@example.com", "a brand new secret").id == user.id


# --- sign-in --------------------------------------------------------------------------------


def test_a_successful_sign_in_records_the_time(lms, factory):
    user = factory.user("in@example.com", password=PASSWORD)
    assert user.created_at is not None and user.created_at <= utcnow()
    assert user.last_login_at is None
    before = utcnow()
    _sign_in(lms, "IN@example.com", PASSWORD)
    assert _reload(lms, user).last_login_at >= before


def test_unknown_email_and_wrong_password_get_the_same_message(lms, factory):
    factory.user("known@example.com", password=PASSWORD)
    with pytest.raises(Invalid) as unknown:
        _sign_in(lms, "nobody@example.com", PASSWORD)
    with pytest.raises(Invalid) as wrong:
        _sign_in(lms, "known@example.com", "not the password")
    assert unknown.value.message == wrong.value.message


def test_failed_sign_ins_are_counted_even_though_the_sign_in_raises(lms, factory):
    factory.user("count@example.com", password=PASSWORD)
    _fail(lms, "count@example.com", 2)
    assert lms.limiter.count(f"login:addr:{ADDRESS}") == 2
    with lms.session() as session:
        failed = session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.failed")).all()
    assert len(failed) == 2
    assert {entry.address for entry in failed} == {ADDRESS}


def test_too_many_failed_sign_ins_lock_the_account_even_for_the_right_password(lms, factory):
    factory.user("lock@example.com", password=PASSWORD)
    _fail(lms, "lock@example.com", lms.config.auth.max_failed_logins)
    with pytest.raises(TooManyAttempts, match="Too many failed sign-in attempts") as refused:
        _sign_in(lms, "lock@example.com", PASSWORD)
    assert 0 < refused.value.retry_after <= lms.config.auth.lockout_minutes * 60
    with lms.session() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.lockout")).one()


def test_an_unknown_email_locks_after_as_many_failures_as_a_real_one(lms, factory):
    _fail(lms, "nobody@example.com", lms.config.auth.max_failed_logins)
    with pytest.raises(TooManyAttempts, match="Too many failed sign-in attempts"):
        _sign_in(lms, "NOBODY@example.com", PASSWORD)


def test_a_successful_sign_in_resets_the_failure_count(lms, factory):
    user = factory.user("reset@example.com", password=PASSWORD)
    almost = lms.config.auth.max_failed_logins - 1
    _fail(lms, "reset@example.com", almost)
    _sign_in(lms, "reset@example.com", PASSWORD)
    _fail(lms, "reset@example.com", almost)
    assert _sign_in(lms, "reset@example.com", PASSWORD).id == user.id


def test_a_lock_expires(lms, factory):
    user = factory.user("expire@example.com", password=PASSWORD)
    _fail(lms, "expire@example.com", lms.config.auth.max_failed_logins)
    with pytest.raises(TooManyAttempts):
        _sign_in(lms, "expire@example.com", PASSWORD)
    with lms.engine.begin() as conn:  # the lock-out's window ends
        conn.execute(
            update(RateLimitCounter).values(window_ends=utcnow() - dt.timedelta(seconds=1))
        )
    assert _sign_in(lms, "expire@example.com", PASSWORD).id == user.id


def test_a_new_password_unlocks_the_account(lms, factory):
    user = factory.user("unlock@example.com", password=PASSWORD)
    _fail(lms, "unlock@example.com", lms.config.auth.max_failed_logins)
    with lms.transaction(system=True) as ctx:
        users.set_password(ctx, user, "a fresh passphrase")
    assert _sign_in(lms, "unlock@example.com", "a fresh passphrase").id == user.id


def test_every_sign_in_starts_its_session_in_one_place_that_names_the_method(lms, factory):
    """Password, single sign-on or a second factor: each ends in start_session."""
    user = factory.user("sso@example.com")
    with lms.transaction(address=ADDRESS) as ctx:
        token = sessions.start_session(ctx, user, method="sso:example")
    with lms.session() as session:
        assert sessions.user_for_session(session, token).id == user.id
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login")).one()
        assert entry.details == {"method": "sso:example"} and entry.address == ADDRESS
        event = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id.desc())).first()
        assert event.payload["method"] == "sso:example"
    assert _reload(lms, user).last_login_at is not None


# --- deactivation ---------------------------------------------------------------------------


def test_a_deactivated_user_cannot_sign_in_but_keeps_their_enrollments(lms, factory):
    admin = factory.admin()
    user = factory.user("leaver@example.com", password=PASSWORD)
    course = factory.course()
    factory.enrollment(user, course)
    with lms.transaction(admin) as ctx:
        assert users.deactivate_user(ctx, user, reason="left the company") is True
        assert users.deactivate_user(ctx, user) is False  # already inactive
    assert _reload(lms, user).deactivated_at is not None
    with pytest.raises(Forbidden, match="deactivated"):
        _sign_in(lms, "leaver@example.com", PASSWORD)
    with lms.session() as session:
        enrollment = session.scalars(select(Enrollment).where(Enrollment.user_id == user.id)).one()
        assert enrollment.status == EnrollmentStatus.ACTIVE


def test_a_reactivated_user_can_sign_in_again(lms, factory):
    admin = factory.admin()
    user = factory.user("back@example.com", password=PASSWORD)
    with lms.transaction(admin) as ctx:
        users.deactivate_user(ctx, user)
    with lms.transaction(admin) as ctx:
        assert users.reactivate_user(ctx, user) is True
    assert _sign_in(lms, "back@example.com", PASSWORD).id == user.id


def test_deactivating_needs_user_manage(lms, factory):
    learner = factory.user()
    other = factory.user()
    with pytest.raises(Forbidden, match="user.manage"), lms.transaction(learner) as ctx:
        users.deactivate_user(ctx, other)


def test_the_last_active_admin_cannot_be_deactivated(lms, factory):
    factory.admin("only-admin@example.com")
    with lms.transaction(system=True) as ctx:
        admin = users.find_user(ctx, "only-admin@example.com")
        with pytest.raises(Conflict, match="last active administrator"):
            users.deactivate_user(ctx, admin)


def test_the_last_active_admin_cannot_lose_the_admin_role(lms, factory):
    admin = factory.admin()
    with pytest.raises(Conflict, match="last active administrator"), lms.transaction(admin) as ctx:
        roles.revoke_role(ctx, admin, "admin")


def test_an_admin_can_be_deactivated_when_another_admin_remains(lms, factory):
    first = factory.admin()
    second = factory.admin()
    with lms.transaction(first) as ctx:
        assert users.deactivate_user(ctx, second) is True
    # now `first` is the last one again
    with pytest.raises(Conflict), lms.transaction(system=True) as ctx:
        roles.revoke_role(ctx, first, "admin")


def test_nobody_deactivates_their_own_account(lms, factory):
    first = factory.admin()
    factory.admin()
    with pytest.raises(Invalid, match="your own account"), lms.transaction(first) as ctx:
        users.deactivate_user(ctx, first)


# --- profile --------------------------------------------------------------------------------


def test_profile_attributes_timezone_and_locale_are_stored(lms, factory):
    boss = factory.user()
    user = factory.user(
        department="Sales",
        location="Berlin",
        job_title="Account executive",
        manager_id=boss.id,
        timezone="Europe/Berlin",
        locale="de-DE",
    )
    fresh = _reload(lms, user)
    assert (fresh.department, fresh.location, fresh.job_title) == (
        "Sales",
        "Berlin",
        "Account executive",
    )
    assert fresh.manager_id == boss.id
    assert (fresh.timezone, fresh.locale) == ("Europe/Berlin", "de-DE")


def test_new_users_default_to_utc_and_english(factory):
    user = factory.user()
    assert (user.timezone, user.locale) == ("UTC", "en")


def test_an_unknown_timezone_is_invalid(factory):
    with pytest.raises(Invalid) as excinfo:
        factory.user(timezone="Mars/Olympus_Mons")
    assert excinfo.value.field == "timezone"
    assert "Mars/Olympus_Mons" in excinfo.value.message


def test_a_malformed_locale_is_invalid(factory):
    with pytest.raises(Invalid) as excinfo:
        factory.user(locale="english please")
    assert excinfo.value.field == "locale"


def test_an_unknown_profile_field_is_invalid(factory):
    with pytest.raises(Invalid, match="shoe_size"):
        factory.user(shoe_size=44)


def test_a_manager_that_does_not_exist_is_invalid(factory):
    with pytest.raises(Invalid) as excinfo:
        factory.user(manager_id=999_999)
    assert excinfo.value.field == "manager_id"


def test_management_loops_are_refused(lms, factory):
    top = factory.user()
    middle = factory.user(manager_id=top.id)
    bottom = factory.user(manager_id=middle.id)
    with lms.transaction(system=True) as ctx:
        with pytest.raises(Invalid, match="loop"):
            users.update_user(ctx, top, manager_id=bottom.id)
        with pytest.raises(Invalid, match="loop"):
            users.update_user(ctx, top, manager_id=top.id)


def test_users_edit_their_own_name_timezone_and_locale(lms, factory):
    user = factory.user(name="Old Name")
    with lms.transaction(user) as ctx:
        changed = users.update_user(
            ctx, user, name="New Name", timezone="America/New_York", locale="fr"
        )
    assert sorted(changed) == ["locale", "name", "timezone"]
    fresh = _reload(lms, user)
    assert (fresh.name, fresh.timezone, fresh.locale) == ("New Name", "America/New_York", "fr")
    assert fresh.updated_at is not None


def test_users_cannot_change_their_own_department(lms, factory):
    user = factory.user(department="Sales")
    with pytest.raises(Forbidden, match="user.manage"), lms.transaction(user) as ctx:
        users.update_user(ctx, user, department="Executive")
    assert _reload(lms, user).department == "Sales"


def test_editing_someone_else_needs_user_manage(lms, factory):
    user = factory.user()
    other = factory.user(name="Them")
    with pytest.raises(Forbidden, match="user.manage"), lms.transaction(user) as ctx:
        users.update_user(ctx, other, name="Hacked")
    admin = factory.admin()
    with lms.transaction(admin) as ctx:
        assert users.update_user(ctx, other, department="Support") == ["department"]
    assert _reload(lms, other).department == "Support"


def test_an_unchanged_update_reports_nothing(lms, factory):
    user = factory.user(name="Same")
    with lms.transaction(system=True) as ctx:
        assert users.update_user(ctx, user, name="Same") == []


# --- all or nothing -------------------------------------------------------------------------


def test_creating_a_user_with_an_unknown_role_writes_nothing(lms, factory):
    with pytest.raises(Invalid, match="no_such_role"):
        factory.user("ghost@example.com", roles=("learner", "no_such_role"))
    with lms.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_creating_users_needs_user_manage(lms, factory):
    learner = factory.user()
    with pytest.raises(Forbidden, match="user.manage"), lms.transaction(learner) as ctx:
        users.create_user(ctx, "new@example.com")
    with pytest.raises(Forbidden, match="Sign in"), lms.transaction() as ctx:
        users.create_user(ctx, "new@example.com")
