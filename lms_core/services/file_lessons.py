"""File lessons: an instructor uploads a PDF, a video, an audio file or a document as a lesson.

The file is stored in the file store (use ``core.lesson``, in the lesson's course) and the
lesson's ``data`` names it: ``file_id``, and a copy of what the lesson page shows without a
query (``filename``, ``content_type``, ``size``), plus ``completion``: ``"opened"`` (the lesson
completes when the learner opens it) or ``"marked"`` (when they mark it complete).
"""

from __future__ import annotations

from typing import IO
from typing import Any

from lms_core.context import Context
from lms_core.default_lessons import FILE_COMPLETION
from lms_core.default_lessons import LESSON_FILE_USE
from lms_core.errors import Invalid
from lms_core.limits import excerpt
from lms_core.models import Course
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import Lesson
from lms_core.models import StoredFile
from lms_core.services import courses as course_service
from lms_core.services import files as file_service
from lms_core.services import progress as progress_service
from lms_core.services.permissions import require

__all__ = ["add_file_lesson", "replace_lesson_file", "set_completion", "lesson_opened"]


def _check_completion(completion: str) -> str:
    if completion not in FILE_COMPLETION:
        raise Invalid(
            f"{excerpt(completion)} is not a way to complete a file lesson; "
            f"use one of: {', '.join(FILE_COMPLETION)}.",
            field="completion",
        )
    return completion


def _data(row: StoredFile, completion: str) -> dict[str, Any]:
    return {
        "file_id": row.id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "completion": completion,
    }


def add_file_lesson(
    ctx: Context,
    course: Course,
    title: str,
    *,
    data: bytes | IO[bytes] | None,
    filename: str | None,
    completion: str = "marked",
    body: str = "",
    required: bool = True,
) -> Lesson:
    """Store the file and append a lesson that shows it, in the caller's transaction (a
    refused file adds no lesson; a refused lesson keeps no file row)."""
    course = ctx.attach(course)
    require(ctx, "course.edit", course, to="edit this course")
    _check_completion(completion)
    if not " ".join((title or "").split()):
        raise Invalid("A lesson needs a title.", field="title")
    if data is None:
        raise Invalid("Choose the file to upload.", field="file")
    row = file_service.store(ctx, use=LESSON_FILE_USE, data=data, filename=filename, course=course)
    return course_service.add_lesson(
        ctx,
        course,
        title,
        kind="file",
        body=body,
        required=required,
        data=_data(row, completion),
    )


def replace_lesson_file(
    ctx: Context, lesson: Lesson, *, data: bytes | IO[bytes], filename: str | None
) -> StoredFile:
    """Put a new file in a file lesson; the old one is deleted."""
    lesson = ctx.attach(lesson)
    course = lesson.course
    require(ctx, "course.edit", course, to="edit this course")
    if lesson.kind != "file":
        raise Invalid("Only a file lesson has a file to replace.", field="file")
    old_id = (lesson.data or {}).get("file_id")
    row = file_service.store(ctx, use=LESSON_FILE_USE, data=data, filename=filename, course=course)
    completion = (lesson.data or {}).get("completion") or "marked"
    course_service.update_lesson(ctx, lesson, data=_data(row, completion))
    old = ctx.session.get(StoredFile, old_id) if isinstance(old_id, int) else None
    if old is not None and old.use == LESSON_FILE_USE and old.course_id == course.id:
        file_service.delete_file(ctx, old)
    return row


def set_completion(ctx: Context, lesson: Lesson, completion: str) -> list[str]:
    """Choose how a file lesson completes (``opened`` or ``marked``)."""
    lesson = ctx.attach(lesson)
    _check_completion(completion)
    if lesson.kind != "file":
        raise Invalid("Only file lessons complete when opened.", field="completion")
    data = {**(lesson.data or {}), "completion": completion}
    return course_service.update_lesson(ctx, lesson, data=data)


def completes_when_opened(lesson: Lesson) -> bool:
    return lesson.kind == "file" and (lesson.data or {}).get("completion") == "opened"


def lesson_opened(ctx: Context, enrollment: Enrollment, lesson: Lesson) -> bool:
    """The learner opened ``lesson``: complete it when it completes on opening.

    True when this completed it now (False when it completes otherwise, was done already, or
    the enrollment is not active).
    """
    if not completes_when_opened(lesson) or enrollment.status != EnrollmentStatus.ACTIVE:
        return False
    return progress_service.complete_lesson(ctx, enrollment, lesson)
