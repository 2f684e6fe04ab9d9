"""Plugin settings: how a plugin declares them, and how values become a settings object.

A plugin's ``PluginInfo.settings`` is an attrs class. Each field may carry metadata that the
admin's settings form and the error messages use::

    @frozen(kw_only=True)
    class StreaksSettings:
        recent_days: int = field(
            default=30,
            metadata={"label": "Recent days", "help": "How far back a streak looks.", "min": 1},
        )

or, the same thing shorter, ``recent_days: int = setting(30, label="Recent days", min=1)``.

The metadata keys are ``label`` (shown on the form; the default is the field name in words),
``help`` (a sentence under the input), ``min`` and ``max`` (inclusive bounds of a number) and
``required`` (text that may not be empty).
Values from the config file, the admin's form or :func:`~lms_core.services.plugins.save_settings`
all go through :func:`structure_settings`, which refuses, naming the setting and the reason:

* a value of the wrong type (``2.7`` or ``"2.7"`` for a whole number is refused, never cut to 2;
  ``true`` is no number either);
* a number under ``min`` or over ``max``, or empty text for a ``required`` setting;
* a value the field's own attrs validator refuses (its message is the reason);
* a name that is no setting.

The refusal is a :class:`SettingsInvalid` (a ``PluginError``) whose ``problems`` maps each
setting's name to its reason and whose message reads
``Settings of streaks are invalid: Setting 'Recent days' (recent_days): must be at least 1``.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from lms_core.errors import PluginError

__all__ = ["SettingField", "SettingsInvalid", "setting", "setting_fields", "structure_settings"]

_INPUT_TYPES: dict[Any, str] = {str: "text", int: "number", float: "number", bool: "checkbox"}
_WHOLE = re.compile(r"[+-]?\d+")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def setting(
    default: Any = attrs.NOTHING,
    *,
    label: str | None = None,
    help: str | None = None,
    min: float | None = None,
    max: float | None = None,
    required: bool = False,
    **field_kwargs: Any,
) -> Any:
    """An attrs ``field`` carrying a setting's label, help text and bounds in its metadata.

    The bounds are also checked when the class is built directly (``min``/``max`` in plain
    metadata are checked only by :func:`structure_settings`). Other keyword arguments
    (``validator``, ``converter``, ``factory``...) go to ``attrs.field``.
    """
    metadata = dict(field_kwargs.pop("metadata", None) or {})
    for key, value in (("label", label), ("help", help), ("min", min), ("max", max)):
        if value is not None:
            metadata[key] = value
    if required:
        metadata["required"] = True
    if min is not None or max is not None:
        validators = [_bounds(min, max)]
        given = field_kwargs.pop("validator", None)
        if given is not None:
            validators.extend(given if isinstance(given, list | tuple) else [given])
        field_kwargs["validator"] = validators
    return attrs.field(default=default, metadata=metadata, **field_kwargs)


def _bounds(low: float | None, high: float | None) -> Any:
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return
        if low is not None and value < low:
            raise ValueError(f"must be at least {_bound(low)}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {_bound(high)}")

    return check


@attrs.frozen(kw_only=True)
class SettingField:
    """One setting as the admin's form shows it."""

    name: str
    label: str
    help: str = ""
    #: ``str``, ``int``, ``float``, ``bool``, or another type (shown on no form).
    kind: Any = str
    #: ``text``, ``number`` or ``checkbox``; None for a setting the form cannot edit.
    input: str | None = "text"
    optional: bool = False
    minimum: float | None = None
    maximum: float | None = None
    #: Text that may not be empty (metadata ``required``).
    required: bool = False

    @property
    def title(self) -> str:
        """``'Recent days' (recent_days)``, how messages name the setting."""
        return f"{self.label!r} ({self.name})"


class SettingsInvalid(PluginError):
    """Settings values refused; ``problems`` maps each setting's name to the reason."""

    def __init__(self, plugin: str, problems: dict[str, str], fields: list[SettingField]) -> None:
        self.plugin = plugin
        self.problems = problems
        by_name = {f.name: f for f in fields}
        lines = []
        for name, reason in problems.items():
            if name in by_name:
                lines.append(f"Setting {by_name[name].title}: {reason}")
            elif name:
                lines.append(f"Setting {name!r}: {reason}")
            else:
                lines.append(reason)
        super().__init__(f"Settings of {plugin} are invalid: " + "; ".join(lines))


def _unwrap_optional(kind: Any) -> tuple[Any, bool]:
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return args[0], True
    return kind, False


def setting_fields(cls: type) -> list[SettingField]:
    """Every field of settings class ``cls`` with its label, help, type and bounds."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a forward reference that cannot be resolved: use attrs' own
        hints = {}
    out = []
    for f in attrs.fields(cls):
        kind, optional = _unwrap_optional(hints.get(f.name, f.type))
        meta = f.metadata
        out.append(
            SettingField(
                name=f.name,
                label=str(meta.get("label") or f.name.replace("_", " ").capitalize()),
                help=str(meta.get("help") or ""),
                kind=kind,
                input=_INPUT_TYPES.get(kind),
                optional=optional,
                minimum=meta.get("min"),
                maximum=meta.get("max"),
                required=bool(meta.get("required")),
            )
        )
    return out


def _number(value: Any, spec: SettingField) -> Any:
    """``value`` as the setting's int or float, or ValueError with the reason."""
    whole = spec.kind is int
    expected = "a whole number" if whole else "a number"
    if isinstance(value, bool):
        raise ValueError(f"must be {expected}, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if whole:
            if not _WHOLE.fullmatch(text):
                raise ValueError(f"must be {expected}, not {_shown(value)}")
            value = int(text)
        else:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"must be {expected}, not {_shown(value)}") from None
    if whole and not isinstance(value, int):
        raise ValueError(f"must be {expected}, not {value!r}")
    if not whole:
        if not isinstance(value, int | float):
            raise ValueError(f"must be {expected}, not {_shown(value)}")
        if not math.isfinite(value):
            raise ValueError(f"must be {expected}, not {value!r}")
        value = float(value)
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"must be at least {_bound(spec.minimum)}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"must be at most {_bound(spec.maximum)}")
    return value


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _value(value: Any, spec: SettingField) -> Any:
    """``value`` checked and converted for one setting, or ValueError with the reason."""
    if spec.optional and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    if spec.kind in (int, float):
        return _number(value, spec)
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"must be true or false, not {_shown(value)}")
    if spec.kind is str:
        if not isinstance(value, str):
            raise ValueError(f"must be text, not {_shown(value)}")
        if spec.required and not value.strip():
            raise ValueError("must not be empty")
        return value
    from lms_core.serde import converter
    from lms_core.serde import describe_errors

    try:
        return converter.structure(value, spec.kind)
    except Exception as exc:
        raise ValueError("; ".join(describe_errors(exc))) from None


def _converted(attribute: Any, value: Any) -> Any:
    conv = attribute.converter
    if conv is None:
        return value
    if isinstance(conv, attrs.Converter):
        if conv.takes_self or conv.takes_field:  # type: ignore[attr-defined]
            return value  # left to the class itself
        return conv.converter(value)  # type: ignore[attr-defined]
    return conv(value)


def structure_settings(plugin: str, cls: type, data: Mapping[str, Any]) -> Any:
    """Build settings class ``cls`` from ``data``, or raise :class:`SettingsInvalid`."""
    specs = setting_fields(cls)
    by_name = {spec.name: spec for spec in specs}
    attributes = {a.name: a for a in attrs.fields(cls)}
    problems: dict[str, str] = {}
    for name in data:
        if name not in by_name:
            problems[name] = f"is no setting of {plugin}"
    typed: dict[str, Any] = {}  # what the class is given
    values: dict[str, Any] = {}  # what its validators see (after the field's converter)
    for spec in specs:
        attribute = attributes[spec.name]
        if spec.name not in data or not attribute.init:
            continue
        try:
            typed[spec.name] = _value(data[spec.name], spec)
            values[spec.name] = _converted(attribute, typed[spec.name])
        except Exception as exc:  # a field's converter may raise anything
            problems[spec.name] = str(exc) or type(exc).__name__
    if not problems:
        # Each field's own validator, run alone so that its refusal names the setting.
        stub = types.SimpleNamespace(**values)
        for name, value in values.items():
            attribute = attributes[name]
            if attribute.validator is None:
                continue
            try:
                attribute.validator(stub, attribute, value)
            except Exception as exc:
                problems[name] = str(exc) or type(exc).__name__
    if problems:
        raise SettingsInvalid(plugin, problems, specs)
    init = {(a.alias or a.name): typed[a.name] for a in attributes.values() if a.name in typed}
    try:
        return cls(**init)
    except Exception as exc:  # a check across fields, in the class itself
        raise SettingsInvalid(plugin, {"": str(exc) or type(exc).__name__}, specs) from None
