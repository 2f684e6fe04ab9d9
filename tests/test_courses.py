"""Courses and lessons: validation, status, tags, lesson kinds, ordering and rendering."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lms_core.errors import Conflict
from lms_core.errors import Invalid
from lms_core.models import AuditEntry
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import EnrollmentPolicy
from lms_core.models import Lesson
from lms_core.services import courses

# An href or src that would run script (plain text mentioning "javascript:" is harmless).
_DANGEROUS_URL = re.compile(r"(href|src)\s*=\s*[\"']?\s*javascript:", re.IGNORECASE)


def _create(lms, code="SAFE-101", title="Safety basics", **fields) -> Course:
    with lms.transaction(system=True) as ctx:
        return courses.create_course(ctx, code, title, **fields)


def _lessons(lms, course) -> list[Lesson]:
    with lms.session() as session:
        return list(
            session.scalars(
                select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)
            )
        )


def test_a_new_course_is_a_draft_with_an_open_policy(lms):
    course = _create(lms)
    assert course.status == CourseStatus.DRAFT
    assert course.enrollment_policy == EnrollmentPolicy.OPEN
    assert course.capacity is None and course.due_days is None
    assert course.published_at is None


def test_course_codes_are_unique_regardless_of_case(lms):
    _create(lms, "Safe-101")
    with pytest.raises(Conflict, match="already exists"):
        _create(lms, "SAFE-101")
    with lms.transaction(system=True) as ctx:
        found = courses.find_course(ctx, " safe-101 ")
        assert found is not None and found.code == "Safe-101"


@pytest.mark.parametrize("code", ["", "has space", "-leading-dash", "x" * 41, "ümlaut", None])
def test_a_malformed_course_code_is_invalid(lms, code):
    with pytest.raises(Invalid) as excinfo:
        _create(lms, code)
    assert excinfo.value.field == "code"


@pytest.mark.parametrize("title", ["", "   ", None, "t" * 201])
def test_a_course_needs_a_title_of_reasonable_length(lms, title):
    with pytest.raises(Invalid) as excinfo:
        _create(lms, title=title)
    assert excinfo.value.field == "title"


def test_category_and_tags_are_normalised(lms):
    course = _create(
        lms, category="  Health   and Safety ", tags=["Fire", " fire ", "First  Aid", ""]
    )
    assert course.category == "Health and Safety"
    assert course.tags == ["fire", "first aid"]
    with lms.transaction(system=True) as ctx:
        assert courses.update_course(ctx, course, tags="onboarding, Fire") == ["tags"]
        assert ctx.attach(course).tags == ["fire", "onboarding"]


def test_a_bad_tag_is_invalid(lms):
    with pytest.raises(Invalid) as excinfo:
        _create(lms, tags=["<script>"])
    assert excinfo.value.field == "tags"


def test_an_unknown_enrollment_policy_is_invalid_and_the_policies_are_listed(lms):
    with pytest.raises(Invalid) as excinfo:
        _create(lms, enrollment_policy="first come")
    assert excinfo.value.field == "enrollment_policy"
    for policy in EnrollmentPolicy:
        assert policy.value in excinfo.value.message


@pytest.mark.parametrize("field", ["capacity", "due_days"])
@pytest.mark.parametrize("value", [0, -3, "abc", True, 2.5, [3]])
def test_capacity_and_due_days_must_be_positive_whole_numbers(lms, field, value):
    with pytest.raises(Invalid) as excinfo:
        _create(lms, **{field: value})
    assert excinfo.value.field == field
    assert repr(value) in excinfo.value.message


@pytest.mark.parametrize("field", ["capacity", "due_days"])
def test_capacity_and_due_days_accept_a_number_or_nothing(lms, field):
    course = _create(lms, **{field: "30"})
    assert getattr(course, field) == 30
    with lms.transaction(system=True) as ctx:
        courses.update_course(ctx, course, **{field: None})
        assert getattr(ctx.attach(course), field) is None


def test_an_unknown_course_field_is_invalid(lms):
    with pytest.raises(Invalid, match="colour"):
        _create(lms, colour="blue")


def test_update_reports_what_changed_and_audits_it(lms):
    course = _create(lms, title="Old title")
    with lms.transaction(system=True) as ctx:
        assert courses.update_course(ctx, course, title="New title", summary="") == ["title"]
        assert courses.update_course(ctx, course, title="New title") == []
    with lms.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "course.update")
        ).one()
    assert entry.details == {"changed": ["title"]}


def test_changing_the_code_to_one_in_use_is_a_conflict(lms):
    _create(lms, "A-1")
    other = _create(lms, "B-1")
    with pytest.raises(Conflict), lms.transaction(system=True) as ctx:
        courses.update_course(ctx, other, code="a-1")


def test_publishing_needs_at_least_one_lesson(lms):
    course = _create(lms)
    with pytest.raises(Invalid, match="no lessons"), lms.transaction(system=True) as ctx:
        courses.publish_course(ctx, course)
    with lms.transaction(system=True) as ctx:
        courses.add_lesson(ctx, course, "Intro", body="Welcome")
        assert courses.publish_course(ctx, course) is True
        assert courses.publish_course(ctx, course) is False
        assert ctx.attach(course).status == CourseStatus.PUBLISHED
        assert ctx.attach(course).published_at is not None


def test_archiving_takes_a_course_out_and_publishing_brings_it_back(lms, factory):
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        assert courses.archive_course(ctx, course) is True
        assert courses.archive_course(ctx, course) is False
        assert ctx.attach(course).status == CourseStatus.ARCHIVED
        assert courses.publish_course(ctx, course) is True
        assert ctx.attach(course).archived_at is None


# --- lessons --------------------------------------------------------------------------------


def test_lessons_are_kept_in_the_order_they_were_added(lms, factory):
    course = factory.course(lessons=3, publish=False)
    assert [(lesson.position, lesson.title) for lesson in _lessons(lms, course)] == [
        (1, "Lesson 1"),
        (2, "Lesson 2"),
        (3, "Lesson 3"),
    ]


def test_lessons_are_required_unless_marked_optional(lms, factory):
    course = factory.course(lessons=1, optional_lessons=1, publish=False)
    assert [lesson.required for lesson in _lessons(lms, course)] == [True, False]
    with lms.transaction(system=True) as ctx:
        first = _lessons(lms, course)[0]
        assert courses.update_lesson(ctx, first, required=False) == ["required"]
    assert [lesson.required for lesson in _lessons(lms, course)] == [False, False]


def test_a_page_lesson_renders_its_markdown_as_safe_html(lms):
    course = _create(lms)
    body = (
        "# Fire safety\n\n"
        "Know your **exits**. [Map](https://example.com/map)\n\n"
        "<script>alert('x')</script>\n\n"
        '<img src="https://example.com/a.png" onerror="alert(1)">\n\n'
        "[click me](javascript:alert(1))\n\n"
        '<a href="javascript:alert(2)">raw link</a>\n'
    )
    with lms.transaction(system=True) as ctx:
        lesson = courses.add_lesson(ctx, course, "Fire", body=body)
        html = courses.render_lesson(lms.hooks, lesson)
    assert "<h1>Fire safety</h1>" in html
    assert "<strong>exits</strong>" in html
    assert 'href="https://example.com/map"' in html
    assert "<script" not in html.lower()
    assert "onerror" not in html.lower()
    assert not _DANGEROUS_URL.search(html)


def test_a_link_lesson_needs_a_web_address(lms):
    course = _create(lms)
    with lms.transaction(system=True) as ctx:
        for url in (None, "", "ftp://example.com/file", "javascript:alert(1)", "example.com"):
            with pytest.raises(Invalid) as excinfo:
                courses.add_lesson(ctx, course, "Elsewhere", kind="link", url=url)
            assert excinfo.value.field == "url"
        lesson = courses.add_lesson(
            ctx, course, "Handbook", kind="link", url=" https://example.com/handbook "
        )
        html = courses.render_lesson(lms.hooks, lesson)
    assert lesson.url == "https://example.com/handbook"
    assert 'href="https://example.com/handbook"' in html


def test_an_unknown_lesson_kind_is_invalid_and_the_kinds_are_listed(lms):
    course = _create(lms)
    with pytest.raises(Invalid) as excinfo, lms.transaction(system=True) as ctx:
        courses.add_lesson(ctx, course, "Video", kind="hologram")
    assert excinfo.value.field == "kind"
    assert "hologram" in excinfo.value.message
    assert "page" in excinfo.value.message and "link" in excinfo.value.message


def test_a_lesson_needs_a_title(lms):
    course = _create(lms)
    with pytest.raises(Invalid) as excinfo, lms.transaction(system=True) as ctx:
        courses.add_lesson(ctx, course, "  ")
    assert excinfo.value.field == "title"


def test_lessons_are_reordered_by_an_exact_permutation(lms, factory):
    course = factory.course(lessons=3, publish=False)
    a, b, c = (lesson.id for lesson in _lessons(lms, course))
    with lms.transaction(system=True) as ctx:
        courses.reorder_lessons(ctx, course, [c, a, b])
    assert [lesson.id for lesson in _lessons(lms, course)] == [c, a, b]
    assert [lesson.position for lesson in _lessons(lms, course)] == [1, 2, 3]


@pytest.mark.parametrize("order", ["missing", "duplicate", "foreign", "extra"])
def test_a_reorder_that_is_not_an_exact_permutation_is_invalid(lms, factory, order):
    course = factory.course(lessons=3, publish=False)
    other = factory.course(lessons=1, publish=False)
    a, b, c = (lesson.id for lesson in _lessons(lms, course))
    foreign = _lessons(lms, other)[0].id
    ids = {
        "missing": [a, b],
        "duplicate": [a, a, b],
        "foreign": [a, b, foreign],
        "extra": [a, b, c, foreign],
    }[order]
    with pytest.raises(Invalid) as excinfo, lms.transaction(system=True) as ctx:
        courses.reorder_lessons(ctx, course, ids)
    assert excinfo.value.field == "lessons"
    assert [lesson.id for lesson in _lessons(lms, course)] == [a, b, c]


def test_deleting_a_lesson_moves_the_later_ones_up(lms, factory):
    course = factory.course(lessons=3, publish=False)
    first, second, third = _lessons(lms, course)
    with lms.transaction(system=True) as ctx:
        courses.delete_lesson(ctx, second)
    assert [(lesson.id, lesson.position) for lesson in _lessons(lms, course)] == [
        (first.id, 1),
        (third.id, 2),
    ]
    with lms.transaction(system=True) as ctx:
        added = courses.add_lesson(ctx, course, "Appendix")
    assert added.position == 3


def test_editing_a_lesson_reports_what_changed(lms, factory):
    course = factory.course(lessons=1, publish=False)
    lesson = _lessons(lms, course)[0]
    with lms.transaction(system=True) as ctx:
        assert courses.update_lesson(ctx, lesson, title="Renamed", body=lesson.body) == ["title"]
        with pytest.raises(Invalid, match="duration"):
            courses.update_lesson(ctx, lesson, duration=5)
    assert _lessons(lms, course)[0].title == "Renamed"
