"""Demo content for ``lms demo``: point rules, levels and a few badges over the demo courses.

Everything goes through the plugin's services. The demo's past events are then redelivered
to badges, so the rules apply to the history the core's demo builder just wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from lms_core import outbox
from lms_core.context import Context
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Delivery
from plugins.badges import services


def add_demo_content(ctx: Context, courses: Sequence[Course]) -> None:
    published = [c for c in courses if c.status == CourseStatus.PUBLISHED]
    if not published:
        return
    services.create_point_rule(
        ctx, name="Lesson done", event_type="lms.lesson.completed.v1", points=5
    )
    services.create_point_rule(
        ctx,
        name="Course completed",
        event_type="lms.course.completed.v1",
        points=50,
        once_per_course=True,
    )
    categories = sorted({c.category for c in published if c.category})
    featured = categories[0] if categories else None
    if featured:
        services.create_point_rule(
            ctx,
            name=f"{featured} bonus",
            event_type="lms.course.completed.v1",
            conditions=[{"field": "course_category", "op": "eq", "value": featured}],
            points=25,
            once_per_course=True,
        )
    for name, threshold in (("Newcomer", 0), ("Explorer", 100), ("Expert", 300), ("Master", 600)):
        services.create_level(ctx, name, threshold)
    first = services.create_badge_class(
        ctx,
        name="First steps",
        description="Completed a first course.",
        criteria_text="Complete any course.",
        # "Any course" names no course, so courses added after the demo count as well.
        criteria=[{"requirements": [{"type": "any_courses", "min": 1}]}],
    )
    services.create_badge_class(
        ctx,
        name="Centurion",
        description="Earned 100 points.",
        criteria_text="Reach 100 points.",
        criteria=[{"requirements": [{"type": "points", "min": 100}]}],
    )
    if featured:
        in_featured = [c.id for c in published if c.category == featured]
        services.create_badge_class(
            ctx,
            name=f"{featured} explorer",
            description=f"Completed two {featured} courses.",
            criteria_text=f"Complete any two {featured} courses.",
            criteria=[{"requirements": [{"type": "any_courses", "min": 2, "category": featured}]}],
        )
        services.create_badge_class(
            ctx,
            name=f"{featured} champion",
            description=f"Completed every {featured} course.",
            criteria_text=f"Complete all {len(in_featured)} {featured} courses.",
            criteria=[{"requirements": [{"type": "courses", "course_ids": in_featured}]}],
            expires_days=365,
        )
    services.create_badge_class(
        ctx,
        name="Well rounded",
        description="Completed three courses and holds First steps.",
        criteria_text="Complete three courses and hold First steps.",
        criteria=[
            {
                "requirements": [
                    {"type": "any_courses", "min": 3},
                    {"type": "badges", "badge_ids": [first.id]},
                ]
            }
        ],
    )
    services.create_badge_class(
        ctx,
        name="Helping hand",
        description="Recognised by an instructor for helping others.",
        criteria_text="Awarded by an instructor.",
        criteria=[{"requirements": [{"type": "manual"}]}],
    )
    # Apply the new rules to the demo's history: redeliver its events to badges.
    ids = list(ctx.session.scalars(select(Delivery.id).where(Delivery.plugin == "badges")))
    outbox.redeliver(ctx, ids, include_delivered=True)
