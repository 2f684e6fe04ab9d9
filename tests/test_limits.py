"""Every text a person sends has a limit, checked in the service that stores it.

The message names the field and the limit and does not repeat the refused value; the
columns are as wide as the limits; plugins check their own fields with the same helper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

import lms_core
from lms_core import limits
from lms_core.context import Context
from lms_core.errors import Invalid
from lms_core.importer import import_users_csv
from lms_core.models import ApiToken
from lms_core.models import Course
from lms_core.models import Group
from lms_core.models import Lesson
from lms_core.models import Role
from lms_core.models import User
from lms_core.services import courses
from lms_core.services import enrollments
from lms_core.services import groups
from lms_core.services import roles
from lms_core.services import tokens
from lms_core.services import users

LONG = 10_000
FIVE_MB = 5 * 1024 * 1024


def _refused(lms, action: Callable[[Context], Any]) -> Invalid:
    with pytest.raises(Invalid) as excinfo, lms.transaction(system=True) as ctx:
        action(ctx)
    return excinfo.value


def _states_the_limit(exc: Invalid, field: str, limit: int, sent: str) -> None:
    assert exc.field == field
    assert f"at most {limit:,}" in exc.message
    assert sent not in exc.message  # the value is not echoed back
    assert len(exc.message) < 200


def _count(lms, model) -> int:
    with lms.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- each service's texts -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("name", limits.USER_NAME),
        ("department", limits.PROFILE_ATTRIBUTE),
        ("location", limits.PROFILE_ATTRIBUTE),
        ("job_title", limits.PROFILE_ATTRIBUTE),
    ],
)
def test_user_profile_texts_have_limits(lms, field, limit):
    sent = "x" * LONG
    exc = _refused(lms, lambda ctx: users.create_user(ctx, "a@example.com", **{field: sent}))
    _states_the_limit(exc, field, limit, sent)
    # The limit itself fits.
    with lms.transaction(system=True) as ctx:
        users.create_user(ctx, "b@example.com", **{field: "y" * limit})


def test_an_email_has_a_limit_and_is_not_echoed(lms):
    sent = "x" * LONG + "@example.com"
    exc = _refused(lms, lambda ctx: users.create_user(ctx, sent))
    _states_the_limit(exc, "email", limits.EMAIL, sent)


def test_a_deactivation_reason_has_a_limit(lms, factory):
    user = factory.user()
    exc = _refused(lms, lambda ctx: users.deactivate_user(ctx, user, reason="r" * LONG))
    _states_the_limit(exc, "reason", limits.REASON, "r" * LONG)


def test_a_five_megabyte_group_description_is_refused(lms):
    sent = "d" * FIVE_MB
    exc = _refused(lms, lambda ctx: groups.create_group(ctx, "Big", description=sent))
    _states_the_limit(exc, "description", limits.GROUP_DESCRIPTION, sent[:1000])
    assert _count(lms, Group) == 0
    with lms.transaction(system=True) as ctx:
        group = groups.create_group(ctx, "Small", description="d" * limits.GROUP_DESCRIPTION)
    exc = _refused(lms, lambda ctx: groups.update_group(ctx, group, description=sent))
    assert exc.field == "description"


def test_group_names_and_rule_values_have_limits(lms):
    exc = _refused(lms, lambda ctx: groups.create_group(ctx, "n" * LONG))
    _states_the_limit(exc, "name", limits.GROUP_NAME, "n" * LONG)
    exc = _refused(
        lms, lambda ctx: groups.create_group(ctx, "Rule", rule={"department": "v" * LONG})
    )
    _states_the_limit(exc, "rule", limits.PROFILE_ATTRIBUTE, "v" * LONG)


def test_role_texts_have_limits(lms):
    for field, limit, kwargs in [
        ("name", limits.ROLE_NAME, {"name": "r" * LONG, "title": "T"}),
        ("title", limits.ROLE_TITLE, {"name": "reviewer", "title": "t" * LONG}),
        (
            "description",
            limits.ROLE_DESCRIPTION,
            {"name": "reviewer", "title": "T", "description": "d" * LONG},
        ),
    ]:
        exc = _refused(lms, lambda ctx, kw=kwargs: roles.create_role(ctx, **kw))
        _states_the_limit(exc, field, limit, kwargs[field])
    assert _count(lms, Role) == len(roles.BUILTIN_ROLES)  # only the built-in ones


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("code", limits.COURSE_CODE),
        ("title", limits.COURSE_TITLE),
        ("summary", limits.COURSE_SUMMARY),
        ("category", limits.COURSE_CATEGORY),
    ],
)
def test_course_texts_have_limits(lms, field, limit):
    fields = {"code": "C-1", "title": "Course", field: "c" * (LONG if limit < LONG else FIVE_MB)}
    exc = _refused(
        lms,
        lambda ctx: courses.create_course(ctx, fields.pop("code"), fields.pop("title"), **fields),
    )
    _states_the_limit(exc, field, limit, "c" * 1000)
    assert _count(lms, Course) == 0


def test_a_course_takes_a_bounded_number_of_tags(lms):
    tags = [f"tag {i}" for i in range(limits.COURSE_TAGS + 1)]
    exc = _refused(lms, lambda ctx: courses.create_course(ctx, "T-1", "Tags", tags=tags))
    assert exc.field == "tags" and f"at most {limits.COURSE_TAGS}" in exc.message


@pytest.mark.parametrize(
    ("field", "limit", "kwargs"),
    [
        ("title", limits.LESSON_TITLE, {"title": "t" * LONG}),
        ("body", limits.LESSON_BODY, {"title": "L", "body": "b" * FIVE_MB}),
        (
            "url",
            limits.LESSON_URL,
            {"title": "L", "kind": "link", "url": "https://x/" + "u" * LONG},
        ),
    ],
)
def test_lesson_texts_have_limits(lms, factory, field, limit, kwargs):
    course = factory.course("L-1", lessons=0, publish=False)
    exc = _refused(lms, lambda ctx: courses.add_lesson(ctx, course, **kwargs))
    _states_the_limit(exc, field, limit, kwargs[field][:1000])
    assert _count(lms, Lesson) == 0


def test_five_megabytes_of_lesson_data_are_refused(lms, factory):
    course = factory.course("L-1", lessons=1, publish=False)
    data = {"quiz": ["q" * 1000] * (FIVE_MB // 1000)}
    exc = _refused(lms, lambda ctx: courses.add_lesson(ctx, course, "Quiz", data=data))
    assert exc.field == "data"
    assert f"at most {limits.LESSON_DATA:,}" in exc.message
    with lms.session() as session:
        lesson = session.scalars(select(Lesson)).one()
    exc = _refused(lms, lambda ctx: courses.update_lesson(ctx, lesson, data=data))
    assert exc.field == "data"


def test_lesson_data_must_be_storable(lms, factory):
    course = factory.course("L-1", lessons=0, publish=False)
    for data, problem in [
        ({"n": 2**64}, "64-bit"),
        ({"text": "\ud800"}, "surrogate"),
        ({"text": "a\x00b"}, "NUL"),
        ({"x": float("nan")}, "NaN"),
        ({1: "a"}, "not text"),
    ]:
        exc = _refused(lms, lambda ctx, d=data: courses.add_lesson(ctx, course, "L", data=d))
        assert exc.field == "data" and problem in exc.message, exc.message


def test_a_ten_thousand_character_token_name_is_refused(lms, factory):
    user = factory.user()
    sent = "n" * LONG
    exc = _refused(lms, lambda ctx: tokens.create_token(ctx, user, sent))
    _states_the_limit(exc, "name", limits.TOKEN_NAME, sent)
    assert _count(lms, ApiToken) == 0


def test_withdrawal_and_decline_reasons_have_limits(lms, factory):
    learner = factory.user()
    enrollment = factory.enrollment(learner, factory.course())
    exc = _refused(lms, lambda ctx: enrollments.withdraw(ctx, enrollment, reason="r" * LONG))
    _states_the_limit(exc, "reason", limits.REASON, "r" * LONG)
    exc = _refused(lms, lambda ctx: enrollments.decline(ctx, enrollment, reason="r" * LONG))
    assert exc.field == "reason"


def test_text_a_database_cannot_store_is_refused_by_the_services(lms):
    for text, problem in [("a\x00b", "NUL"), ("\udfff", "surrogate")]:
        exc = _refused(lms, lambda ctx, t=text: groups.create_group(ctx, "G" + t))
        assert exc.field == "name" and problem in exc.message


# -- imports --------------------------------------------------------------------------------
def test_import_cells_have_the_services_limits(lms, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(f"email,department\nann@example.com,{'d' * LONG}\n")
    report = import_users_csv(lms, path)
    (line,) = report.problem_lines()
    assert f"department is too long ({limits.PROFILE_ATTRIBUTE} characters at most)" in line
    assert _count(lms, User) == 0


def test_an_import_with_a_nul_character_is_refused(lms, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"email,name\nann@example.com,A\x00nn\n")
    report = import_users_csv(lms, path)
    assert "NUL character on line 2" in report.summary()
    assert _count(lms, User) == 0


# -- columns and the public helper --------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "limit"),
    [
        (User.__table__.c.email, limits.EMAIL),
        (User.__table__.c.name, limits.USER_NAME),
        (User.__table__.c.department, limits.PROFILE_ATTRIBUTE),
        (User.__table__.c.location, limits.PROFILE_ATTRIBUTE),
        (User.__table__.c.job_title, limits.PROFILE_ATTRIBUTE),
        (Group.__table__.c.name, limits.GROUP_NAME),
        (Role.__table__.c.name, limits.ROLE_NAME),
        (Role.__table__.c.title, limits.ROLE_TITLE),
        (Course.__table__.c.code, limits.COURSE_CODE),
        (Course.__table__.c.title, limits.COURSE_TITLE),
        (Course.__table__.c.category, limits.COURSE_CATEGORY),
        (Lesson.__table__.c.title, limits.LESSON_TITLE),
        (Lesson.__table__.c.url, limits.LESSON_URL),
        (ApiToken.__table__.c.name, limits.TOKEN_NAME),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_columns_are_as_wide_as_the_limits(column, limit):
    assert column.type.length == limit


def test_plugins_check_their_fields_with_the_cores_helper():
    assert lms_core.check_length("title", "fine", 10) == "fine"
    with pytest.raises(lms_core.TooLong) as excinfo:
        lms_core.check_length("title", "t" * 11, 10)
    assert excinfo.value.limit == 10
    assert excinfo.value.message == "Title is too long: 11 characters, at most 10."
    assert lms_core.check_json("criteria", {"a": [1, 2]}, 100) == {"a": [1, 2]}
    with pytest.raises(Invalid, match="at most 5"):
        lms_core.check_json("criteria", {"a": [1, 2]}, 5)


def test_excerpts_cut_long_values_with_their_length():
    assert limits.excerpt("short") == "'short'"
    assert limits.excerpt("x" * LONG) == repr("x" * 40) + "... (10,000 characters)"
    assert limits.listing(["a", "b", "c"], limit=2) == "a, b and 1 more"
