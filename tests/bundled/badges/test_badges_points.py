"""Point rules are data: an event type, conditions on its fields, points and limits.

Every point is a ledger row naming the rule and the event that caused it.
"""

from __future__ import annotations

import pytest
from sample_plugins.forumstub import write_post
from sqlalchemy import select

from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from plugins.badges import services
from plugins.badges.models import LedgerEntry

COMPLETED = "lms.course.completed.v1"
LESSON = "lms.lesson.completed.v1"


def test_a_rule_with_a_condition_gives_points_only_for_matching_events(site, bx):
    safety, other = bx.course("SAF-1", category="Safety"), bx.course("GEN-1", category="General")
    learner = bx.user()
    with bx.system() as ctx:
        services.create_point_rule(
            ctx,
            name="Safety course completed",
            event_type=COMPLETED,
            conditions=[{"field": "course_category", "op": "eq", "value": "Safety"}],
            points=50,
        )
    bx.complete(learner, other)
    with bx.system() as ctx:
        assert services.points_of(ctx, learner.id) == 0
    bx.complete(learner, safety)
    with bx.system() as ctx:
        assert services.points_of(ctx, learner.id) == 50


def test_the_ledger_explains_the_total(site, bx):
    course = bx.course("LED-1", lessons=2)
    learner = bx.user()
    with bx.system() as ctx:
        lesson_rule = services.create_point_rule(
            ctx, name="Lesson done", event_type=LESSON, conditions=[], points=5
        )
        course_rule = services.create_point_rule(
            ctx, name="Course done", event_type=COMPLETED, conditions=[], points=20
        )
    bx.complete(learner, course)
    with bx.system() as ctx:
        ledger = services.ledger_of(ctx, learner.id)
        assert sorted((e.reason, e.points) for e in ledger) == [
            ("Course done", 20),
            ("Lesson done", 5),
            ("Lesson done", 5),
        ]
        assert sum(e.points for e in ledger) == services.points_of(ctx, learner.id) == 30
        by_rule = {e.rule_id for e in ledger}
        assert by_rule == {lesson_rule.id, course_rule.id}
        # each row points at the event that caused it
        assert {e.event_name for e in ledger} == {LESSON, COMPLETED}
        assert all(e.event_id and len(e.event_id) == 64 for e in ledger)
        assert all(e.course_id == course.id for e in ledger)


def test_once_per_course_gives_points_for_the_first_matching_event_only(site, bx):
    course = bx.course("ONCE-1", lessons=3)
    learner = bx.user()
    with bx.system() as ctx:
        services.create_point_rule(
            ctx, name="Started a course", event_type=LESSON, points=7, once_per_course=True
        )
    bx.complete(learner, course)  # three lessons
    with bx.system() as ctx:
        assert services.points_of(ctx, learner.id) == 7
        assert len(services.ledger_of(ctx, learner.id)) == 1


def test_a_daily_cap_limits_how_often_a_rule_pays_per_day(site, bx):
    course = bx.course("CAP-1", lessons=5)
    learner = bx.user()
    with bx.system() as ctx:
        services.create_point_rule(ctx, name="Lesson", event_type=LESSON, points=2, daily_cap=3)
    bx.complete(learner, course)  # five lessons today
    with bx.system() as ctx:
        assert services.points_of(ctx, learner.id) == 6
        # yesterday's grants do not count against today's cap
        for entry in ctx.session.scalars(select(LedgerEntry)):
            entry.created_at -= _days(1)
    other = bx.course("CAP-2", lessons=2)
    bx.complete(learner, other)
    with bx.system() as ctx:
        assert services.points_of(ctx, learner.id) == 10


def _days(n):
    import datetime as dt

    return dt.timedelta(days=n)


def test_unknown_event_types_fields_and_bad_values_are_refused_on_save(site, bx):
    with bx.system() as ctx:
        with pytest.raises(Invalid, match="Unknown event type 'lms.nothing.v1'") as exc:
            services.create_point_rule(ctx, name="x", event_type="lms.nothing.v1", points=1)
        assert exc.value.field == "event_type"
        with pytest.raises(Invalid, match="has no field 'colour'") as exc:
            services.create_point_rule(
                ctx,
                name="x",
                event_type=COMPLETED,
                conditions=[{"field": "colour", "op": "eq", "value": "red"}],
                points=1,
            )
        assert exc.value.field == "conditions"
        with pytest.raises(Invalid, match="needs a whole number"):
            services.create_point_rule(
                ctx,
                name="x",
                event_type=COMPLETED,
                conditions=[{"field": "course_id", "op": "eq", "value": "seven"}],
                points=1,
            )
        with pytest.raises(Invalid, match="Unknown operator"):
            services.create_point_rule(
                ctx,
                name="x",
                event_type=COMPLETED,
                conditions=[{"field": "course_id", "op": "like", "value": 1}],
                points=1,
            )
        with pytest.raises(Invalid, match="no course_id"):
            services.create_point_rule(
                ctx,
                name="x",
                event_type="forumstub.post.created.v1",
                points=1,
                once_per_course=True,
            )
        with pytest.raises(Invalid, match="other than 0"):
            services.create_point_rule(ctx, name="x", event_type=COMPLETED, points=0)
        rule = services.create_point_rule(ctx, name="ok", event_type=COMPLETED, points=1)
        with pytest.raises(Invalid, match="has no field 'nope'"):
            services.update_point_rule(
                ctx, rule, conditions=[{"field": "nope", "op": "eq", "value": 1}]
            )
        assert services.point_rules(ctx) == [rule]


def test_only_badge_managers_define_rules(site, bx):
    learner = bx.user()
    with site.transaction(learner) as ctx, pytest.raises(Forbidden, match="badges.manage"):
        services.create_point_rule(ctx, name="Free points", event_type=COMPLETED, points=1000)
    admin = bx.admin()
    with site.transaction(admin) as ctx:
        rule = services.create_point_rule(ctx, name="Course", event_type=COMPLETED, points=10)
    assert rule.id is not None


def test_a_rule_over_another_plugins_event_grants_points(site, bx):
    learner = bx.user()
    with bx.system() as ctx:
        assert "forumstub.post.created.v1" in services.event_types(ctx)
        services.create_point_rule(
            ctx,
            name="Posted in the help forum",
            event_type="forumstub.post.created.v1",
            conditions=[{"field": "forum_id", "op": "in", "value": [1, 2]}],
            points=3,
        )
    write_post(site, learner.id, forum_id=1)
    write_post(site, learner.id, forum_id=2)
    write_post(site, learner.id, forum_id=9)  # not a matching forum
    with bx.system() as ctx:
        assert services.points_of(ctx, learner.id) == 6
        assert {e.event_name for e in services.ledger_of(ctx, learner.id)} == {
            "forumstub.post.created.v1"
        }


def test_a_redelivered_event_grants_nothing_new(site, bx, redeliver):
    course = bx.course("RE-1", lessons=2)
    learner = bx.user()
    with bx.system() as ctx:
        services.create_point_rule(ctx, name="Lesson", event_type=LESSON, points=1)
        services.create_point_rule(ctx, name="Course", event_type=COMPLETED, points=10)
    bx.complete(learner, course)
    with bx.system() as ctx:
        before = [(e.key, e.points) for e in services.ledger_of(ctx, learner.id)]
    assert redeliver(site) > 0
    with bx.system() as ctx:
        after = [(e.key, e.points) for e in services.ledger_of(ctx, learner.id)]
        assert sorted(after) == sorted(before)
        assert services.points_of(ctx, learner.id) == 12
        assert ctx.session.scalars(select(LedgerEntry.id)).all().__len__() == 3
