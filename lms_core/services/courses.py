"""Courses and lessons: create, edit, publish, archive; add, edit, reorder and render lessons."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from lms_core import limits
from lms_core import outbox
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.default_permissions import INSTRUCTOR
from lms_core.errors import Conflict
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.events import CourseArchived
from lms_core.events import CourseCreated
from lms_core.events import CoursePublished
from lms_core.hooks.caller import Hooks
from lms_core.limits import check_count
from lms_core.limits import check_json
from lms_core.limits import check_length
from lms_core.limits import excerpt
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import CourseTag
from lms_core.models import EnrollmentPolicy
from lms_core.models import Lesson
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.services.audit import audit
from lms_core.services.permissions import invalidate
from lms_core.services.permissions import require

__all__ = [
    "get_course",
    "find_course",
    "create_course",
    "update_course",
    "publish_course",
    "archive_course",
    "add_lesson",
    "update_lesson",
    "delete_lesson",
    "reorder_lessons",
    "render_lesson",
    "COURSE_FIELDS",
]

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_TAG = re.compile(r"^[\w][\w .+#-]{0,59}$")
COURSE_FIELDS = (
    "code",
    "title",
    "summary",
    "category",
    "tags",
    "enrollment_policy",
    "capacity",
    "due_days",
)


def get_course(ctx: Context, course_id: int) -> Course:
    course = ctx.session.get(Course, course_id)
    if course is None:
        raise NotFound(f"There is no course with id {course_id}.")
    return course


def find_course(ctx: Context, code: str) -> Course | None:
    """The course with this code (case-insensitive), or None."""
    return ctx.session.scalars(
        select(Course).where(Course.code_key == code.strip().upper())
    ).first()


def _clean(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(COURSE_FIELDS)
    if unknown:
        raise Invalid(f"Unknown course field(s): {', '.join(sorted(unknown))}.")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "code":
            # Limits apply to the text as sent (the API documents them as maxLength).
            code = value.strip() if isinstance(value, str) else ""
            if isinstance(value, str):
                check_length("code", value, limits.COURSE_CODE, label="A course code")
            if not _CODE.match(code):
                raise Invalid(
                    f"{excerpt(value)} is not a course code: use 1-{limits.COURSE_CODE} letters, digits, '.', '_' or '-', e.g. SAFE-101.",
                    field="code",
                )
            out[key] = code
        elif key == "title":
            if isinstance(value, str):
                check_length("title", value, limits.COURSE_TITLE, label="A course title")
            title = " ".join(value.split()) if isinstance(value, str) else ""
            if not title:
                raise Invalid("A course needs a title.", field="title")
            out[key] = title
        elif key == "summary":
            out[key] = check_length(
                "summary", value or "", limits.COURSE_SUMMARY, label="A course summary"
            )
        elif key == "category":
            if isinstance(value, str):
                check_length("category", value, limits.COURSE_CATEGORY, label="A category")
            category = " ".join(value.split()) if isinstance(value, str) else None
            out[key] = category or None
        elif key == "tags":
            if isinstance(value, str):
                value = value.split(",")
            tags: list[str] = []
            for raw in value or ():
                tag = " ".join(str(raw).split()).lower()
                if not tag:
                    continue
                if not _TAG.match(tag):
                    raise Invalid(
                        f"{excerpt(raw)} is not a usable tag (letters, digits, spaces, . + # -; {limits.COURSE_TAG} at most).",
                        field="tags",
                    )
                if tag not in tags:
                    tags.append(tag)
            out[key] = check_count("tags", tags, limits.COURSE_TAGS, label="The tag list")
        elif key == "enrollment_policy":
            try:
                out[key] = EnrollmentPolicy(value).value
            except ValueError:
                raise Invalid(
                    f"{excerpt(value)} is not an enrollment policy; use one of {', '.join(p.value for p in EnrollmentPolicy)}.",
                    field="enrollment_policy",
                ) from None
        elif key in ("capacity", "due_days"):
            if value in (None, ""):
                out[key] = None
                continue
            try:
                number = int(value)
            except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
                number = 0
            if isinstance(value, float) and not value.is_integer():
                number = 0  # 2.5 places is not a number of places; int() would say 2
            if number < 1 or number > 1_000_000 or isinstance(value, bool):
                what = "capacity" if key == "capacity" else "due period (days)"
                raise Invalid(
                    f"The {what} must be a whole number from 1 to 1,000,000, or empty; got {excerpt(value)}.",
                    field=key,
                )
            out[key] = number
    return out


def _set_tags(course: Course, tags: list[str]) -> None:
    current = {row.tag: row for row in course.tag_rows}
    course.tag_rows = [current.get(t) or CourseTag(tag=t) for t in tags]


def _fact(cls: type[Any], course: Course) -> Any:
    return cls(
        course_id=course.id,
        code=course.code,
        title=course.title,
        category=course.category,
        at=utcnow(),
    )


def create_course(ctx: Context, code: str, title: str, **fields: Any) -> Course:
    """Create a draft course. A person who creates one becomes its instructor."""
    require(ctx, "course.create", to="create courses")
    clean = _clean({"code": code, "title": title, **fields})
    if find_course(ctx, clean["code"]) is not None:
        raise Conflict(f"A course with the code {clean['code']} already exists.")
    tags = clean.pop("tags", [])
    course = Course(
        code_key=clean["code"].upper(), created_by_id=ctx.actor_id, created_at=utcnow(), **clean
    )
    _set_tags(course, tags)
    ctx.session.add(course)
    ctx.session.flush()
    if ctx.actor is not None:
        role = ctx.session.scalars(select(Role).where(Role.name == INSTRUCTOR)).first()
        if role is not None:
            ctx.session.add(
                RoleAssignment(
                    user_id=ctx.actor.id,
                    role_id=role.id,
                    course_id=course.id,
                    assigned_by_id=ctx.actor.id,
                )
            )
            ctx.session.flush()
            invalidate(ctx.session, ctx.actor.id)
    audit(ctx, "course.create", course)
    outbox.record(ctx, _fact(CourseCreated, course))
    return course


def update_course(ctx: Context, course: Course, **changes: Any) -> list[str]:
    """Change course fields; returns the names that changed."""
    course = ctx.attach(course)
    require(ctx, "course.edit", course, to="edit this course")
    clean = _clean(changes)
    if "code" in clean:
        other = find_course(ctx, clean["code"])
        if other is not None and other.id != course.id:
            raise Conflict(f"A course with the code {clean['code']} already exists.")
        course.code_key = clean["code"].upper()
    changed = []
    if "tags" in clean:
        tags = clean.pop("tags")
        if tags != course.tags:
            _set_tags(course, tags)
            changed.append("tags")
    changed += [k for k, v in clean.items() if getattr(course, k) != v]
    for key in changed:
        if key != "tags":
            setattr(course, key, clean[key])
    if changed:
        course.updated_at = utcnow()
        ctx.session.flush()
        audit(ctx, "course.update", course, changed=changed)
    return changed


def publish_course(ctx: Context, course: Course) -> bool:
    """Put a course in the catalog. It needs at least one lesson. False if already published."""
    course = ctx.attach(course)
    require(ctx, "course.publish", course, to="publish this course")
    if course.status == CourseStatus.PUBLISHED:
        return False
    count = ctx.session.scalar(select(func.count()).where(Lesson.course_id == course.id))
    if not count:
        raise Invalid(f"{course.code} has no lessons yet; add at least one before publishing it.")
    course.status = CourseStatus.PUBLISHED
    course.published_at = utcnow()
    course.archived_at = None
    audit(ctx, "course.publish", course)
    outbox.record(ctx, _fact(CoursePublished, course))
    return True


def archive_course(ctx: Context, course: Course) -> bool:
    """Take a course out of the catalog; enrollments and records stay. False if already archived."""
    course = ctx.attach(course)
    require(ctx, "course.publish", course, to="archive this course")
    if course.status == CourseStatus.ARCHIVED:
        return False
    course.status = CourseStatus.ARCHIVED
    course.archived_at = utcnow()
    audit(ctx, "course.archive", course)
    outbox.record(ctx, _fact(CourseArchived, course))
    return True


def _lesson_fields(hooks: Hooks, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    kinds = hooks.lesson_kinds()
    if kind not in kinds:
        raise Invalid(
            f"{excerpt(kind)} is not a lesson kind here; available: {', '.join(sorted(kinds))}.",
            field="kind",
        )
    title = fields.get("title")
    if isinstance(title, str):
        check_length("title", title, limits.LESSON_TITLE, label="A lesson title")
    title = " ".join(title.split()) if isinstance(title, str) else ""
    if not title:
        raise Invalid("A lesson needs a title.", field="title")
    fields = {**fields, "title": title}
    # Every kind's limits, before the kind's own checks (which may be stricter).
    check_length("body", fields.get("body") or "", limits.LESSON_BODY, label="The lesson text")
    if fields.get("url") is not None:
        check_length("url", fields["url"], limits.LESSON_URL, label="A lesson's URL")
    data = fields.get("data")
    if data is not None and not isinstance(data, dict):
        raise Invalid("Lesson data must be a JSON object.", field="data")
    check_json("data", data or {}, limits.LESSON_DATA, label="Lesson data")
    validate = kinds[kind].validate
    return validate(fields) if validate else fields


def add_lesson(
    ctx: Context,
    course: Course,
    title: str,
    *,
    kind: str = "page",
    body: str = "",
    url: str | None = None,
    required: bool = True,
    data: dict[str, Any] | None = None,
) -> Lesson:
    """Append a lesson to a course."""
    course = ctx.attach(course)
    require(ctx, "course.edit", course, to="edit this course")
    fields = _lesson_fields(
        ctx.hooks, kind, {"title": title, "body": body, "url": url, "data": data or {}}
    )
    last = ctx.session.scalar(
        select(func.max(Lesson.position)).where(Lesson.course_id == course.id)
    )
    lesson = Lesson(
        course_id=course.id,
        position=(last or 0) + 1,
        kind=kind,
        required=bool(required),
        title=fields["title"],
        body=fields.get("body") or "",
        url=fields.get("url"),
        data=fields.get("data") or {},
        created_at=utcnow(),
    )
    ctx.session.add(lesson)
    ctx.session.flush()
    audit(ctx, "lesson.create", course, lesson_id=lesson.id, title=lesson.title)
    return lesson


def update_lesson(ctx: Context, lesson: Lesson, **changes: Any) -> list[str]:
    lesson = ctx.attach(lesson)
    course = lesson.course
    require(ctx, "course.edit", course, to="edit this course")
    unknown = set(changes) - {"title", "body", "url", "required", "data"}
    if unknown:
        raise Invalid(f"Unknown lesson field(s): {', '.join(sorted(unknown))}.")
    merged = {
        "title": lesson.title,
        "body": lesson.body,
        "url": lesson.url,
        "data": lesson.data,
        **changes,
    }
    fields = _lesson_fields(ctx.hooks, lesson.kind, merged)
    changed: list[str] = []
    for key in ("title", "body", "url", "data"):
        if key in changes and getattr(lesson, key) != fields.get(key):
            setattr(lesson, key, fields.get(key))
            changed.append(key)
    if "required" in changes and lesson.required != bool(changes["required"]):
        lesson.required = bool(changes["required"])
        changed.append("required")
    if changed:
        lesson.updated_at = utcnow()
        audit(ctx, "lesson.update", course, lesson_id=lesson.id, changed=changed)
    return changed


def delete_lesson(ctx: Context, lesson: Lesson) -> None:
    """Delete a lesson (and learners' completion of it); later lessons move up."""
    lesson = ctx.attach(lesson)
    course = lesson.course
    require(ctx, "course.edit", course, to="edit this course")
    audit(ctx, "lesson.delete", course, lesson_id=lesson.id, title=lesson.title)
    file_id = (lesson.data or {}).get("file_id") if lesson.kind == "file" else None
    ctx.session.delete(lesson)
    if isinstance(file_id, int):
        # A file lesson's file goes with it (its bytes too, once no other row names them).
        from lms_core.models import StoredFile
        from lms_core.services.files import delete_file

        row = ctx.session.get(StoredFile, file_id)
        if row is not None and row.course_id == course.id:
            ctx.session.flush()
            delete_file(ctx, row)
    ctx.session.flush()
    ctx.session.expire(course, ["lessons"])
    for position, other in enumerate(course.lessons, start=1):
        other.position = position


def reorder_lessons(ctx: Context, course: Course, lesson_ids: Iterable[int]) -> None:
    """Put the course's lessons in the order given; every lesson must be named once."""
    course = ctx.attach(course)
    require(ctx, "course.edit", course, to="edit this course")
    order = list(lesson_ids)
    lessons = {lesson.id: lesson for lesson in course.lessons}
    if sorted(order) != sorted(lessons) or len(set(order)) != len(order):
        raise Invalid(
            "Give every lesson of the course exactly once to reorder them.", field="lessons"
        )
    for position, lesson_id in enumerate(order, start=1):
        lessons[lesson_id].position = position
    ctx.session.flush()
    ctx.session.expire(course, ["lessons"])
    audit(ctx, "lesson.reorder", course, order=order)


def render_lesson(hooks: Hooks, lesson: Lesson) -> str:
    """Safe HTML for a lesson, from its kind's renderer."""
    kind = hooks.lesson_kinds().get(lesson.kind)
    if kind is None:
        return "<p>This lesson's content type is not available on this site right now.</p>"
    return kind.render(lesson)
