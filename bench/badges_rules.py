"""Benchmark: the cost of the badges plugin on 10,000 course-completed events.

Sets up a fresh database with users, courses, lessons and completed enrollments (bulk Core
inserts), 50 badge classes with mixed criteria (a course, all of a set of courses, any N of a
set, a lesson, N points, other badges), a few point rules and levels. Then it puts the same
10,000 ``lms.course.completed.v1`` events straight into the outbox twice and delivers them
in-process with ``lms_core.outbox.deliver_due``:

* baseline: badges disabled, deliveries only for a no-op plugin (``bench_plugins.noop_a``);
* badges: badges enabled, deliveries for badges and the no-op plugin;
* redelivered: the same events once more with badges enabled: every grant and award already
  exists, so this is the pure evaluation cost (nothing new to write or publish);
* floor: the ledger and award rows the first delivery wrote are deleted, and the same events
  are delivered to a bench plugin (``bench_floor``) that inserts each event's rows again with
  one Core ``insert()`` per table, in the same delivery machinery (a savepoint per delivery,
  the no-op plugin beside it): the least any plugin writing those rows could cost;
* floor with events (a second figure, not a replacement): the same rows again, plus the level
  rows, with each award's id returned and the badge-awarded and level-reached events any badges
  implementation must publish recorded in the outbox (one ``outbox.record_many`` per
  delivery), so ``ratio_first_vs_floor_with_events`` compares badges with a plugin that writes
  and publishes what it does, without evaluating anything.

It prints the times, events/s and the ratios (badges / baseline, first delivery / floor,
first delivery / floor with events, redelivered / baseline); the last line is one JSON object.

    python bench/badges_rules.py [--events 10000] [--database-url postgresql://postgres@127.0.0.1/lms_bench_badges]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from lms_core import outbox  # noqa: E402
from lms_core.config import load_config  # noqa: E402
from lms_core.events import CourseCompleted  # noqa: E402
from lms_core.events import dump_event  # noqa: E402
from lms_core.migrate import upgrade  # noqa: E402
from lms_core.models import Course  # noqa: E402
from lms_core.models import Delivery  # noqa: E402
from lms_core.models import DeliveryStatus  # noqa: E402
from lms_core.models import Enrollment  # noqa: E402
from lms_core.models import Lesson  # noqa: E402
from lms_core.models import OutboxEvent  # noqa: E402
from lms_core.models import User  # noqa: E402
from lms_core.runtime import LMS  # noqa: E402
from lms_core.services.plugins import disable_plugin  # noqa: E402
from lms_core.services.plugins import enable_plugin  # noqa: E402
from lms_core.services.plugins import sync_plugin_states  # noqa: E402

PLUGINS = ["plugins.badges.hooks", "bench_plugins.noop_a", "bench_floor"]
COURSES = 50
PER_USER = 5  # completed courses per user


#: enrollment id → the ledger and award rows the floor plugin inserts for that event
FLOOR_ROWS: dict[int, dict[str, list[dict[str, Any]]]] = {}
#: The second floor: also insert the level rows and publish the award and level events.
FLOOR_PUBLISHES = False
#: badge class id → (slug, name, course id), for the events the second floor publishes
BADGE_NAMES: dict[int, tuple[str, str, int | None]] = {}
#: level id → (name, threshold)
LEVEL_NAMES: dict[int, tuple[str, int]] = {}


def _insert_and_publish(ctx: Any, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The awards (their ids returned, as the events need them) and levels of one event, and
    their events recorded with one ``outbox.record_many``."""
    from plugins.badges.events import BadgeAwarded
    from plugins.badges.events import LevelReached as LevelReachedEvent
    from plugins.badges.models import Award
    from plugins.badges.models import LevelReached

    conn = ctx.session.connection()
    published: list[Any] = []
    if rows["awards"]:
        ids = dict(
            (uid, award_id)
            for award_id, uid in conn.execute(
                insert(Award).returning(Award.id, Award.uid), rows["awards"]
            )
        )
        for row in rows["awards"]:
            slug, name, course_id = BADGE_NAMES[row["badge_id"]]
            published.append(
                BadgeAwarded(
                    award_id=ids[row["uid"]],
                    award_uid=row["uid"],
                    badge_id=row["badge_id"],
                    badge_slug=slug,
                    badge_name=name,
                    user_id=row["user_id"],
                    course_id=course_id,
                    awarded_at=row["awarded_at"],
                    expires_at=row["expires_at"],
                )
            )
    if rows["levels"]:
        conn.execute(insert(LevelReached), rows["levels"])
        for row in rows["levels"]:
            name, threshold = LEVEL_NAMES[row["level_id"]]
            published.append(
                LevelReachedEvent(
                    user_id=row["user_id"],
                    level_id=row["level_id"],
                    level_name=name,
                    threshold=threshold,
                    points=threshold,
                    reached_at=row["reached_at"],
                )
            )
    outbox.record_many(ctx, published)


def _make_floor_plugin() -> None:
    """``bench_floor``: a plugin that inserts precomputed ledger and award rows per event."""
    from types import ModuleType

    from lms_core import PluginInfo
    from lms_core import hookimpl

    module = ModuleType("bench_floor", "Inserts the badges rows of each event, nothing else.")

    @hookimpl
    def lms_on_course_completed(event: Any, ctx: Any) -> None:
        from plugins.badges.models import Award
        from plugins.badges.models import LedgerEntry

        rows = FLOOR_ROWS.get(event.enrollment_id)
        if not rows:
            return
        conn = ctx.session.connection()
        if rows["ledger"]:
            conn.execute(insert(LedgerEntry), rows["ledger"])
        if not FLOOR_PUBLISHES:
            if rows["awards"]:
                conn.execute(insert(Award), rows["awards"])
            return
        _insert_and_publish(ctx, rows)

    module.PLUGIN = PluginInfo(name="bench_floor", version="1.0", title="Bench floor")  # type: ignore[attr-defined]
    module.lms_on_course_completed = lms_on_course_completed  # type: ignore[attr-defined]
    sys.modules["bench_floor"] = module


_make_floor_plugin()


def prepare_floor(lms: LMS, events: list[dict[str, Any]]) -> tuple[int, int]:
    """Move the first delivery's ledger and award rows into FLOOR_ROWS, each under the event
    that caused it (awards caused by a badge event go with the user's first completion), and
    delete them from the tables. Returns (ledger rows, award rows)."""
    from lms_core.events import load_event
    from plugins.badges.models import Award
    from plugins.badges.models import BadgeClass
    from plugins.badges.models import LedgerEntry
    from plugins.badges.models import Level
    from plugins.badges.models import LevelReached
    from plugins.badges.services import event_key

    by_key: dict[str, int] = {}
    first_of_user: dict[int, int] = {}
    for row in events:
        event = load_event(row["name"], row["payload"])
        enrollment_id, user_id = row["payload"]["enrollment_id"], row["payload"]["user_id"]
        by_key[event_key(event, row["payload"])] = enrollment_id
        first_of_user.setdefault(user_id, enrollment_id)
    by_prefix = {key[:12]: eid for key, eid in by_key.items()}  # awards name their cause so
    FLOOR_ROWS.clear()
    with lms.engine.begin() as conn:
        ledger = [dict(r._mapping) for r in conn.execute(select(LedgerEntry.__table__))]
        awards = [dict(r._mapping) for r in conn.execute(select(Award.__table__))]
        levels = [dict(r._mapping) for r in conn.execute(select(LevelReached.__table__))]
        BADGE_NAMES.update(
            (i, (slug, name, course_id))
            for i, slug, name, course_id in conn.execute(
                select(BadgeClass.id, BadgeClass.slug, BadgeClass.name, BadgeClass.course_id)
            )
        )
        LEVEL_NAMES.update(
            (i, (name, threshold))
            for i, name, threshold in conn.execute(select(Level.id, Level.name, Level.threshold))
        )
        conn.execute(delete(Award))
        conn.execute(delete(LedgerEntry))
        conn.execute(delete(LevelReached))

    def rows_of(target: int) -> dict[str, list[dict[str, Any]]]:
        return FLOOR_ROWS.setdefault(target, {"ledger": [], "awards": [], "levels": []})

    for row in ledger:
        row.pop("id")
        target = by_key.get(row["event_id"] or "", first_of_user[row["user_id"]])
        rows_of(target)["ledger"].append(row)
    for row in levels:  # (only the second floor inserts these) with the user's first completion
        row.pop("id", None)
        rows_of(first_of_user[row["user_id"]])["levels"].append(row)
    for row in awards:
        row.pop("id")
        cause = row["evidence"].removeprefix("Criteria met (").rstrip(")")
        found = by_prefix.get(cause)
        target = first_of_user[row["user_id"]] if found is None else found
        rows_of(target)["awards"].append(row)
    return len(ledger), len(awards)


def recreate_postgres(url: str) -> None:
    from sqlalchemy import create_engine

    parsed = make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    engine = create_engine(
        admin.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    engine.dispose()


def populate(lms: LMS, events: int) -> list[dict[str, Any]]:
    """Users, courses (one lesson each) and completed enrollments; returns the event rows."""
    now = dt.datetime.now(dt.UTC)
    users = max(1, events // PER_USER)
    with lms.engine.begin() as conn:
        conn.execute(
            insert(User),
            [
                {"email": f"u{i}@bench.test", "email_key": f"u{i}@bench.test", "name": f"User {i}"}
                for i in range(users)
            ],
        )
        conn.execute(
            insert(Course),
            [
                {
                    "code": f"B-{i:03d}",
                    "code_key": f"b-{i:03d}",
                    "title": f"Bench course {i}",
                    "category": "Safety" if i % 5 == 0 else "General",
                    "status": "published",
                    "published_at": now,
                }
                for i in range(COURSES)
            ],
        )
        user_ids = list(conn.scalars(select(User.id).order_by(User.id)))
        course_rows = conn.execute(select(Course.id, Course.code, Course.category)).all()
        conn.execute(
            insert(Lesson),
            [
                {"course_id": cid, "position": 1, "title": "Only lesson", "kind": "page"}
                for cid, _code, _cat in course_rows
            ],
        )
        enrollments = []
        for n, uid in enumerate(user_ids):
            for k in range(PER_USER):
                cid = course_rows[(n + k * 7) % COURSES][0]
                enrollments.append(
                    {
                        "user_id": uid,
                        "course_id": cid,
                        "status": "completed",
                        "source": "self",
                        "enrolled_at": now,
                        "completed_at": now,
                    }
                )
        conn.execute(insert(Enrollment), enrollments[:events])
        by_course = {cid: (code, cat) for cid, code, cat in course_rows}
        rows = conn.execute(select(Enrollment.id, Enrollment.user_id, Enrollment.course_id)).all()
    out = []
    for eid, uid, cid in rows[:events]:
        code, cat = by_course[cid]
        event = CourseCompleted(
            enrollment_id=eid,
            user_id=uid,
            course_id=cid,
            course_code=code,
            course_category=cat,
            completed_at=now,
        )
        out.append({"name": event.NAME, "payload": dump_event(event), "created_at": now})
    return out


def define_badges(lms: LMS) -> None:
    """50 badge classes with mixed criteria, 3 point rules and 3 levels."""
    from plugins.badges import services

    rng = random.Random(7)
    with lms.transaction(system=True) as ctx:
        course_ids = list(ctx.session.scalars(select(Course.id).order_by(Course.id)))
        lesson_ids = list(ctx.session.scalars(select(Lesson.id).order_by(Lesson.id)))
        services.create_point_rule(
            ctx, name="Course completed", event_type=CourseCompleted.NAME, points=10
        )
        services.create_point_rule(
            ctx,
            name="Safety course",
            event_type=CourseCompleted.NAME,
            conditions=[{"field": "course_category", "op": "eq", "value": "Safety"}],
            points=5,
            once_per_course=True,
        )
        services.create_point_rule(
            ctx, name="Busy day", event_type=CourseCompleted.NAME, points=1, daily_cap=3
        )
        for name, threshold in (("Bronze", 20), ("Silver", 40), ("Gold", 60)):
            services.create_level(ctx, name, threshold)
        made: list[int] = []
        for i in range(50):
            kind = i % 6
            if kind == 0:
                req: dict[str, Any] = {"type": "course", "course_id": rng.choice(course_ids)}
            elif kind == 1:
                req = {"type": "courses", "course_ids": rng.sample(course_ids, 3)}
            elif kind == 2:
                req = {"type": "courses", "course_ids": rng.sample(course_ids, 5), "min": 2}
            elif kind == 3:
                req = {"type": "points", "min": rng.choice((20, 40, 60))}
            elif kind == 4 and len(made) >= 2:
                req = {"type": "badges", "badge_ids": rng.sample(made, 2), "min": 1}
            else:
                req = {"type": "lesson", "lesson_id": rng.choice(lesson_ids)}
            groups = [{"requirements": [req]}]
            if i % 10 == 9:  # a few with an OR group
                groups.append({"requirements": [{"type": "course", "course_id": course_ids[0]}]})
            badge = services.create_badge_class(
                ctx, name=f"Bench badge {i}", criteria=groups, repeatable=(i % 17 == 0)
            )
            made.append(badge.id)


def fill_outbox(lms: LMS, events: list[dict[str, Any]], plugins: list[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    with lms.engine.begin() as conn:
        conn.execute(delete(Delivery))
        conn.execute(delete(OutboxEvent))
        conn.execute(insert(OutboxEvent), events)
        ids = list(conn.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)))
        conn.execute(
            insert(Delivery),
            [
                {
                    "event_id": event_id,
                    "plugin": plugin,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for event_id in ids
                for plugin in plugins
            ],
        )


def deliver_all(lms: LMS) -> float:
    started = time.perf_counter()
    while outbox.deliver_due(lms, worker="bench"):
        pass
    return time.perf_counter() - started


def check_delivered(lms: LMS, expected: int) -> None:
    with lms.session() as session:
        delivered = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status == DeliveryStatus.DELIVERED)
        )
    assert delivered == expected, f"{delivered} of {expected} deliveries made"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()

    if args.database_url:
        recreate_postgres(args.database_url)
        url = args.database_url
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='lms-bench-badges-')) / 'bench.sqlite3'}"
    config = load_config(
        env={},
        overrides={
            "database": {"url": url},
            "plugins": {"enabled": ["*"], "modules": PLUGINS},
        },
    )
    lms = LMS(config, use_entry_points=False)
    upgrade(lms)
    sync_plugin_states(lms)
    assert {"badges", "noop_a"} <= lms.enabled_plugins, lms.enabled_plugins

    events = populate(lms, args.events)
    define_badges(lms)

    disable_plugin(lms, "badges")
    fill_outbox(lms, events, ["noop_a"])
    baseline = deliver_all(lms)
    check_delivered(lms, len(events))

    enable_plugin(lms, "badges")
    fill_outbox(lms, events, ["badges", "noop_a"])
    with_badges = deliver_all(lms)
    from plugins.badges.models import Award
    from plugins.badges.models import LedgerEntry

    with lms.session() as session:
        ledger = session.scalar(select(func.count()).select_from(LedgerEntry))
        awards = session.scalar(select(func.count()).select_from(Award))
        published = (session.scalar(select(func.count()).select_from(OutboxEvent)) or 0) - len(
            events
        )
        failed = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status != DeliveryStatus.DELIVERED)
        )
    assert failed == 0, f"{failed} deliveries not delivered"
    assert ledger and awards, "the badges run granted nothing: the benchmark is broken"

    # The same events again: every point and award already exists, so this measures the
    # evaluation itself (index lookups, idempotency keys, facts queries) with nothing to write.
    fill_outbox(lms, events, ["badges", "noop_a"])
    steady = deliver_all(lms)
    check_delivered(lms, 2 * len(events))

    # The floor: the same ledger and award rows inserted by a plugin that does nothing else.
    floor_ledger, floor_awards = prepare_floor(lms, events)
    disable_plugin(lms, "badges")
    fill_outbox(lms, events, ["bench_floor", "noop_a"])
    floor = deliver_all(lms)
    check_delivered(lms, 2 * len(events))
    with lms.session() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == floor_ledger
        assert session.scalar(select(func.count()).select_from(Award)) == floor_awards

    # The second floor: the same rows plus the levels, and the events they must publish.
    with lms.engine.begin() as conn:
        conn.execute(delete(Award))
        conn.execute(delete(LedgerEntry))
    global FLOOR_PUBLISHES
    FLOOR_PUBLISHES = True
    fill_outbox(lms, events, ["bench_floor", "noop_a"])
    floor_events = deliver_all(lms)
    check_delivered(lms, 2 * len(events))
    with lms.session() as session:
        assert session.scalar(select(func.count()).select_from(Award)) == floor_awards
        floor_published = (
            session.scalar(select(func.count()).select_from(OutboxEvent)) or 0
        ) - len(events)
    assert floor_published == published, (floor_published, published)

    n = len(events)
    figures = {
        "database": lms.engine.dialect.name,
        "events": n,
        "badge_classes": 50,
        "baseline_s": round(baseline, 2),
        "baseline_events_per_s": round(n / baseline, 1),
        "badges_s": round(with_badges, 2),
        "badges_events_per_s": round(n / with_badges, 1),
        "ratio": round(with_badges / baseline, 2),
        "floor_s": round(floor, 2),
        "floor_events_per_s": round(n / floor, 1),
        "ratio_first_vs_floor": round(with_badges / floor, 2),
        "floor_with_events_s": round(floor_events, 2),
        "ratio_first_vs_floor_with_events": round(with_badges / floor_events, 2),
        "redelivered_s": round(steady, 2),
        "redelivered_events_per_s": round(n / steady, 1),
        "ratio_redelivered": round(steady / baseline, 2),
        "ledger_rows": ledger,
        "awards": awards,
        "events_published_by_badges": published,
    }
    print(
        f"baseline (badges off, no-op plugin): {n} events in {baseline:.2f} s = {n / baseline:.0f} events/s"
    )
    print(
        f"badges on (50 classes, 3 rules):     {n} events in {with_badges:.2f} s = {n / with_badges:.0f} events/s"
    )
    print(
        f"ratio badges / baseline: {figures['ratio']}x ({ledger} ledger rows, {awards} awards, "
        f"{published} badge/level events published in the same run)"
    )
    print(
        f"badges on, same events again (nothing new to write): {n} events in {steady:.2f} s = "
        f"{n / steady:.0f} events/s, ratio {figures['ratio_redelivered']}x"
    )
    print(
        f"floor (the same {floor_ledger} ledger and {floor_awards} award rows inserted with Core "
        f"per event): {floor:.2f} s = {n / floor:.0f} events/s; first delivery / floor: "
        f"{figures['ratio_first_vs_floor']}x"
    )
    print(
        f"floor with events (the same rows, the {published} award and level events published): "
        f"{floor_events:.2f} s = {n / floor_events:.0f} events/s; first delivery / floor with "
        f"events: {figures['ratio_first_vs_floor_with_events']}x"
    )
    lms.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
