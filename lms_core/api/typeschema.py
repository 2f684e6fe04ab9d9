"""JSON Schema for attrs payload classes, derived from their field types, and a strict
check of request JSON against those types (cattrs alone would turn ``"no"`` into ``True``).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any

import attrs

from lms_core.limits import DB_INT_MAX
from lms_core.limits import DB_INT_MIN

__all__ = ["schema_of", "component_schema", "check_value", "TypeMismatch", "ref"]

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    # Every integer the API takes or gives is an id or an integer column: PostgreSQL's integer.
    int: {"type": "integer", "minimum": DB_INT_MIN, "maximum": DB_INT_MAX},
    bool: {"type": "boolean"},
    float: {"type": "number"},
    dt.datetime: {"type": "string", "format": "date-time"},
}


class TypeMismatch(Exception):
    """A request value does not have the documented JSON type."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def ref(cls: type) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{cls.__name__}"}


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def schema_of(tp: Any) -> dict[str, Any]:
    """The JSON Schema (2020-12, as OpenAPI 3.1 uses) of a type annotation."""
    if tp is Any:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if isinstance(tp, type) and attrs.has(tp):
        return ref(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        options = [schema_of(a) for a in args]
        simple = [o.get("type") for o in options]
        if all(isinstance(t, str) for t in simple) and all(len(o) == 1 for o in options):
            return {"type": list(simple)}
        return {"anyOf": options}
    if origin in (list, tuple):
        item = args[0] if args else Any
        return {"type": "array", "items": schema_of(item)}
    if origin is dict:
        value = args[1] if len(args) == 2 else Any
        out: dict[str, Any] = {"type": "object"}
        if value is not Any:
            out["additionalProperties"] = schema_of(value)
        return out
    raise TypeError(f"no JSON Schema for {tp!r}")


def component_schema(cls: type, *, closed: bool) -> dict[str, Any]:
    """The object schema of an attrs class; ``closed`` forbids unknown keys (request bodies)."""
    hints = typing.get_type_hints(cls)
    properties = {}
    required = []
    for a in attrs.fields(cls):
        prop = schema_of(hints[a.name])
        default = a.default
        factory = getattr(default, "factory", None)  # attrs.Factory(...)
        if factory is not None and not getattr(default, "takes_self", False):
            default = factory()
        if default is not attrs.NOTHING:
            prop = {**prop, "default": default}
        # The service's limits, documented (the service checks them, with its own message).
        if "max_length" in a.metadata:
            prop = {**prop, "maxLength": a.metadata["max_length"]}
        if "max_items" in a.metadata:
            prop = {**prop, "maxItems": a.metadata["max_items"]}
        properties[a.name] = prop
        if a.default is attrs.NOTHING:
            required.append(a.name)
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    if required:
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _matches(value: Any, tp: Any, path: str) -> str | None:
    """None if ``value`` fits ``tp``; else what was expected."""
    if tp is Any:
        return None
    if tp is type(None):
        return None if value is None else "null"
    if tp is bool:
        return None if isinstance(value, bool) else "a boolean"
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON has one number type: 3.0 is the integer 3
        if not isinstance(value, int) or isinstance(value, bool):
            return "an integer"
        in_range = DB_INT_MIN <= value <= DB_INT_MAX
        return None if in_range else f"an integer from {DB_INT_MIN:,} to {DB_INT_MAX:,}"
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "a number"
    if tp is str or tp is dt.datetime:
        return None if isinstance(value, str) else "a string"
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, dict):
            return "an object"
        check_value(value, tp, path)
        return None
    if _is_union(tp):
        wants = []
        for option in typing.get_args(tp):
            want = _matches(value, option, path)
            if want is None:
                return None
            wants.append(want)
        return " or ".join(wants)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple):
        if not isinstance(value, list):
            return "a list"
        for i, item in enumerate(value):
            want = _matches(item, args[0] if args else Any, f"{path}[{i}]")
            if want is not None:
                raise TypeMismatch(f"expected {want}, got {_kind(item)}", f"{path}[{i}]")
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return "an object"
        inner = args[1] if len(args) == 2 else Any
        for key, item in value.items():
            want = _matches(item, inner, f"{path}.{key}")
            if want is not None:
                raise TypeMismatch(f"expected {want}, got {_kind(item)}", f"{path}.{key}")
        return None
    return None


def check_value(data: dict[str, Any], cls: type, path: str = "$") -> None:
    """Raise :class:`TypeMismatch` at the first value of ``data`` whose JSON type is wrong.

    Unknown and missing keys are left to cattrs (``forbid_extra_keys``), which names them.
    """
    hints = typing.get_type_hints(cls)
    for a in attrs.fields(cls):
        if a.name not in data:
            continue
        here = f"{path}.{a.name}"
        want = _matches(data[a.name], hints[a.name], here)
        if want is not None:
            raise TypeMismatch(f"expected {want}, got {_kind(data[a.name])}", here)
