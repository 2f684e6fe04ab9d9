"""The dashboard's badges widget costs two SQL statements, whatever the amount of data.

The dashboard is the page every learner loads: the widget reads the points with the current
and next level in one statement and the latest valid badges in another, for a learner with
one badge and one level as for one with sixty badges, twenty levels and forty awards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import insert

from lms_core.runtime import LMS
from lms_core.testing import AuthActions
from lms_core.testing import Factory
from lms_core.testing import count_statements
from lms_core.web import create_app
from plugins.badges import services
from plugins.badges.models import LedgerEntry

PASSWORD = "correct horse battery"


def badges_data(
    site: LMS, learner: Any, *, classes: int, levels: int, awards: int, batch: int
) -> None:
    """``classes`` more badge classes, ``levels`` more levels (10 points apart), ``awards``
    of the new classes held, and ``awards + 3`` grants of 7 points."""
    with site.transaction(system=True) as ctx:
        existing = len(services.levels(ctx))
        for n in range(existing, existing + levels):
            services.create_level(ctx, f"Level {n}", n * 10)
        made = [services.create_badge_class(ctx, name=f"Badge {batch}-{n}") for n in range(classes)]
        person = ctx.attach(learner)
        for badge in made[:awards]:
            services.award_badge(ctx, badge, person)
        now = dt.datetime.now(dt.UTC)
        ctx.session.execute(
            insert(LedgerEntry),
            [
                {
                    "key": f"test:{batch}:{n}",
                    "user_id": learner.id,
                    "points": 7,
                    "event_name": "test",
                    "created_at": now,
                }
                for n in range(awards + 3)
            ],
        )


def dashboard_statements(site: LMS, email: str) -> tuple[list[str], str]:
    app = create_app(lms=site)
    app.config["TESTING"] = True
    client: FlaskClient = app.test_client()
    response = AuthActions(client).login(email, PASSWORD)
    assert response.status_code == 302
    first = client.get("/")  # warm the caches that fill once per process
    assert first.status_code == 200
    with count_statements(site) as seen:
        page = client.get("/")
    assert page.status_code == 200
    return seen, page.get_data(as_text=True)


def test_the_badges_widget_costs_two_statements_for_few_or_many_badges(site: LMS) -> None:
    learner = Factory(site).user("lea@example.com", password=PASSWORD)
    badges_data(site, learner, classes=1, levels=1, awards=1, batch=0)
    small, small_html = dashboard_statements(site, "lea@example.com")
    # levels are site-wide: the second measure adds levels, classes and awards to the first
    badges_data(site, learner, classes=60, levels=20, awards=40, batch=1)
    large, large_html = dashboard_statements(site, "lea@example.com")

    # 4 grants of 7 points; one level at 0
    assert ">28</strong> points" in small_html and "level <strong>Level 0</strong>" in small_html
    # 4 + 43 grants of 7 = 329 points; levels at 0, 10, ..., 200: the top one, none next
    assert ">329</strong> points" in large_html and "Level 20" in large_html
    assert "more to reach" not in large_html
    assert large_html.count("<li>Badge ") == 3  # the latest three, picked by the database
    widget_small = [s for s in small if "badges_" in s]
    widget_large = [s for s in large if "badges_" in s]
    assert len(widget_small) <= 2, "\n".join(widget_small)
    assert len(widget_large) == len(widget_small), "\n".join(widget_large)
    assert len(large) == len(small), "\n\n".join(["\n".join(small), "\n".join(large)])


def test_the_widget_names_the_next_level_and_leaves_out_revoked_and_expired_badges(
    site: LMS,
) -> None:
    learner = Factory(site).user("lea@example.com", password=PASSWORD)
    with site.transaction(system=True) as ctx:
        services.create_level(ctx, "Bronze", 10)
        services.create_level(ctx, "Silver", 50)
        services.create_level(ctx, "Gold", 100)
        kept = services.create_badge_class(ctx, name="Kept")
        gone = services.create_badge_class(ctx, name="Taken back")
        old = services.create_badge_class(ctx, name="Long ago", expires_days=1)
        person = ctx.attach(learner)
        services.award_badge(ctx, kept, person)
        revoked = services.award_badge(ctx, gone, person)
        assert revoked is not None
        services.revoke_award(ctx, revoked, "Given by mistake")
        expired = services.award_badge(ctx, old, person)
        assert expired is not None
        expired.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        ctx.session.execute(
            insert(LedgerEntry),
            [{"key": "t:1", "user_id": learner.id, "points": 12, "event_name": "test"}],
        )
    _seen, html = dashboard_statements(site, "lea@example.com")
    assert ">12</strong> points" in html and "level <strong>Bronze</strong>" in html
    assert "38 more to reach Silver (50 points)" in html
    assert "<li>Kept " in html and "Taken back" not in html and "Long ago" not in html
