"""The rules engine: conditions on event fields, and badge criteria evaluated on a user's facts.

Everything here is pure (no database): :mod:`plugins.badges.services` loads the facts with a
few aggregate queries and asks this module what they mean.

Criteria are a list of requirement *groups*; every requirement of a group must hold (AND) and
any one group suffices (OR)::

    [{"requirements": [{"type": "courses", "course_ids": [1, 2, 3], "min": 2},
                       {"type": "points", "min": 100}]},
     {"requirements": [{"type": "manual"}]}]

``{"type": "any_courses", "min": 3, "category": "Safety"}`` is "any 3 courses (of the category
Safety)": it names no course, so a course created after the badge counts too; without
``category`` any course counts, and ``min`` defaults to 1 ("complete any course").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from attrs import field
from attrs import frozen

from lms_core.errors import Invalid

__all__ = [
    "MAX_INT",
    "OPS",
    "REQUIREMENT_TYPES",
    "COURSE_COMPLETED",
    "LESSON_COMPLETED",
    "BADGE_AWARDED",
    "Facts",
    "Names",
    "GroupProgress",
    "BadgeProgress",
    "clean_conditions",
    "matches",
    "clean_criteria",
    "requirement_key",
    "same_category",
    "affected_by",
    "triggers",
    "holds",
    "progress",
    "needs",
    "shown",
]

OPS = ("eq", "ne", "in", "gt", "gte", "lt", "lte")
REQUIREMENT_TYPES = (
    "course",
    "courses",
    "any_courses",
    "lesson",
    "points",
    "badges",
    "event",
    "manual",
)

COURSE_COMPLETED = "lms.course.completed.v1"
LESSON_COMPLETED = "lms.lesson.completed.v1"
BADGE_AWARDED = "badges.badge.awarded.v1"

#: The largest id, count or threshold a rule may name: every integer column holds it (a
#: PostgreSQL ``integer`` is 32 bits), and no real id or count comes near it.
MAX_INT = 2**31 - 1
#: Event fields are at most 64-bit integers (database ids and counts).
_MAX_EVENT_INT = 2**63 - 1
#: The longest course category (the core's ``courses.category`` column).
MAX_CATEGORY = 100
#: How many characters of a refused value a message repeats.
_SHOWN = 60

_KIND_NAMES = {
    "int": "a whole number",
    "str": "text",
    "bool": "true or false",
    "datetime": "a date and time (ISO 8601)",
}

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "datetime": (str,),
}


# -- conditions --------------------------------------------------------------------------


def shown(value: Any) -> str:
    """``repr(value)`` for a message, cut short when it is long (input may be megabytes)."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _value_ok(kind: str, value: Any) -> bool:
    if kind == "int":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and -_MAX_EVENT_INT <= value <= _MAX_EVENT_INT
        )
    if kind == "datetime":
        if not isinstance(value, str):
            return False
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return isinstance(value, _PY_TYPES[kind])


def clean_conditions(
    conditions: Any, fields: Mapping[str, str], *, event_type: str, where: str = "conditions"
) -> list[dict[str, Any]]:
    """Check conditions against an event type's field schema; return them normalised.

    Raises :class:`Invalid` naming the unknown field, operator or the badly typed value.
    """
    if conditions is None:
        return []
    if not isinstance(conditions, list | tuple):
        raise Invalid("Conditions must be a list of {field, op, value}.", field=where)
    out = []
    for cond in conditions:
        if not isinstance(cond, Mapping) or set(cond) - {"field", "op", "value"}:
            raise Invalid("Each condition has a field, an op and a value.", field=where)
        name, op, value = cond.get("field"), cond.get("op", "eq"), cond.get("value")
        if not isinstance(name, str) or name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise Invalid(
                f"The event {event_type} has no field {shown(name)} (its fields: {known}).",
                field=where,
            )
        if op not in OPS:
            raise Invalid(
                f"Unknown operator {shown(op)} in a condition on {name}; "
                f"use one of {', '.join(OPS)}.",
                field=where,
            )
        kind = fields[name]
        if op == "in":
            if not isinstance(value, list | tuple) or not all(_value_ok(kind, v) for v in value):
                raise Invalid(
                    f"The 'in' condition on {name} needs a list, each {_KIND_NAMES.get(kind, kind)}.",
                    field=where,
                )
            value = list(value)
        elif not _value_ok(kind, value):
            raise Invalid(
                f"The condition on {name} needs {_KIND_NAMES.get(kind, kind)}.", field=where
            )
        if op in ("gt", "gte", "lt", "lte") and kind == "bool":
            raise Invalid(f"{name} is a yes/no field: compare it with eq or ne.", field=where)
        out.append({"field": name, "op": op, "value": value})
    return out


def _comparable(actual: Any, expected: Any) -> tuple[Any, Any]:
    if isinstance(actual, dt.datetime) or (
        isinstance(actual, str) and isinstance(expected, str) and "T" in expected
    ):
        try:
            a = actual if isinstance(actual, dt.datetime) else dt.datetime.fromisoformat(actual)
            e = dt.datetime.fromisoformat(expected)
        except (TypeError, ValueError):
            return actual, expected
        if a.tzinfo is None:
            a = a.replace(tzinfo=dt.UTC)
        if e.tzinfo is None:
            e = e.replace(tzinfo=dt.UTC)
        return a, e
    return actual, expected


def matches(conditions: list[dict[str, Any]], payload: Mapping[str, Any]) -> bool:
    """Whether every condition holds on ``payload`` (an event's fields)."""
    for cond in conditions:
        actual = payload.get(cond["field"])
        op, expected = cond["op"], cond["value"]
        if op == "in":
            if actual not in expected:
                return False
            continue
        if op == "eq":
            ok = actual == expected
        elif op == "ne":
            ok = actual != expected
        else:
            if actual is None:
                return False
            a, e = _comparable(actual, expected)
            try:
                ok = {
                    "gt": a > e,
                    "gte": a >= e,
                    "lt": a < e,
                    "lte": a <= e,
                }[op]
            except TypeError:
                return False
        if not ok:
            return False
    return True


# -- criteria ----------------------------------------------------------------------------


def _int(value: Any, what: str, *, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_INT:
        raise Invalid(
            f"{what} must be a whole number from {minimum} to {MAX_INT}.", field="criteria"
        )
    return value


def _ids(value: Any, what: str) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise Invalid(f"{what} must be a non-empty list of ids.", field="criteria")
    ids = [_int(v, f"Each id in {what}") for v in value]
    if len(set(ids)) != len(ids):
        raise Invalid(f"{what} lists an id twice.", field="criteria")
    return ids


def clean_criteria(
    criteria: Any, event_fields: Callable[[str], Mapping[str, str] | None]
) -> list[dict[str, Any]]:
    """Check the shape of criteria and return them normalised (ids are checked by the caller).

    ``event_fields(name)`` returns an event type's field schema, or None when unknown.
    """
    if criteria is None:
        return []
    if not isinstance(criteria, list | tuple):
        raise Invalid("Criteria must be a list of requirement groups.", field="criteria")
    groups = []
    for group in criteria:
        reqs = group.get("requirements") if isinstance(group, Mapping) else None
        if not isinstance(reqs, list | tuple) or not reqs:
            raise Invalid(
                'Each requirement group is {"requirements": [...]} with at least one requirement.',
                field="criteria",
            )
        groups.append({"requirements": [_clean_requirement(r, event_fields) for r in reqs]})
    return groups


def _clean_requirement(
    req: Any, event_fields: Callable[[str], Mapping[str, str] | None]
) -> dict[str, Any]:
    if not isinstance(req, Mapping) or req.get("type") not in REQUIREMENT_TYPES:
        kind = req.get("type") if isinstance(req, Mapping) else req
        raise Invalid(
            f"Unknown requirement type {shown(kind)}; use one of {', '.join(REQUIREMENT_TYPES)}.",
            field="criteria",
        )
    kind = req["type"]
    if kind == "course":
        return {"type": kind, "course_id": _int(req.get("course_id"), "course_id")}
    if kind == "lesson":
        return {"type": kind, "lesson_id": _int(req.get("lesson_id"), "lesson_id")}
    if kind == "points":
        return {"type": kind, "min": _int(req.get("min"), "The points requirement's min")}
    if kind == "manual":
        return {"type": kind}
    if kind == "any_courses":
        return _clean_any_courses(req)
    if kind in ("courses", "badges"):
        key = "course_ids" if kind == "courses" else "badge_ids"
        ids = _ids(req.get(key), key)
        n = req.get("min")
        n = len(ids) if n is None else _int(n, f"The {kind} requirement's min")
        if n > len(ids):
            raise Invalid(
                f"The {kind} requirement asks for {n} of only {len(ids)}.", field="criteria"
            )
        return {"type": kind, key: ids, "min": n}
    # event
    name = req.get("event_type")
    fields = event_fields(name) if isinstance(name, str) else None
    if fields is None or not isinstance(name, str):
        raise Invalid(
            f"Unknown event type {shown(name)} in an event requirement.", field="criteria"
        )
    conditions = clean_conditions(
        req.get("conditions") or [], fields, event_type=name, where="criteria"
    )
    n = req.get("min")
    return {
        "type": kind,
        "event_type": name,
        "conditions": conditions,
        "min": 1 if n is None else _int(n, "The event requirement's min"),
    }


def _clean_any_courses(req: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(req) - {"type", "min", "category"}
    if unknown:
        raise Invalid(
            f"An any_courses requirement has a min and a category, not {', '.join(sorted(unknown))}.",
            field="criteria",
        )
    n = req.get("min")
    out: dict[str, Any] = {
        "type": "any_courses",
        "min": 1 if n is None else _int(n, "The any_courses requirement's min"),
    }
    category = req.get("category")
    if category is not None:
        if not isinstance(category, str) or not " ".join(category.split()):
            raise Invalid(
                "The category of an any_courses requirement is a course category's name.",
                field="criteria",
            )
        category = " ".join(category.split())  # as the core stores categories
        if len(category) > MAX_CATEGORY:
            raise Invalid(f"A category is at most {MAX_CATEGORY} characters.", field="criteria")
        out["category"] = category
    return out


def same_category(category: str | None, wanted: str | None) -> bool:
    """Whether a course of ``category`` counts for a requirement on ``wanted`` (None: any
    course counts); categories are compared ignoring case."""
    if wanted is None:
        return True
    return category is not None and category.casefold() == wanted.casefold()


def requirement_key(req: Mapping[str, Any]) -> str:
    """A stable identity of a requirement (event counts are looked up by it)."""
    return json.dumps(req, sort_keys=True)


def triggers(req: Mapping[str, Any]) -> set[str]:
    """The event names whose delivery can make ``req`` newly hold ("points": any points)."""
    kind = req["type"]
    if kind in ("course", "courses", "any_courses"):
        return {COURSE_COMPLETED}
    if kind == "lesson":
        return {LESSON_COMPLETED}
    if kind == "badges":
        return {BADGE_AWARDED}
    if kind == "event":
        return {req["event_type"]}
    if kind == "points":
        return {"points"}
    return set()


def affected_by(req: Mapping[str, Any], name: str, payload: Mapping[str, Any]) -> bool:
    """Whether the event ``name`` with ``payload`` concerns ``req`` (cheap, no database)."""
    kind = req["type"]
    if kind == "course":
        return name == COURSE_COMPLETED and payload.get("course_id") == req["course_id"]
    if kind == "courses":
        return name == COURSE_COMPLETED and payload.get("course_id") in req["course_ids"]
    if kind == "any_courses":
        return name == COURSE_COMPLETED and same_category(
            payload.get("course_category"), req.get("category")
        )
    if kind == "lesson":
        return name == LESSON_COMPLETED and payload.get("lesson_id") == req["lesson_id"]
    if kind == "badges":
        return name == BADGE_AWARDED and payload.get("badge_id") in req["badge_ids"]
    if kind == "event":
        return name == req["event_type"] and matches(req["conditions"], payload)
    return False


def needs(criteria: list[dict[str, Any]]) -> set[str]:
    """Which kinds of facts evaluating ``criteria`` needs."""
    out = set()
    for group in criteria:
        for req in group["requirements"]:
            kind = req["type"]
            out.add("courses" if kind in ("course", "any_courses") else kind)
    return out


@frozen
class Facts:
    """What is known about one user, loaded once per evaluation."""

    courses: frozenset[int] = frozenset()
    #: The category of each completed course (None: it has none).
    course_categories: Mapping[int, str | None] = field(factory=dict)
    lessons: frozenset[int] = frozenset()
    points: int = 0
    badges: frozenset[int] = frozenset()
    #: Matching event counts by :func:`requirement_key`.
    events: Mapping[str, int] = field(factory=dict)


@frozen
class Names:
    """Labels for progress: course codes, lesson titles, badge names, event titles by id/name."""

    courses: Mapping[int, str] = field(factory=dict)
    lessons: Mapping[int, str] = field(factory=dict)
    badges: Mapping[int, str] = field(factory=dict)
    events: Mapping[str, str] = field(factory=dict)


@frozen
class GroupProgress:
    """One requirement group: ``done`` of ``total`` steps; items are (label, met)."""

    done: int
    total: int
    items: list[tuple[str, bool]]

    @property
    def met(self) -> bool:
        return all(m for _label, m in self.items) and self.done >= self.total


@frozen
class BadgeProgress:
    """Progress towards a badge: the best group's ``done`` of ``total`` ("2 of 3 courses")."""

    done: int
    total: int
    groups: list[GroupProgress]

    @property
    def met(self) -> bool:
        return any(g.met for g in self.groups)


def _requirement_progress(
    req: Mapping[str, Any], facts: Facts, names: Names
) -> tuple[int, int, list[tuple[str, bool]]]:
    kind = req["type"]
    if kind == "course":
        cid = req["course_id"]
        met = cid in facts.courses
        return int(met), 1, [(f"Complete {names.courses.get(cid, f'course {cid}')}", met)]
    if kind in ("courses", "badges"):
        ids = req["course_ids"] if kind == "courses" else req["badge_ids"]
        have = facts.courses if kind == "courses" else facts.badges
        labels = names.courses if kind == "courses" else names.badges
        n = req["min"]
        got = sum(1 for i in ids if i in have)
        noun = "course" if kind == "courses" else "badge"
        verb = "Complete" if kind == "courses" else "Hold"
        items = [(f"{verb} {labels.get(i, f'{noun} {i}')}", i in have) for i in ids]
        if n < len(ids):  # "any N of": the items alone do not say when it is met
            items = [(f"{verb} {n} of {len(ids)} {noun}s ({got} so far)", got >= n), *items]
            return min(got, n), n, items
        return got, n, items
    if kind == "any_courses":
        n = req["min"]
        got = _any_courses(req, facts)
        category = req.get("category")
        what = f"{category} course" if category else "course"
        label = f"any {what}" if n == 1 else f"any {n} {what}s"
        return min(got, n), n, [(f"Complete {label} ({got} so far)", got >= n)]
    if kind == "lesson":
        lid = req["lesson_id"]
        met = lid in facts.lessons
        return int(met), 1, [(f"Complete the lesson {names.lessons.get(lid, lid)}", met)]
    if kind == "points":
        n = req["min"]
        met = facts.points >= n
        return int(met), 1, [(f"Reach {n} points ({facts.points} so far)", met)]
    if kind == "event":
        n = req["min"]
        got = facts.events.get(requirement_key(req), 0)
        title = names.events.get(req["event_type"], req["event_type"])
        return min(got, n), n, [(f"{title}: {got} of {n}", got >= n)]
    return 0, 1, [("Awarded by hand", False)]  # manual


def progress(
    criteria: list[dict[str, Any]], facts: Facts, names: Names | None = None
) -> BadgeProgress:
    """How far ``facts`` go towards ``criteria``; the best group sets ``done``/``total``."""
    names = names or Names()
    groups = []
    for group in criteria:
        done = total = 0
        items: list[tuple[str, bool]] = []
        for req in group["requirements"]:
            d, t, i = _requirement_progress(req, facts, names)
            done, total = done + d, total + t
            items.extend(i)
        groups.append(GroupProgress(done=done, total=total, items=items))
    if not groups:
        return BadgeProgress(done=0, total=1, groups=[])
    best = max(groups, key=lambda g: (g.met, g.done / g.total if g.total else 0, -g.total))
    return BadgeProgress(done=best.done, total=best.total, groups=groups)


def _any_courses(req: Mapping[str, Any], facts: Facts) -> int:
    """How many of the completed courses count for an any_courses requirement."""
    wanted = req.get("category")
    if wanted is None:
        return len(facts.courses)
    return sum(
        1 for cid in facts.courses if same_category(facts.course_categories.get(cid), wanted)
    )


def _holds(req: Mapping[str, Any], facts: Facts) -> bool:
    kind = req["type"]
    if kind == "course":
        return req["course_id"] in facts.courses
    if kind == "courses":
        return sum(1 for i in req["course_ids"] if i in facts.courses) >= req["min"]
    if kind == "any_courses":
        return _any_courses(req, facts) >= req["min"]
    if kind == "badges":
        return sum(1 for i in req["badge_ids"] if i in facts.badges) >= req["min"]
    if kind == "lesson":
        return req["lesson_id"] in facts.lessons
    if kind == "points":
        return facts.points >= req["min"]
    if kind == "event":
        return facts.events.get(requirement_key(req), 0) >= req["min"]
    return False  # manual: only by hand


def holds(criteria: list[dict[str, Any]], facts: Facts) -> bool:
    """AND within a group, OR across groups; no groups never holds (awarded by hand only)."""
    return any(all(_holds(r, facts) for r in g["requirements"]) for g in criteria)
