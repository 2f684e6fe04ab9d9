"""The core's lesson kinds: a Markdown page and a link, registered like any plugin's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from markupsafe import escape

from lms_core.contributions import LessonKind
from lms_core.errors import Invalid
from lms_core.hooks.markers import hookimpl
from lms_core.limits import excerpt
from lms_core.markdown import render_markdown

if TYPE_CHECKING:
    from lms_core.models import Lesson


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


LESSON_KINDS = [
    LessonKind(name="page", title="Page (Markdown)", render=_render_page, validate=_validate_page),
    LessonKind(
        name="link", title="Link to a web page", render=_render_link, validate=_validate_link
    ),
]


@hookimpl
def lms_register_lesson_kinds() -> list[LessonKind]:
    return LESSON_KINDS
