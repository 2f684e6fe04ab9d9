"""The hello plugin's hook implementations (the module the entry point names)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lms_core import hookimpl
from lms_core.contributions import NavItem
from lms_core.models import AuditEntry
from lms_core.services.audit import audit
from sqlalchemy import select

if TYPE_CHECKING:
    from flask import Blueprint
    from lms_core.context import Context
    from lms_core.events import CourseCompleted
    from lms_core.models import User

__all__ = ["CONGRATULATED", "lms_on_course_completed", "lms_nav_items", "lms_register_blueprints"]

#: The audit action this plugin writes.
CONGRATULATED = "hello.congratulated"


def already_congratulated(ctx: Context, user_id: int, course_code: str) -> bool:
    """Whether ``user_id`` was congratulated on ``course_code`` before."""
    details = ctx.session.scalars(
        select(AuditEntry.details).where(
            AuditEntry.action == CONGRATULATED,
            AuditEntry.target_type == "user",
            AuditEntry.target_id == str(user_id),
        )
    )
    return any(d.get("course") == course_code for d in details)


@hookimpl
def lms_on_course_completed(event: CourseCompleted, ctx: Context) -> None:
    # Events may arrive more than once (a retry after a crash, an admin's redeliver), so
    # look before writing. The write commits together with this delivery's record.
    if already_congratulated(ctx, event.user_id, event.course_code):
        return
    audit(
        ctx,
        CONGRATULATED,
        ("user", event.user_id, str(event.user_id)),
        course=event.course_code,
    )


@hookimpl
def lms_nav_items(user: User | None) -> list[NavItem]:
    if user is None:
        return []
    return [NavItem(label="Hello", endpoint="hello.index")]


@hookimpl
def lms_register_blueprints() -> list[Blueprint]:
    from lms_hello.views import bp

    return [bp]
