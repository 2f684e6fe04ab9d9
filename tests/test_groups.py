"""Groups: kinds, manual members, attribute rules kept true, and enrolling whole groups."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select

from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.models import AuditEntry
from lms_core.models import Enrollment
from lms_core.models import EnrollmentSource
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import GroupCourse
from lms_core.models import GroupKind
from lms_core.models import GroupMember
from lms_core.models import MembershipSource
from lms_core.models import OutboxEvent
from lms_core.services import enrollments
from lms_core.services import groups
from lms_core.services import users
from lms_core.services.audit import audit


def _members(lms, group: Group) -> set[int]:
    with lms.session() as session:
        return set(
            session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group.id))
        )


def _enrolled(lms, course) -> dict[int, Enrollment]:
    with lms.session() as session:
        rows = session.scalars(select(Enrollment).where(Enrollment.course_id == course.id))
        return {e.user_id: e for e in rows}


def _group(lms, name: str, **kwargs) -> Group:
    with lms.transaction(system=True) as ctx:
        return groups.create_group(ctx, name, **kwargs)


def test_groups_have_a_kind_and_names_are_unique_case_insensitively(lms):
    group = _group(lms, "Berlin office", kind="location")
    assert group.kind == GroupKind.LOCATION
    assert _group(lms, "Everyone").kind == GroupKind.CUSTOM
    with pytest.raises(Conflict):
        _group(lms, "BERLIN OFFICE")


def test_an_unknown_group_kind_is_invalid_and_the_kinds_are_listed(lms):
    with pytest.raises(Invalid) as excinfo:
        _group(lms, "Mystery", kind="secret_society")
    assert excinfo.value.field == "kind"
    for kind in GroupKind:
        assert kind.value in excinfo.value.message


def test_members_are_added_and_removed_by_hand(lms, factory):
    group = _group(lms, "Mentors")
    ann, bob = factory.user(), factory.user()
    with lms.transaction(system=True) as ctx:
        assert groups.add_members(ctx, group, [ann, bob]) == [ann.id, bob.id]
        assert groups.add_members(ctx, group, [ann]) == []  # already a member
    assert _members(lms, group) == {ann.id, bob.id}
    with lms.transaction(system=True) as ctx:
        assert groups.remove_members(ctx, group, [ann]) == [ann.id]
    assert _members(lms, group) == {bob.id}


def test_manual_members_are_recorded_as_manual(lms, factory):
    group = _group(lms, "Manual")
    user = factory.user()
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, [user])
    with lms.session() as session:
        member = session.get(GroupMember, (group.id, user.id))
        assert member is not None and member.source == MembershipSource.MANUAL


def test_changing_members_needs_group_manage(lms, factory):
    group = _group(lms, "Closed")
    learner = factory.user()
    with pytest.raises(Forbidden, match="group.manage"), lms.transaction(learner) as ctx:
        groups.add_members(ctx, group, [learner])
    assert _members(lms, group) == set()


def test_a_manager_may_manage_groups(lms, factory):
    manager = factory.user(roles=("manager",))
    with lms.transaction(manager) as ctx:
        group = groups.create_group(ctx, "Team")
        groups.add_members(ctx, group, [manager])
    assert _members(lms, group) == {manager.id}


def test_a_rule_group_holds_the_active_users_its_rule_matches_ignoring_case(lms, factory):
    seller = factory.user(department="sales")
    loud_seller = factory.user(department="SALES")
    factory.user(department="Support")
    factory.user()
    group = _group(lms, "Sales team", kind="department", rule={"department": "Sales"})
    assert _members(lms, group) == {seller.id, loud_seller.id}
    with lms.session() as session:
        sources = set(session.scalars(select(GroupMember.source)))
    assert sources == {MembershipSource.RULE}


def test_users_created_later_join_the_matching_rule_group(lms, factory):
    group = _group(lms, "Berlin", rule={"location": "Berlin"})
    newcomer = factory.user(location="berlin")
    assert _members(lms, group) == {newcomer.id}


def test_a_profile_change_moves_a_user_between_rule_groups(lms, factory):
    sales = _group(lms, "Sales", rule={"department": "Sales"})
    support = _group(lms, "Support", rule={"department": "Support"})
    user = factory.user(department="Sales")
    assert _members(lms, sales) == {user.id}
    with lms.transaction(system=True) as ctx:
        users.update_user(ctx, user, department="Support")
    assert _members(lms, sales) == set()
    assert _members(lms, support) == {user.id}


def test_every_condition_of_a_rule_must_hold(lms, factory):
    group = _group(lms, "Berlin sales", rule={"department": "Sales", "location": "Berlin"})
    both = factory.user(department="Sales", location="Berlin")
    factory.user(department="Sales", location="Paris")
    assert _members(lms, group) == {both.id}


def test_changing_a_rule_resyncs_the_members(lms, factory):
    group = _group(lms, "Dept", rule={"department": "Sales"})
    seller = factory.user(department="Sales")
    helper = factory.user(department="Support")
    with lms.transaction(system=True) as ctx:
        groups.update_group(ctx, group, rule={"department": "Support"})
    assert _members(lms, group) == {helper.id}
    assert seller.id not in _members(lms, group)


def test_members_cannot_be_added_by_hand_to_a_rule_group(lms, factory):
    group = _group(lms, "Ruled", rule={"department": "Sales"})
    outsider = factory.user(department="Support")
    with pytest.raises(Invalid, match="follow its rule"), lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, [outsider])
    assert _members(lms, group) == set()


def test_a_rule_may_only_test_profile_attributes(lms):
    with pytest.raises(Invalid) as excinfo:
        _group(lms, "Bad rule", rule={"email": "x@example.com"})
    assert excinfo.value.field == "rule"


def test_deactivated_users_drop_out_of_rule_groups_and_come_back_on_reactivation(lms, factory):
    admin = factory.admin()
    group = _group(lms, "Sales", rule={"department": "Sales"})
    user = factory.user(department="Sales")
    assert _members(lms, group) == {user.id}
    with lms.transaction(admin) as ctx:
        users.deactivate_user(ctx, user)
    assert _members(lms, group) == set()
    with lms.transaction(admin) as ctx:
        users.reactivate_user(ctx, user)
    assert _members(lms, group) == {user.id}


def test_deactivated_users_cannot_be_added_to_groups(lms, factory):
    admin = factory.admin()
    group = _group(lms, "Manual")
    user = factory.user()
    with lms.transaction(admin) as ctx:
        users.deactivate_user(ctx, user)
    with pytest.raises(Invalid, match="Deactivated"), lms.transaction(admin) as ctx:
        groups.add_members(ctx, group, [user])


def test_membership_changes_are_recorded_as_events(lms, factory):
    group = _group(lms, "Evented")
    user = factory.user()
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, [user])
        groups.remove_members(ctx, group, [user])
    with lms.session() as session:
        payloads = [
            e.payload
            for e in session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.name == "lms.group.membership_changed.v1")
                .order_by(OutboxEvent.id)
            )
        ]
    assert [(p["user_id"], p["change"]) for p in payloads] == [
        (user.id, "added"),
        (user.id, "removed"),
    ]


# --- enrolling groups -----------------------------------------------------------------------


def test_enrolling_a_group_enrolls_every_active_member(lms, factory):
    group = _group(lms, "Cohort")
    members = [factory.user() for _ in range(3)]
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, members)
        made = enrollments.enroll_group(ctx, group, course)
        assert len(made) == 3
    enrolled = _enrolled(lms, course)
    assert set(enrolled) == {m.id for m in members}
    assert {e.source for e in enrolled.values()} == {EnrollmentSource.GROUP}
    assert {e.status for e in enrolled.values()} == {EnrollmentStatus.ACTIVE}


def test_people_who_join_a_group_later_are_enrolled_in_its_courses(lms, factory):
    group = _group(lms, "Cohort")
    course = factory.course()
    first = factory.user()
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, [first])
        enrollments.enroll_group(ctx, group, course)
    late = factory.user()
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, [late])
    assert set(_enrolled(lms, course)) == {first.id, late.id}
    with lms.session() as session:
        assert session.get(GroupCourse, (group.id, course.id)) is not None


def test_users_who_come_to_match_a_rule_group_are_enrolled_in_its_courses(lms, factory):
    group = _group(lms, "Sales", rule={"department": "Sales"})
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        enrollments.enroll_group(ctx, group, course)
    user = factory.user(department="Support")
    assert user.id not in _enrolled(lms, course)
    with lms.transaction(system=True) as ctx:
        users.update_user(ctx, user, department="Sales")
    assert _enrolled(lms, course)[user.id].source == EnrollmentSource.GROUP


def test_a_group_too_big_for_the_free_places_enrolls_nobody(lms, factory):
    group = _group(lms, "Big")
    members = [factory.user() for _ in range(3)]
    course = factory.course(capacity=2)
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, members)
    with pytest.raises(Conflict, match="Nobody was enrolled"), lms.transaction(system=True) as ctx:
        enrollments.enroll_group(ctx, group, course)
    assert _enrolled(lms, course) == {}
    with lms.session() as session:
        assert session.scalar(select(func.count()).select_from(GroupCourse)) == 0
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "enrollment.group")).all()
            == []
        )


def test_a_failing_group_enrollment_rolls_back_everything_done_before_it(lms, factory):
    group = _group(lms, "Big")
    members = [factory.user() for _ in range(3)]
    course = factory.course(capacity=2)
    with pytest.raises(Conflict), lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, members)
        audit(ctx, "test.marker")
        enrollments.enroll_group(ctx, group, course)
    assert _members(lms, group) == set()
    with lms.session() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "test.marker")).all()
            == []
        )


def test_members_already_enrolled_do_not_need_another_place(lms, factory):
    group = _group(lms, "Partly enrolled")
    members = [factory.user() for _ in range(2)]
    course = factory.course(capacity=2)
    factory.enrollment(members[0], course)
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, members)
        made = enrollments.enroll_group(ctx, group, course)
    assert [e.user_id for e in made] == [members[1].id]
    assert set(_enrolled(lms, course)) == {m.id for m in members}


def test_a_late_joiner_who_does_not_fit_is_skipped_and_the_skip_audited(lms, factory):
    group = _group(lms, "Cohort")
    course = factory.course(capacity=1)
    first, late = factory.user(), factory.user()
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, [first])
        enrollments.enroll_group(ctx, group, course)
    with lms.transaction(system=True) as ctx:
        groups.add_members(ctx, group, [late])
    assert _members(lms, group) == {first.id, late.id}
    assert set(_enrolled(lms, course)) == {first.id}
    with lms.session() as session:
        skipped = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "enrollment.group_skipped")
        ).one()
    assert skipped.target_label == late.email
    assert "full" in skipped.details["reason"]


def test_enrolling_a_group_needs_enrollment_manage(lms, factory):
    group = _group(lms, "Cohort")
    course = factory.course()
    learner = factory.user()
    with pytest.raises(Forbidden, match="enrollment.manage"), lms.transaction(learner) as ctx:
        enrollments.enroll_group(ctx, group, course)
