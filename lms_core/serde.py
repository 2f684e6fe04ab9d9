"""The project's one cattrs converter, configured in one place.

Config, plugin settings and event payloads are all structured and unstructured through
:data:`converter`, so date, enum and error handling is the same everywhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from typing import TypeVar

import cattrs
from cattrs import transform_error
from cattrs.preconf.json import make_converter

__all__ = ["converter", "structure", "unstructure", "describe_errors"]

T = TypeVar("T")

converter = make_converter(forbid_extra_keys=True)


def _structure_datetime(value: Any, _type: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, str):
        result = dt.datetime.fromisoformat(value)
    else:
        raise ValueError(f"expected an ISO 8601 date-time, got {value!r}")
    if result.tzinfo is None:
        result = result.replace(tzinfo=dt.UTC)
    return result


def _structure_tuple_of_str(value: Any, _type: type) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {value!r}")
        return tuple(value)
    raise ValueError(f"expected a list of strings, got {value!r}")


converter.register_structure_hook(dt.datetime, _structure_datetime)
converter.register_unstructure_hook(dt.datetime, lambda v: v.isoformat())
converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_tuple_of_str)


def structure(data: Any, cls: type[T]) -> T:
    """Structure ``data`` into ``cls`` with the project converter."""
    return converter.structure(data, cls)


def unstructure(obj: Any) -> Any:
    """Unstructure ``obj`` into JSON-compatible primitives."""
    return converter.unstructure(obj)


def describe_errors(exc: BaseException, path: str = "$") -> list[str]:
    """Turn a cattrs error tree into readable lines such as ``"invalid value @ $.database.url"``."""
    if isinstance(exc, cattrs.BaseValidationError | cattrs.ClassValidationError):
        return list(transform_error(exc, path=path))
    return [f"{exc} @ {path}"]
