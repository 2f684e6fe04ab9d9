from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy import select

from lms_core import hookimpl

from . import PLUGIN  # noqa: F401  (the loader finds PLUGIN on the package)
from .models import NotesEntry

#: Tests set this to make the handler slow (to widen race windows).
DELAY = 0.0
#: Tests set this to a course code: the handler writes its note for that course, then fails.
FAIL_AFTER_WRITING_FOR: str | None = None


@hookimpl
def lms_on_course_completed(event, ctx):
    import time

    if DELAY:
        time.sleep(DELAY)
    ctx.session.add(
        NotesEntry(
            user_id=event.user_id,
            enrollment_id=event.enrollment_id,
            text=f"Completed {event.course_code}",
        )
    )
    if event.course_code == FAIL_AFTER_WRITING_FOR:
        ctx.session.flush()  # the half-written note reaches the database before the failure
        raise RuntimeError(f"notes failed after writing for {event.course_code}")


@hookimpl
def lms_register_models():
    return [NotesEntry]


@hookimpl
def lms_privacy_export(ctx, user):
    rows = ctx.session.scalars(select(NotesEntry).where(NotesEntry.user_id == user.id)).all()
    return {"notes": [r.text for r in rows]} if rows else None


@hookimpl
def lms_privacy_erase(ctx, user):
    ctx.session.execute(delete(NotesEntry).where(NotesEntry.user_id == user.id))
