"""URL converters every route uses (core and plugins): ids the database can hold, text it can store.

* ``<id:course_id>`` matches a whole number the database's id columns can hold (1 to
  :data:`~lms_core.limits.DB_INT_MAX`). A larger one, ``/courses/9223372036854775808``, matches
  no route and answers 404 before any view runs: there is no such thing.
* ``<int:...>`` is bounded the same way (0 included), so a plugin that writes ``int`` is safe.
* The default converter (``<name>``, ``<string:name>``) refuses a NUL character, which
  PostgreSQL cannot store or compare (``/badges/classes/a%00b`` is a 404 too).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter
from werkzeug.routing import UnicodeConverter

from lms_core.limits import DB_INT_MAX

__all__ = ["BoundedIntConverter", "IdConverter", "TextConverter", "register_converters"]


def up_to(limit: int) -> str:
    """A regular expression matching exactly the whole numbers 1 .. ``limit`` (no leading 0).

    The range is in the pattern, not only in ``to_python``: Werkzeug decides "405, wrong
    method" from the pattern alone, so a pattern that matched a too-large id would answer
    ``PATCH /users/9223372036854775808`` with 405 while ``GET`` said 404.
    """
    top = str(limit)
    options = []
    if len(top) > 1:
        options.append(rf"[1-9]\d{{0,{len(top) - 2}}}")  # every shorter number
    for i, digit in enumerate(top):  # same length: equal up to i, smaller at i
        low = "1" if i == 0 else "0"
        if int(digit) > int(low):
            rest = len(top) - i - 1
            options.append(
                top[:i] + f"[{low}-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else "")
            )
    options.append(top)
    return "(?:" + "|".join(options) + ")"


class IdConverter(IntegerConverter):
    """A database id: 1 to :data:`~lms_core.limits.DB_INT_MAX`, no sign, no leading zeros."""

    regex = up_to(DB_INT_MAX)

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=DB_INT_MAX)


class BoundedIntConverter(IntegerConverter):
    """Flask's ``<int:...>``, bounded the same way (0 to the largest id), for plugins and
    routes that still write ``int``: a number no column can hold must not reach a query."""

    regex = "(?:0|" + up_to(DB_INT_MAX) + ")"

    def __init__(self, map: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", DB_INT_MAX)
        super().__init__(map, **kwargs)


class TextConverter(UnicodeConverter):
    """One path segment without a NUL character."""

    def __init__(self, map: Any, **kwargs: Any) -> None:
        super().__init__(map, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]")


def register_converters(app: Flask) -> None:
    """Install the converters; call before any blueprint is registered."""
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["int"] = BoundedIntConverter
    app.url_map.converters["default"] = TextConverter
    app.url_map.converters["string"] = TextConverter
