"""Delivering an event to badges costs the same statements with 5 badge classes as with 50.

The classes are indexed by the events (and event fields) their criteria react to, and what
is known about the learner is read in one statement; only the writes (grants, awards,
levels) add statements, so a site with more badges pays nothing more per event.
"""

from __future__ import annotations

from typing import Any

from lms_core.events import CourseCompleted
from lms_core.testing import count_statements
from plugins.badges import services


def define(bx: Any, courses: list[Any], count: int, start: int = 0) -> None:
    """``count`` badge classes of every kind of criteria, none met by one course alone."""
    with bx.system() as ctx:
        lessons = [ctx.attach(c).lessons[0].id for c in courses]
        made: list[int] = []
        for i in range(start, start + count):
            a, b = courses[i % len(courses)], courses[(i + 1) % len(courses)]
            kinds: list[dict[str, Any]] = [
                {"type": "courses", "course_ids": [a.id, b.id]},
                {"type": "any_courses", "min": 2 + i},
                {"type": "any_courses", "min": 2, "category": "Safety"},
                {"type": "points", "min": 1000 + i},
                {"type": "lesson", "lesson_id": lessons[(i + 1) % len(lessons)]},
            ]
            groups = [{"requirements": [kinds[i % len(kinds)]]}]
            if made and i % 3 == 0:  # some with an OR group reaching another kind of fact
                groups.append(
                    {
                        "requirements": [
                            {"type": "badges", "badge_ids": [made[-1]]},
                            {"type": "lesson", "lesson_id": lessons[i % len(lessons)]},
                        ]
                    }
                )
            made.append(services.create_badge_class(ctx, name=f"B{i}", criteria=groups).id)


def statements_per_delivery(
    site: Any, bx: Any, course: Any, completed: bool = False, inside: Any = None
) -> tuple[int, int]:
    """Statements of badges' handling of a new learner's completion of ``course``: the
    first delivery, and the same event delivered again (``completed``: the enrollment is
    marked completed first, as the core does before it publishes the event; ``inside(ctx,
    learner)`` runs in the first delivery's transaction, after badges handled the event)."""
    learner = bx.user()
    enrollment = bx.enroll(learner, course)
    if completed:
        from lms_core.models import Enrollment

        with bx.system() as ctx:
            row = ctx.session.get(Enrollment, enrollment.id)
            row.completed_at = row.enrolled_at
    event = CourseCompleted(
        enrollment_id=enrollment.id,
        user_id=learner.id,
        course_id=course.id,
        course_code=course.code,
        course_category=course.category,
        completed_at=enrollment.enrolled_at,
    )
    counts = []
    for _time in ("first", "again"):
        with bx.system() as ctx:
            services._index(ctx)  # as in a delivery batch, where it is made once
            with count_statements(site) as seen:
                services.handle_event(ctx, event)
                ctx.session.flush()
            counts.append(len(seen))
            if inside is not None and _time == "first":
                inside(ctx, learner)
    return counts[0], counts[1]


def test_one_delivery_costs_the_same_statements_with_5_or_50_badge_classes(
    site: Any, bx: Any
) -> None:
    courses = [bx.course(category="Safety" if i % 2 else "General") for i in range(6)]
    with bx.system() as ctx:
        services.create_point_rule(
            ctx, name="Done", event_type="lms.course.completed.v1", points=10, daily_cap=5
        )
        services.create_level(ctx, "Bronze", 10)
    define(bx, courses, 5)
    few = statements_per_delivery(site, bx, courses[1])
    define(bx, courses, 45, start=5)
    many = statements_per_delivery(site, bx, courses[1])
    assert few == many, {"5 classes": few, "50 classes": many}
    first, again = many
    # again: the one read of the learner's state; first: that read, the grant, the level
    # reached and its event (outbox row and delivery rows)
    assert again == 1, many
    assert first <= 6, many


def cascade(bx: Any, course: Any, name: str) -> tuple[Any, Any]:
    """A badge for ``course`` and a badge for holding that badge."""
    with bx.system() as ctx:
        first = services.create_badge_class(
            ctx,
            name=f"{name} 1",
            criteria=[{"requirements": [{"type": "course", "course_id": course.id}]}],
        )
        second = services.create_badge_class(
            ctx,
            name=f"{name} 2",
            criteria=[{"requirements": [{"type": "badges", "badge_ids": [first.id]}]}],
        )
    return first, second


def test_a_badge_of_badges_is_awarded_in_the_same_delivery_in_constant_statements(
    site: Any, bx: Any
) -> None:
    """The award a completion earns is applied to badges itself in process (its badge of
    badges awarded in the same delivery), and every event published is recorded at once:
    the statements per delivery stay the same with 5 or 50 classes, and the badge events
    come back to badges through no outbox round trip (their delivery to badges is done)."""
    from sqlalchemy import select

    from lms_core.models import Delivery
    from lms_core.models import DeliveryStatus
    from lms_core.models import OutboxEvent

    courses = [bx.course(category="Safety" if i % 2 else "General") for i in range(6)]
    with bx.system() as ctx:
        services.create_point_rule(
            ctx, name="Done", event_type="lms.course.completed.v1", points=10
        )
        services.create_level(ctx, "Bronze", 10)
    seen = []

    def in_the_same_delivery(ctx: Any, learner: Any) -> None:
        # before this transaction commits: both badges held, and badges' own deliveries of
        # the events it published already done (applied in process, never queued for it)
        held = sorted(b.name for _a, b in services.awards_of(ctx, learner.id))
        assert held == [f"Cascade {start} 1", f"Cascade {start} 2"]
        rows = ctx.session.execute(
            select(OutboxEvent.name, Delivery.status)
            .join(Delivery, Delivery.event_id == OutboxEvent.id)
            .where(Delivery.plugin == "badges", OutboxEvent.id.in_(ctx.event_ids))
        ).all()
        assert sorted(rows) == [
            ("badges.badge.awarded.v1", DeliveryStatus.DELIVERED),
            ("badges.badge.awarded.v1", DeliveryStatus.DELIVERED),
            ("badges.level.reached.v1", DeliveryStatus.DELIVERED),
        ]

    for count, start in ((5, 0), (45, 5)):
        define(bx, courses, count, start=start)
        target = bx.course(f"CASCADE-{start}")
        cascade(bx, target, f"Cascade {start}")
        seen.append(
            statements_per_delivery(site, bx, target, completed=True, inside=in_the_same_delivery)
        )
    assert seen[0] == seen[1], {"5 classes": seen[0], "50 classes": seen[1]}
    first, again = seen[1]
    # first: the read, the grant, the award, the level, the award of the badge of badges
    # (no second read: the first one and this delivery's own writes say all it needs), then
    # all three events and their deliveries in two
    assert first == 7, seen
    assert again == 1, seen


def test_a_replay_still_reaches_badges_with_its_own_events(site: Any, bx: Any, redeliver) -> None:
    """A badge of badges created after the award: replaying badges' deliveries awards it,
    its own (in-process applied) award events included."""
    course = bx.course("REPLAY-1")
    learner = bx.user()
    with bx.system() as ctx:
        first = services.create_badge_class(
            ctx,
            name="First",
            criteria=[{"requirements": [{"type": "course", "course_id": course.id}]}],
        )
    bx.complete(learner, course)
    with bx.system() as ctx:
        services.create_badge_class(
            ctx,
            name="Later",
            criteria=[{"requirements": [{"type": "badges", "badge_ids": [first.id]}]}],
        )
    assert redeliver(site) > 0
    with bx.system() as ctx:
        names = sorted(b.name for _a, b in services.awards_of(ctx, learner.id))
    assert names == ["First", "Later"]
