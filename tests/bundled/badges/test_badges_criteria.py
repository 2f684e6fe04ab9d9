"""Badge criteria are data, checked when the matching events are delivered.

Requirement groups combine with AND within a group and OR across groups; awards are
idempotent; learners see their progress.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sample_plugins.forumstub import write_post
from sqlalchemy import func
from sqlalchemy import select

from lms_core.errors import Invalid
from plugins.badges import services
from plugins.badges.models import Award


def badge(bx, name, *groups, **kwargs):
    with bx.system() as ctx:
        return services.create_badge_class(
            ctx, name=name, criteria=[{"requirements": list(g)} for g in groups], **kwargs
        )


def held(bx, user):
    with bx.system() as ctx:
        return sorted(b.name for a, b in services.awards_of(ctx, user.id, include_revoked=False))


def test_complete_a_course(site, bx):
    course, other = bx.course("C-A"), bx.course("C-B")
    learner = bx.user()
    badge(bx, "First steps", [{"type": "course", "course_id": course.id}])
    bx.complete(learner, other)
    assert held(bx, learner) == []
    bx.complete(learner, course)
    assert held(bx, learner) == ["First steps"]


def test_complete_all_of_a_set_of_courses_and_see_progress(site, bx):
    a, b, c = bx.course("ALL-A"), bx.course("ALL-B"), bx.course("ALL-C")
    learner = bx.user()
    trio = badge(bx, "Trilogy", [{"type": "courses", "course_ids": [a.id, b.id, c.id]}])
    bx.complete(learner, a)
    bx.complete(learner, b)
    with bx.system() as ctx:
        progress = services.progress_towards(ctx, ctx.attach(trio), learner.id)
    assert (progress.done, progress.total) == (2, 3)
    assert progress.groups[0].items == [
        ("Complete ALL-A", True),
        ("Complete ALL-B", True),
        ("Complete ALL-C", False),
    ]
    assert held(bx, learner) == []
    bx.complete(learner, c)
    assert held(bx, learner) == ["Trilogy"]
    with bx.system() as ctx:
        progress = services.progress_towards(ctx, ctx.attach(trio), learner.id)
    assert (progress.done, progress.total) == (3, 3)


def test_complete_any_n_of_a_set_of_courses(site, bx):
    courses = [bx.course(f"ANY-{i}") for i in range(4)]
    learner = bx.user()
    two = badge(
        bx, "Two of four", [{"type": "courses", "course_ids": [c.id for c in courses], "min": 2}]
    )
    bx.complete(learner, courses[3])
    with bx.system() as ctx:
        progress = services.progress_towards(ctx, ctx.attach(two), learner.id)
    assert (progress.done, progress.total) == (1, 2)
    assert progress.groups[0].items[0] == ("Complete 2 of 4 courses (1 so far)", False)
    bx.complete(learner, courses[1])
    assert held(bx, learner) == ["Two of four"]


def test_any_course_counts_a_course_created_after_the_badge(site, bx):
    learner = bx.user()
    first = badge(bx, "First steps", [{"type": "any_courses"}])
    assert first.criteria == [{"requirements": [{"type": "any_courses", "min": 1}]}]
    later = bx.course("LATER-1")  # made after the badge: no list of ids could name it
    with bx.system() as ctx:
        progress = services.progress_towards(ctx, ctx.attach(first), learner.id)
    assert progress.groups[0].items == [("Complete any course (0 so far)", False)]
    bx.complete(learner, later)
    assert held(bx, learner) == ["First steps"]


def test_any_n_courses_in_a_category_ignores_other_categories(site, bx):
    learner = bx.user()
    two = badge(bx, "Safety explorer", [{"type": "any_courses", "min": 2, "category": "Safety"}])
    safety = [bx.course(f"SAF-{i}", category="Safety") for i in range(2)]
    bx.complete(learner, bx.course("GEN-1", category="General"))
    bx.complete(learner, bx.course("NONE-1"))
    bx.complete(learner, safety[0])
    with bx.system() as ctx:
        progress = services.progress_towards(ctx, ctx.attach(two), learner.id)
    assert (progress.done, progress.total) == (1, 2)
    assert progress.groups[0].items == [("Complete any 2 Safety courses (1 so far)", False)]
    assert held(bx, learner) == []
    bx.complete(learner, safety[1])
    assert held(bx, learner) == ["Safety explorer"]


def test_any_n_courses_counts_every_category_and_catches_up_with_evaluate_user(site, bx):
    learner = bx.user()
    for i in range(3):
        bx.complete(learner, bx.course(f"MIX-{i}", category=f"Cat {i}"))
    three = badge(bx, "Three courses", [{"type": "any_courses", "min": 3}])
    # "safety" matches the category "Safety": categories are compared ignoring case
    lower = badge(bx, "Any safety", [{"type": "any_courses", "category": " safety "}])
    assert lower.criteria[0]["requirements"][0]["category"] == "safety"
    assert held(bx, learner) == []  # defined after the completions: nothing was delivered
    with bx.system() as ctx:
        services.evaluate_user(ctx, learner.id, "catch-up")
    assert held(bx, learner) == ["Three courses"]
    bx.complete(learner, bx.course("SAF-X", category="Safety"))
    assert held(bx, learner) == ["Any safety", "Three courses"]
    assert three.id != lower.id


def test_any_courses_requirements_are_checked_when_saved(site, bx):
    with bx.system() as ctx:
        for req, message in (
            ({"type": "any_courses", "min": 0}, "min must be a whole number from 1"),
            ({"type": "any_courses", "category": ""}, "course category's name"),
            ({"type": "any_courses", "category": 7}, "course category's name"),
            ({"type": "any_courses", "category": "x" * 101}, "at most 100 characters"),
            (
                {"type": "any_courses", "course_ids": [1]},
                "has a min and a category, not course_ids",
            ),
        ):
            with pytest.raises(Invalid, match=message):
                services.create_badge_class(ctx, name="x", criteria=[{"requirements": [req]}])


def test_complete_a_lesson(site, bx):
    course = bx.course("LES-1", lessons=3)
    learner = bx.user()
    with bx.system() as ctx:
        third = ctx.attach(course).lessons[2]
        badge_id = services.create_badge_class(
            ctx,
            name="Deep diver",
            criteria=[{"requirements": [{"type": "lesson", "lesson_id": third.id}]}],
        ).id
    bx.complete_lesson(learner, course, 0)
    assert held(bx, learner) == []
    bx.complete_lesson(learner, course, 2)
    assert held(bx, learner) == ["Deep diver"]
    with bx.system() as ctx:
        progress = services.progress_towards(
            ctx, services.get_badge_class(ctx, badge_id), learner.id
        )
    assert progress.groups[0].items == [("Complete the lesson Lesson 3", True)]


def test_reach_n_points(site, bx):
    courses = [bx.course(f"PTS-{i}", lessons=1) for i in range(3)]
    learner = bx.user()
    with bx.system() as ctx:
        services.create_point_rule(
            ctx, name="Course", event_type="lms.course.completed.v1", points=40
        )
    badge(bx, "Century", [{"type": "points", "min": 100}])
    bx.complete(learner, courses[0])
    bx.complete(learner, courses[1])
    assert held(bx, learner) == []
    bx.complete(learner, courses[2])  # 120 points
    assert held(bx, learner) == ["Century"]


def test_hold_other_badges(site, bx):
    a, b = bx.course("HB-A"), bx.course("HB-B")
    learner = bx.user()
    first = badge(bx, "A done", [{"type": "course", "course_id": a.id}])
    second = badge(bx, "B done", [{"type": "course", "course_id": b.id}])
    badge(bx, "Collector", [{"type": "badges", "badge_ids": [first.id, second.id]}])
    bx.complete(learner, a)
    assert held(bx, learner) == ["A done"]
    bx.complete(learner, b)  # B done is awarded, and that award earns the collector badge
    assert held(bx, learner) == ["A done", "B done", "Collector"]


def test_an_event_criterion_counts_another_plugins_events(site, bx):
    learner = bx.user()
    chatty = badge(
        bx,
        "Chatty",
        [
            {
                "type": "event",
                "event_type": "forumstub.post.created.v1",
                "conditions": [{"field": "forum_id", "op": "eq", "value": 7}],
                "min": 3,
            }
        ],
    )
    write_post(site, learner.id, forum_id=7)
    write_post(site, learner.id, forum_id=7)
    write_post(site, learner.id, forum_id=8)  # another forum: not counted
    with bx.system() as ctx:
        progress = services.progress_towards(ctx, ctx.attach(chatty), learner.id)
    assert (progress.done, progress.total) == (2, 3)
    assert progress.groups[0].items == [("Forum post written: 2 of 3", False)]
    assert held(bx, learner) == []
    write_post(site, learner.id, forum_id=7)
    assert held(bx, learner) == ["Chatty"]


def test_and_within_a_group_or_across_groups(site, bx):
    a, b, c = bx.course("AO-A"), bx.course("AO-B"), bx.course("AO-C")
    both, alone = bx.user(), bx.user()
    badge(
        bx,
        "Either way",
        [{"type": "course", "course_id": a.id}, {"type": "course", "course_id": b.id}],
        [{"type": "course", "course_id": c.id}],
    )
    bx.complete(both, a)
    assert held(bx, both) == []  # A alone is half of the first group
    bx.complete(both, b)
    assert held(bx, both) == ["Either way"]  # A and B
    bx.complete(alone, c)
    assert held(bx, alone) == ["Either way"]  # or C


def test_a_manual_requirement_is_never_met_by_events(site, bx):
    course = bx.course("MAN-1")
    learner = bx.user()
    badge(bx, "Hand-picked", [{"type": "course", "course_id": course.id}, {"type": "manual"}])
    bx.complete(learner, course)
    assert held(bx, learner) == []


def test_criteria_are_checked_when_saved(site, bx):
    course = bx.course("VAL-1")
    with bx.system() as ctx:
        with pytest.raises(Invalid, match="do not exist: 999"):
            services.create_badge_class(
                ctx, name="x", criteria=[{"requirements": [{"type": "course", "course_id": 999}]}]
            )
        with pytest.raises(Invalid, match="Unknown requirement type 'karma'"):
            services.create_badge_class(
                ctx, name="x", criteria=[{"requirements": [{"type": "karma"}]}]
            )
        with pytest.raises(Invalid, match="asks for 3 of only 1"):
            services.create_badge_class(
                ctx,
                name="x",
                criteria=[
                    {"requirements": [{"type": "courses", "course_ids": [course.id], "min": 3}]}
                ],
            )
        with pytest.raises(Invalid, match="Unknown event type 'forums.nope.v1'"):
            services.create_badge_class(
                ctx,
                name="x",
                criteria=[{"requirements": [{"type": "event", "event_type": "forums.nope.v1"}]}],
            )
        with pytest.raises(Invalid, match="has no field 'topic'"):
            services.create_badge_class(
                ctx,
                name="x",
                criteria=[
                    {
                        "requirements": [
                            {
                                "type": "event",
                                "event_type": "forumstub.post.created.v1",
                                "conditions": [{"field": "topic", "op": "eq", "value": "x"}],
                            }
                        ]
                    }
                ],
            )
        first = services.create_badge_class(ctx, name="Same name")
        second = services.create_badge_class(ctx, name="Same name")
        assert (first.slug, second.slug) == ("same-name", "same-name-2")
        with pytest.raises(Invalid, match="cannot require itself"):
            services.update_badge_class(
                ctx,
                first,
                criteria=[{"requirements": [{"type": "badges", "badge_ids": [first.id]}]}],
            )


def test_a_redelivered_event_never_awards_twice(site, bx, redeliver):
    course = bx.course("IDEM-1")
    learner = bx.user()
    badge(bx, "Once", [{"type": "course", "course_id": course.id}])
    badge(bx, "Again and again", [{"type": "course", "course_id": course.id}], repeatable=True)
    bx.complete(learner, course)
    assert held(bx, learner) == ["Again and again", "Once"]
    assert redeliver(site) > 0
    assert held(bx, learner) == ["Again and again", "Once"]
    with bx.system() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Award)) == 2
    with bx.system() as ctx:
        # a new cause earns the repeatable badge again; the same cause a second time does not
        again = services.evaluate_user(ctx, learner.id, "cause-2")
        assert [a.source_key.endswith(":cause:cause-2") for a in again] == [True]
    with bx.system() as ctx:
        assert services.evaluate_user(ctx, learner.id, "cause-2") == []


def test_repeatable_badges_are_earned_again_once_only_badges_are_not(site, bx):
    learner = bx.user()
    event = {"type": "event", "event_type": "forumstub.post.created.v1", "min": 1}
    badge(bx, "Poster", [event], repeatable=True)
    badge(bx, "First post", [event])
    for _ in range(3):
        write_post(site, learner.id, forum_id=1)
    assert held(bx, learner) == ["First post", "Poster", "Poster", "Poster"]


def test_evaluate_user_awards_what_now_holds_and_is_idempotent(site, bx):
    course = bx.course("EV-1")
    learner = bx.user()
    bx.complete(learner, course)  # before the badge existed
    badge(bx, "Late", [{"type": "course", "course_id": course.id}])
    assert held(bx, learner) == []
    with bx.system() as ctx:
        assert [a.badge_id for a in services.evaluate_user(ctx, learner.id, "backfill")] != []
    with bx.system() as ctx:
        assert services.evaluate_user(ctx, learner.id, "backfill") == []
    assert held(bx, learner) == ["Late"]


def test_an_expiry_period_sets_expires_at(site, bx):
    course = bx.course("EXP-1")
    learner = bx.user()
    badge(bx, "Yearly", [{"type": "course", "course_id": course.id}], expires_days=365)
    bx.complete(learner, course)
    with bx.system() as ctx:
        [(award, _badge)] = services.awards_of(ctx, learner.id)
        assert award.expires_at is not None
        assert award.expires_at - award.awarded_at == dt.timedelta(days=365)
