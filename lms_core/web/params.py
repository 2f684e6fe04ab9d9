"""Reading query and form values: the one place that decides what odd values mean.

Web pages and the API both read parameters through these helpers:

* An empty query value (``?status=``) means the parameter was not given; one given twice
  (``?q=a&q=b``) is refused.
* Whole numbers (``page``, ``per_page``, numbers in forms) must be whole and fit the
  database's integers; anything else raises :class:`~lms_core.errors.Invalid` naming the
  parameter, which answers 422 (a problem document in the API, the error page on the site).
* No query or form value may hold a NUL character, which PostgreSQL can neither store nor
  compare: on the site :func:`refuse_unstorable_input` checks every one before any view runs;
  the API reads only the parameters it documents, through :func:`query_text`, which checks
  the one it reads (so an unknown parameter stays ignored).
"""

from __future__ import annotations

import re

from flask import request

from lms_core.errors import Invalid
from lms_core.limits import DB_INT_MAX
from lms_core.limits import excerpt
from lms_core.limits import text_problem

__all__ = ["query_text", "query_int", "parse_int", "page_arg", "refuse_unstorable_input"]

_WHOLE = re.compile(r"[+-]?\d+")
# More digits than this is out of every range we accept; int() is not even tried on it
# (Python refuses to parse numbers of more than 4,300 digits).
_MAX_DIGITS = 20


def query_text(name: str) -> str | None:
    """The query parameter ``name``, trimmed; None when absent or empty.

    Given more than once (``?q=a&q=b``) it is refused: which one was meant is a guess.
    """
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise Invalid(f"{name} is given {len(values):,} times; give it once.", field=name)
    value = values[0]
    problem = text_problem(value)
    if problem is not None:
        raise Invalid(f"{name} is not valid text: {problem}.", field=name)
    value = value.strip()
    return value or None


def parse_int(
    field: str, raw: str, *, minimum: int = 1, maximum: int = DB_INT_MAX, label: str | None = None
) -> int:
    """``raw`` as a whole number within ``minimum`` .. ``maximum``, or :class:`Invalid`."""
    label = label or field
    text = raw.strip()
    if not _WHOLE.fullmatch(text):
        raise Invalid(f"{label} must be a whole number; got {excerpt(raw)}.", field=field)
    if len(text.lstrip("+-")) > _MAX_DIGITS or not minimum <= int(text) <= maximum:
        raise Invalid(
            f"{label} must be between {minimum:,} and {maximum:,}; got {excerpt(raw, 24)}.",
            field=field,
        )
    return int(text)


def query_int(name: str, default: int, *, minimum: int = 1, maximum: int = DB_INT_MAX) -> int:
    """The query parameter ``name`` as a whole number; ``default`` when absent or empty."""
    value = query_text(name)
    if value is None:
        return default
    return parse_int(name, value, minimum=minimum, maximum=maximum)


def page_arg(name: str = "page") -> int:
    """The page number of a paginated list (``?page=``): 1 when not given."""
    return query_int(name, 1)


def refuse_unstorable_input() -> None:
    """Refuse a request whose query or form values (or their names) cannot be stored.

    Registered with ``before_request``; it raises :class:`Invalid` naming the parameter.
    """
    if request.path.startswith("/api/"):
        return
    for source in (request.args, request.form):
        for key, value in source.items(multi=True):
            for text in (key, value):
                problem = text_problem(text)
                if problem is not None:
                    shown = key if text_problem(key) is None else excerpt(key)
                    raise Invalid(f"The value of {shown} is not valid text: {problem}.", field=key)
