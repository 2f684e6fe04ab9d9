"""The core's navigation and admin menu, contributed through the same hooks plugins use."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from lms_core.contributions import AdminPage
from lms_core.contributions import NavItem
from lms_core.db import utcnow
from lms_core.default_permissions import TEACHING
from lms_core.hooks.markers import hookimpl
from lms_core.models import AuditEntry
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import Group
from lms_core.models import Role
from lms_core.models import User
from lms_core.services.permissions import can_anywhere
from lms_core.services.team import manages_anyone

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@hookimpl
def lms_nav_items(user: User | None) -> list[NavItem]:
    if user is None:
        return [NavItem(label="Catalog", endpoint="learner.catalog", order=20)]
    items = [
        NavItem(label="Dashboard", endpoint="learner.dashboard", order=10),
        NavItem(label="Catalog", endpoint="learner.catalog", order=20),
        NavItem(label="Admin", endpoint="admin.index", permission="user.view", order=90),
    ]
    # Teach is for course creators and for instructors of any course (a per-course grant, so
    # a NavItem's site-scope ``permission`` cannot say it); teach.index declares the same.
    if can_anywhere(user, *TEACHING):
        items.append(NavItem(label="Teach", endpoint="teach.index", order=30))
    # My team is for line managers: anyone someone reports to (a relation, not a permission).
    if manages_anyone(user):
        items.append(NavItem(label="My team", endpoint="team.index", order=40))
    return items


def _count(session: Session, stmt: Any) -> int:
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def _active_users(session: Session) -> int:
    return _count(session, select(User.id).where(User.is_active.is_(True)))


def _groups(session: Session) -> int:
    return _count(session, select(Group.id))


def _roles(session: Session) -> int:
    return _count(session, select(Role.id))


def _audit_this_week(session: Session) -> int:
    since = utcnow() - dt.timedelta(days=7)
    return _count(session, select(AuditEntry.id).where(AuditEntry.at >= since))


def _troubled_deliveries(session: Session) -> int:
    # What the deliveries page lists: failed, or pending after at least one failure.
    troubled = or_(
        Delivery.status == DeliveryStatus.FAILED,
        (Delivery.status == DeliveryStatus.PENDING) & (Delivery.attempts > 0),
    )
    return _count(session, select(Delivery.id).where(troubled))


@hookimpl
def lms_admin_pages() -> list[AdminPage]:
    return [
        AdminPage(
            label="Users",
            endpoint="admin.users",
            permission="user.view",
            description="Accounts, profiles, import",
            task="People",
            order=10,
            count=_active_users,
            counts="active",
        ),
        AdminPage(
            label="Groups",
            endpoint="admin.groups",
            permission="group.manage",
            description="Cohorts and their rules",
            task="People",
            order=20,
            count=_groups,
            counts="groups",
        ),
        AdminPage(
            label="Roles",
            endpoint="admin.roles",
            permission="role.manage",
            description="Roles, permissions, assignments",
            task="People",
            order=30,
            count=_roles,
            counts="roles",
        ),
        AdminPage(
            label="Audit log",
            endpoint="admin.audit",
            permission="audit.view",
            description="Who did what, when",
            task="Records",
            order=70,
            count=_audit_this_week,
            counts="entries in 7 days",
        ),
        AdminPage(
            label="Plugins",
            endpoint="admin.plugins",
            permission="plugin.manage",
            description="Turn features on and off",
            task="Site",
            order=90,
        ),
        AdminPage(
            label="Schedules",
            endpoint="jobs.schedules",
            permission="plugin.manage",
            description="Timetabled work, retention, run now",
            task="Site",
            order=85,
        ),
        AdminPage(
            label="Deliveries",
            endpoint="admin.deliveries",
            permission="plugin.manage",
            description="Background jobs, failed or stuck deliveries",
            task="Site",
            order=80,
            count=_troubled_deliveries,
            counts="failed or retrying",
        ),
    ]
