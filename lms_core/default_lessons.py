"""The core's lesson kinds: a Markdown page, a link and a file, registered like any plugin's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from markupsafe import escape

from lms_core.contributions import FileUse
from lms_core.contributions import LessonKind
from lms_core.errors import Invalid
from lms_core.hooks.markers import hookimpl
from lms_core.limits import excerpt
from lms_core.markdown import render_markdown

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.models import Lesson
    from lms_core.models import StoredFile


#: A first ATX heading (``# Title``, optionally closed by ``#``s) or setext one (``Title`` over
#: a line of ``=`` or ``-``).
_ATX = re.compile(r"[ ]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*")
_SETEXT_RULE = re.compile(r"[ ]{0,3}(=+|-+)[ \t]*")


def _same_words(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def without_title_heading(body: str, title: str) -> str:
    """``body`` without a first heading that only repeats the lesson's title.

    The lesson page already shows the title as its heading; authors (and imported content)
    often start the text with it too, which would show it twice.
    """
    lines = body.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return body
    atx = _ATX.fullmatch(lines[first].rstrip("\r\n"))
    if atx is not None and _same_words(atx.group(1), title):
        return "".join(lines[first + 1 :]).lstrip("\r\n")
    if (
        first + 1 < len(lines)
        and _SETEXT_RULE.fullmatch(lines[first + 1].rstrip("\r\n"))
        and _same_words(lines[first], title)
    ):
        return "".join(lines[first + 2 :]).lstrip("\r\n")
    return body


def _render_page(lesson: Lesson) -> str:
    return render_markdown(without_title_heading(lesson.body, lesson.title))


def _validate_page(fields: dict[str, Any]) -> dict[str, Any]:
    body = fields.get("body") or ""
    if not isinstance(body, str):
        raise Invalid("The page text must be text.", field="body")
    # Its length is checked for every kind by the service (limits.LESSON_BODY).
    return {**fields, "body": body, "url": None}


def _render_link(lesson: Lesson) -> str:
    intro = render_markdown(lesson.body) if lesson.body else ""
    url = escape(lesson.url or "")
    return (
        f'{intro}<p><a class="lesson-link" href="{url}" rel="noopener noreferrer" '
        f'target="_blank">{escape(lesson.title)}</a></p>'
    )


def _validate_link(fields: dict[str, Any]) -> dict[str, Any]:
    url = (fields.get("url") or "").strip()
    if not url:
        raise Invalid("A link lesson needs a URL.", field="url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(
            f"{excerpt(url)} is not a web address (it must start with http:// or https://).",
            field="url",
        )
    return {**fields, "url": url}


#: The file use of file lessons' files.
LESSON_FILE_USE = "core.lesson"
#: What file lessons accept: documents people read, and media browsers play.
LESSON_FILE_TYPES = (
    "application/pdf",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/mp4",
    "audio/webm",
    "audio/flac",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "text/plain",
    "text/csv",
)
#: How a file lesson completes: when the learner opens it, or when they mark it complete.
FILE_COMPLETION = {
    "opened": "When the learner opens the lesson",
    "marked": "When the learner marks it complete",
}


def _enrolled_in_files_course(ctx: Context, row: StoredFile) -> bool:
    """Learners enrolled in the file's course (active or completed) read its lesson files."""
    from sqlalchemy import select

    from lms_core.models import Enrollment
    from lms_core.models import EnrollmentStatus

    if row.course_id is None or ctx.actor is None:
        return False
    status = ctx.session.scalar(
        select(Enrollment.status).where(
            Enrollment.user_id == ctx.actor.id, Enrollment.course_id == row.course_id
        )
    )
    return status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)


def file_lesson_url(lesson: Lesson, *, download: bool = False) -> str:
    from urllib.parse import quote

    data = lesson.data or {}
    url = f"/files/{int(data['file_id'])}/{quote(str(data.get('filename') or 'file'), safe='')}"
    return url + ("?download=1" if download else "")


def _render_file(lesson: Lesson) -> str:
    from lms_core.services.files import human_size
    from lms_core.services.files import type_title

    data = lesson.data or {}
    intro = render_markdown(lesson.body) if lesson.body else ""
    if not isinstance(data.get("file_id"), int):
        return intro + "<p>This lesson's file is missing; tell the course's instructor.</p>"
    url = escape(file_lesson_url(lesson))
    download = escape(file_lesson_url(lesson, download=True))
    content_type = str(data.get("content_type") or "")
    name = escape(data.get("filename") or "file")
    title = escape(lesson.title)
    if content_type.startswith("video/"):
        shown = (
            f'<video class="lesson-media" controls preload="metadata" src="{url}">'
            f'<a href="{download}">Download the video</a></video>'
        )
    elif content_type.startswith("audio/"):
        shown = (
            f'<audio class="lesson-media" controls preload="metadata" src="{url}">'
            f'<a href="{download}">Download the recording</a></audio>'
        )
    elif content_type == "application/pdf":
        shown = f'<iframe class="lesson-pdf" src="{url}" title="{title} (PDF)"></iframe>'
    else:
        shown = ""
    size = int(data["size"]) if isinstance(data.get("size"), int) else None
    what = escape(type_title(content_type)) if content_type else "file"
    about = f" ({what}, {human_size(size)})" if size is not None else f" ({what})"
    link = (
        f'<p class="lesson-download"><a href="{download}" download="{name}">'
        f"Download {name}</a>{about}</p>"
    )
    return f"{intro}{shown}{link}"


def _validate_file(fields: dict[str, Any]) -> dict[str, Any]:
    data = dict(fields.get("data") or {})
    if not isinstance(data.get("file_id"), int) or isinstance(data.get("file_id"), bool):
        raise Invalid("A file lesson needs its file: choose one to upload.", field="file")
    completion = data.get("completion") or "marked"
    if completion not in FILE_COMPLETION:
        raise Invalid(
            f"{excerpt(completion)} is not a way to complete a file lesson; "
            f"use one of: {', '.join(FILE_COMPLETION)}.",
            field="completion",
        )
    data["completion"] = completion
    return {**fields, "url": None, "data": data}


LESSON_KINDS = [
    LessonKind(name="page", title="Page (Markdown)", render=_render_page, validate=_validate_page),
    LessonKind(
        name="link", title="Link to a web page", render=_render_link, validate=_validate_link
    ),
    LessonKind(
        name="file",
        title="File (PDF, video, audio, document)",
        render=_render_file,
        validate=_validate_file,
    ),
]

FILE_USES = [
    FileUse(
        name=LESSON_FILE_USE,
        title="lesson files",
        max_bytes=500_000_000,
        types=LESSON_FILE_TYPES,
        read_permission="course.edit",
        may_read=_enrolled_in_files_course,
    )
]


@hookimpl
def lms_register_lesson_kinds() -> list[LessonKind]:
    return LESSON_KINDS


@hookimpl
def lms_register_file_uses() -> list[FileUse]:
    return FILE_USES
