"""Learner pages: dashboard, catalog, course page, lesson page, profile."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms_core.db import utcnow
from lms_core.errors import LMSError
from lms_core.errors import Rejected
from lms_core.limits import shorten_refused
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import CourseTag
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import Lesson
from lms_core.services import enrollments as enrollment_service
from lms_core.services import file_lessons
from lms_core.services import progress as progress_service
from lms_core.services import users as user_service
from lms_core.services.courses import render_lesson
from lms_core.services.permissions import can
from lms_core.services.permissions import courses_with
from lms_core.web.db import db
from lms_core.web.db import lms
from lms_core.web.db import read_ctx
from lms_core.web.db import write
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import public
from lms_core.web.decorators import requires
from lms_core.web.forms import EmptyForm
from lms_core.web.params import page_arg
from lms_core.web.redirects import safe_next
from lms_core.web.templating import visible

bp = Blueprint("learner", __name__)

PAGE_SIZE = 20


def _user() -> Any:
    return current_user._get_current_object() if current_user.is_authenticated else None


@bp.route("/")
@requires(SIGNED_IN)
def dashboard() -> Any:
    ctx = read_ctx()
    rows = (
        db()
        .execute(
            select(Enrollment, Course)
            .join(Course, Course.id == Enrollment.course_id)
            .where(
                Enrollment.user_id == current_user.id,
                Enrollment.status != EnrollmentStatus.WITHDRAWN,
            )
            .order_by(Enrollment.due_at.is_(None), Enrollment.due_at, Course.title)
        )
        .all()
    )
    progress = progress_service.progress_for(ctx, [e.id for e, _ in rows])
    now = utcnow()
    active = [(e, c, progress[e.id]) for e, c in rows if e.status == EnrollmentStatus.ACTIVE]
    pending = [(e, c) for e, c in rows if e.status == EnrollmentStatus.PENDING]
    completed = [(e, c) for e, c in rows if e.status == EnrollmentStatus.COMPLETED]
    overdue = [e.id for e, _c, _p in active if e.is_overdue(now)]
    widgets = sorted(
        lms().hooks.collect("lms_dashboard_widgets", ctx=ctx, user=_user()), key=lambda w: w.order
    )
    return render_template(
        "learner/dashboard.html",
        active=active,
        pending=pending,
        completed=completed,
        overdue=set(overdue),
        widgets=widgets,
        now=now,
    )


def _visible_courses(user: Any) -> Any:
    """Published courses, plus drafts the user may see (every draft, or those of their courses)."""
    ids = courses_with(user, "course.view_unpublished") if user is not None else set()
    if ids is None:
        return Course.status != CourseStatus.ARCHIVED
    if ids:
        return or_(
            Course.status == CourseStatus.PUBLISHED,
            and_(Course.id.in_(ids), Course.status == CourseStatus.DRAFT),
        )
    return Course.status == CourseStatus.PUBLISHED


@bp.route("/courses")
@public
def catalog() -> Any:
    user = _user()
    q = (request.args.get("q") or "").strip()
    category = (request.args.get("category") or "").strip()
    tag = (request.args.get("tag") or "").strip().lower()
    page = page_arg()
    stmt = select(Course).where(_visible_courses(user))
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Course.title).like(like),
                func.lower(Course.code).like(like),
                func.lower(Course.summary).like(like),
            )
        )
    if category:
        stmt = stmt.where(Course.category == category)
    if tag:
        stmt = stmt.where(Course.id.in_(select(CourseTag.course_id).where(CourseTag.tag == tag)))
    total = db().scalar(select(func.count()).select_from(stmt.subquery())) or 0
    courses = (
        db()
        .scalars(
            stmt.order_by(Course.title)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
            .options(selectinload(Course.tag_rows))
        )
        .all()
    )
    categories = (
        db()
        .scalars(
            select(Course.category)
            .where(_visible_courses(user), Course.category.is_not(None))
            .distinct()
            .order_by(Course.category)
        )
        .all()
    )
    mine: dict[int, str] = {}
    if user is not None and courses:
        mine = dict(
            db()
            .execute(
                select(Enrollment.course_id, Enrollment.status).where(
                    Enrollment.user_id == user.id, Enrollment.course_id.in_([c.id for c in courses])
                )
            )
            .all()
        )
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "learner/catalog.html",
        courses=courses,
        categories=categories,
        q=q,
        category=category,
        tag=tag,
        page=page,
        pages=pages,
        total=total,
        mine=mine,
    )


def _course_or_404(course_id: int) -> Course:
    course = db().get(Course, course_id)
    if course is None:
        abort(404)
    hidden = course.status != CourseStatus.PUBLISHED and not can(
        _user(), "course.view_unpublished", course
    )
    # Learners enrolled before an archive keep access to their record.
    kept = (
        hidden
        and _user() is not None
        and course.status == CourseStatus.ARCHIVED
        and enrollment_service.find_enrollment(read_ctx(), _user(), course) is not None
    )
    if hidden and not kept:
        abort(404)
    return course


@bp.route("/courses/<id:course_id>")
@public
def course(course_id: int) -> Any:
    course = _course_or_404(course_id)
    user = _user()
    ctx = read_ctx()
    lessons = (
        db()
        .scalars(select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position))
        .all()
    )
    enrollment = enrollment_service.find_enrollment(ctx, user, course) if user else None
    done: set[int] = set()
    progress = None
    if enrollment is not None and enrollment.status != EnrollmentStatus.WITHDRAWN:
        done = progress_service.completed_lesson_ids(ctx, enrollment)
        progress = progress_service.progress_of(ctx, enrollment)
    panels = sorted(
        lms().hooks.collect("lms_course_panels", ctx=ctx, course=course, user=user),
        key=lambda p: p.order,
    )
    seats = enrollment_service.seats_taken(ctx, course) if course.capacity else None
    return render_template(
        "learner/course.html",
        course=course,
        lessons=lessons,
        enrollment=enrollment,
        done=done,
        progress=progress,
        panels=panels,
        seats=seats,
        form=EmptyForm(),
        now=utcnow(),
        may_leave=enrollment is not None and enrollment_service.may_leave(ctx, enrollment),
    )


@bp.route("/courses/<id:course_id>/enroll", methods=["POST"])
@requires("enrollment.self")
def enroll(course_id: int) -> Any:
    course = _course_or_404(course_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write() as ctx:
            enrollment = enrollment_service.enroll(ctx, ctx.actor, ctx.attach(course))  # type: ignore[arg-type]
            status = enrollment.status
    except Rejected as exc:
        flash(exc.message, "error")
        target = safe_next(exc.redirect_to)
        if target:
            return redirect(target)
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        if status == EnrollmentStatus.PENDING:
            flash(
                "Your request to join was sent; you will be enrolled when it is approved.", "info"
            )
        else:
            flash(f"You are enrolled in {course.title}.", "success")
    return redirect(url_for("learner.course", course_id=course_id))


@bp.route("/courses/<id:course_id>/withdraw", methods=["POST"])
@requires(SIGNED_IN)
def withdraw(course_id: int) -> Any:
    course = _course_or_404(course_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write() as ctx:
            enrollment = enrollment_service.find_enrollment(ctx, ctx.actor, ctx.attach(course))  # type: ignore[arg-type]
            if enrollment is None:
                abort(404)
            enrollment_service.withdraw(ctx, enrollment)
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(f"You left {course.title}. Your progress is kept if you come back.", "info")
    return redirect(url_for("learner.course", course_id=course_id))


def _lesson_or_404(course: Course, lesson_id: int) -> Lesson:
    lesson = db().get(Lesson, lesson_id)
    if lesson is None or lesson.course_id != course.id:
        abort(404)
    return lesson


@bp.route("/courses/<id:course_id>/lessons/<id:lesson_id>")
@requires(SIGNED_IN)
def lesson(course_id: int, lesson_id: int) -> Any:
    course = _course_or_404(course_id)
    lesson = _lesson_or_404(course, lesson_id)
    ctx = read_ctx()
    enrollment = enrollment_service.find_enrollment(ctx, current_user, course)
    editor = can(_user(), "course.edit", course)
    if not editor and (
        enrollment is None
        or enrollment.status not in (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)
    ):
        flash("Enroll in the course to open its lessons.", "info")
        return redirect(url_for("learner.course", course_id=course.id))
    lessons = (
        db()
        .scalars(select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position))
        .all()
    )
    index = next(i for i, item in enumerate(lessons) if item.id == lesson.id)
    done = progress_service.completed_lesson_ids(ctx, enrollment) if enrollment else set()
    opened = file_lessons.completes_when_opened(lesson)
    if opened and enrollment is not None and lesson.id not in done:
        # This lesson completes when the learner opens it: opening it is the fact recorded.
        try:
            with write() as wctx:
                if file_lessons.lesson_opened(wctx, wctx.attach(enrollment), wctx.attach(lesson)):
                    done.add(lesson.id)
                    if wctx.attach(enrollment).status == EnrollmentStatus.COMPLETED:
                        flash(f"Well done: you completed {course.title}!", "success")
        except LMSError as exc:
            flash(exc.message, "error")
    return render_template(
        "learner/lesson.html",
        course=course,
        lesson=lesson,
        html=render_lesson(lms().hooks, lesson),
        enrollment=enrollment,
        done=lesson.id in done,
        completes_when_opened=opened,
        previous=lessons[index - 1] if index > 0 else None,
        following=lessons[index + 1] if index + 1 < len(lessons) else None,
        form=EmptyForm(),
    )


@bp.route("/courses/<id:course_id>/lessons/<id:lesson_id>/complete", methods=["POST"])
@requires(SIGNED_IN)
def complete(course_id: int, lesson_id: int) -> Any:
    course = _course_or_404(course_id)
    lesson = _lesson_or_404(course, lesson_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write() as ctx:
            enrollment = enrollment_service.find_enrollment(ctx, ctx.actor, ctx.attach(course))  # type: ignore[arg-type]
            if enrollment is None:
                abort(404)
            progress_service.complete_lesson(ctx, enrollment, ctx.attach(lesson))
            completed = enrollment.status == EnrollmentStatus.COMPLETED
    except LMSError as exc:
        flash(exc.message, "error")
        return redirect(url_for("learner.lesson", course_id=course.id, lesson_id=lesson.id))
    if completed:
        flash(f"Well done: you completed {course.title}!", "success")
        return redirect(url_for("learner.course", course_id=course.id))
    following = (
        db()
        .scalars(
            select(Lesson)
            .where(Lesson.course_id == course.id, Lesson.position > lesson.position)
            .order_by(Lesson.position)
            .limit(1)
        )
        .first()
    )
    if following is not None:
        return redirect(url_for("learner.lesson", course_id=course.id, lesson_id=following.id))
    return redirect(url_for("learner.course", course_id=course.id))


@bp.route("/profile", methods=["GET", "POST"])
@requires(SIGNED_IN)
def profile() -> Any:
    user = _user()
    errors: dict[str, str] = {}
    values = {"name": user.name, "timezone": user.timezone, "locale": user.locale}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        values = {key: (request.form.get(key) or "").strip() for key in values}
        try:
            with write() as ctx:
                user_service.update_user(ctx, ctx.actor, **values)  # type: ignore[arg-type]
        except LMSError as exc:
            errors[getattr(exc, "field", None) or "name"] = exc.message
            shorten_refused(values, exc)
        else:
            flash("Your profile was saved.", "success")
            return redirect(url_for("learner.profile"))
    sections = sorted(
        lms().hooks.collect("lms_profile_sections", ctx=read_ctx(), user=user, viewer=user),
        key=lambda s: s.order,
    )
    return render_template(
        "learner/profile.html", values=values, errors=errors, sections=sections, form=EmptyForm()
    )


__all__ = ["bp", "visible"]
