"""The badges plugin's hook implementations (the module its entry point names)."""

from __future__ import annotations

import importlib
from typing import Any

from markupsafe import Markup
from markupsafe import escape
from sqlalchemy import func
from sqlalchemy import select

from lms_core import AdminPage
from lms_core import NavItem
from lms_core import Panel
from lms_core import Widget
from lms_core import hookimpl
from lms_core.context import Context
from lms_core.events import Event
from lms_core.models import Course
from lms_core.models import User
from plugins.badges import PLUGIN  # noqa: F401  (the loader finds PLUGIN here)
from plugins.badges import events  # noqa: F401  (registers the plugin's event types)
from plugins.badges import models
from plugins.badges import services
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass
from plugins.badges.models import LedgerEntry

#: Modules holding the plugin's blueprints (views by UI, public Open Badges routes by OB).
BLUEPRINT_MODULES = ("plugins.badges.views", "plugins.badges.openbadges_views")


@hookimpl
def lms_register_models() -> list[type]:
    return list(models.MODELS)


@hookimpl
def lms_on_event(event: Event, ctx: Context) -> None:
    """Every event (core or plugin-published): points, counted events, badges, levels."""
    services.handle_event(ctx, event)


@hookimpl
def lms_register_blueprints() -> list[Any]:
    from flask import Blueprint

    out: list[Any] = []
    for name in BLUEPRINT_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written (yet): serve what exists
                continue
            raise
        out.extend(v for v in vars(module).values() if isinstance(v, Blueprint))
    return out


@hookimpl
def lms_nav_items(user: User | None) -> list[NavItem]:
    if user is None:
        return []
    return [
        NavItem(label="My badges", endpoint="badges.mine", order=60),
        NavItem(label="Leaderboard", endpoint="badges.leaderboard", order=61),
    ]


@hookimpl
def lms_admin_pages() -> list[AdminPage]:
    return [
        AdminPage(
            label="Badges and points",
            endpoint="badges.admin_index",
            permission="badges.manage",
            description="Point rules, badges and levels.",
            task="Learning",
            order=50,
            count=_badge_count,
            counts="badges",
        )
    ]


def _badge_count(session: Any) -> int:
    return session.scalar(select(func.count()).select_from(BadgeClass)) or 0


def _web_view(name: str) -> Any:
    """The UI's renderer ``name`` from views.py when drawing a web page, else None (the
    hooks are also called outside requests: the CLI, tests, the API)."""
    from flask import has_request_context

    if not has_request_context():
        return None
    try:
        views = importlib.import_module("plugins.badges.views")
    except ModuleNotFoundError as exc:
        if exc.name == "plugins.badges.views":
            return None
        raise
    return getattr(views, name, None)


@hookimpl
def lms_dashboard_widgets(ctx: Context, user: User) -> list[Widget]:
    render = _web_view("dashboard_widget_html")
    if render is not None:
        html = render(ctx, user)
        return [Widget(title="Badges", html=html, order=50)] if html else []
    points = (
        select(func.coalesce(func.sum(LedgerEntry.points), 0))
        .where(LedgerEntry.user_id == user.id)
        .scalar_subquery()
    )
    held = (
        select(func.count(Award.id))
        .where(Award.user_id == user.id, Award.revoked_at.is_(None))
        .scalar_subquery()
    )
    total, badges = ctx.session.execute(select(points, held)).one()
    html = Markup(
        '<p class="badges-summary"><strong>{}</strong> points · <strong>{}</strong> badges</p>'
    ).format(int(total), int(badges))
    return [Widget(title="Your badges", html=str(html), order=50)]


@hookimpl
def lms_course_panels(ctx: Context, course: Course, user: User | None) -> list[Panel]:
    render = _web_view("course_panel_html")
    if render is not None:
        html = render(ctx, course, user)
        return [Panel(title="Badges", html=html, order=60)] if html else []
    stmt = select(BadgeClass.name, BadgeClass.description).where(
        BadgeClass.course_id == course.id, BadgeClass.active
    )
    rows = ctx.session.execute(stmt.order_by(BadgeClass.name)).all()
    if not rows:
        return []
    items = Markup("").join(
        Markup("<li><strong>{}</strong> {}</li>").format(name, escape(description or ""))
        for name, description in rows
    )
    return [Panel(title="Badges", html=str(Markup("<ul>{}</ul>").format(items)), order=60)]


@hookimpl
def lms_privacy_export(ctx: Context, user: User) -> dict[str, Any] | None:
    return services.export_user_data(ctx, user.id)


@hookimpl
def lms_privacy_erase(ctx: Context, user: User) -> None:
    services.erase_user_data(ctx, user.id)


@hookimpl(optionalhook=True)
def reports_register_sources() -> list[dict[str, Any]]:
    """For a reports plugin, if one is installed: award counts by badge, course and group."""
    from plugins.badges.reports import report_sources

    return report_sources()


@hookimpl
def lms_demo_content(ctx: Context, courses: list[Course]) -> None:
    from plugins.badges.demo import add_demo_content

    add_demo_content(ctx, courses)
