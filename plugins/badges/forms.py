"""Parsing the badges admin forms into the service's shapes (and back, to fill the forms).

The forms are plain HTML with numbered rows (no JavaScript): point-rule conditions are
``cond_field_N`` / ``cond_op_N`` / ``cond_value_N``; the criteria editor has requirement
groups ``G`` with rows ``R`` named ``req_G_R_type`` / ``req_G_R_value`` / ``req_G_R_min`` (and
``req_G_R_conditions``, a hidden JSON copy of an event requirement's conditions so that an
edit keeps them). Parsing never judges a rule: the services do, and their messages are shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from attrs import define

__all__ = [
    "CONDITION_ROWS",
    "CRITERIA_GROUPS",
    "CRITERIA_ROWS",
    "OPS",
    "REQUIREMENT_TYPES",
    "ConditionRow",
    "FormProblem",
    "RequirementRow",
    "condition_rows",
    "conditions_from_rows",
    "criteria_from_rows",
    "criteria_rows",
    "pad_conditions",
    "parse_optional_int",
    "requirement_rows",
    "rows_from_conditions",
]

#: At most this many conditions on a point rule.
CONDITION_ROWS = 5
#: The criteria editor offers this many groups (any one suffices) ...
CRITERIA_GROUPS = 3
#: ... of this many requirements each (all must hold).
CRITERIA_ROWS = 4

OPS: dict[str, str] = {
    "eq": "equals",
    "ne": "does not equal",
    "in": "is one of (comma-separated)",
    "gt": "greater than",
    "gte": "at least",
    "lt": "less than",
    "lte": "at most",
}

REQUIREMENT_TYPES: dict[str, str] = {
    "course": "Complete a course (its code)",
    "courses": "Complete courses (codes, comma-separated; minimum optional)",
    "any_courses": "Complete any courses (a category, or empty for any; minimum optional)",
    "lesson": "Complete a lesson (its id)",
    "points": "Reach a number of points",
    "badges": "Hold badges (slugs, comma-separated; minimum optional)",
    "event": "Events of a type (event type; minimum count)",
    "manual": "Awarded by hand only",
}

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


class FormProblem(Exception):
    """Input the form cannot even turn into a request to the service."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _text(form: Mapping[str, Any], key: str) -> str:
    return str(form.get(key) or "").strip()


def parse_optional_int(raw: str, label: str, field_name: str) -> int | None:
    """``""`` → None, ``"12"`` → 12; anything else is a :class:`FormProblem`."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise FormProblem(f"{label} must be a whole number.", field_name) from None


# -- point-rule conditions ------------------------------------------------------------------


@define
class ConditionRow:
    field: str = ""
    op: str = "eq"
    value: str = ""
    error: str | None = None

    @property
    def empty(self) -> bool:
        return not self.field and not self.value


def condition_rows(form: Mapping[str, Any]) -> list[ConditionRow]:
    """The condition rows as typed (empty ones included), for re-rendering."""
    return [
        ConditionRow(
            field=_text(form, f"cond_field_{i}"),
            op=_text(form, f"cond_op_{i}") or "eq",
            value=_text(form, f"cond_value_{i}"),
        )
        for i in range(CONDITION_ROWS)
    ]


def rows_from_conditions(conditions: list[Any]) -> list[ConditionRow]:
    rows = []
    for cond in conditions[:CONDITION_ROWS]:
        value = cond.get("value")
        shown = ", ".join(_show(v) for v in value) if isinstance(value, list) else _show(value)
        rows.append(
            ConditionRow(field=str(cond.get("field", "")), op=cond.get("op", "eq"), value=shown)
        )
    return pad_conditions(rows)


def pad_conditions(rows: list[ConditionRow]) -> list[ConditionRow]:
    filled = [row for row in rows if not row.empty]
    return filled + [ConditionRow() for _ in range(CONDITION_ROWS - len(filled))]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _typed(raw: str, kind: str | None) -> Any:
    """A condition value as the event field's type (left as text when the field is unknown:
    the service then names the unknown field)."""
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("enter a whole number") from None
    if kind == "bool":
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("enter true or false")
    return raw


def conditions_from_rows(
    rows: list[ConditionRow], fields: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The service's conditions from the typed rows; a bad value marks its row and raises."""
    out: list[dict[str, Any]] = []
    problem = False
    for number, row in enumerate(rows, start=1):
        if row.empty:
            continue
        if not row.field:
            row.error = "Choose a field for this condition."
            problem = True
            continue
        kind = fields.get(row.field)
        try:
            if row.op == "in":
                value: Any = [
                    _typed(part.strip(), kind) for part in row.value.split(",") if part.strip()
                ]
            else:
                value = _typed(row.value, kind)
        except ValueError as exc:
            row.error = f"Condition {number} ({row.field}): {exc}."
            problem = True
            continue
        out.append({"field": row.field, "op": row.op, "value": value})
    if problem:
        raise FormProblem("Some conditions need fixing (see below).", "conditions")
    return out


# -- badge criteria ----------------------------------------------------------------------------


@define
class RequirementRow:
    type: str = ""
    value: str = ""
    min: str = ""
    conditions: str = ""
    error: str | None = None


def _blank_groups() -> list[list[RequirementRow]]:
    return [[RequirementRow() for _ in range(CRITERIA_ROWS)] for _ in range(CRITERIA_GROUPS)]


def requirement_rows(form: Mapping[str, Any]) -> list[list[RequirementRow]]:
    """The criteria editor's rows as typed, for re-rendering."""
    return [
        [
            RequirementRow(
                type=_text(form, f"req_{g}_{r}_type"),
                value=_text(form, f"req_{g}_{r}_value"),
                min=_text(form, f"req_{g}_{r}_min"),
                conditions=_text(form, f"req_{g}_{r}_conditions"),
            )
            for r in range(CRITERIA_ROWS)
        ]
        for g in range(CRITERIA_GROUPS)
    ]


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def criteria_from_rows(
    groups: list[list[RequirementRow]],
    course_id_of: Callable[[str], int | None],
    badge_id_of: Callable[[str], int | None],
) -> list[dict[str, Any]]:
    """The service's criteria JSON from the editor's rows.

    ``course_id_of(code)`` and ``badge_id_of(slug)`` resolve what the admin typed; an unknown
    code or slug, or a number that is not one, marks its row and raises :class:`FormProblem`.
    """
    out: list[dict[str, Any]] = []
    problem = False
    for group in groups:
        requirements: list[dict[str, Any]] = []
        for row in group:
            if not row.type:
                continue
            try:
                requirements.append(_requirement(row, course_id_of, badge_id_of))
            except ValueError as exc:
                row.error = str(exc)
                problem = True
        if requirements:
            out.append({"requirements": requirements})
    if problem:
        raise FormProblem("Some requirements need fixing (see below).", "criteria")
    return out


def _int(raw: str, what: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"{what} must be a whole number.") from None


def _min(row: RequirementRow, req: dict[str, Any], *, required: bool = False) -> None:
    if row.min:
        req["min"] = _int(row.min, "The minimum")
    elif required:
        raise ValueError("Enter the minimum count.")


def _course_ids(codes: list[str], course_id_of: Callable[[str], int | None]) -> list[int]:
    ids = []
    for code in codes:
        course_id = course_id_of(code)
        if course_id is None:
            raise ValueError(f"There is no course with the code {code}.")
        ids.append(course_id)
    return ids


def _requirement(
    row: RequirementRow,
    course_id_of: Callable[[str], int | None],
    badge_id_of: Callable[[str], int | None],
) -> dict[str, Any]:
    kind = row.type
    req: dict[str, Any] = {"type": kind}
    if kind == "course":
        codes = _split(row.value)
        if len(codes) != 1:
            raise ValueError("Enter one course code.")
        req["course_id"] = _course_ids(codes, course_id_of)[0]
    elif kind == "courses":
        codes = _split(row.value)
        if not codes:
            raise ValueError("Enter course codes, separated by commas.")
        req["course_ids"] = _course_ids(codes, course_id_of)
        _min(row, req)
    elif kind == "any_courses":
        if row.value:
            req["category"] = row.value
        _min(row, req)
    elif kind == "lesson":
        if not row.value:
            raise ValueError("Enter the lesson's id.")
        req["lesson_id"] = _int(row.value, "The lesson id")
    elif kind == "points":
        raw = row.value or row.min
        if not raw:
            raise ValueError("Enter the number of points.")
        req["min"] = _int(raw, "The number of points")
    elif kind == "badges":
        slugs = _split(row.value)
        if not slugs:
            raise ValueError("Enter badge slugs, separated by commas.")
        ids = []
        for slug in slugs:
            badge_id = badge_id_of(slug)
            if badge_id is None:
                raise ValueError(f"There is no badge with the slug {slug}.")
            ids.append(badge_id)
        req["badge_ids"] = ids
        _min(row, req)
    elif kind == "event":
        if not row.value:
            raise ValueError("Enter the event type.")
        req["event_type"] = row.value
        try:
            conditions = json.loads(row.conditions) if row.conditions else []
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
            raise ValueError("The saved conditions of this requirement are unreadable.") from None
        req["conditions"] = conditions
        _min(row, req)
        req.setdefault("min", 1)
    elif kind == "manual":
        pass
    else:
        # Unknown types go to the service, which names them.
        if row.value:
            req["value"] = row.value
    return req


def criteria_rows(
    criteria: list[Any],
    course_code_of: Callable[[int], str],
    badge_slug_of: Callable[[int], str],
) -> list[list[RequirementRow]]:
    """The editor's rows for saved criteria (codes and slugs instead of ids)."""
    groups = _blank_groups()
    for g, group in enumerate(criteria[:CRITERIA_GROUPS]):
        for r, req in enumerate(list(group.get("requirements", []))[:CRITERIA_ROWS]):
            row = groups[g][r]
            row.type = str(req.get("type", ""))
            minimum = req.get("min")
            if row.type == "course":
                row.value = course_code_of(req["course_id"])
            elif row.type == "courses":
                row.value = ", ".join(course_code_of(i) for i in req.get("course_ids", []))
            elif row.type == "any_courses":
                row.value = str(req.get("category") or "")
            elif row.type == "lesson":
                row.value = str(req.get("lesson_id", ""))
            elif row.type == "points":
                row.value = str(minimum if minimum is not None else "")
                minimum = None
            elif row.type == "badges":
                row.value = ", ".join(badge_slug_of(i) for i in req.get("badge_ids", []))
            elif row.type == "event":
                row.value = str(req.get("event_type", ""))
                if req.get("conditions"):
                    row.conditions = json.dumps(req["conditions"])
            row.min = "" if minimum is None else str(minimum)
    return groups
