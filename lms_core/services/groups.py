"""Groups (cohorts): members by hand, by import, or by an attribute rule kept true as users change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from lms_core import limits
from lms_core import outbox
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.errors import Conflict
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.events import GroupMembershipChanged
from lms_core.limits import check_length
from lms_core.limits import excerpt
from lms_core.models import PROFILE_ATTRIBUTES
from lms_core.models import Group
from lms_core.models import GroupCourse
from lms_core.models import GroupKind
from lms_core.models import GroupMember
from lms_core.models import MembershipSource
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.permissions import require

__all__ = [
    "get_group",
    "find_group",
    "create_group",
    "update_group",
    "delete_group",
    "add_members",
    "remove_members",
    "sync_group",
    "sync_user_rule_groups",
    "member_ids",
    "check_rule",
]


def get_group(ctx: Context, group_id: int) -> Group:
    group = ctx.session.get(Group, group_id)
    if group is None:
        raise NotFound(f"There is no group with id {group_id}.")
    return group


def find_group(ctx: Context, name: str) -> Group | None:
    return ctx.session.scalars(select(Group).where(Group.name_key == name.strip().lower())).first()


def check_rule(rule: Any) -> dict[str, str] | None:
    """Validate a membership rule: ``{attribute: value}`` over profile attributes, all must hold."""
    if rule is None or rule == {}:
        return None
    if not isinstance(rule, dict):
        raise Invalid(
            "A group rule maps profile attributes to values, e.g. {'department': 'Sales'}.",
            field="rule",
        )
    clean = {}
    for attribute, value in rule.items():
        if attribute not in PROFILE_ATTRIBUTES:
            raise Invalid(
                f"Group rules can test {', '.join(PROFILE_ATTRIBUTES)}; {excerpt(attribute)} is not one of them.",
                field="rule",
            )
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"The rule for {attribute} needs a value.", field="rule")
        # The value is compared with the attribute, so it can be no longer than one.
        label = f"The rule's value for {attribute}"
        clean[attribute] = check_length(
            "rule", value, limits.PROFILE_ATTRIBUTE, label=label
        ).strip()
    return clean


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid("A group needs a name.", field="name")
    check_length("name", name, limits.GROUP_NAME, label="A group name")
    return " ".join(name.split())


def _clean_description(description: Any) -> str:
    return check_length(
        "description", description or "", limits.GROUP_DESCRIPTION, label="A group description"
    )


def _clean_kind(kind: Any) -> str:
    try:
        return GroupKind(kind).value
    except ValueError:
        raise Invalid(
            f"{excerpt(kind)} is not a group kind; use one of {', '.join(k.value for k in GroupKind)}.",
            field="kind",
        ) from None


def create_group(
    ctx: Context,
    name: str,
    *,
    kind: str = "custom",
    description: str = "",
    rule: dict[str, str] | None = None,
) -> Group:
    require(ctx, "group.manage", to="create groups")
    name = _clean_name(name)
    if find_group(ctx, name) is not None:
        raise Conflict(f"A group called {name!r} already exists.")
    group = Group(
        name=name,
        name_key=name.lower(),
        kind=_clean_kind(kind),
        description=_clean_description(description),
        rule=check_rule(rule),
    )
    ctx.session.add(group)
    ctx.session.flush()
    audit(ctx, "group.create", group, kind=group.kind, rule=group.rule)
    if group.rule:
        sync_group(ctx, group)
    return group


def update_group(ctx: Context, group: Group, **changes: Any) -> None:
    """Change name, kind, description or rule. Changing the rule resyncs the members."""
    group = ctx.attach(group)
    require(ctx, "group.manage", to="edit groups")
    unknown = set(changes) - {"name", "kind", "description", "rule"}
    before = {
        "name": group.name,
        "kind": group.kind,
        "description": group.description,
        "rule": group.rule,
    }
    if unknown:
        raise Invalid(f"Unknown group field(s): {', '.join(sorted(unknown))}.")
    if "name" in changes:
        name = _clean_name(changes["name"])
        other = find_group(ctx, name)
        if other is not None and other.id != group.id:
            raise Conflict(f"A group called {name!r} already exists.")
        group.name, group.name_key = name, name.lower()
    if "kind" in changes:
        group.kind = _clean_kind(changes["kind"])
    if "description" in changes:
        group.description = _clean_description(changes["description"])
    rule_changed = False
    if "rule" in changes:
        rule = check_rule(changes["rule"])
        rule_changed = rule != group.rule
        group.rule = rule
    ctx.session.flush()
    changed_fields = sorted(k for k in changes if getattr(group, k) != before[k])
    if changed_fields:
        audit(ctx, "group.update", group, changed=changed_fields)
    if rule_changed:
        sync_group(ctx, group)


def delete_group(ctx: Context, group: Group) -> None:
    """Delete a group. Enrollments made through it stay."""
    group = ctx.attach(group)
    require(ctx, "group.manage", to="delete groups")
    audit(ctx, "group.delete", group)
    ctx.session.delete(group)
    ctx.session.flush()


def member_ids(ctx: Context, group: Group) -> set[int]:
    return set(
        ctx.session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group.id))
    )


def _membership_event(ctx: Context, group: Group, user_id: int, change: str, source: str) -> None:
    outbox.record(
        ctx,
        GroupMembershipChanged(
            group_id=group.id,
            group_name=group.name,
            user_id=user_id,
            change=change,
            source=source,
            changed_at=utcnow(),
        ),
    )


def _add(ctx: Context, group: Group, user_ids: Iterable[int], source: str) -> list[int]:
    existing = member_ids(ctx, group)
    added = [uid for uid in dict.fromkeys(user_ids) if uid not in existing]
    if not added:
        return []
    now = utcnow()
    ctx.session.add_all(
        GroupMember(group_id=group.id, user_id=uid, source=source, added_at=now) for uid in added
    )
    ctx.session.flush()
    for uid in added:
        _membership_event(ctx, group, uid, "added", source)
    _enroll_in_group_courses(ctx, group, added)
    return added


def _remove(ctx: Context, group: Group, user_ids: Iterable[int], source: str) -> list[int]:
    ids = list(set(user_ids) & member_ids(ctx, group))
    if not ids:
        return []
    ctx.session.execute(
        delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.user_id.in_(ids))
    )
    for uid in ids:
        _membership_event(ctx, group, uid, "removed", source)
    return ids


def _enroll_in_group_courses(ctx: Context, group: Group, user_ids: list[int]) -> None:
    course_ids = list(
        ctx.session.scalars(select(GroupCourse.course_id).where(GroupCourse.group_id == group.id))
    )
    if not course_ids:
        return
    from lms_core.services.enrollments import sync_group_enrollments

    sync_group_enrollments(ctx, group, course_ids, user_ids)


def add_members(
    ctx: Context, group: Group, users: Iterable[User], *, source: str = MembershipSource.MANUAL
) -> list[int]:
    """Add users by hand (or by import). Returns the ids actually added."""
    group = ctx.attach(group)
    require(ctx, "group.manage", to="change group members")
    if group.rule:
        raise Invalid(
            f"Members of {group.name!r} follow its rule; change the rule or the users' profiles instead."
        )
    users = [ctx.attach(u) for u in users]
    inactive = [u.email for u in users if not u.is_active]
    if inactive:
        raise Invalid(f"Deactivated users cannot join groups: {', '.join(inactive)}.")
    added = _add(ctx, group, (u.id for u in users), str(source))
    if added:
        audit(ctx, "group.members_add", group, user_ids=added)
    return added


def remove_members(ctx: Context, group: Group, users: Iterable[User]) -> list[int]:
    group = ctx.attach(group)
    require(ctx, "group.manage", to="change group members")
    if group.rule:
        raise Invalid(
            f"Members of {group.name!r} follow its rule; change the rule or the users' profiles instead."
        )
    removed = _remove(ctx, group, (u.id for u in users), MembershipSource.MANUAL)
    if removed:
        audit(ctx, "group.members_remove", group, user_ids=removed)
    return removed


def _rule_condition(rule: dict[str, str]) -> Any:
    return and_(
        User.is_active.is_(True),
        *(
            func.lower(getattr(User, attribute)) == value.lower()
            for attribute, value in rule.items()
        ),
    )


def sync_group(ctx: Context, group: Group) -> tuple[list[int], list[int]]:
    """Make a rule group's members exactly the active users its rule matches."""
    group = ctx.attach(group)
    if not group.rule:
        return [], []
    wanted = set(ctx.session.scalars(select(User.id).where(_rule_condition(group.rule))))
    current = member_ids(ctx, group)
    added = _add(ctx, group, sorted(wanted - current), MembershipSource.RULE)
    removed = _remove(ctx, group, sorted(current - wanted), MembershipSource.RULE)
    return added, removed


def _matches(user: User, rule: dict[str, str]) -> bool:
    return user.is_active and all(
        (getattr(user, attribute) or "").lower() == value.lower()
        for attribute, value in rule.items()
    )


def sync_user_rule_groups(ctx: Context, user: User) -> None:
    """Re-evaluate every rule group for one user (after their profile changed)."""
    groups = ctx.session.scalars(select(Group).where(Group.rule.is_not(None))).all()
    if not groups:
        return
    current = set(
        ctx.session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user.id))
    )
    for group in groups:
        if not group.rule:
            continue
        match = _matches(user, group.rule)
        if match and group.id not in current:
            _add(ctx, group, [user.id], MembershipSource.RULE)
        elif not match and group.id in current:
            _remove(ctx, group, [user.id], MembershipSource.RULE)
