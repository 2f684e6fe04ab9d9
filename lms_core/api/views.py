"""The API's endpoints: parse, call a service inside ``write()``, answer JSON.

Every endpoint is declared with :func:`~lms_core.api.registry.route`, which guards it with
its permission and puts it in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any
from typing import TypeVar

import cattrs
from flask import Response
from flask import jsonify
from flask import request
from flask_login import current_user
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from lms_core import limits
from lms_core.api import schemas as s
from lms_core.api.jsonbody import parse_json
from lms_core.api.problems import BadBody
from lms_core.api.problems import field_of_cattrs_error
from lms_core.api.registry import QueryParam
from lms_core.api.registry import route
from lms_core.api.typeschema import TypeMismatch
from lms_core.api.typeschema import check_value
from lms_core.context import Context
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.limits import check_count
from lms_core.limits import excerpt
from lms_core.limits import listing
from lms_core.limits import shown
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Enrollment
from lms_core.models import EnrollmentSource
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import GroupMember
from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.models import User
from lms_core.serde import converter
from lms_core.serde import describe_errors
from lms_core.services import courses as course_service
from lms_core.services import enrollments as enrollment_service
from lms_core.services import groups as group_service
from lms_core.services import progress as progress_service
from lms_core.services import users as user_service
from lms_core.services.permissions import can
from lms_core.services.permissions import courses_with
from lms_core.web.db import db
from lms_core.web.db import read_ctx
from lms_core.web.db import write
from lms_core.web.decorators import PUBLIC
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.params import page_arg
from lms_core.web.params import query_int
from lms_core.web.params import query_text

__all__: list[str] = []

T = TypeVar("T")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200


# -- helpers ------------------------------------------------------------------------------
@contextmanager
def _write() -> Iterator[Context]:
    """``write()``, then a fresh read snapshot so the answer shows what was committed.

    (On SQLite the request's read session keeps the snapshot its first query saw, and the
    token check has already queried; ``expire_all`` alone would reload stale rows.)
    """
    with write() as ctx:
        yield ctx
    db().rollback()


def _me() -> User:
    user: User = current_user._get_current_object()
    return user


def _body(cls: type[T]) -> tuple[T, dict[str, Any]]:
    """The request's JSON object structured into ``cls``, and the raw keys sent."""
    raw = request.get_data(cache=True)
    data: Any = parse_json(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise BadBody("The request body must be a JSON object.")
    try:
        check_value(data, cls)
    except TypeMismatch as exc:
        raise BadBody(f"{exc.message} @ {exc.path}", field=exc.path.removeprefix("$.")) from None
    try:
        obj = converter.structure(data, cls)
    except (
        cattrs.BaseValidationError,
        cattrs.ForbiddenExtraKeysError,
        ValueError,
        TypeError,
    ) as exc:
        lines = describe_errors(exc)
        raise BadBody("; ".join(lines), field=field_of_cattrs_error(exc, lines)) from None
    return obj, data


def _paginate(stmt: Select[Any]) -> tuple[list[Any], dict[str, int]]:
    page = page_arg()
    per_page = query_int("per_page", DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE)
    total = db().scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(db().scalars(stmt.offset((page - 1) * per_page).limit(per_page)))
    return rows, {"page": page, "per_page": per_page, "total": int(total)}


def _page(items: Sequence[Any], meta: dict[str, int]) -> Response:
    return jsonify({"items": [converter.unstructure(item) for item in items], **meta})


def _one(obj: Any, status: int = 200) -> Response:
    response = jsonify(converter.unstructure(obj))
    response.status_code = status
    return response


def _no_content() -> Response:
    return Response(status=204)


def user_out(user: User) -> s.UserOut:
    return s.UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        is_active=user.is_active,
        department=user.department,
        location=user.location,
        job_title=user.job_title,
        manager_id=user.manager_id,
        timezone=user.timezone,
        locale=user.locale,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        deactivated_at=user.deactivated_at,
    )


def course_out(course: Course) -> s.CourseOut:
    return s.CourseOut(
        id=course.id,
        code=course.code,
        title=course.title,
        summary=course.summary,
        category=course.category,
        tags=list(course.tags),
        status=course.status,
        enrollment_policy=course.enrollment_policy,
        capacity=course.capacity,
        due_days=course.due_days,
        created_at=course.created_at,
        published_at=course.published_at,
        archived_at=course.archived_at,
    )


def lesson_out(lesson: Lesson, *, full: bool) -> s.LessonOut:
    return s.LessonOut(
        id=lesson.id,
        course_id=lesson.course_id,
        position=lesson.position,
        title=lesson.title,
        kind=lesson.kind,
        required=lesson.required,
        body=lesson.body if full else None,
        url=lesson.url if full else None,
        data=dict(lesson.data or {}) if full else None,
        created_at=lesson.created_at,
        updated_at=lesson.updated_at,
    )


def _member_counts(group_ids: list[int]) -> dict[int, int]:
    if not group_ids:
        return {}
    rows = db().execute(
        select(GroupMember.group_id, func.count())
        .where(GroupMember.group_id.in_(group_ids))
        .group_by(GroupMember.group_id)
    )
    return {gid: int(n) for gid, n in rows}


def group_out(group: Group, count: int) -> s.GroupOut:
    return s.GroupOut(
        id=group.id,
        name=group.name,
        kind=group.kind,
        description=group.description,
        rule=group.rule,
        member_count=count,
        created_at=group.created_at,
    )


def group_detail(group: Group) -> s.GroupDetailOut:
    rows = db().execute(
        select(GroupMember, User)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.group_id == group.id)
        .order_by(User.email_key)
    )
    members = [
        s.MemberOut(user_id=u.id, email=u.email, name=u.name, source=m.source, added_at=m.added_at)
        for m, u in rows
    ]
    return s.GroupDetailOut(
        id=group.id,
        name=group.name,
        kind=group.kind,
        description=group.description,
        rule=group.rule,
        member_count=len(members),
        created_at=group.created_at,
        members=members,
    )


def enrollment_outs(enrollments: Sequence[Enrollment]) -> list[s.EnrollmentOut]:
    """With progress and completed lessons, in three queries whatever the number."""
    if not enrollments:
        return []
    ids = [e.id for e in enrollments]
    progress = progress_service.progress_for(read_ctx(), ids)
    done: dict[int, list[int]] = {}
    for eid, lid in db().execute(
        select(LessonProgress.enrollment_id, LessonProgress.lesson_id)
        .where(LessonProgress.enrollment_id.in_(ids))
        .order_by(LessonProgress.lesson_id)
    ):
        done.setdefault(eid, []).append(lid)
    users = {
        u.id: u
        for u in db().scalars(select(User).where(User.id.in_({e.user_id for e in enrollments})))
    }
    courses = {
        c.id: c
        for c in db().scalars(
            select(Course).where(Course.id.in_({e.course_id for e in enrollments}))
        )
    }
    out = []
    for e in enrollments:
        p = progress[e.id]
        course = courses[e.course_id]
        out.append(
            s.EnrollmentOut(
                id=e.id,
                user_id=e.user_id,
                user_email=users[e.user_id].email,
                course_id=e.course_id,
                course_code=course.code,
                course_title=course.title,
                status=e.status,
                source=e.source,
                enrolled_at=e.enrolled_at,
                due_at=e.due_at,
                completed_at=e.completed_at,
                withdrawn_at=e.withdrawn_at,
                progress=s.ProgressOut(done=p.done, total=p.total, percent=p.percent),
                completed_lesson_ids=done.get(e.id, []),
            )
        )
    return out


def _enrollment_response(enrollment_id: int, status: int = 200) -> Response:
    enrollment = db().get(Enrollment, enrollment_id)
    assert enrollment is not None
    return _one(enrollment_outs([enrollment])[0], status)


def _visible_course(course_id: int) -> Course:
    """The course if the caller may see it (as on the course page), else 404."""
    course = db().get(Course, course_id)
    if course is None:
        raise NotFound(f"There is no course with id {course_id}.")
    if course.status == CourseStatus.PUBLISHED or can(_me(), "course.view_unpublished", course):
        return course
    if course.status == CourseStatus.ARCHIVED:
        mine = enrollment_service.find_enrollment(read_ctx(), _me(), course)
        if mine is not None:
            return course
    raise NotFound(f"There is no course with id {course_id}.")


def _may_read_lessons(course: Course) -> bool:
    if can(_me(), "course.edit", course):
        return True
    mine = enrollment_service.find_enrollment(read_ctx(), _me(), course)
    return mine is not None and mine.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)


def _lesson_of(course_id: int, lesson_id: int) -> Lesson:
    lesson = db().get(Lesson, lesson_id)
    if lesson is None or lesson.course_id != course_id:
        raise NotFound(f"Course {course_id} has no lesson with id {lesson_id}.")
    return lesson


def _sent(obj: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of a ``*Patch`` the client actually sent."""
    return {key: getattr(obj, key) for key in data}


# -- me and users -------------------------------------------------------------------------
@route(
    "/me", "GET", summary="The token's owner", permission=SIGNED_IN, tag="users", response=s.UserOut
)
def me() -> Response:
    return _one(user_out(_me()))


@route(
    "/users",
    "GET",
    summary="List users",
    permission="user.view",
    tag="users",
    response=s.UserOut,
    paginated=True,
    query=(
        QueryParam("q", "Part of the email or name."),
        QueryParam(
            "active",
            "true or false: only active or only deactivated users.",
            enum=("true", "false"),
        ),
    ),
)
def list_users() -> Response:
    stmt = select(User).order_by(User.email_key)
    q = (query_text("q") or "").lower()
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(User.email_key.like(like), func.lower(User.name).like(like)))
    active = query_text("active")
    if active is not None:
        if active not in ("true", "false"):
            raise Invalid(f"active must be true or false; got {excerpt(active)}.", field="active")
        stmt = stmt.where(User.is_active.is_(active == "true"))
    rows, meta = _paginate(stmt)
    return _page([user_out(u) for u in rows], meta)


@route(
    "/users",
    "POST",
    summary="Create a user",
    permission="user.manage",
    tag="users",
    body=s.UserIn,
    response=s.UserOut,
    status=201,
)
def create_user() -> Response:
    body, _ = _body(s.UserIn)
    with _write() as ctx:
        user = user_service.create_user(
            ctx,
            body.email,
            name=body.name,
            roles=tuple(body.roles),
            source="api",
            department=body.department,
            location=body.location,
            job_title=body.job_title,
            manager_id=body.manager_id,
            timezone=body.timezone,
            locale=body.locale,
        )
        user_id = user.id
    return _one(user_out(_user(user_id)), 201)


def _user(user_id: int) -> User:
    return user_service.get_user(read_ctx(), user_id)


@route(
    "/users/<id:user_id>",
    "GET",
    summary="One user",
    permission="user.view",
    tag="users",
    response=s.UserOut,
)
def get_user(user_id: int) -> Response:
    return _one(user_out(_user(user_id)))


@route(
    "/users/<id:user_id>",
    "PATCH",
    summary="Change a user's profile",
    permission="user.manage",
    tag="users",
    body=s.UserPatch,
    body_required=False,
    response=s.UserOut,
)
def update_user(user_id: int) -> Response:
    body, data = _body(s.UserPatch)
    with _write() as ctx:
        user = user_service.get_user(ctx, user_id)
        user_service.update_user(ctx, user, **_sent(body, data))
    return _one(user_out(_user(user_id)))


@route(
    "/users/<id:user_id>/deactivate",
    "POST",
    summary="Deactivate a user",
    permission="user.manage",
    tag="users",
    body=s.DeactivateIn,
    body_required=False,
    response=s.UserOut,
    description="Their tokens stop working; their records stay. Idempotent.",
)
def deactivate_user(user_id: int) -> Response:
    body, _ = _body(s.DeactivateIn)
    with _write() as ctx:
        user_service.deactivate_user(ctx, user_service.get_user(ctx, user_id), reason=body.reason)
    return _one(user_out(_user(user_id)))


@route(
    "/users/<id:user_id>/reactivate",
    "POST",
    summary="Reactivate a user",
    permission="user.manage",
    tag="users",
    response=s.UserOut,
)
def reactivate_user(user_id: int) -> Response:
    with _write() as ctx:
        user_service.reactivate_user(ctx, user_service.get_user(ctx, user_id))
    return _one(user_out(_user(user_id)))


# -- groups -------------------------------------------------------------------------------
@route(
    "/groups",
    "GET",
    summary="List groups",
    permission="group.manage",
    tag="groups",
    response=s.GroupOut,
    paginated=True,
)
def list_groups() -> Response:
    rows, meta = _paginate(select(Group).order_by(Group.name_key))
    counts = _member_counts([g.id for g in rows])
    return _page([group_out(g, counts.get(g.id, 0)) for g in rows], meta)


@route(
    "/groups",
    "POST",
    summary="Create a group",
    permission="group.manage",
    tag="groups",
    body=s.GroupIn,
    response=s.GroupDetailOut,
    status=201,
)
def create_group() -> Response:
    body, _ = _body(s.GroupIn)
    with _write() as ctx:
        group = group_service.create_group(
            ctx, body.name, kind=body.kind, description=body.description, rule=body.rule
        )
        group_id = group.id
    return _one(group_detail(_group(group_id)), 201)


def _group(group_id: int) -> Group:
    return group_service.get_group(read_ctx(), group_id)


@route(
    "/groups/<id:group_id>",
    "GET",
    summary="One group with its members",
    permission="group.manage",
    tag="groups",
    response=s.GroupDetailOut,
)
def get_group(group_id: int) -> Response:
    return _one(group_detail(_group(group_id)))


@route(
    "/groups/<id:group_id>/members",
    "POST",
    summary="Add members by email",
    permission="group.manage",
    tag="groups",
    body=s.MembersIn,
    response=s.GroupDetailOut,
    description="All or nothing: an unknown email adds nobody.",
)
def add_group_members(group_id: int) -> Response:
    body, _ = _body(s.MembersIn)
    emails = check_count("emails", body.emails, limits.LIST_ITEMS, label="The email list")
    with _write() as ctx:
        group = group_service.get_group(ctx, group_id)
        users = []
        unknown = []
        for email in emails:
            user = user_service.find_user(ctx, email) if email.strip() else None
            if user is None:
                unknown.append(email)
            else:
                users.append(user)
        if unknown:
            raise Invalid(f"No user has the email(s) {listing(unknown)}.", field="emails")
        group_service.add_members(ctx, group, users)
    return _one(group_detail(_group(group_id)))


# -- courses ------------------------------------------------------------------------------
@route(
    "/courses",
    "GET",
    summary="List the courses the caller may see",
    permission=SIGNED_IN,
    tag="courses",
    response=s.CourseOut,
    paginated=True,
    description="Published courses; people with course.view_unpublished also see drafts "
    "and (with ?status=archived) archived ones: every course's when they hold it site-wide, "
    "their own courses' when they hold it in those courses (instructors).",
    query=(
        QueryParam(
            "status", "draft, published or archived.", enum=tuple(c.value for c in CourseStatus)
        ),
        QueryParam("q", "Part of the code or title."),
    ),
)
def list_courses() -> Response:
    stmt = select(Course).order_by(Course.title, Course.id)
    status = query_text("status")
    unpublished = courses_with(_me(), "course.view_unpublished")  # None: every course
    if unpublished is not None:
        stmt = stmt.where(
            or_(Course.status == CourseStatus.PUBLISHED, Course.id.in_(unpublished))
            if unpublished
            else Course.status == CourseStatus.PUBLISHED
        )
    if status is None:
        stmt = stmt.where(Course.status != CourseStatus.ARCHIVED)
    elif status in {c.value for c in CourseStatus}:
        stmt = stmt.where(Course.status == status)
    else:
        raise Invalid(
            f"status must be draft, published or archived; got {excerpt(status)}.",
            field="status",
        )
    q = (query_text("q") or "").lower()
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(func.lower(Course.title).like(like), func.lower(Course.code).like(like))
        )
    rows, meta = _paginate(stmt)
    return _page([course_out(c) for c in rows], meta)


@route(
    "/courses",
    "POST",
    summary="Create a draft course",
    permission="course.create",
    tag="courses",
    body=s.CourseIn,
    response=s.CourseOut,
    status=201,
)
def create_course() -> Response:
    body, _ = _body(s.CourseIn)
    with _write() as ctx:
        course = course_service.create_course(
            ctx,
            body.code,
            body.title,
            summary=body.summary,
            category=body.category,
            tags=list(body.tags),
            enrollment_policy=body.enrollment_policy,
            capacity=body.capacity,
            due_days=body.due_days,
        )
        course_id = course.id
    return _one(course_out(_visible_course(course_id)), 201)


@route(
    "/courses/<id:course_id>",
    "GET",
    summary="One course",
    permission=SIGNED_IN,
    tag="courses",
    response=s.CourseOut,
)
def get_course(course_id: int) -> Response:
    return _one(course_out(_visible_course(course_id)))


@route(
    "/courses/<id:course_id>",
    "PATCH",
    summary="Change a course",
    permission="course.edit",
    course_arg="course_id",
    tag="courses",
    body=s.CoursePatch,
    body_required=False,
    response=s.CourseOut,
)
def update_course(course_id: int) -> Response:
    body, data = _body(s.CoursePatch)
    with _write() as ctx:
        course = course_service.get_course(ctx, course_id)
        course_service.update_course(ctx, course, **_sent(body, data))
    return _one(course_out(_visible_course(course_id)))


@route(
    "/courses/<id:course_id>/publish",
    "POST",
    summary="Publish a course",
    permission="course.publish",
    course_arg="course_id",
    tag="courses",
    response=s.CourseOut,
)
def publish_course(course_id: int) -> Response:
    with _write() as ctx:
        course_service.publish_course(ctx, course_service.get_course(ctx, course_id))
    return _one(course_out(_visible_course(course_id)))


@route(
    "/courses/<id:course_id>/archive",
    "POST",
    summary="Archive a course",
    permission="course.publish",
    course_arg="course_id",
    tag="courses",
    response=s.CourseOut,
)
def archive_course(course_id: int) -> Response:
    with _write() as ctx:
        course_service.archive_course(ctx, course_service.get_course(ctx, course_id))
    return _one(course_out(_visible_course(course_id)))


# -- lessons ------------------------------------------------------------------------------
@route(
    "/courses/<id:course_id>/lessons",
    "GET",
    summary="A course's lessons, in order",
    permission=SIGNED_IN,
    tag="lessons",
    response=s.LessonOut,
    paginated=True,
    description="Content (body, url, data) only for enrolled learners and editors.",
)
def list_lessons(course_id: int) -> Response:
    course = _visible_course(course_id)
    full = _may_read_lessons(course)
    rows, meta = _paginate(
        select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)
    )
    return _page([lesson_out(lesson, full=full) for lesson in rows], meta)


@route(
    "/courses/<id:course_id>/lessons",
    "POST",
    summary="Append a lesson",
    permission="course.edit",
    course_arg="course_id",
    tag="lessons",
    body=s.LessonIn,
    response=s.LessonOut,
    status=201,
)
def create_lesson(course_id: int) -> Response:
    body, _ = _body(s.LessonIn)
    with _write() as ctx:
        lesson = course_service.add_lesson(
            ctx,
            course_service.get_course(ctx, course_id),
            body.title,
            kind=body.kind,
            body=body.body,
            url=body.url,
            required=body.required,
            data=dict(body.data),
        )
        lesson_id = lesson.id
    return _one(lesson_out(_lesson_of(course_id, lesson_id), full=True), 201)


@route(
    "/courses/<id:course_id>/lessons/<id:lesson_id>",
    "PATCH",
    summary="Change a lesson",
    permission="course.edit",
    course_arg="course_id",
    tag="lessons",
    body=s.LessonPatch,
    body_required=False,
    response=s.LessonOut,
)
def update_lesson(course_id: int, lesson_id: int) -> Response:
    body, data = _body(s.LessonPatch)
    _lesson_of(course_id, lesson_id)
    changes = _sent(body, data)
    if changes.get("required", False) is None:
        raise Invalid("required must be true or false.", field="required")
    with _write() as ctx:
        lesson = ctx.attach(_lesson_of(course_id, lesson_id))
        course_service.update_lesson(ctx, lesson, **changes)
    return _one(lesson_out(_lesson_of(course_id, lesson_id), full=True))


@route(
    "/courses/<id:course_id>/lessons/<id:lesson_id>",
    "DELETE",
    summary="Delete a lesson",
    permission="course.edit",
    course_arg="course_id",
    tag="lessons",
    status=204,
    description="Learners' completion of it goes too; later lessons move up.",
)
def delete_lesson(course_id: int, lesson_id: int) -> Response:
    with _write() as ctx:
        course_service.delete_lesson(ctx, ctx.attach(_lesson_of(course_id, lesson_id)))
    return _no_content()


# -- enrollments and progress ---------------------------------------------------------------
_STATUS_QUERY = QueryParam(
    "status",
    "pending, active, completed or withdrawn.",
    enum=tuple(e.value for e in EnrollmentStatus),
)


def _status_filter(stmt: Select[Any]) -> Select[Any]:
    status = query_text("status")
    if status is None:
        return stmt
    if status not in {e.value for e in EnrollmentStatus}:
        raise Invalid(
            f"status must be pending, active, completed or withdrawn; got {excerpt(status)}.",
            field="status",
        )
    return stmt.where(Enrollment.status == status)


@route(
    "/courses/<id:course_id>/enrollments",
    "GET",
    summary="A course's enrollments",
    permission="progress.view",
    course_arg="course_id",
    tag="enrollments",
    response=s.EnrollmentOut,
    paginated=True,
    query=(_STATUS_QUERY,),
)
def list_course_enrollments(course_id: int) -> Response:
    course = db().get(Course, course_id)
    if course is None:
        raise NotFound(f"There is no course with id {course_id}.")
    stmt = _status_filter(
        select(Enrollment)
        .join(User, User.id == Enrollment.user_id)
        .where(Enrollment.course_id == course_id)
        .order_by(User.email_key)
    )
    rows, meta = _paginate(stmt)
    return _page(enrollment_outs(rows), meta)


@route(
    "/courses/<id:course_id>/enrollments",
    "POST",
    summary="Enroll someone, or yourself",
    permission=SIGNED_IN,
    tag="enrollments",
    body=s.EnrollIn,
    body_required=False,
    response=s.EnrollmentOut,
    status=201,
    description="With `email` or `user_id`: enrolls that person (needs enrollment.manage in "
    "the course, or being their line manager; source `api`). With neither: enrolls the "
    "caller by the course's policy (needs enrollment.self). `due_at` sets when a person "
    "enrolled by someone else is due, instead of the course's due period (422 if it has "
    "passed). 201 when this request enrolled "
    "them (also after a withdrawal), 200 when they already were: of simultaneous requests "
    "for one person, one answers 201.",
    also={
        200: "Already enrolled, or already asked to be: the existing enrollment (a manager "
        "enrolling someone whose request is pending approves it)."
    },
)
def enroll(course_id: int) -> Response:
    try:
        body, _ = _body(s.EnrollIn)
    except BadBody as exc:
        if exc.field != "due_at":
            raise
        # A string that is not a date-time is bad input, not a malformed body: say how to write it.
        raise Invalid(
            "due_at is not a date-time; write it in ISO 8601, for example 2027-03-31T17:00:00Z.",
            field="due_at",
        ) from None
    if body.email is not None and body.user_id is not None:
        raise Invalid("Give either email or user_id, not both.", field="email")
    with _write() as ctx:
        course = course_service.get_course(ctx, course_id)
        if body.user_id is not None:
            user = user_service.get_user(ctx, body.user_id)
        elif body.email is not None:
            found = user_service.find_user(ctx, body.email) if body.email.strip() else None
            if found is None:
                raise Invalid(f"No user has the email {shown(body.email)}.", field="email")
            user = found
        else:
            user = ctx.attach(_me())
        is_self = user.id == _me().id
        enrollment, created = enrollment_service.enroll_or_find(
            ctx,
            user,
            course,
            source=None if is_self else EnrollmentSource.API,
            due_at=body.due_at,
        )
        enrollment_id = enrollment.id
    return _enrollment_response(enrollment_id, 201 if created else 200)


@route(
    "/me/enrollments",
    "GET",
    summary="The caller's enrollments",
    permission=SIGNED_IN,
    tag="enrollments",
    response=s.EnrollmentOut,
    paginated=True,
    query=(_STATUS_QUERY,),
)
def my_enrollments() -> Response:
    stmt = _status_filter(
        select(Enrollment)
        .where(Enrollment.user_id == _me().id)
        .order_by(Enrollment.enrolled_at.desc(), Enrollment.id.desc())
    )
    rows, meta = _paginate(stmt)
    return _page(enrollment_outs(rows), meta)


@route(
    "/enrollments/<id:enrollment_id>/withdraw",
    "POST",
    summary="Withdraw an enrollment",
    permission=SIGNED_IN,
    tag="enrollments",
    body=s.WithdrawIn,
    body_required=False,
    response=s.EnrollmentOut,
    description="The learner themselves, or someone with enrollment.manage in the course (or "
    "the learner's line manager). Learners leave only what they enrolled in themselves "
    "(source `self`): assigned training (source `manager`, `group`, `import`, `api`, `sso`) "
    "answers 403 unless they hold enrollment.manage in the course.",
)
def withdraw(enrollment_id: int) -> Response:
    body, _ = _body(s.WithdrawIn)
    with _write() as ctx:
        enrollment = enrollment_service.get_enrollment(ctx, enrollment_id)
        enrollment_service.withdraw(ctx, enrollment, reason=body.reason)
    return _enrollment_response(enrollment_id)


@route(
    "/enrollments/<id:enrollment_id>/lessons/<id:lesson_id>/complete",
    "POST",
    summary="Mark a lesson done",
    permission=SIGNED_IN,
    tag="enrollments",
    response=s.EnrollmentOut,
    description="The learner themselves. Completing the last required lesson completes "
    "the course. Marking a lesson done again changes nothing.",
)
def complete_lesson(enrollment_id: int, lesson_id: int) -> Response:
    with _write() as ctx:
        enrollment = enrollment_service.get_enrollment(ctx, enrollment_id)
        if enrollment.user_id != _me().id:
            raise Forbidden("Only the learner can mark their own lessons done.")
        lesson = ctx.session.get(Lesson, lesson_id)
        if lesson is None:
            raise NotFound(f"There is no lesson with id {lesson_id}.")
        progress_service.complete_lesson(ctx, enrollment, lesson)
    return _enrollment_response(enrollment_id)


# -- the document ---------------------------------------------------------------------------
@route(
    "/openapi.json", "GET", summary="This API's OpenAPI 3.1 document", permission=PUBLIC, tag="meta"
)
def openapi() -> Response:
    from lms_core.api.openapi import document

    return jsonify(document())
