"""The API's one JSON body parser: bounded nesting, storable text, finite numbers.

* Nesting deeper than :data:`~lms_core.limits.MAX_JSON_DEPTH` is refused before parsing:
  the standard library's parser recurses once per level (50,000 levels would raise
  ``RecursionError``), and orjson, which writes JSON columns, stops at 255. The depth is
  measured on the body's brackets with the strings cut out, in C-speed passes.
* ``NaN``, ``Infinity`` and numbers too large for a double (``1e400``) are not JSON numbers.
* Text that cannot be stored — an unpaired surrogate (``"\\ud800"``) or a NUL (``"\\u0000"``)
  — is refused naming the key where it is (422); the body itself must be UTF-8 (400).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from lms_core.api.problems import BadBody
from lms_core.errors import Invalid
from lms_core.limits import MAX_JSON_DEPTH
from lms_core.limits import text_problem

__all__ = ["parse_json", "nesting_exceeds"]

# A JSON string: quotes around anything but quotes and backslashes, or escape pairs.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if the JSON text ``raw`` nests deeper than ``limit`` (or its brackets cannot
    balance, which no parser can make sense of either).

    Each pass deletes the innermost ``[]`` pairs of the bracket skeleton, so a document
    ``limit`` deep is empty after ``limit`` passes. Work is bounded by ``limit`` passes over
    the body, however deep it is.
    """
    skeleton = _STRING.sub(b"", raw).translate(_SQUARE, _NOT_BRACKETS)
    for _ in range(limit):
        if not skeleton:
            return False
        shorter = skeleton.replace(b"[]", b"")
        if shorter == skeleton:
            return True  # "]]" or "[[" with nothing to close: not JSON
        skeleton = shorter
    return bool(skeleton)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def _path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _check_text(value: Any) -> None:
    """Raise :class:`Invalid` at the first string (key or value) that cannot be stored."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                where = _path(path) or "The body"
                raise Invalid(f"{where} is not valid text: {problem}.", field=_path(path) or None)
        elif isinstance(item, dict):
            for key, inner in item.items():
                problem = text_problem(key)
                if problem is not None:
                    raise Invalid(f"A key is not valid text: {problem}.", field=_path(path) or None)
                stack.append(((*path, key), inner))
        elif isinstance(item, list):
            stack.extend(((*path, i), inner) for i, inner in enumerate(item))


def parse_json(raw: bytes) -> Any:
    """The JSON value of a request body; :class:`BadBody` (400) or :class:`Invalid` (422)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"The request body is not UTF-8 text (byte {exc.start}).") from None
    if nesting_exceeds(raw):
        raise BadBody(
            f"The request body is not valid JSON or nests more than {MAX_JSON_DEPTH} levels deep."
        )
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float)
    except ValueError as exc:
        raise BadBody(f"The request body is not valid JSON ({exc}).") from None
    _check_text(value)
    return value
