"""Exporting and erasing a person's data, across the core and every installed plugin.

Plugins take part through ``lms_privacy_export`` / ``lms_privacy_erase``; both are called on
every *installed* plugin, enabled or not, because a disabled plugin's data is still there.
Erasure runs in one transaction: if any plugin fails, nothing is erased.
"""

from __future__ import annotations

import json
import zipfile
from typing import IO
from typing import Any
from typing import cast

import attrs
from sqlalchemy import Table
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.errors import Conflict
from lms_core.errors import NotFound
from lms_core.events import EVENT_TYPES
from lms_core.models import ApiToken
from lms_core.models import AuditEntry
from lms_core.models import Course
from lms_core.models import Enrollment
from lms_core.models import Group
from lms_core.models import GroupMember
from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.models import OutboxEvent
from lms_core.models import PluginState
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import StoredFile
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.files import erase_files_of
from lms_core.services.files import files_of
from lms_core.services.files import open_file
from lms_core.services.notifications import erase_notifications
from lms_core.services.notifications import export_notifications
from lms_core.services.permissions import invalidate
from lms_core.services.permissions import require
from lms_core.services.users import find_user

__all__ = ["export_user", "export_user_archive", "erase_user", "ERASED_DOMAIN"]

ERASED_DOMAIN = "erased.invalid"


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _get(ctx: Context, email: str) -> User:
    user = find_user(ctx, email)
    if user is None:
        raise NotFound(f"There is no user with the email {email}.")
    return user


def _privacy_hooks(ctx: Context, hook: str) -> list[tuple[str, Any]]:
    """Implementations of every plugin set up on this site, enabled or not.

    A disabled plugin's data is still there, so it is covered; a plugin that is installed but
    was never set up here (no state row, so no tables) has nothing to export or erase.
    """
    set_up = set(ctx.session.scalars(select(PluginState.name)))
    return [
        (name, fn)
        for name, fn in ctx.hooks.implementations(hook, include_disabled=True)
        if name.startswith("core.") or name in set_up
    ]


def export_user(ctx: Context, email: str) -> dict[str, Any]:
    """Everything the site holds about one person, as JSON-ready data."""
    require(ctx, "user.manage", to="export people's data")
    user = _get(ctx, email)
    s = ctx.session
    roles = s.execute(
        select(Role.name, Course.code)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .outerjoin(Course, Course.id == RoleAssignment.course_id)
        .where(RoleAssignment.user_id == user.id)
    ).all()
    groups = s.execute(
        select(Group.name, GroupMember.source, GroupMember.added_at)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user.id)
    ).all()
    enrollments = []
    for enrollment, code in s.execute(
        select(Enrollment, Course.code)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.user_id == user.id)
    ):
        lessons = s.execute(
            select(Lesson.title, LessonProgress.completed_at)
            .join(LessonProgress, LessonProgress.lesson_id == Lesson.id)
            .where(LessonProgress.enrollment_id == enrollment.id)
            .order_by(LessonProgress.completed_at)
        ).all()
        enrollments.append(
            {
                "course": code,
                "status": enrollment.status,
                "source": enrollment.source,
                "enrolled_at": _iso(enrollment.enrolled_at),
                "due_at": _iso(enrollment.due_at),
                "completed_at": _iso(enrollment.completed_at),
                "withdrawn_at": _iso(enrollment.withdrawn_at),
                "lessons_completed": [{"lesson": t, "completed_at": _iso(at)} for t, at in lessons],
            }
        )
    entries = s.scalars(
        select(AuditEntry)
        .where(
            or_(
                AuditEntry.actor_id == user.id,
                (AuditEntry.target_type == "user") & (AuditEntry.target_id == str(user.id)),
            )
        )
        .order_by(AuditEntry.at)
    ).all()
    manager = s.get(User, user.manager_id) if user.manager_id else None
    data: dict[str, Any] = {
        "user": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "department": user.department,
            "location": user.location,
            "job_title": user.job_title,
            "manager": manager.email if manager else None,
            "timezone": user.timezone,
            "locale": user.locale,
            "active": user.is_active,
            "created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at),
            "has_password": user.password_hash is not None,
        },
        "roles": [{"role": r, "course": c} for r, c in roles],
        "groups": [{"group": n, "source": src, "added_at": _iso(at)} for n, src, at in groups],
        "enrollments": enrollments,
        "audit": [
            {
                "at": _iso(e.at),
                "action": e.action,
                "actor": e.actor_label,
                "target": e.target_label,
                "address": e.address,
            }
            for e in entries
        ],
        "api_tokens": [
            {
                "name": t.name,
                "prefix": t.prefix,
                "created_at": _iso(t.created_at),
                "last_used_at": _iso(t.last_used_at),
                "revoked_at": _iso(t.revoked_at),
            }
            for t in s.scalars(
                select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
            )
        ],
        **export_notifications(s, user.id),
        "files": [
            {
                "id": f.id,
                "filename": f.filename,
                "content_type": f.content_type,
                "size": f.size,
                "sha256": f.sha256,
                "use": f.use,
                "course": f.course_id,
                "created_at": _iso(f.created_at),
                # Where the archive (lms users export --archive) holds the file itself.
                "archive_path": _archive_path(f),
            }
            for f in files_of(ctx, user)
        ],
        "plugins": {},
    }
    for name, fn in _privacy_hooks(ctx, "lms_privacy_export"):
        result = fn(ctx=ctx, user=user)
        if result:
            data["plugins"][name] = result
    audit(ctx, "user.export", user)
    return data


def _archive_path(row: StoredFile) -> str:
    return f"files/{row.id}-{row.filename}"


def export_user_archive(ctx: Context, email: str, out: IO[bytes]) -> dict[str, Any]:
    """:func:`export_user` as a zip written to ``out``: ``export.json`` and, under ``files/``,
    every file the person owns (as a data export from Moodle is). Returns the JSON data.

    The files are copied from the store in chunks, never read whole into memory.
    """
    data = export_user(ctx, email)
    user = _get(ctx, email)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "export.json", json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        )
        for row in files_of(ctx, user):
            with open_file(ctx, row) as source, archive.open(_archive_path(row), "w") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
    return data


def erase_user(ctx: Context, email: str) -> int:
    """Erase a person: plugins delete theirs, the core anonymises the account.

    Enrollment and progress rows stay, anonymous, so completion statistics still add up;
    the audit log keeps its entries with the person's email replaced (erasure is the one
    change the append-only log allows). Returns the erased user's id.
    """
    require(ctx, "user.manage", to="erase people's data")
    user = _get(ctx, email)
    if ctx.actor is not None and ctx.actor.id == user.id:
        raise Conflict("You cannot erase your own account.")
    from lms_core.services.users import _is_last_admin

    if _is_last_admin(ctx, user):
        raise Conflict("This is the last active administrator; make someone else an admin first.")
    for _name, fn in _privacy_hooks(ctx, "lms_privacy_erase"):
        fn(ctx=ctx, user=user)
    erase_files_of(ctx, user)  # their bytes go after commit, unless another row names them
    s = ctx.session
    old_email = user.email
    uid = user.id
    placeholder = f"erased-{uid}@{ERASED_DOMAIN}"
    s.execute(update(User).where(User.manager_id == uid).values(manager_id=None))
    s.query(GroupMember).filter(GroupMember.user_id == uid).delete()
    s.query(RoleAssignment).filter(RoleAssignment.user_id == uid).delete()
    s.query(ApiToken).filter(ApiToken.user_id == uid).delete()
    erase_notifications(s, uid)
    user.email = placeholder
    user.email_key = placeholder
    user.name = "Erased user"
    user.password_hash = None
    user.department = user.location = user.job_title = None
    user.manager_id = None
    user.is_active = False
    user.deactivated_at = user.deactivated_at or utcnow()
    user.last_login_at = None
    s.flush()
    # The audit log is append-only through the ORM (see lms_core.models.audit); erasure is
    # the one sanctioned change, made with Core statements on the table itself.
    log_table = cast(Table, AuditEntry.__table__)
    conn = s.connection()
    conn.execute(
        log_table.update()
        .where(log_table.c.actor_id == uid)
        .values(actor_label=placeholder, address=None)
    )
    conn.execute(
        log_table.update()
        .where(log_table.c.target_type == "user", log_table.c.target_id == str(uid))
        .values(target_label=placeholder)
    )
    conn.execute(
        log_table.update()
        .where(log_table.c.target_label == old_email)
        .values(target_label=placeholder)
    )
    # Events keep personal data only under "person": drop it from this person's events.
    with_person = [cls.NAME for cls in EVENT_TYPES.values() if "person" in attrs.fields_dict(cls)]  # type: ignore[arg-type]
    for row in s.scalars(select(OutboxEvent).where(OutboxEvent.name.in_(with_person))):
        payload = row.payload
        if isinstance(payload, dict) and payload.get("user_id") == uid and payload.get("person"):
            row.payload = {**payload, "person": {"email": placeholder, "name": ""}}
    invalidate(s, uid)
    audit(ctx, "user.erase", ("user", uid, placeholder))
    return uid
