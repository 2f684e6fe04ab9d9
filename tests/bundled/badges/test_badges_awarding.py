"""Awarding by hand, revoking with a reason, levels, and the events badges publishes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.models import OutboxEvent
from plugins.badges import services


def published(site, name):
    with site.session() as session:
        return [
            row.payload
            for row in session.scalars(
                select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id)
            )
        ]


def test_instructors_award_their_courses_badges_admins_any(site, bx):
    course_a, course_b = bx.course("AW-A"), bx.course("AW-B")
    teacher_a = bx.instructor(course_a)
    learner, admin = bx.user(), bx.admin()
    with bx.system() as ctx:
        badge_a = services.create_badge_class(ctx, name="Helper A", course_id=course_a.id)
        badge_b = services.create_badge_class(ctx, name="Helper B", course_id=course_b.id)
        site_badge = services.create_badge_class(ctx, name="Site hero")
    with site.transaction(teacher_a) as ctx:
        award = services.award_badge(ctx, badge_a, learner, evidence="Helped everyone")
        assert award is not None and award.awarded_by_id == teacher_a.id
    with site.transaction(teacher_a) as ctx, pytest.raises(Forbidden, match="badges.award"):
        services.award_badge(ctx, badge_b, learner)
    with site.transaction(teacher_a) as ctx, pytest.raises(Forbidden):
        services.award_badge(ctx, site_badge, learner)
    with site.transaction(learner) as ctx, pytest.raises(Forbidden):
        services.award_badge(ctx, badge_a, learner)
    with site.transaction(admin) as ctx:
        assert services.award_badge(ctx, badge_b, learner) is not None
        assert services.award_badge(ctx, site_badge, learner) is not None
        # once-only: awarding a held badge again does nothing
        assert services.award_badge(ctx, site_badge, learner) is None
    with bx.system() as ctx:
        names = sorted(b.name for _a, b in services.awards_of(ctx, learner.id))
    assert names == ["Helper A", "Helper B", "Site hero"]
    awarded = published(site, "badges.badge.awarded.v1")
    assert [(p["badge_name"], p["manual"]) for p in awarded] == [
        ("Helper A", True),
        ("Helper B", True),
        ("Site hero", True),
    ]


def test_revoking_needs_a_reason_and_the_permission_and_is_published(site, bx):
    course = bx.course("RV-1")
    teacher, other_teacher = bx.instructor(course), bx.instructor(bx.course("RV-2"))
    learner = bx.user()
    with bx.system() as ctx:
        badge = services.create_badge_class(ctx, name="Revocable", course_id=course.id)
        award = services.award_badge(ctx, badge, ctx.attach(learner))
    with site.transaction(teacher) as ctx, pytest.raises(Invalid, match="Say why") as exc:
        services.revoke_award(ctx, award, "   ")
    assert exc.value.field == "reason"
    with site.transaction(other_teacher) as ctx, pytest.raises(Forbidden):
        services.revoke_award(ctx, award, "Plagiarism")
    with site.transaction(teacher) as ctx:
        assert services.revoke_award(ctx, award, "Plagiarism") is True
        assert services.revoke_award(ctx, award, "Again") is False
    with bx.system() as ctx:
        revoked = services.get_award_by_uid(ctx, award.uid)
        assert revoked.revoked_reason == "Plagiarism" and revoked.revoked_by_id == teacher.id
        assert services.awards_of(ctx, learner.id, include_revoked=False) == []
    [event] = published(site, "badges.badge.revoked.v1")
    assert (event["award_uid"], event["reason"]) == (award.uid, "Plagiarism")


def test_automatic_awards_are_published_as_badge_awarded(site, bx):
    course = bx.course("PUB-1")
    learner = bx.user()
    with bx.system() as ctx:
        badge = services.create_badge_class(
            ctx,
            name="Auto",
            criteria=[{"requirements": [{"type": "course", "course_id": course.id}]}],
        )
    bx.complete(learner, course)
    [event] = published(site, "badges.badge.awarded.v1")
    assert (event["badge_id"], event["user_id"], event["manual"]) == (badge.id, learner.id, False)


def test_levels_are_reached_by_points_and_published_once(site, bx, redeliver):
    learner = bx.user()
    with bx.system() as ctx:
        services.create_point_rule(
            ctx, name="Course", event_type="lms.course.completed.v1", points=60
        )
        services.create_level(ctx, "Novice", 0)
        services.create_level(ctx, "Apprentice", 50)
        services.create_level(ctx, "Expert", 100)
        assert [lv.name for lv in services.level_of(ctx, learner.id) if lv] == [
            "Novice",
            "Apprentice",
        ]
    bx.complete(learner, bx.course("LV-1"))
    with bx.system() as ctx:
        current, nxt = services.level_of(ctx, learner.id)
        assert (current.name, nxt.name) == ("Apprentice", "Expert")
    bx.complete(learner, bx.course("LV-2"))
    redeliver(site)
    with bx.system() as ctx:
        current, nxt = services.level_of(ctx, learner.id)
        assert (current.name, nxt) == ("Expert", None)
    reached = [(p["level_name"], p["points"]) for p in published(site, "badges.level.reached.v1")]
    assert reached == [("Novice", 60), ("Apprentice", 60), ("Expert", 120)]
