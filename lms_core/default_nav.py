"""The core's navigation and admin menu, contributed through the same hooks plugins use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lms_core.contributions import AdminPage
from lms_core.contributions import NavItem
from lms_core.default_permissions import TEACHING
from lms_core.hooks.markers import hookimpl
from lms_core.services.permissions import can_anywhere
from lms_core.services.team import manages_anyone

if TYPE_CHECKING:
    from lms_core.models import User


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


@hookimpl
def lms_admin_pages() -> list[AdminPage]:
    return [
        AdminPage(
            label="Users",
            endpoint="admin.users",
            permission="user.view",
            description="Accounts, profiles, import",
        ),
        AdminPage(
            label="Groups",
            endpoint="admin.groups",
            permission="group.manage",
            description="Cohorts and their rules",
        ),
        AdminPage(
            label="Roles",
            endpoint="admin.roles",
            permission="role.manage",
            description="Roles, permissions, assignments",
        ),
        AdminPage(
            label="Audit log",
            endpoint="admin.audit",
            permission="audit.view",
            description="Who did what, when",
        ),
        AdminPage(
            label="Plugins",
            endpoint="admin.plugins",
            permission="plugin.manage",
            description="Turn features on and off",
        ),
        AdminPage(
            label="Deliveries",
            endpoint="admin.deliveries",
            permission="plugin.manage",
            description="Failed or stuck event deliveries",
        ),
    ]
