"""The learner's pages: how a lesson shows its title, and how every page words a due date."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from lms_core.db import utcnow
from lms_core.models import Enrollment
from lms_core.services import courses as course_service
from lms_core.testing import text_of

PASSWORD = "correct horse battery"
TEMPLATES = Path(__file__).resolve().parents[2] / "lms_core" / "templates"


@pytest.fixture
def learner(factory: Any, auth: Any) -> Any:
    user = factory.user("pat@example.com", name="Pat Learner", password=PASSWORD)
    assert auth.login("pat@example.com", PASSWORD).status_code == 302
    return user


def _headings(html: str, text: str) -> list[str]:
    return [
        h
        for h in re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", html, re.S)
        if text in re.sub(r"<[^>]+>", "", h)
    ]


@pytest.mark.parametrize(
    "body",
    [
        "# Fire safety basics\n\nKnow your exits.",
        "Fire Safety  Basics\n===\n\nKnow your exits.",
        "\n## fire safety basics ##\nKnow your exits.",
    ],
    ids=["atx", "setext", "atx-closed"],
)
def test_a_lesson_page_shows_its_title_as_one_heading_even_if_the_text_starts_with_it(
    lms: Any, factory: Any, client: Any, learner: Any, body: str
) -> None:
    course = factory.course("FIRE-1", lessons=0, publish=False)
    with lms.transaction(system=True) as ctx:
        lesson = course_service.add_lesson(ctx, course, "Fire safety basics", body=body)
        course_service.publish_course(ctx, course)
    factory.enrollment(learner, course)
    html = text_of(client.get(f"/courses/{course.id}/lessons/{lesson.id}"), 200)
    assert len(_headings(html, "Fire safety basics")) == 1
    assert "Know your exits." in html


def test_a_heading_that_is_not_the_title_stays(
    lms: Any, factory: Any, client: Any, learner: Any
) -> None:
    course = factory.course("FIRE-2", lessons=0, publish=False)
    with lms.transaction(system=True) as ctx:
        lesson = course_service.add_lesson(
            ctx, course, "Fire safety basics", body="# Before you start\n\nRead this."
        )
        course_service.publish_course(ctx, course)
    factory.enrollment(learner, course)
    html = text_of(client.get(f"/courses/{course.id}/lessons/{lesson.id}"), 200)
    assert len(_headings(html, "Before you start")) == 1


def test_the_demo_lessons_do_not_repeat_their_title(lms: Any) -> None:
    from lms_core.demo import COURSES
    from lms_core.demo import _Page
    from lms_core.demo import _page_body

    spec = COURSES[0]
    page = next(lesson for lesson in spec.lessons if isinstance(lesson, _Page))
    assert page.title not in _page_body(spec, page).splitlines()[0]


def _overdue(lms: Any, enrollment: Enrollment, days: int) -> dt.datetime:
    due = utcnow() - dt.timedelta(days=days)
    with lms.transaction(system=True) as ctx:
        ctx.attach(enrollment).due_at = due
    return due


def test_the_course_page_and_the_dashboard_word_an_overdue_date_alike(
    lms: Any, factory: Any, client: Any, learner: Any
) -> None:
    course = factory.course("LATE-1", title="Late course", due_days=10)
    due = _overdue(lms, factory.enrollment(learner, course), days=3)
    wording = f'Overdue since <time datetime="{due.isoformat()}">{due.strftime("%d %b %Y")}'
    dashboard = text_of(client.get("/"), 200)
    course_page = text_of(client.get(f"/courses/{course.id}"), 200)
    assert wording in dashboard
    assert wording in course_page
    assert ">Due " not in course_page


def test_a_date_not_yet_passed_is_due_on_every_page(
    lms: Any, factory: Any, client: Any, learner: Any
) -> None:
    course = factory.course("SOON-1", title="Soon course", due_days=10)
    enrollment = factory.enrollment(learner, course)
    assert enrollment.due_at is not None
    wording = f'Due <time datetime="{enrollment.due_at.isoformat()}">'
    assert wording in text_of(client.get("/"), 200)
    assert wording in text_of(client.get(f"/courses/{course.id}"), 200)


def test_every_template_words_due_dates_through_the_one_macro() -> None:
    """Due wording lives in macros.html's due_date; no page formats a due date itself."""
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if path.name != "macros.html" and "due_at.strftime" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
    for name in ("learner/dashboard.html", "learner/course.html", "teach/roster.html"):
        assert "due_date(" in (TEMPLATES / name).read_text(encoding="utf-8")
