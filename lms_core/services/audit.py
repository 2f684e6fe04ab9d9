"""Writing and reading the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select
from sqlalchemy import select

from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.models import AuditEntry
from lms_core.models import Course
from lms_core.models import Group
from lms_core.models import Role
from lms_core.models import User

__all__ = ["audit", "audit_query"]


def _describe(target: Any) -> tuple[str | None, str | None, str | None]:
    if target is None:
        return None, None, None
    if isinstance(target, User):
        return "user", str(target.id), target.email
    if isinstance(target, Course):
        return "course", str(target.id), target.code
    if isinstance(target, Group):
        return "group", str(target.id), target.name
    if isinstance(target, Role):
        return "role", str(target.id), target.name
    if isinstance(target, tuple):
        kind, ident, label = target
        return kind, str(ident), label
    raise TypeError(f"cannot describe {target!r} for the audit log")


def audit(ctx: Context, action: str, target: Any = None, **details: Any) -> AuditEntry:
    """Append an entry: ``ctx.actor`` did ``action`` to ``target`` from ``ctx.address``."""
    kind, ident, label = _describe(target)
    entry = AuditEntry(
        at=utcnow(),
        actor_id=ctx.actor_id,
        actor_label=ctx.actor_label,
        action=action,
        target_type=kind,
        target_id=ident,
        target_label=label,
        address=ctx.address,
        details=details,
    )
    ctx.session.add(entry)
    return entry


def audit_query(
    *,
    action: str | None = None,
    actor_id: int | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Select[AuditEntry]:
    """A filtered, newest-first query over the audit log (``action`` may end in ``*``)."""
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if action:
        if action.endswith("*"):
            stmt = stmt.where(AuditEntry.action.startswith(action[:-1]))
        else:
            stmt = stmt.where(AuditEntry.action == action)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == str(target_id))
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt
