"""Instructor pages: my courses, course and lesson editing, the roster of a course."""

from __future__ import annotations

import datetime as dt
import re
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
from flask_wtf.file import FileField
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from wtforms import BooleanField
from wtforms import Field
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import InputRequired

from lms_core.db import utcnow
from lms_core.default_lessons import FILE_COMPLETION
from lms_core.default_permissions import TEACHING
from lms_core.errors import Conflict
from lms_core.errors import Invalid
from lms_core.errors import LMSError
from lms_core.limits import listing
from lms_core.limits import shorten_refused
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Enrollment
from lms_core.models import EnrollmentPolicy
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import Lesson
from lms_core.models import User
from lms_core.services import courses as course_service
from lms_core.services import enrollments as enrollment_service
from lms_core.services import file_lessons
from lms_core.services import progress as progress_service
from lms_core.services import team as team_service
from lms_core.services.permissions import can
from lms_core.services.permissions import courses_with
from lms_core.services.users import normalize_email
from lms_core.web.db import db
from lms_core.web.db import lms
from lms_core.web.db import read_ctx
from lms_core.web.db import write
from lms_core.web.decorators import requires
from lms_core.web.files import accepts_uploads
from lms_core.web.forms import EmptyForm
from lms_core.web.params import page_arg

bp = Blueprint("teach", __name__, url_prefix="/teach")

PAGE_SIZE = 50
MAX_EMAILS = 1000
_EMAIL_SPLIT = re.compile(r"[\s,;]+")
_POLICY_LABELS = {
    EnrollmentPolicy.OPEN.value: "Open: learners enroll themselves",
    EnrollmentPolicy.APPROVAL.value: "Approval: learners ask, a manager approves",
    EnrollmentPolicy.MANAGERS.value: "Managers only: managers and instructors enroll people",
}
_STATUS_FILTERS = {
    "": "Current (all but withdrawn)",
    "active": "Active",
    "overdue": "Overdue",
    "pending": "Pending approval",
    "completed": "Completed",
    "withdrawn": "Withdrawn",
}

# --- forms -------------------------------------------------------------------------------


class CourseForm(FlaskForm):
    code = StringField("Code", render_kw={"placeholder": "e.g. SAFE-101", "autocomplete": "off"})
    title = StringField("Title")
    summary = TextAreaField("Summary", render_kw={"rows": 4})
    category = StringField("Category")
    tags = StringField(
        "Tags", render_kw={"placeholder": "comma-separated, e.g. safety, onboarding"}
    )
    enrollment_policy = SelectField(
        "Enrollment policy",
        choices=[SelectChoice(value, label) for value, label in _POLICY_LABELS.items()],
        default="open",
    )
    capacity = StringField("Capacity", render_kw={"inputmode": "numeric"})
    due_days = StringField("Due period (days)", render_kw={"inputmode": "numeric"})

    def values(self) -> dict[str, Any]:
        """The fields as the course service takes them (it validates them)."""
        return {
            "code": (self.code.data or "").strip(),
            "title": self.title.data or "",
            "summary": self.summary.data or "",
            "category": self.category.data or "",
            "tags": self.tags.data or "",
            "enrollment_policy": self.enrollment_policy.data,
            "capacity": (self.capacity.data or "").strip(),
            "due_days": (self.due_days.data or "").strip(),
        }

    def fill(self, course: Course) -> None:
        self.code.data = course.code
        self.title.data = course.title
        self.summary.data = course.summary
        self.category.data = course.category or ""
        self.tags.data = ", ".join(course.tags)
        self.enrollment_policy.data = course.enrollment_policy
        self.capacity.data = "" if course.capacity is None else str(course.capacity)
        self.due_days.data = "" if course.due_days is None else str(course.due_days)


class LessonEditForm(FlaskForm):
    title = StringField("Title")
    body = TextAreaField(
        "Text (Markdown)", render_kw={"rows": 8}, description="For a link: an optional intro."
    )
    url = StringField(
        "URL", render_kw={"placeholder": "https://…"}, description="Link lessons only."
    )
    required = BooleanField("Required to complete the course", default=True)
    file = FileField("File")
    completion = SelectField(
        "Completed",
        choices=[SelectChoice(value, label) for value, label in FILE_COMPLETION.items()],
        default="marked",
    )


class LessonForm(LessonEditForm):
    kind = SelectField("Kind")


class EnrollPeopleForm(FlaskForm):
    emails = TextAreaField(
        "Email addresses",
        render_kw={"rows": 4, "placeholder": "one per line, or separated by commas"},
    )
    due_date = StringField("Due date (optional)", render_kw={"type": "date"})


class EnrollGroupForm(FlaskForm):
    group = SelectField("Group", coerce=int, validators=[InputRequired("Choose a group.")])
    due_date = StringField("Due date (optional)", render_kw={"type": "date"})


def _form_due_date(form: FlaskForm) -> tuple[dt.datetime | None, bool]:
    """The form's due date (None: the course's due period), and False if it is bad (the
    message is then on the field)."""
    try:
        return enrollment_service.parse_due_date(form.due_date.data), True
    except LMSError as exc:
        form.due_date.errors = [*form.due_date.errors, exc.message]
        return None, False


# --- helpers -----------------------------------------------------------------------------


def _user() -> Any:
    return current_user._get_current_object()


def _course_or_404(course_id: int) -> Course:
    course = db().get(Course, course_id)
    if course is None:
        abort(404)
    return course


def _lesson_or_404(course: Course, lesson_id: int) -> Lesson:
    lesson = db().get(Lesson, lesson_id)
    if lesson is None or lesson.course_id != course.id:
        abort(404)
    return lesson


def _enrollment_or_404(course: Course, enrollment_id: int) -> Enrollment:
    enrollment = db().get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.course_id != course.id:
        abort(404)
    return enrollment


def _check_csrf(form: FlaskForm) -> None:
    """400 when the CSRF token is missing or wrong (field errors are handled by the view)."""
    if not form.is_submitted():
        abort(400)
    form.validate()
    if "csrf_token" in form.errors:
        abort(400)


def _add_error(form: FlaskForm, exc: LMSError, field: str | None = None) -> None:
    """Show a service's message next to its field, or as a flash when it names none."""
    name = field or getattr(exc, "field", None)
    target: Field | None = form._fields.get(name) if name else None
    if target is not None and name != "csrf_token":
        target.errors = [*target.errors, exc.message]
        shorten_refused(form, exc, name)
    else:
        flash(exc.message, "error")


def _page() -> int:
    return page_arg()


def _lesson_kinds() -> dict[str, str]:
    return {name: kind.title for name, kind in lms().hooks.lesson_kinds().items()}


def _choices(items: dict[Any, str]) -> list[SelectChoice]:
    return [SelectChoice(str(value), label) for value, label in items.items()]


# --- my courses --------------------------------------------------------------------------


@bp.route("/")
@requires(*TEACHING, anywhere=True)  # course creators, and instructors of any course
def index() -> Any:
    user = _user()
    # The courses this person may edit: in each one, or every course with a site-wide grant.
    ids = courses_with(user, "course.edit")
    lesson_count = (
        select(func.count(Lesson.id)).where(Lesson.course_id == Course.id).scalar_subquery()
    )
    enrolled = (
        select(
            func.count(
                case(
                    (
                        Enrollment.status.in_(
                            (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)
                        ),
                        Enrollment.id,
                    )
                )
            )
        )
        .where(Enrollment.course_id == Course.id)
        .scalar_subquery()
    )
    pending = (
        select(func.count(Enrollment.id))
        .where(Enrollment.course_id == Course.id, Enrollment.status == EnrollmentStatus.PENDING)
        .scalar_subquery()
    )
    status_order = case(
        (Course.status == CourseStatus.DRAFT, 0),
        (Course.status == CourseStatus.PUBLISHED, 1),
        else_=2,
    )
    stmt = select(Course, lesson_count, enrolled, pending)
    count_stmt = select(func.count(Course.id))
    if ids is not None:
        stmt = stmt.where(Course.id.in_(ids))
        count_stmt = count_stmt.where(Course.id.in_(ids))
    total = (db().scalar(count_stmt) or 0) if ids is None or ids else 0
    page = _page()
    rows = (
        db()
        .execute(
            stmt.order_by(status_order, Course.title, Course.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
        .all()
        if total
        else []
    )
    return render_template(
        "teach/index.html",
        rows=rows,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
    )


@bp.route("/courses/new", methods=["GET", "POST"])
@requires("course.create")
def new_course() -> Any:
    form = CourseForm()
    if request.method == "POST":
        _check_csrf(form)
        if not form.errors:
            values = form.values()
            try:
                with write() as ctx:
                    course = course_service.create_course(ctx, **values)
                    course_id = course.id
            except Conflict as exc:
                _add_error(form, exc, "code")
            except LMSError as exc:
                _add_error(form, exc)
            else:
                flash(f"Course {values['code']} was created. Add its lessons next.", "success")
                return redirect(url_for("teach.course", course_id=course_id))
        return render_template("teach/new_course.html", form=form), 400
    return render_template("teach/new_course.html", form=form)


# --- one course --------------------------------------------------------------------------


def _course_page(
    course: Course,
    form: CourseForm | None = None,
    lesson_form: LessonForm | None = None,
    status: int = 200,
) -> Any:
    if form is None:
        form = CourseForm(formdata=None)
        form.fill(course)
    if lesson_form is None:
        lesson_form = LessonForm(formdata=None, prefix="lesson")
    lesson_form.kind.choices = _choices(_lesson_kinds())
    lessons = (
        db()
        .scalars(select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position))
        .all()
    )
    return (
        render_template(
            "teach/course.html",
            course=course,
            form=form,
            lesson_form=lesson_form,
            lessons=lessons,
            kinds=_lesson_kinds(),
        ),
        status,
    )


@bp.route("/courses/<id:course_id>", methods=["GET", "POST"])
@requires("course.edit", course_arg="course_id")
def course(course_id: int) -> Any:
    course = _course_or_404(course_id)
    if request.method == "GET":
        return _course_page(course)
    form = CourseForm()
    _check_csrf(form)
    if form.errors:
        return _course_page(course, form=form, status=400)
    try:
        with write() as ctx:
            changed = course_service.update_course(ctx, ctx.attach(course), **form.values())
    except Conflict as exc:
        _add_error(form, exc, "code")
    except LMSError as exc:
        _add_error(form, exc)
    else:
        flash("Course saved." if changed else "Nothing changed.", "success" if changed else "info")
        return redirect(url_for("teach.course", course_id=course_id))
    return _course_page(course, form=form, status=400)


@bp.route("/courses/<id:course_id>/publish", methods=["POST"])
@requires("course.publish", course_arg="course_id")
def publish(course_id: int) -> Any:
    course = _course_or_404(course_id)
    _check_csrf(EmptyForm())
    try:
        with write() as ctx:
            done = course_service.publish_course(ctx, ctx.attach(course))
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(
            f"{course.code} is published." if done else f"{course.code} was already published.",
            "success" if done else "info",
        )
    return redirect(url_for("teach.course", course_id=course_id))


@bp.route("/courses/<id:course_id>/archive", methods=["POST"])
@requires("course.publish", course_arg="course_id")
def archive(course_id: int) -> Any:
    course = _course_or_404(course_id)
    _check_csrf(EmptyForm())
    try:
        with write() as ctx:
            done = course_service.archive_course(ctx, ctx.attach(course))
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(
            f"{course.code} is archived: it left the catalog; records are kept."
            if done
            else f"{course.code} was already archived.",
            "success" if done else "info",
        )
    return redirect(url_for("teach.course", course_id=course_id))


# --- lessons -----------------------------------------------------------------------------


@bp.route("/courses/<id:course_id>/lessons", methods=["POST"])
@requires("course.edit", course_arg="course_id")
@accepts_uploads
def add_lesson(course_id: int) -> Any:
    course = _course_or_404(course_id)
    form = LessonForm(prefix="lesson")
    form.kind.choices = _choices(_lesson_kinds())
    _check_csrf(form)
    if form.errors:
        return _course_page(course, lesson_form=form, status=400)
    upload = form.file.data
    try:
        with write() as ctx:
            if form.kind.data == "file":
                lesson = file_lessons.add_file_lesson(
                    ctx,
                    ctx.attach(course),
                    form.title.data or "",
                    data=upload.stream if upload else None,
                    filename=upload.filename if upload else None,
                    completion=form.completion.data or "marked",
                    body=form.body.data or "",
                    required=bool(form.required.data),
                )
            else:
                lesson = course_service.add_lesson(
                    ctx,
                    ctx.attach(course),
                    form.title.data or "",
                    kind=form.kind.data or "",
                    body=form.body.data or "",
                    url=(form.url.data or "").strip() or None,
                    required=bool(form.required.data),
                )
            title = lesson.title
    except LMSError as exc:
        _add_error(form, exc)
        return _course_page(course, lesson_form=form, status=400)
    flash(f"Lesson {title!r} was added.", "success")
    return redirect(url_for("teach.course", course_id=course_id) + "#lessons")


@bp.route("/courses/<id:course_id>/lessons/<id:lesson_id>", methods=["GET", "POST"])
@requires("course.edit", course_arg="course_id")
@accepts_uploads
def lesson(course_id: int, lesson_id: int) -> Any:
    course = _course_or_404(course_id)
    lesson = _lesson_or_404(course, lesson_id)
    if request.method == "GET":
        form = LessonEditForm(formdata=None, obj=lesson)
        form.completion.data = (lesson.data or {}).get("completion") or "marked"
        return render_template("teach/lesson.html", course=course, lesson=lesson, form=form)
    form = LessonEditForm()
    _check_csrf(form)
    if lesson.kind == "file":
        return _save_file_lesson(course, lesson, form)
    changes: dict[str, Any] = {
        "title": form.title.data or "",
        "body": form.body.data or "",
        "required": bool(form.required.data),
    }
    if lesson.kind == "link":
        changes["url"] = (form.url.data or "").strip() or None
    if not form.errors:
        try:
            with write() as ctx:
                changed = course_service.update_lesson(ctx, ctx.attach(lesson), **changes)
        except LMSError as exc:
            _add_error(form, exc)
        else:
            flash(
                "Lesson saved." if changed else "Nothing changed.",
                "success" if changed else "info",
            )
            return redirect(url_for("teach.course", course_id=course_id) + "#lessons")
    return render_template("teach/lesson.html", course=course, lesson=lesson, form=form), 400


def _save_file_lesson(course: Course, lesson: Lesson, form: LessonEditForm) -> Any:
    """Save a file lesson's edit form: its text, how it completes, and a new file if one came."""
    upload = form.file.data
    changes: dict[str, Any] = {
        "title": form.title.data or "",
        "body": form.body.data or "",
        "required": bool(form.required.data),
    }
    if not form.errors:
        try:
            with write() as ctx:
                edited = ctx.attach(lesson)
                changed = course_service.update_lesson(ctx, edited, **changes)
                changed += file_lessons.set_completion(
                    ctx, edited, form.completion.data or "marked"
                )
                if upload:
                    file_lessons.replace_lesson_file(
                        ctx, edited, data=upload.stream, filename=upload.filename
                    )
                    changed.append("file")
        except LMSError as exc:
            _add_error(form, exc)
        else:
            flash(
                "Lesson saved." if changed else "Nothing changed.",
                "success" if changed else "info",
            )
            return redirect(url_for("teach.course", course_id=course.id) + "#lessons")
    return render_template("teach/lesson.html", course=course, lesson=lesson, form=form), 400


@bp.route("/courses/<id:course_id>/lessons/<id:lesson_id>/delete", methods=["POST"])
@requires("course.edit", course_arg="course_id")
def delete_lesson(course_id: int, lesson_id: int) -> Any:
    course = _course_or_404(course_id)
    lesson = _lesson_or_404(course, lesson_id)
    _check_csrf(EmptyForm())
    title = lesson.title
    try:
        with write() as ctx:
            course_service.delete_lesson(ctx, ctx.attach(lesson))
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Lesson {title!r} was deleted.", "success")
    return redirect(url_for("teach.course", course_id=course_id) + "#lessons")


@bp.route(
    "/courses/<id:course_id>/lessons/<id:lesson_id>/move/<any(up, down):direction>",
    methods=["POST"],
)
@requires("course.edit", course_arg="course_id")
def move_lesson(course_id: int, lesson_id: int, direction: str) -> Any:
    course = _course_or_404(course_id)
    lesson = _lesson_or_404(course, lesson_id)
    _check_csrf(EmptyForm())
    try:
        with write() as ctx:
            # The current order, read in the transaction that changes it.
            order = list(
                ctx.session.scalars(
                    select(Lesson.id)
                    .where(Lesson.course_id == course.id)
                    .order_by(Lesson.position, Lesson.id)
                )
            )
            index = order.index(lesson.id)
            other = index - 1 if direction == "up" else index + 1
            if 0 <= other < len(order):
                order[index], order[other] = order[other], order[index]
                course_service.reorder_lessons(ctx, ctx.attach(course), order)
    except LMSError as exc:
        flash(exc.message, "error")
    return redirect(url_for("teach.course", course_id=course_id) + "#lessons")


# --- roster ------------------------------------------------------------------------------


def _status_filter(stmt: Any, status: str) -> Any:
    if status == "":
        return stmt.where(Enrollment.status != EnrollmentStatus.WITHDRAWN)
    if status == "overdue":
        return stmt.where(
            Enrollment.status.in_((EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING)),
            Enrollment.due_at.is_not(None),
            Enrollment.due_at < utcnow(),
        )
    return stmt.where(Enrollment.status == status)


def _groups() -> dict[int, str]:
    rows = db().execute(select(Group.id, Group.name).order_by(Group.name_key))
    return {gid: name for gid, name in rows}


def _roster_page(
    course: Course,
    people_form: EnrollPeopleForm | None = None,
    group_form: EnrollGroupForm | None = None,
    status_code: int = 200,
) -> Any:
    ctx = read_ctx()
    status = request.args.get("status", "")
    if status not in _STATUS_FILTERS:
        status = ""
    page = _page()
    # Line managers see their team here too: marked, and on request the only rows shown.
    has_team = team_service.manages_anyone(_user())
    team = team_service.team_ids(_user().id, indirect=True).subquery() if has_team else None
    only_team = team is not None and request.args.get("team", "") == "1"
    where = [Enrollment.course_id == course.id]
    if only_team and team is not None:
        where.append(Enrollment.user_id.in_(select(team.c.user_id)))
    filtered = _status_filter(select(Enrollment).where(*where), status)
    total = db().scalar(select(func.count()).select_from(filtered.subquery())) or 0
    rows = (
        db()
        .execute(
            _status_filter(
                select(Enrollment, User).join(User, User.id == Enrollment.user_id).where(*where),
                status,
            )
            .order_by(func.lower(User.name), User.email_key)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
        .all()
    )
    progress = progress_service.progress_for(ctx, [e.id for e, _ in rows])
    in_team: set[int] = set()
    if team is not None and rows:
        in_team = set(
            db().scalars(select(team.c.user_id).where(team.c.user_id.in_([u.id for _, u in rows])))
        )
    counts = dict(
        db()
        .execute(
            select(Enrollment.status, func.count())
            .where(Enrollment.course_id == course.id)
            .group_by(Enrollment.status)
        )
        .all()
    )
    manage = can(_user(), "enrollment.manage", course)
    pending: list[Any] = []
    groups: dict[int, str] = {}
    if manage:
        pending = list(
            db()
            .execute(
                select(Enrollment, User)
                .join(User, User.id == Enrollment.user_id)
                .where(
                    Enrollment.course_id == course.id,
                    Enrollment.status == EnrollmentStatus.PENDING,
                )
                .order_by(Enrollment.enrolled_at, Enrollment.id)
                .limit(PAGE_SIZE)
            )
            .all()
        )
        groups = _groups()
    if people_form is None:
        people_form = EnrollPeopleForm(formdata=None)
    if group_form is None:
        group_form = EnrollGroupForm(formdata=None)
    group_form.group.choices = _choices(groups)
    return (
        render_template(
            "teach/roster.html",
            course=course,
            rows=rows,
            progress=progress,
            counts=counts,
            pending=pending,
            pending_total=counts.get(EnrollmentStatus.PENDING, 0),
            manage=manage,
            people_form=people_form,
            group_form=group_form,
            groups=groups,
            status=status,
            filters=_STATUS_FILTERS,
            has_team=has_team,
            only_team=only_team,
            in_team=in_team,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            total=total,
            now=utcnow(),
        ),
        status_code,
    )


@bp.route("/courses/<id:course_id>/learners")
@requires("progress.view", course_arg="course_id")
def roster(course_id: int) -> Any:
    return _roster_page(_course_or_404(course_id))


def _parse_emails(text: str) -> tuple[list[str], list[str]]:
    """(valid addresses in order without repeats, malformed entries)."""
    good: list[str] = []
    bad: list[str] = []
    seen: set[str] = set()
    for raw in _EMAIL_SPLIT.split(text or ""):
        if not raw:
            continue
        try:
            email = normalize_email(raw)
        except Invalid:
            bad.append(raw)
            continue
        if email.lower() not in seen:
            seen.add(email.lower())
            good.append(email)
    return good, bad


@bp.route("/courses/<id:course_id>/learners/enroll", methods=["POST"])
@requires("enrollment.manage", course_arg="course_id")
def enroll_people(course_id: int) -> Any:
    course = _course_or_404(course_id)
    form = EnrollPeopleForm()
    _check_csrf(form)
    emails, bad = _parse_emails(form.emails.data or "")
    if bad:
        form.emails.errors = [f"Not email addresses: {listing(bad)}. Nobody was enrolled."]
    elif not emails:
        form.emails.errors = ["Enter at least one email address."]
    elif len(emails) > MAX_EMAILS:
        form.emails.errors = [f"Enroll at most {MAX_EMAILS} people at a time."]
    due_at, due_ok = _form_due_date(form)
    if form.emails.errors or not due_ok:
        return _roster_page(course, people_form=form, status_code=400)
    try:
        with write() as ctx:
            # Validate everything first, then enroll everybody in this one transaction.
            found = {
                u.email_key: u
                for u in ctx.session.scalars(
                    select(User).where(User.email_key.in_([e.lower() for e in emails]))
                )
            }
            unknown = [e for e in emails if e.lower() not in found]
            if unknown:
                raise Invalid(
                    "No account has the email "
                    + ", ".join(unknown)
                    + ". Nobody was enrolled; fix or remove "
                    + ("it" if len(unknown) == 1 else "them")
                    + " and try again.",
                    field="emails",
                )
            users = [found[e.lower()] for e in emails]
            already = set(
                ctx.session.scalars(
                    select(Enrollment.user_id).where(
                        Enrollment.course_id == course.id,
                        Enrollment.user_id.in_([u.id for u in users]),
                        Enrollment.status.in_(
                            (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)
                        ),
                    )
                )
            )
            target = ctx.attach(course)
            for user in users:
                enrollment_service.enroll(ctx, user, target, due_at=due_at)
    except LMSError as exc:
        _add_error(form, exc, "emails")
        return _roster_page(course, people_form=form, status_code=400)
    added = len(users) - len(already)
    message = f"Enrolled {added} {'person' if added == 1 else 'people'} in {course.code}."
    if already:
        message += f" {len(already)} already enrolled."
    flash(message, "success")
    return redirect(url_for("teach.roster", course_id=course_id))


@bp.route("/courses/<id:course_id>/learners/enroll-group", methods=["POST"])
@requires("enrollment.manage", course_arg="course_id")
def enroll_group(course_id: int) -> Any:
    course = _course_or_404(course_id)
    form = EnrollGroupForm()
    form.group.choices = _choices(_groups())
    _check_csrf(form)
    due_at, due_ok = _form_due_date(form)
    if form.errors or not due_ok:
        return _roster_page(course, group_form=form, status_code=400)
    group = db().get(Group, form.group.data)
    if group is None:
        abort(404)
    try:
        with write() as ctx:
            enrolled = enrollment_service.enroll_group(
                ctx, ctx.attach(group), ctx.attach(course), due_at=due_at
            )
            count = len(enrolled)
    except LMSError as exc:
        _add_error(form, exc, "group")
        return _roster_page(course, group_form=form, status_code=400)
    flash(
        f"Enrolled {count} member{'s' if count != 1 else ''} of {group.name} in {course.code}; "
        "people who join the group later are enrolled too.",
        "success",
    )
    return redirect(url_for("teach.roster", course_id=course_id))


def _enrollment_action(course_id: int, enrollment_id: int, action: str) -> Any:
    course = _course_or_404(course_id)
    enrollment = _enrollment_or_404(course, enrollment_id)
    _check_csrf(EmptyForm())
    user = db().get(User, enrollment.user_id)
    who = user.display_name if user is not None else "The learner"
    try:
        with write() as ctx:
            target = ctx.attach(enrollment)
            if action == "approve":
                done = enrollment_service.approve(ctx, target)
                text = f"{who} is enrolled."
            elif action == "decline":
                done = enrollment_service.decline(ctx, target)
                text = f"{who}'s request was declined."
            else:
                done = enrollment_service.withdraw(ctx, target)
                text = f"{who} was withdrawn from {course.code}; their progress is kept."
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        if done:
            flash(text, "success")
        else:
            flash("Nothing to do: that enrollment changed in the meantime.", "info")
    return redirect(url_for("teach.roster", course_id=course_id))


@bp.route("/courses/<id:course_id>/enrollments/<id:enrollment_id>/approve", methods=["POST"])
@requires("enrollment.manage", course_arg="course_id")
def approve(course_id: int, enrollment_id: int) -> Any:
    return _enrollment_action(course_id, enrollment_id, "approve")


@bp.route("/courses/<id:course_id>/enrollments/<id:enrollment_id>/decline", methods=["POST"])
@requires("enrollment.manage", course_arg="course_id")
def decline(course_id: int, enrollment_id: int) -> Any:
    return _enrollment_action(course_id, enrollment_id, "decline")


@bp.route("/courses/<id:course_id>/enrollments/<id:enrollment_id>/withdraw", methods=["POST"])
@requires("enrollment.manage", course_arg="course_id")
def withdraw(course_id: int, enrollment_id: int) -> Any:
    return _enrollment_action(course_id, enrollment_id, "withdraw")
