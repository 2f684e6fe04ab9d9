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


def statements_per_delivery(site: Any, bx: Any, course: Any) -> tuple[int, int]:
    """Statements of badges' handling of a new learner's completion of ``course``: the
    first delivery, and the same event delivered again."""
    learner = bx.user()
    enrollment = bx.enroll(learner, course)
    completed = CourseCompleted(
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
                services.handle_event(ctx, completed)
                ctx.session.flush()
            counts.append(len(seen))
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
