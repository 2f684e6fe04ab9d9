"""The limits of what people may send, and the helpers services check them with.

Every text a person sends has a limit, checked in the service that stores it, so the web UI,
the API, the CLI, imports and plugins refuse the same values with the same message. The models'
column sizes are these same constants, so a limit and its column cannot disagree. Messages name
the field and the limit and never repeat a long refused value whole (:func:`excerpt`).

Plugins use the helpers for their own fields::

    from lms_core import check_length

    title = check_length("title", title, 200)

Numbers have limits too: every id and every integer column is a PostgreSQL ``integer``
(:data:`DB_INT_MIN` .. :data:`DB_INT_MAX`); free-form JSON (lesson data) may hold what a JSON
column stores (:func:`check_json`).
"""

from __future__ import annotations

from typing import Any

import orjson

from lms_core.errors import Invalid

__all__ = [
    "DB_INT_MIN",
    "DB_INT_MAX",
    "JSON_INT_MIN",
    "JSON_INT_MAX",
    "MAX_JSON_DEPTH",
    "EMAIL",
    "USER_NAME",
    "PROFILE_ATTRIBUTE",
    "PASSWORD",
    "GROUP_NAME",
    "GROUP_DESCRIPTION",
    "ROLE_NAME",
    "ROLE_TITLE",
    "ROLE_DESCRIPTION",
    "COURSE_CODE",
    "COURSE_TITLE",
    "COURSE_SUMMARY",
    "COURSE_CATEGORY",
    "COURSE_TAG",
    "COURSE_TAGS",
    "LESSON_TITLE",
    "LESSON_BODY",
    "LESSON_URL",
    "LESSON_DATA",
    "TOKEN_NAME",
    "PLUGIN_SETTINGS",
    "REASON",
    "LIST_ITEMS",
    "TooLong",
    "shorten_refused",
    "excerpt",
    "shown",
    "listing",
    "label_of",
    "check_count",
    "text_problem",
    "check_text",
    "check_length",
    "check_int",
    "check_json",
]

#: The range of PostgreSQL's ``integer``, the type of every id and integer column (SQLite's is
#: wider; the narrower one is the site's limit, so both databases answer alike).
DB_INT_MIN = -(2**31)
DB_INT_MAX = 2**31 - 1
#: What a JSON column holds (its encoder, orjson, stores signed 64-bit integers).
JSON_INT_MIN = -(2**63)
JSON_INT_MAX = 2**63 - 1
#: How deeply JSON a person sends may nest (request bodies and lesson data alike).
MAX_JSON_DEPTH = 32

# -- text limits, in characters (column sizes use the same numbers) ---------------------
EMAIL = 254  # RFC 5321's limit on a path
USER_NAME = 200
PROFILE_ATTRIBUTE = 120  # department, location, job title (and group rules' values)
PASSWORD = 1024
GROUP_NAME = 120
GROUP_DESCRIPTION = 5_000
ROLE_NAME = 60
ROLE_TITLE = 120
ROLE_DESCRIPTION = 5_000
COURSE_CODE = 40
COURSE_TITLE = 200
COURSE_SUMMARY = 20_000
COURSE_CATEGORY = 100
COURSE_TAG = 60
#: Tags one course may carry.
COURSE_TAGS = 50
LESSON_TITLE = 200
LESSON_BODY = 500_000
LESSON_URL = 2_000
#: Lesson data, measured as its JSON text.
LESSON_DATA = 200_000
TOKEN_NAME = 100
#: A plugin's settings, measured as their JSON text.
PLUGIN_SETTINGS = 100_000
#: Why something was done (deactivation, withdrawal, decline), kept in the audit log.
REASON = 1_000
#: Items in one list a person sends (emails to add to a group, roles to give, ...).
LIST_ITEMS = 1_000

_SHOWN = 40


class TooLong(Invalid):
    """A text is longer than its limit. ``limit`` lets a form show what fits, not all of it."""

    def __init__(self, message: str, field: str, limit: int) -> None:
        super().__init__(message, field=field)
        self.limit = limit


def shorten_refused(values: Any, exc: BaseException, name: str | None = None) -> None:
    """Cut the refused value in ``values`` (a dict, or a form's field data) to its limit.

    Forms that show the person what they typed call this with the error they show, so a
    refused 10,000-character value comes back as the part that fits, not whole.
    ``name`` is the key in ``values`` when it differs from the error's field.
    """
    if not isinstance(exc, TooLong):
        return
    key = name or exc.field
    if isinstance(values, dict):
        if isinstance(values.get(key), str):
            values[key] = values[key][: exc.limit]
        return
    target = getattr(values, "_fields", {}).get(key)  # a WTForms form
    if target is not None and isinstance(target.data, str):
        target.data = target.data[: exc.limit]


def excerpt(value: Any, limit: int = _SHOWN) -> str:
    """``value`` for a message: quoted, and cut with its length when it is long."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def shown(value: Any, limit: int = _SHOWN) -> str:
    """Like :func:`excerpt`, unquoted: for values a message names as they are (an email)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def listing(values: Any, limit: int = 5) -> str:
    """A few ``values`` for a message (each as :func:`shown`), and how many more:
    ``NOPE-1, NOPE-2 and 998 more``."""
    items = list(values)
    text = ", ".join(shown(v) for v in items[:limit])
    return text + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


def label_of(field: str) -> str:
    """``job_title`` → ``Job title``."""
    return field.replace("_", " ").capitalize()


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None: a NUL character (PostgreSQL cannot hold one) or
    an unpaired surrogate such as ``\\ud800`` (not Unicode text; it comes from a broken client
    or an escaped JSON string, never from a keyboard)."""
    if "\x00" in text:
        return "it contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "it contains an unpaired surrogate (a broken character)"
    return None


def check_text(field: str, value: str, *, label: str | None = None) -> str:
    """Return ``value`` if it is text that can be stored (see :func:`text_problem`)."""
    problem = text_problem(value)
    if problem is not None:
        raise Invalid(
            f"{label or label_of(field)} is not valid text: {problem}. Send UTF-8 text.",
            field=field,
        )
    return value


def check_length(field: str, value: Any, limit: int, *, label: str | None = None) -> str:
    """Return ``value`` if it is valid text of at most ``limit`` characters, else raise
    :class:`~lms_core.errors.Invalid` naming ``field`` and the limit (not repeating the value).
    """
    label = label or label_of(field)
    if not isinstance(value, str):
        raise Invalid(f"{label} must be text.", field=field)
    if len(value) > limit:
        raise TooLong(
            f"{label} is too long: {len(value):,} characters, at most {limit:,}.", field, limit
        )
    return check_text(field, value, label=label)


def check_count(field: str, items: Any, limit: int, *, label: str | None = None) -> list[Any]:
    """Return ``items`` as a list if it has at most ``limit`` entries."""
    items = list(items)
    if len(items) > limit:
        raise Invalid(
            f"{label or label_of(field)} has too many entries: {len(items):,}, at most {limit:,}.",
            field=field,
        )
    return items


def check_int(
    field: str,
    value: Any,
    *,
    minimum: int = DB_INT_MIN,
    maximum: int = DB_INT_MAX,
    label: str | None = None,
) -> int:
    """Return ``value`` if it is a whole number within ``minimum`` .. ``maximum``."""
    label = label or label_of(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid(f"{label} must be a whole number.", field=field)
    if not minimum <= value <= maximum:
        raise Invalid(
            f"{label} must be between {minimum:,} and {maximum:,}; got {excerpt(value, 20)}.",
            field=field,
        )
    return value


def check_json(field: str, value: Any, limit: int, *, label: str | None = None) -> Any:
    """Return ``value`` if a JSON column can store it and its JSON text has at most ``limit``
    characters: string keys, no unpaired surrogates, integers within 64 bits, no NaN,
    nesting at most :data:`MAX_JSON_DEPTH` deep.
    """
    label = label or label_of(field)
    problem = _json_problem(value, 1)
    if problem is not None:
        raise Invalid(f"{label} cannot be stored: {problem}.", field=field)
    try:
        size = len(orjson.dumps(value))
    except (
        TypeError,
        orjson.JSONEncodeError,
    ) as exc:  # pragma: no cover - _json_problem is stricter
        raise Invalid(f"{label} cannot be stored as JSON ({exc}).", field=field) from None
    if size > limit:
        raise Invalid(
            f"{label} is too large: {size:,} bytes of JSON, at most {limit:,}.", field=field
        )
    return value


def _json_problem(value: Any, depth: int) -> str | None:
    if depth > MAX_JSON_DEPTH:
        return f"it is nested more than {MAX_JSON_DEPTH} levels deep"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not JSON_INT_MIN <= value <= JSON_INT_MAX:
            return f"the number {excerpt(value, 20)} is outside the 64-bit range"
        return None
    if isinstance(value, float):
        return (
            None
            if value == value and value not in (float("inf"), float("-inf"))
            else ("NaN and infinity are not JSON numbers")
        )
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, list | tuple):
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"the key {excerpt(key, 20)} is not text"
            problem = text_problem(key)
            if problem is not None:
                return f"a key {problem.removeprefix('it ')}"
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"{type(value).__name__} is not a JSON value"
