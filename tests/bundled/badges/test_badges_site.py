"""Leaderboards, turning the plugin off and on, privacy, and report sources."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from lms_core.errors import Forbidden
from lms_core.services import groups
from lms_core.services.plugins import disable_plugin
from lms_core.services.plugins import enable_plugin
from lms_core.services.privacy import erase_user
from lms_core.services.privacy import export_user
from plugins.badges import reports
from plugins.badges import services
from plugins.badges.models import LedgerEntry

COMPLETED = "lms.course.completed.v1"


def points_rule(bx, points=10):
    with bx.system() as ctx:
        services.create_point_rule(ctx, name="Course", event_type=COMPLETED, points=points)


def board(site, **kwargs):
    with site.transaction(system=True) as ctx:
        return [(r.rank, r.name, r.points) for r in services.leaderboard(ctx, **kwargs)]


@pytest.fixture
def league(site, bx):
    """Ann has 30 points (10 of them in course A), Bob 20, Cat 10; Ann's are old."""
    points_rule(bx)
    a, b, c = bx.course("LB-A"), bx.course("LB-B"), bx.course("LB-C")
    ann, bob, cat = bx.user(name="Ann"), bx.user(name="Bob"), bx.user(name="Cat")
    for course in (a, b, c):
        bx.complete(ann, course)
    bx.complete(bob, b)
    bx.complete(bob, c)
    bx.complete(cat, a)
    with bx.system() as ctx:
        for entry in ctx.session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == ann.id)):
            entry.created_at -= dt.timedelta(days=90)
        team = groups.create_group(ctx, "Team")
        groups.add_members(ctx, team, [ctx.attach(bob), ctx.attach(cat)])
    return {"ann": ann, "bob": bob, "cat": cat, "a": a, "team": team}


def test_site_course_and_group_leaderboards_all_time_and_recent(site, league):
    assert board(site) == [(1, "Ann", 30), (2, "Bob", 20), (3, "Cat", 10)]
    assert board(site, period="recent") == [(1, "Bob", 20), (2, "Cat", 10)]
    assert board(site, scope="course", scope_id=league["a"].id) == [(1, "Ann", 10), (1, "Cat", 10)]
    assert board(site, scope="group", scope_id=league["team"].id) == [
        (1, "Bob", 20),
        (2, "Cat", 10),
    ]
    assert board(site, limit=1) == [(1, "Ann", 30)]


def test_a_learner_who_opts_out_does_not_appear(site, league):
    bob = league["bob"]
    with site.transaction(bob) as ctx:
        services.set_opt_out(ctx, bob.id, True)
        assert services.is_opted_out(ctx, bob.id)
    assert [name for _r, name, _p in board(site)] == ["Ann", "Cat"]
    with site.transaction(league["cat"]) as ctx, pytest.raises(Forbidden):
        services.set_opt_out(ctx, bob.id, False)  # not someone else's choice
    with site.transaction(bob) as ctx:
        services.set_opt_out(ctx, bob.id, False)
    assert [name for _r, name, _p in board(site)] == ["Ann", "Bob", "Cat"]


def test_admins_can_turn_leaderboards_off(lms_factory):
    site = lms_factory(
        ["plugins.badges.hooks"],
        plugin_config={"settings": {"badges": {"leaderboards_enabled": False}}},
    )
    with (
        site.transaction(system=True) as ctx,
        pytest.raises(Forbidden, match="Leaderboards are turned off on this site."),
    ):
        services.leaderboard(ctx)


def test_disabling_stops_awards_and_hides_the_ui_while_data_stays_and_enabling_resumes(site, bx):
    points_rule(bx)
    first, second, third = bx.course("OFF-1"), bx.course("OFF-2"), bx.course("OFF-3")
    learner = bx.user()
    with bx.system() as ctx:
        services.create_badge_class(
            ctx,
            name="Two",
            criteria=[{"requirements": [{"type": "course", "course_id": second.id}]}],
        )
    bx.complete(learner, first)
    with bx.system() as ctx:
        user = ctx.attach(learner)
        assert {n.label for n in ctx.hooks.collect("lms_nav_items", user=user)} >= {"My badges"}
        widgets = ctx.hooks.collect("lms_dashboard_widgets", ctx=ctx, user=user)
        assert [w.title for w in widgets] == ["Your badges"]
        assert "<strong>10</strong> points" in widgets[0].html
        pages = ctx.hooks.collect("lms_admin_pages")
        assert "badges.admin_index" in {p.endpoint for p in pages}
    assert disable_plugin(site, "badges") is True
    bx.complete(learner, second)  # while off: no points, no badge
    with bx.system() as ctx:
        user = ctx.attach(learner)
        assert "My badges" not in {n.label for n in ctx.hooks.collect("lms_nav_items", user=user)}
        assert ctx.hooks.collect("lms_dashboard_widgets", ctx=ctx, user=user) == []
        pages = ctx.hooks.collect("lms_admin_pages")
        assert "badges.admin_index" not in {p.endpoint for p in pages}
        # the data stays
        assert services.points_of(ctx, learner.id) == 10
        assert services.awards_of(ctx, learner.id) == []
    assert enable_plugin(site, "badges") is True
    bx.complete(learner, third)  # new events count again
    with bx.system() as ctx:
        assert services.points_of(ctx, learner.id) == 20
        assert [e.course_id for e in services.ledger_of(ctx, learner.id)] == [third.id, first.id]


def test_privacy_export_and_erase_cover_ledger_awards_and_opt_outs(site, bx):
    points_rule(bx)
    course = bx.course("PRIV-1")
    learner, admin = bx.user(email="pat@example.com"), bx.admin()
    with bx.system() as ctx:
        services.create_badge_class(
            ctx,
            name="Private",
            criteria=[{"requirements": [{"type": "course", "course_id": course.id}]}],
        )
        services.create_level(ctx, "Starter", 5)
        services.set_opt_out(ctx, learner.id, True)
    bx.complete(learner, course)
    with site.transaction(admin) as ctx:
        data = export_user(ctx, "pat@example.com")["plugins"]["badges"]
    assert data["points"] == 10
    assert [(e["reason"], e["points"]) for e in data["ledger"]] == [("Course", 10)]
    assert [a["badge"] for a in data["awards"]] == ["Private"]
    assert [lv["level"] for lv in data["levels"]] == ["Starter"]
    assert data["leaderboard_opt_out"] is True
    with site.transaction(admin) as ctx:
        erase_user(ctx, "pat@example.com")
    with site.transaction(admin) as ctx:
        assert services.ledger_of(ctx, learner.id) == []
        assert services.awards_of(ctx, learner.id) == []
        assert services.is_opted_out(ctx, learner.id) is False
        assert services.export_user_data(ctx, learner.id) is None


def test_report_sources_count_awards_by_badge_course_and_group(site, bx):
    course = bx.course("REP-1")
    ann, bob = bx.user(), bx.user()
    with bx.system() as ctx:
        done = services.create_badge_class(
            ctx,
            name="Done",
            course_id=course.id,
            criteria=[{"requirements": [{"type": "course", "course_id": course.id}]}],
        )
        services.create_badge_class(ctx, name="Unused")
        team = groups.create_group(ctx, "Reds")
        groups.add_members(ctx, team, [ctx.attach(ann)])
    bx.complete(ann, course)
    bx.complete(bob, course)
    with bx.system() as ctx:
        assert reports.award_counts(ctx, by="badge") == [
            {"badge_id": done.id, "badge": "Done", "awards": 2, "holders": 2},
            {"badge_id": done.id + 1, "badge": "Unused", "awards": 0, "holders": 0},
        ]
        assert reports.award_counts(ctx, by="course") == [
            {"course_id": course.id, "course": "REP-1", "awards": 2, "holders": 2}
        ]
        assert reports.award_counts(ctx, by="group") == [
            {"group_id": team.id, "group": "Reds", "awards": 1, "holders": 1}
        ]
        sources = {s["name"]: s for s in reports.report_sources()}
        assert sources["badges.awards_by_group"]["run"](ctx)[0]["awards"] == 1
