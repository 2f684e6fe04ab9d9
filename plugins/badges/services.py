"""The badges plugin's services: the only code that writes its tables.

Every function takes the core's unit of work (``ctx``), checks permissions with
:func:`lms_core.services.permissions.require`, raises the core's typed errors with messages a
person can act on, audits admin actions and publishes its events through the outbox.

Events reach :func:`handle_event` (from ``lms_on_event``) after the core's transaction
committed, inside the delivery's transaction. It is cheap for events nothing cares about: the
point rules and badge classes are indexed by the event names that can affect them once per
delivery batch (a per-session cache, dropped when rules, classes or levels change), and a
user's facts are read with a few aggregate queries only when a badge class may be affected.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import secrets
import types
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import Union
from typing import get_args
from typing import get_origin

import attrs
from attrs import frozen
from sqlalchemy import Boolean
from sqlalchemy import Integer
from sqlalchemy import Text
from sqlalchemy import bindparam
from sqlalchemy import cast
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal_column
from sqlalchemy import null
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy.orm import aliased

from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.errors import Conflict
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.events import EVENT_TYPES
from lms_core.events import Event
from lms_core.events import dump_event
from lms_core.models import Course
from lms_core.models import Enrollment
from lms_core.models import Group
from lms_core.models import GroupMember
from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.models import User
from lms_core.outbox import record
from lms_core.outbox import record_many
from lms_core.services.audit import audit
from lms_core.services.permissions import can
from lms_core.services.permissions import require
from plugins.badges import rules
from plugins.badges.events import BadgeAwarded
from plugins.badges.events import BadgeRevoked
from plugins.badges.events import LevelReached as LevelReachedEvent
from plugins.badges.hookspecs import EventType
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass
from plugins.badges.models import EventRecord
from plugins.badges.models import LeaderboardOptOut
from plugins.badges.models import LedgerEntry
from plugins.badges.models import Level
from plugins.badges.models import LevelReached
from plugins.badges.models import PointRule
from plugins.badges.models import SubjectId
from plugins.badges.rules import BadgeProgress
from plugins.badges.rules import GroupProgress

__all__ = [
    "EventType",
    "BadgeProgress",
    "GroupProgress",
    "LeaderboardRow",
    "event_types",
    "event_key",
    "create_point_rule",
    "update_point_rule",
    "delete_point_rule",
    "point_rules",
    "get_point_rule",
    "create_badge_class",
    "update_badge_class",
    "set_badge_image",
    "badge_classes",
    "get_badge_class",
    "get_badge_by_slug",
    "award_badge",
    "revoke_award",
    "evaluate_user",
    "handle_event",
    "progress_towards",
    "create_level",
    "delete_level",
    "levels",
    "level_of",
    "LevelMark",
    "Summary",
    "summary",
    "points_of",
    "ledger_of",
    "leaderboard",
    "set_opt_out",
    "is_opted_out",
    "awards_of",
    "get_award_by_uid",
    "invalidate_index",
]

PLUGIN_NAME = "badges"
LEADERBOARDS_OFF = "Leaderboards are turned off on this site."
_INDEX_KEY = "badges.index"

# -- event types -------------------------------------------------------------------------

_SCALARS: dict[Any, str] = {
    int: "int",
    str: "str",
    bool: "bool",
    dt.datetime: "datetime",
    "int": "int",
    "str": "str",
    "bool": "bool",
    "dt.datetime": "datetime",
    "datetime": "datetime",
    "datetime.datetime": "datetime",
}


def _field_kind(tp: Any) -> str | None:
    """``int``/``str``/``bool``/``datetime`` for a (possibly optional, possibly string) type."""
    if isinstance(tp, str):
        parts = [p.strip() for p in tp.split("|") if p.strip() != "None"]
        return _SCALARS.get(parts[0]) if len(parts) == 1 else None
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return _SCALARS.get(args[0]) if len(args) == 1 else None
    return _SCALARS.get(tp)


def _schema(cls: type[Event]) -> dict[str, str]:
    out = {}
    for f in attrs.fields(cls):  # type: ignore[arg-type]
        if f.name == "person":
            continue
        kind = _field_kind(f.type)
        if kind is not None:
            out[f.name] = kind
    return out


def _title(cls: type[Event]) -> str:
    doc = (cls.__doc__ or cls.NAME).strip().splitlines()[0]
    return doc.rstrip(".")


def event_types(ctx: Context) -> dict[str, EventType]:
    """Event types usable in point rules and criteria: the core's, badges' own, and those
    other enabled plugins contribute through ``badges_register_event_types``."""
    from plugins.badges import events as own

    out: dict[str, EventType] = {}
    for name, cls in sorted(EVENT_TYPES.items()):
        if name.startswith("lms.") or cls in (own.BadgeAwarded, own.BadgeRevoked, own.LevelReached):
            fields = _schema(cls)
            if "user_id" in fields:
                out[name] = EventType(name=name, title=_title(cls), fields=fields)
    for et in ctx.hooks.collect("badges_register_event_types"):
        if isinstance(et, EventType):
            out[et.name] = et
    return out


def _event_fields(ctx: Context) -> Any:
    types_ = event_types(ctx)

    def lookup(name: str) -> Mapping[str, str] | None:
        et = types_.get(name)
        return et.fields if et is not None else None

    return lookup


def event_key(event: Event, payload: Mapping[str, Any] | None = None) -> str:
    """The identity of an event: a hash of its name and payload (a redelivery has the same)."""
    data = payload if payload is not None else dump_event(event)
    raw = json.dumps([event.NAME, data], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


# -- the per-batch index -------------------------------------------------------------------


@frozen
class _Rule:
    id: int
    name: str
    event_type: str
    conditions: list[dict[str, Any]]
    points: int
    once_per_course: bool
    daily_cap: int | None


@frozen
class _Badge:
    id: int
    slug: str
    name: str
    criteria: list[dict[str, Any]]
    repeatable: bool
    expires_days: int | None
    course_id: int | None
    #: the kinds of facts evaluating the criteria needs (:func:`rules.needs`)
    needs: frozenset[str] = frozenset()
    #: the event names its "event" requirements count
    counted: frozenset[str] = frozenset()


def _badge_snapshot(
    id_: int,
    slug: str,
    name: str,
    criteria: list[dict[str, Any]],
    repeatable: bool,
    expires_days: int | None,
    course_id: int | None,
) -> _Badge:
    counted = frozenset(
        req["event_type"]
        for group in criteria
        for req in group["requirements"]
        if req["type"] == "event"
    )
    return _Badge(
        id_,
        slug,
        name,
        criteria,
        repeatable,
        expires_days,
        course_id,
        frozenset(rules.needs(criteria)),
        counted,
    )


@frozen
class _Index:
    rules: dict[str, list[_Rule]]
    all_badges: list[_Badge]
    #: event names counted by "event" requirements, or contributed by other plugins
    recorded: frozenset[str]
    levels: list[tuple[int, str, int]]
    #: (event name, field, value) → badge classes with a requirement an event of that name
    #: with that field value concerns ("course_id" 7 of a completed course, ...)
    by_value: dict[tuple[str, str, Any], list[_Badge]]
    #: event name → badge classes every event of that name concerns ("any course")
    by_name: dict[str, list[_Badge]]
    #: event name → (requirement, badge class) that event concerns when its conditions hold
    conditional: dict[str, list[tuple[dict[str, Any], _Badge]]]
    #: badge classes with a points requirement (a grant may cross their threshold)
    points_badges: list[_Badge]

    @property
    def reacting(self) -> frozenset[str]:
        """Event names some badge class can react to."""
        return frozenset(
            [name for name, _f, _v in self.by_value] + list(self.by_name) + list(self.conditional)
        )

    def affected(self, name: str, payload: Mapping[str, Any]) -> dict[int, _Badge]:
        """The badge classes the event ``name`` with ``payload`` concerns, by id: a few
        dictionary look-ups, however many classes there are."""
        out: dict[int, _Badge] = {b.id: b for b in self.by_name.get(name, ())}
        for field_, fold in _INDEXED_FIELDS.get(name, ()):
            value = payload.get(field_)
            if value is None:
                continue
            if fold:
                value = value.casefold() if isinstance(value, str) else None
            for badge in self.by_value.get((name, field_, value), ()):
                out[badge.id] = badge
        for req, badge in self.conditional.get(name, ()):
            if badge.id not in out and rules.matches(req["conditions"], payload):
                out[badge.id] = badge
        return out


#: The event fields badge classes are indexed by, per event (True: compared ignoring case).
_INDEXED_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    rules.COURSE_COMPLETED: (("course_id", False), ("course_category", True)),
    rules.LESSON_COMPLETED: (("lesson_id", False),),
    rules.BADGE_AWARDED: (("badge_id", False),),
}


def _index_entries(req: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """The (event name, field, value) keys under which a requirement is indexed."""
    kind = req["type"]
    if kind == "course":
        return [(rules.COURSE_COMPLETED, "course_id", req["course_id"])]
    if kind == "courses":
        return [(rules.COURSE_COMPLETED, "course_id", cid) for cid in req["course_ids"]]
    if kind == "any_courses" and req.get("category") is not None:
        return [(rules.COURSE_COMPLETED, "course_category", req["category"].casefold())]
    if kind == "lesson":
        return [(rules.LESSON_COMPLETED, "lesson_id", req["lesson_id"])]
    if kind == "badges":
        return [(rules.BADGE_AWARDED, "badge_id", bid) for bid in req["badge_ids"]]
    return []


def invalidate_index(ctx: Context) -> None:
    """Forget the cached rules/classes index (called when they change)."""
    ctx.session.info.pop(_INDEX_KEY, None)


def _add_once(lists: dict[Any, list[_Badge]], key: Any, badge: _Badge) -> None:
    found = lists.setdefault(key, [])
    if not found or found[-1].id != badge.id:  # badges are added one at a time, in turn
        found.append(badge)


def _index(ctx: Context) -> _Index:
    cached = ctx.session.info.get(_INDEX_KEY)
    if cached is not None:
        return cached
    s = ctx.session
    by_event: dict[str, list[_Rule]] = {}
    for r in s.scalars(select(PointRule).where(PointRule.active)):
        by_event.setdefault(r.event_type, []).append(
            _Rule(
                r.id,
                r.name,
                r.event_type,
                list(r.conditions or []),
                r.points,
                r.once_per_course,
                r.daily_cap,
            )
        )
    all_badges = []
    recorded = set()
    by_value: dict[tuple[str, str, Any], list[_Badge]] = {}
    by_name: dict[str, list[_Badge]] = {}
    conditional: dict[str, list[tuple[dict[str, Any], _Badge]]] = {}
    points_badges: list[_Badge] = []
    rows = s.execute(
        select(
            BadgeClass.id,
            BadgeClass.slug,
            BadgeClass.name,
            BadgeClass.criteria,
            BadgeClass.repeatable,
            BadgeClass.expires_days,
            BadgeClass.course_id,
        )
        .where(BadgeClass.active)
        .order_by(BadgeClass.id)
    )
    for bid, slug, bname, criteria, repeatable, expires_days, course_id in rows:
        snap = _badge_snapshot(
            bid, slug, bname, list(criteria or []), repeatable, expires_days, course_id
        )
        all_badges.append(snap)
        for group in snap.criteria:
            for req in group["requirements"]:
                for entry in _index_entries(req):
                    _add_once(by_value, entry, snap)
                if req["type"] == "any_courses" and req.get("category") is None:
                    _add_once(by_name, rules.COURSE_COMPLETED, snap)
                elif req["type"] == "event":
                    recorded.add(req["event_type"])
                    conditional.setdefault(req["event_type"], []).append((req, snap))
                elif req["type"] == "points" and (
                    not points_badges or points_badges[-1] is not snap
                ):
                    points_badges.append(snap)
    for et in ctx.hooks.collect("badges_register_event_types"):
        recorded.add(et.name)
    lvls = [
        (lv.id, lv.name, lv.threshold) for lv in s.scalars(select(Level).order_by(Level.threshold))
    ]
    index = _Index(
        by_event,
        all_badges,
        frozenset(recorded),
        lvls,
        by_value,
        by_name,
        conditional,
        points_badges,
    )
    s.info[_INDEX_KEY] = index
    return index


# -- point rules -----------------------------------------------------------------------------


#: Longest description, criteria text or evidence; longest revocation reason.
MAX_TEXT = 10_000
MAX_REASON = 1_000
#: Points a rule may give (or take), and the largest daily cap.
MAX_POINTS = 1_000_000
MAX_DAILY_CAP = 1_000_000
#: A badge may be valid for up to a century.
MAX_EXPIRES_DAYS = 36_500
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean_name(value: Any, what: str = "name", limit: int = 120) -> str:
    """A one-line name: given, at most ``limit`` characters, no control characters."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise Invalid(f"Give the {what}.", field=what)
    if len(text) > limit:
        raise Invalid(f"The {what} is at most {limit} characters.", field=what)
    if _CONTROL.search(text):
        raise Invalid(
            f"The {what} cannot contain control characters (such as a line break or NUL).",
            field=what,
        )
    return text


def _clean_text(value: Any, what: str, field: str, limit: int = MAX_TEXT) -> str:
    """Free text (may be empty, may span lines): at most ``limit`` characters, and no NUL
    (which PostgreSQL cannot store in text)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"The {what} is text.", field=field)
    text = value.strip()
    if len(text) > limit:
        raise Invalid(f"The {what} is at most {limit} characters.", field=field)
    if "\x00" in text:
        raise Invalid(f"The {what} cannot contain the NUL character.", field=field)
    return text


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _clean_rule(ctx: Context, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    out["name"] = _clean_name(values.get("name"))
    types_ = event_types(ctx)
    name = values.get("event_type")
    et = types_.get(name) if isinstance(name, str) else None
    if et is None:
        raise Invalid(
            f"Unknown event type {rules.shown(name)}; known: {', '.join(sorted(types_))}.",
            field="event_type",
        )
    out["conditions"] = rules.clean_conditions(
        values.get("conditions"), et.fields, event_type=et.name
    )
    points = values.get("points")
    if not _whole(points, -MAX_POINTS, MAX_POINTS) or points == 0:
        raise Invalid(
            f"Points must be a whole number other than 0, from -{MAX_POINTS} to {MAX_POINTS}.",
            field="points",
        )
    if values.get("once_per_course") and "course_id" not in et.fields:
        raise Invalid(
            f"'Once per course' needs an event about a course; {et.name} has no course_id.",
            field="once_per_course",
        )
    out["once_per_course"] = bool(values.get("once_per_course"))
    cap = values.get("daily_cap")
    if cap is not None and not _whole(cap, 1, MAX_DAILY_CAP):
        raise Invalid(
            f"The daily cap is a whole number from 1 to {MAX_DAILY_CAP}, or empty.",
            field="daily_cap",
        )
    out["active"] = bool(values.get("active", True))
    return out


def create_point_rule(
    ctx: Context,
    *,
    name: str,
    event_type: str,
    conditions: Iterable[Mapping[str, Any]] = (),
    points: int,
    once_per_course: bool = False,
    daily_cap: int | None = None,
) -> PointRule:
    """Define points for an event. Unknown event types or fields are refused on save."""
    require(ctx, "badges.manage", to="define point rules")
    values = _clean_rule(
        ctx,
        {
            "name": name,
            "event_type": event_type,
            "conditions": list(conditions),
            "points": points,
            "once_per_course": once_per_course,
            "daily_cap": daily_cap,
        },
    )
    rule = PointRule(**values)
    ctx.session.add(rule)
    ctx.session.flush()
    audit(ctx, "badges.rule.create", None, rule_id=rule.id, name=rule.name)
    invalidate_index(ctx)
    return rule


_RULE_FIELDS = (
    "name",
    "event_type",
    "conditions",
    "points",
    "once_per_course",
    "daily_cap",
    "active",
)


def update_point_rule(ctx: Context, rule: PointRule, **changes: Any) -> PointRule:
    """Change a rule (checked like a new one). Points already granted stay in the ledger."""
    require(ctx, "badges.manage", to="change point rules")
    unknown = set(changes) - set(_RULE_FIELDS)
    if unknown:
        raise Invalid(f"Point rules have no field {', '.join(sorted(unknown))}.")
    rule = ctx.attach(rule)
    current = {f: getattr(rule, f) for f in _RULE_FIELDS}
    values = _clean_rule(ctx, {**current, **changes})
    for key, value in values.items():
        setattr(rule, key, value)
    audit(ctx, "badges.rule.update", None, rule_id=rule.id, changed=sorted(changes))
    invalidate_index(ctx)
    return rule


def delete_point_rule(ctx: Context, rule: PointRule) -> None:
    """Delete a rule; its ledger rows stay (with the rule's name in their reason)."""
    require(ctx, "badges.manage", to="delete point rules")
    rule = ctx.attach(rule)
    audit(ctx, "badges.rule.delete", None, rule_id=rule.id, name=rule.name)
    ctx.session.delete(rule)
    ctx.session.flush()
    invalidate_index(ctx)


def point_rules(ctx: Context) -> list[PointRule]:
    return list(ctx.session.scalars(select(PointRule).order_by(PointRule.id)))


def get_point_rule(ctx: Context, rule_id: int) -> PointRule:
    rule = ctx.session.get(PointRule, rule_id)
    if rule is None:
        raise NotFound("There is no such point rule.")
    return rule


# -- badge classes ---------------------------------------------------------------------------


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:70]
    return slug or "badge"


def _unique_slug(ctx: Context, name: str) -> str:
    base = _slugify(name)
    taken = set(
        ctx.session.scalars(select(BadgeClass.slug).where(BadgeClass.slug.like(f"{base}%"))).all()
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _check_ids(ctx: Context, model: Any, ids: set[int], what: str) -> None:
    if not ids:
        return
    found = set(ctx.session.scalars(select(model.id).where(model.id.in_(ids))))
    missing = sorted(ids - found)
    if missing:
        raise Invalid(
            f"The criteria name {what} that do not exist: {', '.join(map(str, missing))}.",
            field="criteria",
        )


def _clean_criteria(ctx: Context, criteria: Any, badge_id: int | None) -> list[dict[str, Any]]:
    cleaned = rules.clean_criteria(list(criteria or []), _event_fields(ctx))
    course_ids: set[int] = set()
    lesson_ids: set[int] = set()
    badge_ids: set[int] = set()
    for group in cleaned:
        for req in group["requirements"]:
            if req["type"] == "course":
                course_ids.add(req["course_id"])
            elif req["type"] == "courses":
                course_ids.update(req["course_ids"])
            elif req["type"] == "lesson":
                lesson_ids.add(req["lesson_id"])
            elif req["type"] == "badges":
                badge_ids.update(req["badge_ids"])
    if badge_id is not None and badge_id in badge_ids:
        raise Invalid("A badge cannot require itself.", field="criteria")
    _check_ids(ctx, Course, course_ids, "courses")
    _check_ids(ctx, Lesson, lesson_ids, "lessons")
    _check_ids(ctx, BadgeClass, badge_ids, "badges")
    return cleaned


def _clean_badge(ctx: Context, values: dict[str, Any], badge_id: int | None) -> dict[str, Any]:
    out = dict(values)
    out["name"] = _clean_name(values.get("name"))
    for key in ("description", "criteria_text"):
        out[key] = _clean_text(values.get(key), key.replace("_", " "), key)
    days = values.get("expires_days")
    if days is not None and not _whole(days, 1, MAX_EXPIRES_DAYS):
        raise Invalid(
            f"Expiry is a number of days (1 to {MAX_EXPIRES_DAYS}), or empty.",
            field="expires_days",
        )
    out["repeatable"] = bool(values.get("repeatable"))
    course_id = values.get("course_id")
    if course_id is not None and (
        not _whole(course_id, 1, rules.MAX_INT) or ctx.session.get(Course, course_id) is None
    ):
        raise Invalid("There is no such course.", field="course_id")
    out["criteria"] = _clean_criteria(ctx, values.get("criteria"), badge_id)
    if "active" in values:
        out["active"] = bool(values["active"])
    return out


def create_badge_class(
    ctx: Context,
    *,
    name: str,
    description: str = "",
    criteria_text: str = "",
    criteria: Iterable[Mapping[str, Any]] = (),
    expires_days: int | None = None,
    repeatable: bool = False,
    course_id: int | None = None,
    image: bytes | None = None,
    image_type: str | None = None,
) -> BadgeClass:
    """Define a badge. ``criteria`` are requirement groups (see :mod:`plugins.badges.rules`);
    none means it is only ever awarded by hand."""
    require(ctx, "badges.manage", to="define badges")
    values = _clean_badge(
        ctx,
        {
            "name": name,
            "description": description,
            "criteria_text": criteria_text,
            "criteria": list(criteria),
            "expires_days": expires_days,
            "repeatable": repeatable,
            "course_id": course_id,
        },
        None,
    )
    badge = BadgeClass(slug=_unique_slug(ctx, values["name"]), **values)
    ctx.session.add(badge)
    ctx.session.flush()
    if image is not None:
        _set_image(ctx, badge, image, image_type or "")
    audit(ctx, "badges.class.create", None, badge_id=badge.id, slug=badge.slug)
    invalidate_index(ctx)
    return badge


_BADGE_FIELDS = (
    "name",
    "description",
    "criteria_text",
    "criteria",
    "expires_days",
    "repeatable",
    "course_id",
    "active",
)


def update_badge_class(ctx: Context, badge: BadgeClass, **changes: Any) -> BadgeClass:
    """Change a badge. Its slug (part of issued assertions' URLs) stays."""
    require(ctx, "badges.manage", to="change badges")
    unknown = set(changes) - set(_BADGE_FIELDS) - {"image", "image_type"}
    if unknown:
        raise Invalid(f"Badges have no field {', '.join(sorted(unknown))}.")
    badge = ctx.attach(badge)
    image, image_type = changes.pop("image", None), changes.pop("image_type", None)
    current = {f: getattr(badge, f) for f in _BADGE_FIELDS}
    values = _clean_badge(ctx, {**current, **changes}, badge.id)
    for key, value in values.items():
        setattr(badge, key, value)
    if image is not None:
        _set_image(ctx, badge, image, image_type or "")
    audit(ctx, "badges.class.update", None, badge_id=badge.id, changed=sorted(changes))
    invalidate_index(ctx)
    return badge


def _set_image(ctx: Context, badge: BadgeClass, data: bytes, content_type: str) -> None:
    from plugins.badges.images import validate_image

    max_kb = ctx.settings(PLUGIN_NAME).max_image_kb if ctx.lms is not None else 256
    badge.image, badge.image_type = validate_image(data, content_type, max_kb)


def set_badge_image(ctx: Context, badge: BadgeClass, data: bytes, content_type: str) -> None:
    """Replace a badge's image (PNG or SVG, checked and size-limited)."""
    require(ctx, "badges.manage", to="change badges")
    badge = ctx.attach(badge)
    _set_image(ctx, badge, data, content_type)
    audit(ctx, "badges.class.image", None, badge_id=badge.id, content_type=badge.image_type)


def badge_classes(
    ctx: Context, *, active_only: bool = False, course_id: int | None = None
) -> list[BadgeClass]:
    stmt = select(BadgeClass).order_by(BadgeClass.name, BadgeClass.id)
    if active_only:
        stmt = stmt.where(BadgeClass.active)
    if course_id is not None:
        stmt = stmt.where(BadgeClass.course_id == course_id)
    return list(ctx.session.scalars(stmt))


def get_badge_class(ctx: Context, badge_id: int) -> BadgeClass:
    badge = ctx.session.get(BadgeClass, badge_id)
    if badge is None:
        raise NotFound("There is no such badge.")
    return badge


def get_badge_by_slug(ctx: Context, slug: str) -> BadgeClass:
    badge = ctx.session.scalar(select(BadgeClass).where(BadgeClass.slug == slug))
    if badge is None:
        raise NotFound("There is no such badge.")
    return badge


# -- facts -------------------------------------------------------------------------------------


def _completed_courses(ctx: Context, user_id: int) -> dict[int, str | None]:
    """The user's completed courses, each with its category (one statement)."""
    rows = ctx.session.execute(
        select(Enrollment.course_id, Course.category)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.user_id == user_id, Enrollment.completed_at.is_not(None))
    ).all()
    return {course_id: category for course_id, category in rows}


def _completed_lessons(ctx: Context, user_id: int) -> frozenset[int]:
    return frozenset(
        ctx.session.scalars(
            select(LessonProgress.lesson_id)
            .join(Enrollment, Enrollment.id == LessonProgress.enrollment_id)
            .where(Enrollment.user_id == user_id)
        )
    )


def _held(awards: Iterable[tuple[int, str, Any, Any]], now: dt.datetime) -> frozenset[int]:
    return frozenset(
        badge_id
        for badge_id, _key, revoked_at, expires_at in awards
        if revoked_at is None and (expires_at is None or expires_at > now)
    )


def _user_awards(ctx: Context, user_id: int) -> list[tuple[int, str, Any, Any]]:
    rows = ctx.session.execute(
        select(Award.badge_id, Award.source_key, Award.revoked_at, Award.expires_at).where(
            Award.user_id == user_id
        )
    ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _event_counts(
    ctx: Context, user_id: int, criteria: Iterable[list[dict[str, Any]]]
) -> dict[str, int]:
    reqs = {
        rules.requirement_key(r): r
        for c in criteria
        for g in c
        for r in g["requirements"]
        if r["type"] == "event"
    }
    if not reqs:
        return {}
    names = {r["event_type"] for r in reqs.values()}
    payloads = ctx.session.execute(
        select(EventRecord.event_name, EventRecord.payload).where(
            EventRecord.user_id == user_id, EventRecord.event_name.in_(names)
        )
    ).all()
    counts = dict.fromkeys(reqs, 0)
    for key, req in reqs.items():
        for name, payload in payloads:
            if name == req["event_type"] and rules.matches(req["conditions"], payload):
                counts[key] += 1
    return counts


def _facts(
    ctx: Context,
    user_id: int,
    criteria: list[list[dict[str, Any]]],
    held: frozenset[int],
    points: int | None = None,
) -> rules.Facts:
    need: set[str] = set()
    for c in criteria:
        need |= rules.needs(c)
    completed = _completed_courses(ctx, user_id) if "courses" in need else {}
    return rules.Facts(
        courses=frozenset(completed),
        course_categories=completed,
        lessons=_completed_lessons(ctx, user_id) if "lesson" in need else frozenset(),
        points=(points if points is not None else points_of(ctx, user_id))
        if "points" in need
        else 0,
        badges=held,
        events=_event_counts(ctx, user_id, criteria) if "event" in need else {},
    )


# -- awarding ----------------------------------------------------------------------------------


def _write_award(
    ctx: Context,
    badge: _Badge,
    user_id: int,
    source_key: str,
    *,
    evidence: str = "",
    by: int | None = None,
) -> Award | None:
    now = utcnow()
    award = Award(
        uid=str(uuid.uuid4()),
        badge_id=badge.id,
        user_id=user_id,
        source_key=source_key,
        awarded_at=now,
        expires_at=now + dt.timedelta(days=badge.expires_days) if badge.expires_days else None,
        awarded_by_id=by,
        evidence=evidence,
        salt=secrets.token_hex(16),
    )
    # The caller checked the key; if another worker wins a race, the unique source_key makes
    # this delivery fail and its retry finds the award (no SAVEPOINT per award on the hot path).
    ctx.session.add(award)
    ctx.session.flush()
    record(
        ctx,
        BadgeAwarded(
            award_id=award.id,
            award_uid=award.uid,
            badge_id=badge.id,
            badge_slug=badge.slug,
            badge_name=badge.name,
            user_id=user_id,
            course_id=badge.course_id,
            manual=by is not None,
            awarded_at=now,
            expires_at=award.expires_at,
        ),
    )
    return award


def _once_key(badge_id: int, user_id: int) -> str:
    return f"class:{badge_id}:user:{user_id}"


def _not_yet_awarded(
    candidates: Iterable[_Badge],
    user_id: int,
    cause_key: str,
    held: Iterable[int],
    awards: Iterable[tuple[int, str, Any, Any]],
) -> list[tuple[_Badge, str]]:
    """The candidates this cause could still award, each with its award's source key.

    A once-only class is keyed on (class, user) and skipped while held; a repeatable one is
    keyed on (class, user, cause), so the same cause never awards it twice.
    """
    held = set(held)
    used = {key for _b, key, _r, _e in awards}
    todo = []
    for badge in candidates:
        if badge.repeatable:
            key = f"class:{badge.id}:user:{user_id}:cause:{cause_key}"
        else:
            key = _once_key(badge.id, user_id)
            if badge.id in held:
                continue
        if key not in used:
            todo.append((badge, key))
    return todo


def _evaluate(
    ctx: Context,
    user_id: int,
    cause_key: str,
    candidates: list[_Badge],
    points: int | None = None,
) -> list[Award]:
    if not candidates:
        return []
    now = utcnow()
    awards = _user_awards(ctx, user_id)
    held = _held(awards, now)
    todo = _not_yet_awarded(candidates, user_id, cause_key, held, awards)
    if not todo:
        return []
    facts = _facts(ctx, user_id, [b.criteria for b, _k in todo], held, points)
    out = []
    for badge, key in todo:
        if rules.holds(badge.criteria, facts):
            award = _write_award(
                ctx, badge, user_id, key, evidence=f"Criteria met ({cause_key[:12]})"
            )
            if award is not None:
                out.append(award)
    return out


def evaluate_user(ctx: Context, user_id: int, cause_key: str) -> list[Award]:
    """Check every active badge class for the user and award those whose criteria now hold.

    Idempotent: once-only badges are keyed on (badge, user), repeatable ones on (badge, user,
    ``cause_key``), so evaluating again for the same cause awards nothing new.
    """
    return _evaluate(ctx, user_id, cause_key, list(_index(ctx).all_badges))


def _snapshot(badge: BadgeClass) -> _Badge:
    return _badge_snapshot(
        badge.id,
        badge.slug,
        badge.name,
        list(badge.criteria or []),
        badge.repeatable,
        badge.expires_days,
        badge.course_id,
    )


def award_badge(
    ctx: Context,
    badge: BadgeClass,
    user: User,
    *,
    evidence: str = "",
    source_key: str | None = None,
) -> Award | None:
    """Award a badge by hand (needs ``badges.award`` site-wide, or in the badge's course).

    Returns None when the user already holds it and it is not repeatable.
    """
    badge = ctx.attach(badge)
    user = ctx.attach(user)
    require(ctx, "badges.award", badge.course_id, to="award this badge")
    evidence = _clean_text(evidence, "evidence", "evidence")
    if not badge.active:
        raise Conflict(f"The badge {badge.name} is retired; it cannot be awarded.")
    awards = _user_awards(ctx, user.id)
    if not badge.repeatable and badge.id in _held(awards, utcnow()):
        return None
    if source_key is None:
        once = _once_key(badge.id, user.id)
        used = {key for _b, key, _r, _e in awards}
        source_key = once if not badge.repeatable and once not in used else f"manual:{uuid.uuid4()}"
    award = _write_award(
        ctx,
        _snapshot(badge),
        user.id,
        source_key,
        evidence=evidence,
        by=ctx.actor_id,
    )
    if award is not None:
        audit(ctx, "badges.award", user, badge=badge.slug, award=award.uid)
    return award


def revoke_award(ctx: Context, award: Award, reason: str) -> bool:
    """Revoke an award, saying why. False if it was already revoked."""
    award = ctx.attach(award)
    badge = ctx.session.get(BadgeClass, award.badge_id)
    require(ctx, "badges.award", badge.course_id if badge else None, to="revoke this badge")
    text = _clean_text(reason if isinstance(reason, str) else "", "reason", "reason", MAX_REASON)
    if not text:
        raise Invalid("Say why the badge is revoked.", field="reason")
    if award.revoked_at is not None:
        return False
    now = utcnow()
    award.revoked_at, award.revoked_reason, award.revoked_by_id = now, text, ctx.actor_id
    ctx.session.flush()
    audit(
        ctx,
        "badges.revoke",
        ("user", award.user_id, str(award.user_id)),
        award=award.uid,
        reason=text,
    )
    record(
        ctx,
        BadgeRevoked(
            award_id=award.id,
            award_uid=award.uid,
            badge_id=award.badge_id,
            user_id=award.user_id,
            reason=text,
            revoked_by_id=ctx.actor_id,
            revoked_at=now,
        ),
    )
    return True


def awards_of(
    ctx: Context, user_id: int, include_revoked: bool = True
) -> list[tuple[Award, BadgeClass]]:
    stmt = (
        select(Award, BadgeClass)
        .join(BadgeClass, BadgeClass.id == Award.badge_id)
        .where(Award.user_id == user_id)
        .order_by(Award.awarded_at.desc(), Award.id.desc())
    )
    if not include_revoked:
        stmt = stmt.where(Award.revoked_at.is_(None))
    return [(a, b) for a, b in ctx.session.execute(stmt).all()]


def get_award_by_uid(ctx: Context, uid: str) -> Award:
    award = ctx.session.scalar(select(Award).where(Award.uid == uid))
    if award is None:
        raise NotFound("There is no such award.")
    return award


def progress_towards(ctx: Context, badge: BadgeClass, user_id: int) -> BadgeProgress:
    """How far the user is towards a badge: the best group's steps ("2 of 3 courses")."""
    criteria = list(badge.criteria or [])
    held = _held(_user_awards(ctx, user_id), utcnow())
    facts = _facts(ctx, user_id, [criteria], held)
    course_ids, lesson_ids, badge_ids = set(), set(), set()
    for group in criteria:
        for req in group["requirements"]:
            course_ids.update(req.get("course_ids", ()))
            if "course_id" in req:
                course_ids.add(req["course_id"])
            if "lesson_id" in req:
                lesson_ids.add(req["lesson_id"])
            badge_ids.update(req.get("badge_ids", ()))
    s = ctx.session
    names = rules.Names(
        courses=dict(
            s.execute(select(Course.id, Course.code).where(Course.id.in_(course_ids))).all()
        )
        if course_ids
        else {},
        lessons=dict(
            s.execute(select(Lesson.id, Lesson.title).where(Lesson.id.in_(lesson_ids))).all()
        )
        if lesson_ids
        else {},
        badges=dict(
            s.execute(
                select(BadgeClass.id, BadgeClass.name).where(BadgeClass.id.in_(badge_ids))
            ).all()
        )
        if badge_ids
        else {},
        events={name: et.title for name, et in event_types(ctx).items()},
    )
    return rules.progress(criteria, facts, names)


# -- points --------------------------------------------------------------------------------------


def points_of(ctx: Context, user_id: int, since: dt.datetime | None = None) -> int:
    stmt = select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
        LedgerEntry.user_id == user_id
    )
    if since is not None:
        stmt = stmt.where(LedgerEntry.created_at >= since)
    return int(ctx.session.scalar(stmt) or 0)


def ledger_of(ctx: Context, user_id: int) -> list[LedgerEntry]:
    """Every grant of points to the user, newest first: each names its rule and event."""
    return list(
        ctx.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.user_id == user_id)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        )
    )


def _day_start(now: dt.datetime) -> dt.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@frozen
class _State:
    """What one delivery needs to know about its user, read in one statement."""

    ledger_keys: frozenset[str]
    #: grants today by daily-capped rule id
    capped: Mapping[int, int]
    points: int
    awards: list[tuple[int, str, Any, Any]]
    #: completed course id → its category
    courses: Mapping[int, str | None]
    lessons: frozenset[int]
    levels: frozenset[int]
    recorded: bool
    #: counted events of the names asked for: (name, payload)
    events: list[tuple[str, Any]]


@functools.cache
def _state_statement() -> Any:
    """One UNION ALL over everything a delivery may need about its user, built once.

    Each branch is switched on by a bind parameter (or an empty IN list), so the statement is
    always the same (compiled once, cached) and costs one round trip whatever the number of
    badge classes, rules and levels: the idempotency keys already granted, today's grants of
    daily-capped rules, the points, the awards held, the completed courses (with their
    categories) and lessons, the levels reached, whether this event is already counted, and
    the counted events the criteria look at. Every row is (kind, n, m, s, s2, t1, t2).
    """
    user = bindparam("user_id", type_=Integer())
    dtype = Award.__table__.c.expires_at.type
    # typed NULLs: PostgreSQL resolves a UNION's column types branch by branch, and an
    # untyped NULL beside another would become text
    null_int = cast(null(), Integer())
    null_str = cast(null(), Text())
    null_dt = cast(null(), dtype)

    def kind(letter: str) -> Any:
        return literal_column(f"'{letter}'", Text())

    def on(name: str) -> Any:
        return bindparam(name, type_=Boolean())

    branches = [
        # the first branch names the columns and their types
        select(
            kind("A").label("kind"),
            Award.badge_id.label("n"),
            null_int.label("m"),
            Award.source_key.label("s"),
            null_str.label("s2"),
            Award.revoked_at.label("t1"),
            Award.expires_at.label("t2"),
        ).where(Award.user_id == user, on("want_awards")),
        # the grants this event (or, for once-per-course rules, its course) already made
        select(kind("L"), null_int, null_int, LedgerEntry.key, null_str, null_dt, null_dt).where(
            LedgerEntry.user_id == user,
            (LedgerEntry.event_id == bindparam("event_key", type_=Text()))
            | (LedgerEntry.course_id == bindparam("course_id", type_=Integer())),
            on("want_keys"),
        ),
        select(kind("C"), LedgerEntry.rule_id, func.count(), null_str, null_str, null_dt, null_dt)
        .where(
            LedgerEntry.user_id == user,
            LedgerEntry.created_at >= bindparam("day", type_=dtype),
            LedgerEntry.created_at < bindparam("day_end", type_=dtype),
            on("want_caps"),
        )
        .group_by(LedgerEntry.rule_id),
        select(
            kind("P"),
            func.coalesce(func.sum(LedgerEntry.points), 0),
            null_int,
            null_str,
            null_str,
            null_dt,
            null_dt,
        ).where(LedgerEntry.user_id == user, on("want_points")),
        select(
            kind("K"), Enrollment.course_id, null_int, Course.category, null_str, null_dt, null_dt
        )
        .join(Course, Course.id == Enrollment.course_id)
        .where(
            Enrollment.user_id == user,
            Enrollment.completed_at.is_not(None),
            on("want_courses"),
        ),
        select(kind("S"), LessonProgress.lesson_id, null_int, null_str, null_str, null_dt, null_dt)
        .join(Enrollment, Enrollment.id == LessonProgress.enrollment_id)
        .where(Enrollment.user_id == user, on("want_lessons")),
        select(
            kind("V"), LevelReached.level_id, null_int, null_str, null_str, null_dt, null_dt
        ).where(LevelReached.user_id == user, on("want_levels")),
        select(kind("R"), EventRecord.id, null_int, null_str, null_str, null_dt, null_dt).where(
            EventRecord.key == bindparam("record_key", type_=Text())
        ),
        select(
            kind("E"),
            null_int,
            null_int,
            EventRecord.event_name,
            cast(EventRecord.payload, Text()),
            null_dt,
            null_dt,
        ).where(EventRecord.user_id == user, on("want_events")),
    ]
    return union_all(*branches)


def _read_state(
    ctx: Context,
    user_id: int,
    *,
    want_keys: bool = False,
    event_key: str | None = None,
    course_id: int | None = None,
    caps: bool = False,
    points: bool = False,
    awards: bool = False,
    courses: bool = False,
    lessons: bool = False,
    levels: bool = False,
    record_key: str | None = None,
    event_names: Iterable[str] = (),
    at: dt.datetime | None = None,
) -> _State:
    names = set(event_names)
    day = _day_start(at or utcnow())  # daily caps count the day the event happened
    # Straight on the connection: the statement is Core, and the delivery's own writes are
    # executed or flushed as they are made, so the ORM's autoflush has nothing to do here.
    rows = (
        ctx.session.connection()
        .execute(
            _state_statement(),
            {
                "user_id": user_id,
                "want_awards": awards,
                "want_keys": want_keys,
                "event_key": event_key,
                "course_id": course_id,
                "want_caps": caps,
                "day": day,
                "day_end": day + dt.timedelta(days=1),
                "want_points": points,
                "want_courses": courses,
                "want_lessons": lessons,
                "want_levels": levels,
                "record_key": record_key,
                "want_events": bool(names),
            },
        )
        .all()
    )
    ledger_keys, lesson_ids, level_ids = set(), set(), set()
    capped_counts: dict[int, int] = {}
    held: list[tuple[int, str, Any, Any]] = []
    completed: dict[int, str | None] = {}
    events: list[tuple[str, Any]] = []
    total, recorded = 0, False
    for letter, n, m, text, text2, t1, t2 in rows:
        if letter == "A":
            held.append((n, text, t1, t2))
        elif letter == "L":
            ledger_keys.add(text)
        elif letter == "C":
            capped_counts[n] = int(m)
        elif letter == "P":
            total = int(n or 0)
        elif letter == "K":
            completed[n] = text
        elif letter == "S":
            lesson_ids.add(n)
        elif letter == "V":
            level_ids.add(n)
        elif letter == "R":
            recorded = True
        elif letter == "E" and text in names:
            events.append((text, json.loads(text2) if isinstance(text2, str) else text2))
    return _State(
        ledger_keys=frozenset(ledger_keys),
        capped=capped_counts,
        points=total,
        awards=held,
        courses=completed,
        lessons=frozenset(lesson_ids),
        levels=frozenset(level_ids),
        recorded=recorded,
        events=events,
    )


def _counts_from(
    criteria: Iterable[list[dict[str, Any]]], events: list[tuple[str, Any]]
) -> dict[str, int]:
    """Matching counted events per "event" requirement (by :func:`rules.requirement_key`)."""
    counts: dict[str, int] = {}
    for c in criteria:
        for g in c:
            for req in g["requirements"]:
                if req["type"] != "event":
                    continue
                counts[rules.requirement_key(req)] = sum(
                    1
                    for name, payload in events
                    if name == req["event_type"] and rules.matches(req["conditions"], payload)
                )
    return counts


#: How many generations of its own events (an award earning a badge-of-badges, whose award
#: earns another ...) badges applies in process within one delivery; deeper ones are
#: delivered back to it through the outbox as any event is.
MAX_IN_PROCESS = 20


def handle_event(ctx: Context, event: Event) -> None:
    """React to one delivered event: points, counted events, badges and levels.

    Called from ``lms_on_event`` inside the delivery's transaction; idempotent, so a
    redelivered event grants and awards nothing new. Only the badge classes the event
    concerns are evaluated (looked up in the per-batch index by the event's name and
    fields), and everything known about the user is read in one statement
    (:func:`_state_statement`), so the statements per event do not grow with the number of
    badge classes: one read, then only the writes (grants, the counted event, awards, levels).

    The badge and level events this publishes are applied to badges itself right here, in
    the same transaction (a badge of badges, a point rule on a level), rather than through a
    round trip in the outbox, and then recorded for the other plugins in one
    :func:`lms_core.outbox.record_many` with badges' own delivery already done
    (``applied_by``). An admin's replay of those deliveries still reaches badges (a class
    created after the award is then evaluated), as any replay does.
    """
    applied: list[Event] = []
    generation, known = _react(ctx, event, None)
    for _depth in range(MAX_IN_PROCESS):
        if not generation:
            break
        applied += generation
        caused: list[Event] = []
        for own in generation:  # in turn: each sees what the ones before it awarded
            more, known = _react(ctx, own, known)
            caused += more
        generation = caused
    # one record_many for everything applied here (two statements), the rest (a chain
    # deeper than MAX_IN_PROCESS) delivered back to badges through the outbox
    record_many(ctx, applied, applied_by=PLUGIN_NAME)
    record_many(ctx, generation)


@frozen
class _Known:
    """What a delivery knows of its user after its own writes: the state it read (the
    branches in ``read``, the counted events of ``names``) with its awards, points and levels
    added, so the events it then applies in process (all fresh, all about the same user)
    need no second read unless they want more."""

    user_id: int
    read: frozenset[str]
    names: frozenset[str]
    state: _State


def _react(ctx: Context, event: Event, known: _Known | None) -> tuple[list[Event], _Known | None]:
    """:func:`handle_event` for one event; returns the events it earned (not yet recorded)
    and what is then known of the user. ``known`` (only for badges' own events, applied in
    process) stands in for the read when it holds everything this event needs."""
    user_id = getattr(event, "user_id", None)
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return [], known
    index = _index(ctx)
    name = event.NAME
    point_rules_ = index.rules.get(name, [])
    record_it = name in index.recorded
    if not (point_rules_ or record_it or name in index.reacting):
        return [], known
    payload = dump_event(event)
    matching = [r for r in point_rules_ if rules.matches(r.conditions, payload)]
    candidates = index.affected(name, payload)
    if not (matching or candidates or record_it):
        return [], known
    key = event_key(event, payload)
    course_id = payload.get("course_id")
    course_id = (
        course_id if isinstance(course_id, int) and not isinstance(course_id, bool) else None
    )
    keys = {
        r.id: f"rule:{r.id}:user:{user_id}:course:{course_id}"
        if r.once_per_course and course_id is not None
        else f"rule:{r.id}:event:{key}"
        for r in matching
    }
    # A grant may cross a points threshold: those classes may then be evaluated too.
    point_badges = index.points_badges if matching else []
    weighed = list(candidates.values()) + point_badges
    need: set[str] = set()
    event_names: set[str] = set()
    for badge in weighed:
        need |= badge.needs
        event_names |= badge.counted
    rec_key = f"event:{key}" if record_it else None
    at = event.occurred_at  # what this event earns is dated when its fact happened
    wants = {
        "points": "points" in need or bool(matching and index.levels),
        "awards": bool(weighed),
        "courses": "courses" in need,
        "lessons": "lesson" in need,
        "levels": bool(matching and index.levels),
    }
    wanted = frozenset(branch for branch, on in wants.items() if on)
    if (
        known is not None
        and known.user_id == user_id
        and not matching  # grants need this event's own ledger keys and today's caps
        and wanted <= known.read
        and event_names <= known.names
    ):
        # an event this delivery just made: nothing has counted or granted it yet
        state = attrs.evolve(known.state, recorded=False)
        read, names = known.read, known.names
    else:
        state = _read_state(
            ctx,
            user_id,
            want_keys=bool(matching),
            event_key=key,
            course_id=course_id,
            caps=any(r.daily_cap is not None for r in matching),
            points=wants["points"],
            awards=wants["awards"],
            courses=wants["courses"],
            lessons=wants["lessons"],
            levels=wants["levels"],
            record_key=rec_key,
            event_names=event_names,
            at=at,
        )
        read, names = wanted, frozenset(event_names)
    events = list(state.events)
    if rec_key is not None and not state.recorded:
        ctx.session.connection().execute(
            insert(EventRecord),
            [
                {
                    "key": rec_key,
                    "user_id": user_id,
                    "event_name": name,
                    "payload": payload,
                    "created_at": utcnow(),
                }
            ],
        )
        if name in names:
            events.append((name, payload))
    granted = _grant(ctx, matching, keys, state, event, key, user_id, course_id, at)
    points = state.points + granted
    todo = dict(candidates)
    if granted:
        # Only thresholds this grant crossed can newly hold (a badge defined after a user
        # passed its threshold is caught up by evaluate_user).
        before = points - granted
        for badge in point_badges:
            if any(
                req["type"] == "points" and before < req["min"] <= points
                for group in badge.criteria
                for req in group["requirements"]
            ):
                todo.setdefault(badge.id, badge)
    published: list[Event] = []
    made: list[tuple[int, str, Any, Any]] = []
    if todo:
        published += _award_from_state(
            ctx, user_id, key, list(todo.values()), state, points, events, at, made
        )
    levels_ = state.levels
    if granted and index.levels:
        reached = _levels_from_state(ctx, user_id, points, index.levels, state.levels, at)
        levels_ = levels_ | {e.level_id for e in reached}
        published += reached
    after = attrs.evolve(
        state,
        ledger_keys=frozenset(),  # this event's: never used for another (see above)
        capped={},
        points=points,
        awards=[*state.awards, *made],
        levels=levels_,
        events=events,
    )
    return published, _Known(user_id, read, names, after)


def _grant(
    ctx: Context,
    matching: list[_Rule],
    keys: Mapping[int, str],
    state: _State,
    event: Event,
    key: str,
    user_id: int,
    course_id: int | None,
    at: dt.datetime | None = None,
) -> int:
    """Grant the points of the matching rules not granted yet; returns how many.

    The points are dated by ``at`` (when the event's fact happened), so daily caps and
    "recent" leaderboards count history on its own days.
    """
    now = at or utcnow()
    rows: list[dict[str, Any]] = []
    granted = 0
    for r in matching:
        if keys[r.id] in state.ledger_keys:
            continue
        if r.daily_cap is not None and state.capped.get(r.id, 0) >= r.daily_cap:
            continue
        rows.append(
            {
                "key": keys[r.id],
                "user_id": user_id,
                "points": r.points,
                "rule_id": r.id,
                "event_name": event.NAME,
                "event_id": key,
                "course_id": course_id,
                "reason": r.name[:255],
                "created_at": now,
            }
        )
        granted += r.points
    if rows:  # one Core executemany: no unit-of-work bookkeeping on the hot path
        ctx.session.connection().execute(insert(LedgerEntry), rows)
    return granted


#: Built once. Each id is matched to its row by the award's unique uid: with
#: ``sort_by_parameter_order`` SQLite would get one statement per award.
_INSERT_AWARDS = insert(Award).returning(Award.id, Award.uid)


def _award_from_state(
    ctx: Context,
    user_id: int,
    cause_key: str,
    candidates: list[_Badge],
    state: _State,
    points: int,
    events: list[tuple[str, Any]],
    at: dt.datetime | None = None,
    made: list[tuple[int, str, Any, Any]] | None = None,
) -> list[Event]:
    """Award the candidates whose criteria now hold; returns their events (not recorded)
    and adds each award's (badge id, source key, revoked at, expires at) to ``made``."""
    held = _held(state.awards, utcnow())
    now = at or utcnow()  # an award earned by a past event is dated by that event
    todo = _not_yet_awarded(candidates, user_id, cause_key, held, state.awards)
    if not todo:
        return []
    facts = rules.Facts(
        courses=frozenset(state.courses),
        course_categories=state.courses,
        lessons=state.lessons,
        points=points,
        badges=held,
        events=_counts_from([b.criteria for b, _k in todo], events),
    )
    earned = [(b, k) for b, k in todo if rules.holds(b.criteria, facts)]
    if not earned:
        return []
    # One Core INSERT ... RETURNING for the awards of this event (no unit of work); the
    # caller checked the keys, and a worker losing a race fails on the unique source_key
    # and its retry finds the award.
    rows: list[dict[str, Any]] = [
        {
            "uid": str(uuid.uuid4()),
            "badge_id": badge.id,
            "user_id": user_id,
            "source_key": source_key,
            "awarded_at": now,
            "expires_at": now + dt.timedelta(days=badge.expires_days)
            if badge.expires_days
            else None,
            "awarded_by_id": None,
            "evidence": f"Criteria met ({cause_key[:12]})",
            "salt": secrets.token_hex(16),
            "revoked_at": None,
            "revoked_reason": None,
            "revoked_by_id": None,
        }
        for badge, source_key in earned
    ]
    ids = dict(
        (uid, award_id) for award_id, uid in ctx.session.connection().execute(_INSERT_AWARDS, rows)
    )
    if made is not None:
        made.extend((r["badge_id"], r["source_key"], None, r["expires_at"]) for r in rows)
    return [
        BadgeAwarded(
            award_id=ids[row["uid"]],
            award_uid=row["uid"],
            badge_id=badge.id,
            badge_slug=badge.slug,
            badge_name=badge.name,
            user_id=user_id,
            course_id=badge.course_id,
            manual=False,
            awarded_at=now,
            expires_at=row["expires_at"],
        )
        for (badge, _key), row in zip(earned, rows, strict=True)
    ]


def _levels_from_state(
    ctx: Context,
    user_id: int,
    points: int,
    levels_: list[tuple[int, str, int]],
    reached: frozenset[int],
    at: dt.datetime | None = None,
) -> list[LevelReachedEvent]:
    """Mark the levels ``points`` newly reach (one executemany); returns their events."""
    now = at or utcnow()
    new = [
        (level_id, name, threshold)
        for level_id, name, threshold in levels_
        if threshold <= points and level_id not in reached
    ]
    if not new:
        return []
    ctx.session.connection().execute(
        insert(LevelReached),
        [{"user_id": user_id, "level_id": level_id, "reached_at": now} for level_id, _n, _t in new],
    )
    return [
        LevelReachedEvent(
            user_id=user_id,
            level_id=level_id,
            level_name=name,
            threshold=threshold,
            points=points,
            reached_at=now,
        )
        for level_id, name, threshold in new
    ]


# -- levels --------------------------------------------------------------------------------------


def create_level(ctx: Context, name: str, threshold: int) -> Level:
    require(ctx, "badges.manage", to="define levels")
    name = _clean_name(name, limit=80)
    if not _whole(threshold, 0, rules.MAX_INT):
        raise Invalid(
            f"The threshold is a whole number of points (0 to {rules.MAX_INT}).",
            field="threshold",
        )
    s = ctx.session
    if s.scalar(select(Level.id).where(Level.name == name)) is not None:
        raise Conflict(f"There is already a level called {name}.")
    if s.scalar(select(Level.id).where(Level.threshold == threshold)) is not None:
        raise Conflict(f"Another level starts at {threshold} points.")
    level = Level(name=name, threshold=threshold)
    s.add(level)
    s.flush()
    audit(ctx, "badges.level.create", None, level=name, threshold=threshold)
    invalidate_index(ctx)
    return level


def delete_level(ctx: Context, level: Level) -> None:
    require(ctx, "badges.manage", to="delete levels")
    level = ctx.attach(level)
    audit(ctx, "badges.level.delete", None, level=level.name)
    ctx.session.delete(level)
    ctx.session.flush()
    invalidate_index(ctx)


def levels(ctx: Context) -> list[Level]:
    return list(ctx.session.scalars(select(Level).order_by(Level.threshold)))


def level_of(ctx: Context, user_id: int) -> tuple[Level | None, Level | None]:
    """The user's current level by points, and the next one (None at either end)."""
    points = points_of(ctx, user_id)
    current = nxt = None
    for level in levels(ctx):
        if level.threshold <= points:
            current = level
        elif nxt is None:
            nxt = level
    return current, nxt


@frozen
class LevelMark:
    """A level as the dashboard shows it: its name and threshold."""

    name: str
    threshold: int


@frozen
class Summary:
    """The dashboard's badges box: points, current and next level, the latest valid badges
    as (badge name, awarded at), newest first."""

    points: int
    level: LevelMark | None
    next_level: LevelMark | None
    latest: list[tuple[str, dt.datetime]]


@functools.cache
def _summary_statements() -> tuple[Any, Any]:
    """The widget's two statements, built once: the dashboard runs them on every load, and
    building a statement costs more than running these two (the compiled form is cached)."""
    user_id = bindparam("user_id", type_=Integer())
    points = (
        select(func.coalesce(func.sum(LedgerEntry.points), 0).label("points"))
        .where(LedgerEntry.user_id == user_id)
        .subquery()
    )
    around = aliased(Level)  # the subqueries' own levels (the outer one joins the two found)
    current = (
        select(func.max(around.threshold))
        .where(around.threshold <= points.c.points)
        .scalar_subquery()
    )
    following = (
        select(func.min(around.threshold))
        .where(around.threshold > points.c.points)
        .scalar_subquery()
    )
    levels_ = (
        select(points.c.points, Level.name, Level.threshold)
        .select_from(points)
        .outerjoin(Level, Level.threshold.in_([current, following]))
        .order_by(Level.threshold)
    )
    now = bindparam("now", type_=Award.__table__.c.expires_at.type)
    held = (
        select(BadgeClass.name, Award.awarded_at)
        .join(BadgeClass, BadgeClass.id == Award.badge_id)
        .where(
            Award.user_id == user_id,
            Award.revoked_at.is_(None),
            (Award.expires_at.is_(None)) | (Award.expires_at > now),
        )
        .order_by(Award.awarded_at.desc(), Award.id.desc())
        .limit(bindparam("latest"))
    )
    return levels_, held


def summary(ctx: Context, user_id: int, latest: int = 3) -> Summary:
    """What the dashboard widget shows, in two statements whatever the number of badges,
    levels and awards: one for the points with the levels around them (the database picks
    the two levels), one for the ``latest`` newest valid awards."""
    levels_, held = _summary_statements()
    rows = ctx.session.execute(levels_, {"user_id": user_id}).all()
    total = int(rows[0][0]) if rows else 0
    level = next_level = None
    for _points, name, threshold in rows:
        if name is None:
            continue
        if threshold <= total:
            level = LevelMark(name, threshold)
        else:
            next_level = LevelMark(name, threshold)
    found = ctx.session.execute(held, {"user_id": user_id, "now": utcnow(), "latest": latest}).all()
    return Summary(
        points=total,
        level=level,
        next_level=next_level,
        latest=[(name, awarded_at) for name, awarded_at in found],
    )


# -- leaderboards --------------------------------------------------------------------------------


@frozen
class LeaderboardRow:
    rank: int
    user_id: int
    name: str
    points: int


def _leaderboards_on(ctx: Context) -> Any:
    settings = ctx.settings(PLUGIN_NAME)
    if not settings.leaderboards_enabled:
        raise Forbidden(LEADERBOARDS_OFF)
    return settings


def leaderboard(
    ctx: Context,
    *,
    scope: str = "site",
    scope_id: int | None = None,
    period: str = "all",
    limit: int = 20,
) -> list[LeaderboardRow]:
    """Top users by points (site-wide, points earned in a course, or members of a group),
    over all time or the last ``recent_days``. People who opted out are left out."""
    settings = _leaderboards_on(ctx)
    if scope not in ("site", "course", "group"):
        raise Invalid("A leaderboard is for the site, a course or a group.", field="scope")
    if period not in ("all", "recent"):
        raise Invalid("The period is 'all' or 'recent'.", field="period")
    if scope != "site" and scope_id is None:
        raise Invalid(f"Say which {scope} the leaderboard is for.", field="scope_id")
    if scope == "course" and ctx.session.get(Course, scope_id) is None:
        raise NotFound("There is no such course.")
    if scope == "group" and ctx.session.get(Group, scope_id) is None:
        raise NotFound("There is no such group.")
    total = func.sum(LedgerEntry.points).label("points")
    stmt = (
        select(LedgerEntry.user_id, User.name, total)
        .join(User, User.id == LedgerEntry.user_id)
        .where(
            User.is_active,
            ~exists().where(LeaderboardOptOut.user_id == LedgerEntry.user_id),
        )
    )
    if period == "recent":
        stmt = stmt.where(
            LedgerEntry.created_at >= utcnow() - dt.timedelta(days=settings.recent_days)
        )
    if scope == "course":
        stmt = stmt.where(LedgerEntry.course_id == scope_id)
    elif scope == "group":
        stmt = stmt.join(
            GroupMember,
            (GroupMember.user_id == LedgerEntry.user_id) & (GroupMember.group_id == scope_id),
        )
    stmt = (
        stmt.group_by(LedgerEntry.user_id, User.name)
        .having(total > 0)
        .order_by(total.desc(), User.name, LedgerEntry.user_id)
        .limit(max(1, min(int(limit), 500)))
    )
    out: list[LeaderboardRow] = []
    for position, (user_id, name, points) in enumerate(ctx.session.execute(stmt), start=1):
        rank = out[-1].rank if out and out[-1].points == points else position
        out.append(LeaderboardRow(rank=rank, user_id=user_id, name=name, points=int(points)))
    return out


def set_opt_out(ctx: Context, user_id: int, opted_out: bool) -> None:
    """Hide (or show again) a user on leaderboards: the user themself, or a badges manager."""
    if not ctx.system and (ctx.actor is None or ctx.actor.id != user_id):
        require(ctx, "badges.manage", to="change someone else's leaderboard setting")
    row = ctx.session.get(LeaderboardOptOut, user_id)
    if opted_out and row is None:
        ctx.session.add(LeaderboardOptOut(user_id=user_id))
    elif not opted_out and row is not None:
        ctx.session.delete(row)
    ctx.session.flush()


def is_opted_out(ctx: Context, user_id: int) -> bool:
    return ctx.session.get(LeaderboardOptOut, user_id) is not None


# -- privacy -------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_user_data(ctx: Context, user_id: int) -> dict[str, Any] | None:
    """Everything badges holds about a user (the privacy export)."""
    s = ctx.session
    ledger = ledger_of(ctx, user_id)
    awards = awards_of(ctx, user_id)
    reached = s.execute(
        select(Level.name, LevelReached.reached_at)
        .join(Level, Level.id == LevelReached.level_id)
        .where(LevelReached.user_id == user_id)
    ).all()
    events = list(s.scalars(select(EventRecord).where(EventRecord.user_id == user_id)))
    opted_out = is_opted_out(ctx, user_id)
    subject = s.get(SubjectId, user_id)
    if not (ledger or awards or reached or events or opted_out or subject):
        return None
    return {
        "points": sum(e.points for e in ledger),
        "ledger": [
            {
                "points": e.points,
                "reason": e.reason,
                "event": e.event_name,
                "event_id": e.event_id,
                "course_id": e.course_id,
                "at": _iso(e.created_at),
            }
            for e in ledger
        ],
        "awards": [
            {
                "badge": b.name,
                "uid": a.uid,
                "awarded_at": _iso(a.awarded_at),
                "expires_at": _iso(a.expires_at),
                "evidence": a.evidence,
                "revoked_at": _iso(a.revoked_at),
                "revoked_reason": a.revoked_reason,
            }
            for a, b in awards
        ],
        "levels": [{"level": n, "reached_at": _iso(at)} for n, at in reached],
        "events": [{"event": e.event_name, "at": _iso(e.created_at)} for e in events],
        "leaderboard_opt_out": opted_out,
        # The pseudonymous id in their Open Badges 3.0 credentials (credentialSubject.id).
        "credential_subject_id": uuid.UUID(subject.uuid).urn if subject is not None else None,
    }


def erase_user_data(ctx: Context, user_id: int) -> None:
    """Delete every badges row about a user (the privacy erasure)."""
    s = ctx.session
    for model in (LedgerEntry, Award, LevelReached, LeaderboardOptOut, EventRecord, SubjectId):
        s.execute(delete(model).where(model.user_id == user_id))
    s.execute(
        Award.__table__.update()  # type: ignore[attr-defined]
        .where(Award.awarded_by_id == user_id)
        .values(awarded_by_id=None)
    )
    s.execute(
        Award.__table__.update()  # type: ignore[attr-defined]
        .where(Award.revoked_by_id == user_id)
        .values(revoked_by_id=None)
    )


def may_award(ctx: Context, badge: BadgeClass) -> bool:
    """Whether the actor may award ``badge`` by hand (for showing the button)."""
    return ctx.system or can(ctx.actor, "badges.award", badge.course_id)
