"""Roles and permissions: built-in roles, custom roles, scopes, and the one check `can`."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.events import RoleAssigned
from lms_core.events import RoleRevoked
from lms_core.models import AuditEntry
from lms_core.models import OutboxEvent
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import User
from lms_core.services import courses
from lms_core.services import roles
from lms_core.services import users
from lms_core.services.permissions import can
from lms_core.services.permissions import courses_with
from lms_core.services.permissions import explain


def _can(lms, user, permission, course=None) -> bool:
    with lms.transaction(system=True) as ctx:
        return can(ctx.attach(user), permission, course)


def test_the_five_builtin_roles_exist(lms):
    with lms.session() as session:
        builtin = {r.name: r for r in session.scalars(select(Role).where(Role.builtin.is_(True)))}
    assert set(builtin) == {"admin", "manager", "course_creator", "instructor", "learner"}
    assert builtin["course_creator"].title == "Course creator"


def test_builtin_roles_hold_sensible_permissions(lms):
    with lms.transaction(system=True) as ctx:
        perms = {
            name: roles.role_permissions(ctx, roles.get_role(ctx, name))
            for name in roles.BUILTIN_ROLES
        }
    assert perms["admin"] == {"*"}
    assert {"enrollment.self"} <= perms["learner"]
    assert not perms["learner"] & {"user.manage", "role.manage", "course.create", "course.edit"}
    # Creating courses is site-wide; teaching one is granted in that course.
    assert perms["course_creator"] == {"course.create"}
    assert {"course.edit", "course.publish", "enrollment.manage", "progress.view"} <= perms[
        "instructor"
    ]
    assert "course.create" not in perms["instructor"]
    assert {"group.manage", "enrollment.manage", "progress.view", "user.view"} <= perms["manager"]
    assert "user.manage" not in perms["manager"] and "role.manage" not in perms["manager"]


def test_ensuring_builtin_roles_twice_changes_nothing(lms):
    with lms.transaction(system=True) as ctx:
        before = {r.name: roles.role_permissions(ctx, r) for r in roles.ensure_builtin_roles(ctx)}
    with lms.transaction(system=True) as ctx:
        after = {r.name: roles.role_permissions(ctx, r) for r in roles.ensure_builtin_roles(ctx)}
    assert before == after


def test_a_permission_an_admin_removed_from_a_builtin_role_is_not_given_back(lms):
    with lms.transaction(system=True) as ctx:
        learner = roles.get_role(ctx, "learner")
        roles.set_role_permissions(ctx, learner, [])
    with lms.transaction(system=True) as ctx:
        roles.ensure_builtin_roles(ctx)
        assert roles.role_permissions(ctx, roles.get_role(ctx, "learner")) == set()


def test_an_admin_holds_every_permission_everywhere(lms, factory):
    admin = factory.admin()
    course = factory.course()
    assert _can(lms, admin, "user.manage")
    assert _can(lms, admin, "course.edit", course)
    assert _can(lms, admin, "some.plugin.permission")


def test_a_learner_holds_only_learner_permissions(lms, factory):
    learner = factory.user()
    course = factory.course()
    assert _can(lms, learner, "enrollment.self")
    assert not _can(lms, learner, "course.edit", course)
    assert not _can(lms, learner, "user.manage")
    assert not can(None, "enrollment.self")  # anonymous visitors hold nothing


def test_a_custom_role_may_only_hold_known_permissions(lms):
    with pytest.raises(Invalid) as excinfo, lms.transaction(system=True) as ctx:
        roles.create_role(ctx, "auditor", "Auditor", ["audit.view", "teleport.use"])
    assert excinfo.value.field == "permissions"
    assert "teleport.use" in excinfo.value.message
    with lms.session() as session:
        assert session.scalars(select(Role).where(Role.name == "auditor")).first() is None


def test_a_custom_role_grants_its_permissions(lms, factory):
    with lms.transaction(system=True) as ctx:
        roles.create_role(ctx, "auditor", "Auditor", ["audit.view", "user.view"])
    person = factory.user(roles=("learner", "auditor"))
    assert _can(lms, person, "audit.view")
    assert _can(lms, person, "user.view")
    assert not _can(lms, person, "user.manage")


def test_role_names_are_validated_and_unique(lms):
    with pytest.raises(Invalid) as excinfo, lms.transaction(system=True) as ctx:
        roles.create_role(ctx, "Has Spaces!", "Bad")
    assert excinfo.value.field == "name"
    with pytest.raises(Conflict), lms.transaction(system=True) as ctx:
        roles.create_role(ctx, "learner", "Another learner")


def test_builtin_roles_cannot_be_deleted_but_custom_ones_can(lms, factory):
    with lms.transaction(system=True) as ctx:
        with pytest.raises(Invalid, match="built-in"):
            roles.delete_role(ctx, roles.get_role(ctx, "learner"))
        custom = roles.create_role(ctx, "helper", "Helper", ["user.view"])
    person = factory.user(roles=("helper",))
    with lms.transaction(system=True) as ctx:
        roles.delete_role(ctx, custom)
    assert not _can(lms, person, "user.view")


def test_the_admin_role_always_holds_everything(lms):
    with pytest.raises(Invalid), lms.transaction(system=True) as ctx:
        roles.set_role_permissions(ctx, roles.get_role(ctx, "admin"), ["user.view"])


def test_an_instructor_assigned_to_one_course_edits_that_course_only(lms, factory):
    course_a = factory.course()
    course_b = factory.course()
    teacher = factory.user()
    with lms.transaction(system=True) as ctx:
        assert roles.assign_role(ctx, teacher, "instructor", course_a) is True
        assert roles.assign_role(ctx, teacher, "instructor", course_a) is False
    assert _can(lms, teacher, "course.edit", course_a)
    assert not _can(lms, teacher, "course.edit", course_b)
    assert not _can(lms, teacher, "course.edit")
    with lms.transaction(teacher) as ctx:
        courses.update_course(ctx, course_a, summary="Updated by its instructor")
    with pytest.raises(Forbidden) as excinfo, lms.transaction(teacher) as ctx:
        courses.update_course(ctx, course_b, summary="Not mine")
    assert excinfo.value.permission == "course.edit"
    assert "course.edit" in excinfo.value.message
    with lms.transaction(system=True) as ctx:
        assert courses_with(ctx.attach(teacher), "course.edit") == {course_a.id}
        why = explain(ctx.attach(teacher), "course.edit", course_a)
        assert why.allowed and [(g.role, g.course_id) for g in why.grants] == [
            ("instructor", course_a.id)
        ]


def test_a_site_scope_role_applies_to_every_course(lms, factory):
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        roles.create_role(ctx, "editor_in_chief", "Editor in chief", ["course.edit"])
    editor = factory.user(roles=("editor_in_chief",))
    assert _can(lms, editor, "course.edit", course)
    with lms.transaction(system=True) as ctx:
        assert courses_with(ctx.attach(editor), "course.edit") is None


def test_a_course_creator_edits_only_the_courses_they_create(lms, factory):
    creator = factory.user(roles=("course_creator", "learner"))
    other = factory.course("OTHER-1")
    with lms.transaction(creator) as ctx:
        mine = courses.create_course(ctx, "MINE-1", "My course")
        courses.add_lesson(ctx, mine, "First", body="Hello")
        courses.publish_course(ctx, mine)
    assert _can(lms, creator, "course.edit", mine)
    assert _can(lms, creator, "progress.view", mine)
    assert not _can(lms, creator, "course.edit", other)
    assert not _can(lms, creator, "progress.view", other)
    assert not _can(lms, creator, "course.edit")
    with pytest.raises(Forbidden, match="course.edit"), lms.transaction(creator) as ctx:
        courses.update_course(ctx, other, summary="Not mine")
    with lms.transaction(system=True) as ctx:
        assert courses_with(ctx.attach(creator), "course.edit") == {mine.id}
        assert courses_with(ctx.attach(creator), "progress.view") == {mine.id}
        why = explain(ctx.attach(creator), "course.edit", mine)
        assert why.allowed and [(g.role, g.course_id) for g in why.grants] == [
            ("instructor", mine.id)
        ]


def test_the_instructor_role_is_given_per_course_never_site_wide(lms, factory):
    admin = factory.admin()
    person = factory.user("person@example.com")
    with pytest.raises(Invalid) as excinfo, lms.transaction(admin) as ctx:
        roles.assign_role(ctx, person, "instructor")
    assert excinfo.value.field == "course"
    assert "per course" in excinfo.value.message
    assert "course_creator" in excinfo.value.message
    with pytest.raises(Invalid) as excinfo, lms.transaction(admin) as ctx:
        users.create_user(ctx, "new@example.com", roles=("instructor", "learner"))
    assert excinfo.value.field == "roles"
    assert "per course" in excinfo.value.message
    with lms.session() as session:
        assert (
            session.scalars(select(User).where(User.email_key == "new@example.com")).first() is None
        )
        held = session.scalars(
            select(Role.name)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == person.id)
        ).all()
        assert held == ["learner"]
    # At course scope it is fine.
    course = factory.course()
    with lms.transaction(admin) as ctx:
        assert roles.assign_role(ctx, person, "instructor", course) is True
    assert _can(lms, person, "course.edit", course)


def test_the_course_creator_role_is_given_site_wide_never_in_one_course(lms, factory):
    admin = factory.admin()
    person = factory.user()
    course = factory.course()
    with pytest.raises(Invalid, match="given site-wide") as excinfo, lms.transaction(admin) as ctx:
        roles.assign_role(ctx, person, "course_creator", course)
    assert excinfo.value.field == "course"
    with lms.transaction(admin) as ctx:
        assert roles.assign_role(ctx, person, "course_creator") is True
    assert _can(lms, person, "course.create")


def test_ensuring_builtin_roles_does_not_give_instructors_course_create_back(lms):
    # An existing site: course.create is known, and the instructor role no longer holds it.
    with lms.transaction(system=True) as ctx:
        instructor = roles.get_role(ctx, "instructor")
        roles.set_role_permissions(
            ctx, instructor, roles.role_permissions(ctx, instructor) - {"course.create"}
        )
    with lms.transaction(system=True) as ctx:
        roles.ensure_builtin_roles(ctx)
        assert "course.create" not in roles.role_permissions(ctx, roles.get_role(ctx, "instructor"))


def test_a_builtin_role_new_to_an_existing_site_gets_its_default_permissions(lms):
    # The site knows every permission already; a built-in role it lacks (here: removed)
    # is created with the permissions that name it as a default role.
    with lms.transaction(system=True) as ctx:
        ctx.session.delete(roles.get_role(ctx, "course_creator"))
    with lms.transaction(system=True) as ctx:
        roles.ensure_builtin_roles(ctx)
        creator = roles.get_role(ctx, "course_creator")
        assert creator.builtin
        assert roles.role_permissions(ctx, creator) == {"course.create"}


def test_revoking_a_course_role_removes_that_scope_only(lms, factory):
    course_a, course_b = factory.course(), factory.course()
    teacher = factory.user()
    with lms.transaction(system=True) as ctx:
        roles.assign_role(ctx, teacher, "instructor", course_a)
        roles.assign_role(ctx, teacher, "instructor", course_b)
        assert roles.revoke_role(ctx, teacher, "instructor", course_a) is True
        assert roles.revoke_role(ctx, teacher, "instructor", course_a) is False
    assert not _can(lms, teacher, "course.edit", course_a)
    assert _can(lms, teacher, "course.edit", course_b)


def test_the_person_who_creates_a_course_becomes_its_instructor(lms, factory):
    with lms.transaction(system=True) as ctx:
        roles.create_role(ctx, "author", "Course author", ["course.create"])
    author = factory.user(roles=("author",))
    with lms.transaction(author) as ctx:
        course = courses.create_course(ctx, "AUTH-1", "Authored")
        courses.add_lesson(ctx, course, "First", body="Hello")
        courses.publish_course(ctx, course)
    other = factory.course()
    assert _can(lms, author, "course.edit", course)
    assert _can(lms, author, "course.publish", course)
    assert not _can(lms, author, "course.edit", other)


def test_services_refuse_with_a_message_naming_the_permission(lms, factory):
    learner = factory.user()
    with pytest.raises(Forbidden) as excinfo, lms.transaction(learner) as ctx:
        courses.create_course(ctx, "NOPE-1", "Not allowed")
    assert excinfo.value.permission == "course.create"
    assert "course.create" in excinfo.value.message
    with pytest.raises(Forbidden, match="role.manage"), lms.transaction(learner) as ctx:
        roles.assign_role(ctx, learner, "admin")


def test_deactivated_users_can_nothing(lms, factory):
    admin = factory.admin()
    other_admin = factory.admin()
    course = factory.course()
    with lms.transaction(admin) as ctx:
        users.deactivate_user(ctx, other_admin)
    assert not _can(lms, other_admin, "user.manage")
    assert not _can(lms, other_admin, "course.edit", course)
    # even when acting with a copy of themselves loaded before they were deactivated
    with pytest.raises(Forbidden, match="deactivated"), lms.transaction(other_admin) as ctx:
        courses.update_course(ctx, course, summary="after hours")


def test_a_role_granted_in_the_same_unit_of_work_applies_at_once(lms, factory):
    factory.admin()
    person = factory.user()
    with lms.transaction(system=True) as ctx:
        attached = ctx.attach(person)
        assert not can(attached, "user.manage")
        roles.assign_role(ctx, attached, "admin")
        assert can(attached, "user.manage")
        roles.revoke_role(ctx, attached, "admin")
        assert not can(attached, "user.manage")


def test_a_session_sees_roles_given_elsewhere_once_its_transaction_ends(lms, factory):
    # A web request reads in one session and writes in another: after creating a course
    # (which makes the creator its instructor) the page must see the new grant.
    person = factory.user()
    course = factory.course()
    with lms.session() as session:
        reader = session.get(User, person.id)
        assert not can(reader, "course.edit", course)
        with lms.transaction(system=True) as ctx:
            roles.assign_role(ctx, ctx.attach(person), "instructor", course)
        session.rollback()  # the read transaction ends, as web.db.write() does
        assert can(reader, "course.edit", course)


def test_assigning_and_revoking_roles_is_audited_and_recorded_as_events(lms, factory):
    admin = factory.admin()
    person = factory.user()
    course = factory.course()
    with lms.transaction(admin, address="203.0.113.9") as ctx:
        roles.assign_role(ctx, person, "instructor", course)
        roles.revoke_role(ctx, person, "instructor", course)
    with lms.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith("role.")).order_by(AuditEntry.id)
        ).all()
        events = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.name.in_([RoleAssigned.NAME, RoleRevoked.NAME]))
            .order_by(OutboxEvent.id)
        ).all()
    assert [(e.action, e.actor_label, e.target_label, e.address) for e in entries] == [
        ("role.assign", admin.email, person.email, "203.0.113.9"),
        ("role.revoke", admin.email, person.email, "203.0.113.9"),
    ]
    assert entries[0].details == {"role": "instructor", "course": course.code}
    assert [e.name for e in events] == [RoleAssigned.NAME, RoleRevoked.NAME]
    assert events[0].payload["user_id"] == person.id
    assert events[0].payload["course_id"] == course.id
    assert events[0].payload["by_user_id"] == admin.id


def test_an_unknown_role_is_not_found(lms, factory):
    from lms_core.errors import NotFound

    person = factory.user()
    with pytest.raises(NotFound, match="wizard"), lms.transaction(system=True) as ctx:
        roles.assign_role(ctx, person, "wizard")


def test_explain_names_the_role_its_scope_and_who_gave_it_when(lms, factory):
    boss = factory.admin("boss@example.com")
    course = factory.course("SAFE-1")
    teacher = factory.user("teacher@example.com")
    with lms.transaction(boss) as ctx:
        roles.assign_role(ctx, teacher, "instructor", course)
    with lms.transaction(system=True) as ctx:
        why = explain(ctx.attach(teacher), "course.edit", course.id)
    assert why.allowed is _can(lms, teacher, "course.edit", course) is True
    assert why.course_code == "SAFE-1"
    (grant,) = why.grants
    assert (grant.role, grant.course_code, grant.assigned_by) == (
        "instructor",
        "SAFE-1",
        boss.email,
    )
    assert grant.assigned_at is not None and grant.scope == "in SAFE-1"
    assert "through the role instructor (in SAFE-1)" in why.summary()
    assert f"by {boss.email}" in why.lines()[1]


def test_explain_says_which_roles_would_grant_a_permission_not_held(lms, factory):
    course = factory.course("SAFE-2")
    other = factory.course("OTHER-2")
    teacher = factory.user()
    with lms.transaction(system=True) as ctx:
        roles.assign_role(ctx, teacher, "instructor", other)
    with lms.transaction(system=True) as ctx:
        why = explain(ctx.attach(teacher), "course.edit", course)
    assert not why.allowed and why.grants == ()
    assert [(g.role, g.course_code) for g in why.elsewhere] == [("instructor", "OTHER-2")]
    assert {"admin", "instructor"} <= {r.name for r in why.would_grant}
    assert "may not use course.edit in SAFE-2" in why.summary()


def test_explain_shows_a_wildcard_grant_and_a_deactivated_account_holds_nothing(lms, factory):
    admin = factory.admin("root@example.com")
    factory.admin("deputy@example.com")
    with lms.transaction(system=True) as ctx:
        why = explain(ctx.attach(admin), "user.manage")
        assert why.allowed and [g.via_wildcard for g in why.grants] == [True]
        assert why.grants[0].assigned_by is None and "system" in why.grants[0].by
        users.deactivate_user(ctx, ctx.attach(admin))
    with lms.transaction(system=True) as ctx:
        why = explain(ctx.attach(admin), "user.manage")
    assert not why.allowed and why.deactivated and why.grants
    assert "deactivated" in why.summary()
    assert why.allowed is _can(lms, admin, "user.manage")
