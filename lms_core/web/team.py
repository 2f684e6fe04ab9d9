"""My team: a line manager's people, their training, and enrolling them.

Anyone signed in may open the page; it lists only the people who report to them
(``users.manager_id``), so someone who manages nobody sees an empty team. The navigation
links it for those who manage someone (:mod:`lms_core.default_nav`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import lazyload
from wtforms import SelectField
from wtforms import SelectMultipleField
from wtforms import StringField
from wtforms.validators import InputRequired

from lms_core.db import utcnow
from lms_core.errors import LMSError
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import User
from lms_core.services import enrollments as enrollment_service
from lms_core.services import progress as progress_service
from lms_core.services import team as team_service
from lms_core.web.db import db
from lms_core.web.db import read_ctx
from lms_core.web.db import write
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import requires
from lms_core.web.params import page_arg

__all__ = ["bp"]

bp = Blueprint("team", __name__, url_prefix="/team")

#: People per page.
PAGE_SIZE = 50
#: Filters of the page: value -> label.
SHOW = {
    "": "All training",
    "overdue": "Overdue",
    "open": "Not yet completed",
    "completed": "Completed",
}


class EnrollTeamForm(FlaskForm):
    people = SelectMultipleField("People", coerce=int)
    course = SelectField("Course", coerce=int, validators=[InputRequired("Choose a course.")])
    due_date = StringField("Due date (optional)", render_kw={"type": "date"})


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


def _bool_arg(name: str) -> bool:
    return request.args.get(name, "") in ("1", "on", "true")


def _course_choices() -> list[tuple[int, str]]:
    rows = db().execute(
        select(Course.id, Course.code, Course.title)
        .where(Course.status == CourseStatus.PUBLISHED)
        .order_by(Course.title, Course.id)
    )
    return [(cid, f"{title} ({code})") for cid, code, title in rows]


def _people_choices(manager_id: int) -> list[tuple[int, str]]:
    rows = db().execute(
        select(User.id, User.name, User.email)
        .where(User.manager_id == manager_id, User.is_active.is_(True))
        .order_by(func.lower(User.name), User.email_key)
    )
    return [(uid, f"{name or email} <{email}>") for uid, name, email in rows]


def _team_page(form: EnrollTeamForm | None = None, status_code: int = 200) -> Any:
    ctx = read_ctx()
    me = _user()
    indirect = _bool_arg("all")
    show = request.args.get("show", "")
    if show not in SHOW:
        show = ""
    course_id = request.args.get("course", "")
    course_filter = int(course_id) if course_id.isdigit() and len(course_id) < 10 else None
    page = page_arg()
    now = utcnow()

    below = team_service.team_ids(me.id, indirect=indirect).subquery()
    manager = User.__table__.alias("reports_to")
    total = db().scalar(select(func.count()).select_from(below)) or 0
    people = (
        db()
        .execute(
            select(User, below.c.depth, manager.c.name, manager.c.email)
            .join(below, below.c.user_id == User.id)
            .outerjoin(manager, manager.c.id == User.manager_id)
            .order_by(below.c.depth, func.lower(User.name), User.email_key)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
        .all()
    )
    ids = [person.id for person, *_ in people]

    stmt = (
        select(Enrollment, Course)
        .join(Course, Course.id == Enrollment.course_id)
        .options(lazyload(Course.tag_rows))  # tags are not shown
        .where(Enrollment.user_id.in_(ids), Enrollment.status != EnrollmentStatus.WITHDRAWN)
        .order_by(Enrollment.due_at.is_(None), Enrollment.due_at, Course.title)
    )
    if course_filter is not None:
        stmt = stmt.where(Enrollment.course_id == course_filter)
    if show == "completed":
        stmt = stmt.where(Enrollment.status == EnrollmentStatus.COMPLETED)
    elif show == "open":
        stmt = stmt.where(Enrollment.status != EnrollmentStatus.COMPLETED)
    elif show == "overdue":
        stmt = stmt.where(
            Enrollment.status.in_((EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING)),
            Enrollment.due_at.is_not(None),
            Enrollment.due_at < now,
        )
    rows = db().execute(stmt).all() if ids else []
    progress = progress_service.progress_for(ctx, [e.id for e, _ in rows])
    by_person: dict[int, list[tuple[Enrollment, Course]]] = {uid: [] for uid in ids}
    for enrollment, course in rows:
        by_person[enrollment.user_id].append((enrollment, course))

    # Totals over the whole team (every page), counted in SQL in one statement.
    late = case(
        (
            Enrollment.status.in_((EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING))
            & Enrollment.due_at.is_not(None)
            & (Enrollment.due_at < now),
            1,
        )
    )
    totals: dict[str, int] = {}
    overdue_total = 0
    for status, count, overdue in db().execute(
        select(Enrollment.status, func.count(), func.count(late))
        .where(Enrollment.user_id.in_(select(below.c.user_id)))
        .group_by(Enrollment.status)
    ):
        totals[status] = int(count)
        overdue_total += int(overdue)

    courses = _course_choices()
    if form is None:
        form = EnrollTeamForm(formdata=None)
    form.course.choices = courses
    form.people.choices = _people_choices(me.id)
    return (
        render_template(
            "team/index.html",
            people=people,
            by_person=by_person,
            progress=progress,
            total=total,
            totals=totals,
            overdue_total=overdue_total,
            indirect=indirect,
            show=show,
            shows=SHOW,
            course_filter=course_filter,
            courses=courses,
            form=form,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            now=now,
        ),
        status_code,
    )


@bp.route("/")
@requires(SIGNED_IN)
def index() -> Any:
    return _team_page()


@bp.route("/enroll", methods=["POST"])
@requires(SIGNED_IN)
def enroll() -> Any:
    me = _user()
    form = EnrollTeamForm()
    form.course.choices = _course_choices()
    form.people.choices = _people_choices(me.id)
    if not form.is_submitted():
        abort(400)
    form.validate()
    if "csrf_token" in form.errors:
        abort(400)
    due_at: dt.datetime | None = None
    try:
        due_at = enrollment_service.parse_due_date(form.due_date.data)
    except LMSError as exc:
        form.due_date.errors = [*form.due_date.errors, exc.message]
    chosen = list(dict.fromkeys(form.people.data or []))
    if not chosen and not form.people.errors:
        form.people.errors = [*form.people.errors, "Choose at least one person."]
    if form.people.errors or form.course.errors or form.due_date.errors:
        return _team_page(form, 400)
    try:
        with write() as ctx:
            # Everyone or nobody: one transaction, the service checks each person.
            course = ctx.session.get(Course, form.course.data)
            if course is None:
                abort(404)
            reports = team_service.direct_report_ids(ctx.session, me.id)
            people = list(ctx.session.scalars(select(User).where(User.id.in_(chosen))))
            if len(people) != len(chosen) or any(p.id not in reports for p in people):
                abort(400)  # the form offers only direct reports
            made = 0
            for person in people:
                _enrollment, created = enrollment_service.enroll_or_find(
                    ctx, person, course, due_at=due_at
                )
                made += created
            code = course.code
    except LMSError as exc:
        form.people.errors = [*form.people.errors, exc.message]
        return _team_page(form, 400)
    already = len(chosen) - made
    message = f"Enrolled {made} {'person' if made == 1 else 'people'} in {code}."
    if already:
        message += f" {already} already enrolled (their due dates are unchanged)."
    flash(message, "success")
    return redirect(url_for("team.index"))
