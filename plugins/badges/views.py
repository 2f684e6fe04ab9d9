"""The badges pages (blueprint ``badges``, under ``/badges``).

* learners: "My badges" (points, level, badges, progress, share links, leaderboard opt-out)
  and the leaderboards (site, course, group; all time or recent);
* instructors: award and revoke badges in their courses;
* admins: point rules, badge classes (criteria editor, image upload) and levels.

Plus the HTML of the dashboard widget and the course-page panel, which ``hooks.py`` wraps in
``Widget``/``Panel``: :func:`dashboard_widget_html` and :func:`course_panel_html`.

Views parse the form, call :mod:`plugins.badges.services` and render. A service's refusal is
shown next to the field it names (or at the top), the form is rendered again as typed, with
HTTP 400, and the write transaction is rolled back.
"""

from __future__ import annotations

from typing import Any
from typing import TypeVar

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import defer
from werkzeug.routing import BuildError

from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.errors import LMSError
from lms_core.models import Course
from lms_core.models import Enrollment
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import GroupMember
from lms_core.models import User
from lms_core.services.permissions import can
from lms_core.services.permissions import courses_with
from lms_core.web.db import db
from lms_core.web.db import lms
from lms_core.web.db import read_ctx
from lms_core.web.db import write
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import requires
from lms_core.web.forms import EmptyForm
from plugins.badges import forms
from plugins.badges import openbadges as ob
from plugins.badges import services
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass
from plugins.badges.models import Level
from plugins.badges.models import PointRule
from plugins.badges.rules import MAX_INT
from plugins.badges.rules import same_category

__all__ = ["bp", "course_panel_html", "dashboard_widget_html"]

bp = Blueprint("badges", __name__, url_prefix="/badges", template_folder="templates")

#: The Open Badges endpoints (blueprint ``badges_public``) the pages link to.
PUBLIC_PAGE = "badges_public.page"
BAKED_DOWNLOAD = "badges_public.baked"
CREDENTIAL_DOWNLOAD = "badges_public.credential"
CREDENTIAL_PNG_DOWNLOAD = "badges_public.credential_png"
BADGE_IMAGE = "badges_public.badge_image"

#: Latest badges on the dashboard widget; awards listed on a course's award page.
WIDGET_BADGES = 3
AWARDS_SHOWN = 200
ACTIVE_STATUSES = (EnrollmentStatus.ACTIVE.value, EnrollmentStatus.COMPLETED.value)

T = TypeVar("T")


def _user() -> Any:
    return current_user._get_current_object()


def _check_csrf() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def _text(name: str) -> str:
    return (request.form.get(name) or "").strip()


def _url(endpoint: str, **values: Any) -> str | None:
    """``url_for``, or None when the endpoint is not there (another plugin part missing)."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _field_of(exc: LMSError) -> str:
    """The form key a service error belongs to (``conditions[1].field`` → ``conditions``)."""
    name = getattr(exc, "field", None) or ""
    for sep in (".", "["):
        name = name.split(sep, 1)[0]
    return name


def _row(model: type[T], row_id: int) -> T | None:
    """``db().get(model, row_id)``, or None for an id no row can have (a URL may carry any
    number of digits; SQLite cannot even compare a number beyond 64 bits)."""
    if not 1 <= row_id <= MAX_INT:
        return None
    return db().get(model, row_id)


def _row_or_404(model: type[T], row_id: int) -> T:
    found = _row(model, row_id)
    if found is None:
        abort(404)
    return found


def _lookup_key(text: str) -> str | None:
    """``text`` when it can name a code or slug: not over-long, no NUL (PostgreSQL refuses
    NUL in any string parameter). None means "names nothing"."""
    return text if len(text) <= 200 and "\x00" not in text else None


def _badges_query() -> Any:
    return select(BadgeClass).options(defer(BadgeClass.image))


def _share_links(award: Award) -> dict[str, str | None]:
    return {
        "page": _url(PUBLIC_PAGE, uid=award.uid, _external=True),
        "baked": _url(BAKED_DOWNLOAD, uid=award.uid),
        "credential": _url(CREDENTIAL_DOWNLOAD, uid=award.uid),
        "credential_png": _url(CREDENTIAL_PNG_DOWNLOAD, uid=award.uid),
    }


def _image_url(badge: BadgeClass) -> str | None:
    return _url(BADGE_IMAGE, slug=badge.slug)


def _award_state(award: Award, now: Any) -> str:
    if award.revoked_at is not None:
        return "revoked"
    if award.expires_at is not None and award.expires_at <= now:
        return "expired"
    return "valid"


# -- learners: my badges ------------------------------------------------------------------


def _enrolled_course_ids(user_id: int) -> list[int]:
    return list(
        db().scalars(
            select(Enrollment.course_id).where(
                Enrollment.user_id == user_id,
                Enrollment.status != EnrollmentStatus.WITHDRAWN.value,
            )
        )
    )


@bp.route("/")
@requires(SIGNED_IN)
def mine() -> Any:
    ctx = read_ctx()
    user = _user()
    now = utcnow()
    points = services.points_of(ctx, user.id)
    current, following = services.level_of(ctx, user.id)
    held = services.awards_of(ctx, user.id, include_revoked=True)
    awards = [
        {
            "award": award,
            "badge": badge,
            "state": _award_state(award, now),
            "links": _share_links(award),
            "image": _image_url(badge),
        }
        for award, badge in held
    ]
    holding = {
        badge.id
        for award, badge in held
        if _award_state(award, now) == "valid" and not badge.repeatable
    }
    courses = _enrolled_course_ids(user.id)
    candidates = db().scalars(
        _badges_query()
        .where(
            BadgeClass.active.is_(True),
            or_(BadgeClass.course_id.is_(None), BadgeClass.course_id.in_(courses or [-1])),
        )
        .order_by(BadgeClass.name)
    )
    to_earn = []
    for badge in candidates:
        if badge.id in holding:
            continue
        progress = services.progress_towards(ctx, badge, user.id)
        to_earn.append({"badge": badge, "progress": progress, "image": _image_url(badge)})
    return render_template(
        "badges/mine.html",
        points=points,
        level=current,
        next_level=following,
        awards=awards,
        to_earn=to_earn,
        opted_out=services.is_opted_out(ctx, user.id),
        form=EmptyForm(),
    )


@bp.route("/leaderboard/opt-out", methods=["POST"])
@requires(SIGNED_IN)
def opt_out() -> Any:
    _check_csrf()
    hide = _text("opted_out") == "1"
    try:
        with write() as ctx:
            services.set_opt_out(ctx, ctx.actor.id, hide)  # type: ignore[union-attr]
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(
            "You are hidden from the leaderboards."
            if hide
            else "You are shown on the leaderboards again.",
            "success",
        )
    target = _text("next")
    if target != url_for("badges.leaderboard"):
        target = url_for("badges.mine")
    return redirect(target)


# -- learners: leaderboards ---------------------------------------------------------------


def _scope_choices(user: User) -> list[tuple[str, str]]:
    """("site" | "course:ID" | "group:ID", label): the site, the user's courses and groups."""
    choices = [("site", "Whole site")]
    courses = db().execute(
        select(Course.id, Course.title)
        .join(Enrollment, Enrollment.course_id == Course.id)
        .where(
            Enrollment.user_id == user.id,
            Enrollment.status != EnrollmentStatus.WITHDRAWN.value,
        )
        .order_by(Course.title)
    )
    choices += [(f"course:{cid}", f"Course: {title}") for cid, title in courses]
    groups = db().execute(
        select(Group.id, Group.name)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user.id)
        .order_by(Group.name)
    )
    choices += [(f"group:{gid}", f"Group: {name}") for gid, name in groups]
    return choices


@bp.route("/leaderboard")
@requires(SIGNED_IN)
def leaderboard() -> Any:
    ctx = read_ctx()
    user = _user()
    choices = _scope_choices(user)
    chosen = (request.args.get("scope") or "site").strip()
    if chosen not in dict(choices):
        abort(404)
    period = request.args.get("period") or "all"
    if period not in ("all", "recent"):
        period = "all"
    scope, _, raw_id = chosen.partition(":")
    rows: list[Any] = []
    message = None
    recent_days = None
    try:
        recent_days = ctx.settings("badges").recent_days
        rows = services.leaderboard(
            ctx, scope=scope, scope_id=int(raw_id) if raw_id else None, period=period
        )
    except LMSError as exc:  # also settings saved before their limits were checked
        message = exc.message
    return render_template(
        "badges/leaderboard.html",
        choices=choices,
        chosen=chosen,
        period=period,
        recent_days=recent_days,
        rows=rows,
        message=message,
        opted_out=services.is_opted_out(ctx, user.id),
        form=EmptyForm(),
    )


# -- instructors: award and revoke ----------------------------------------------------------


def _course_or_404(course_id: int) -> Course:
    return _row_or_404(Course, course_id)


def _awardable(course: Course) -> list[BadgeClass]:
    """Badges tied to the course, plus site-wide ones for those who award site-wide."""
    site_wide = courses_with(_user(), "badges.award") is None
    where = BadgeClass.course_id == course.id
    if site_wide:
        where = or_(where, BadgeClass.course_id.is_(None))
    return list(
        db().scalars(
            _badges_query()
            .where(BadgeClass.active.is_(True), where)
            .order_by(BadgeClass.course_id.is_(None), BadgeClass.name)
        )
    )


def _learners(course: Course) -> list[User]:
    return list(
        db().scalars(
            select(User)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.course_id == course.id, Enrollment.status.in_(ACTIVE_STATUSES))
            .order_by(User.name, User.email_key)
        )
    )


def _course_awards(
    course: Course, badges: list[BadgeClass]
) -> list[tuple[Award, BadgeClass, User]]:
    """Awards of the course's badges, and of site-wide badges to this course's learners."""
    own = [b.id for b in badges if b.course_id == course.id] or [-1]
    site = [b.id for b in badges if b.course_id is None] or [-1]
    enrolled = select(Enrollment.user_id).where(Enrollment.course_id == course.id)
    rows = db().execute(
        select(Award, BadgeClass, User)
        .join(BadgeClass, BadgeClass.id == Award.badge_id)
        .join(User, User.id == Award.user_id)
        .options(defer(BadgeClass.image))
        .where(
            or_(
                Award.badge_id.in_(own),
                Award.badge_id.in_(site) & Award.user_id.in_(enrolled),
            )
        )
        .order_by(Award.awarded_at.desc(), Award.id.desc())
        .limit(AWARDS_SHOWN)
    )
    return [(award, badge, user) for award, badge, user in rows]


def _render_course_awards(
    course: Course,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    badges = _awardable(course)
    return (
        render_template(
            "badges/course_awards.html",
            course=course,
            badges=badges,
            learners=_learners(course),
            awards=_course_awards(course, badges),
            errors=errors or {},
            values=values or {},
            now=utcnow(),
            form=EmptyForm(),
        ),
        status,
    )


@bp.route("/courses/<id:course_id>")
@requires("badges.award", course_arg="course_id")
def course_awards(course_id: int) -> Any:
    return _render_course_awards(_course_or_404(course_id))


@bp.route("/courses/<id:course_id>/award", methods=["POST"])
@requires("badges.award", course_arg="course_id")
def award(course_id: int) -> Any:
    course = _course_or_404(course_id)
    _check_csrf()
    values = {k: _text(k) for k in ("badge_id", "user_id", "evidence")}
    badges = {str(b.id): b for b in _awardable(course)}
    learners = {str(u.id): u for u in _learners(course)}
    errors: dict[str, str] = {}
    if values["badge_id"] not in badges:
        errors["badge_id"] = "Choose one of this course's badges."
    if values["user_id"] not in learners:
        errors["user_id"] = "Choose a learner enrolled in this course."
    if errors:
        return _render_course_awards(course, errors=errors, values=values, status=400)
    badge, learner = badges[values["badge_id"]], learners[values["user_id"]]
    try:
        with write() as ctx:
            given = services.award_badge(
                ctx, ctx.attach(badge), ctx.attach(learner), evidence=values["evidence"]
            )
    except LMSError as exc:
        key = _field_of(exc)
        errors[key if key in values else "award"] = exc.message
        return _render_course_awards(course, errors=errors, values=values, status=400)
    if given is None:
        flash(f"{learner.display_name} already holds {badge.name}.", "info")
    else:
        flash(f"{badge.name} was awarded to {learner.display_name}.", "success")
    return redirect(url_for("badges.course_awards", course_id=course.id))


@bp.route("/courses/<id:course_id>/awards/<id:award_id>/revoke", methods=["POST"])
@requires("badges.award", course_arg="course_id")
def revoke(course_id: int, award_id: int) -> Any:
    course = _course_or_404(course_id)
    _check_csrf()
    found = _row(Award, award_id)
    shown = {a.id for a, _b, _u in _course_awards(course, _awardable(course))}
    if found is None or found.id not in shown:
        abort(404)
    reason = _text("reason")
    try:
        with write() as ctx:
            services.revoke_award(ctx, ctx.attach(found), reason)
    except LMSError as exc:
        return _render_course_awards(
            course,
            errors={f"revoke_{award_id}": exc.message},
            values={f"reason_{award_id}": reason},
            status=400,
        )
    flash("The badge was revoked.", "success")
    return redirect(url_for("badges.course_awards", course_id=course.id))


# -- admin: overview and levels -------------------------------------------------------------


def _issuer_warning() -> str | None:
    """What the admin should know about the Open Badges issuer's contact address, if any."""
    site = lms()
    try:
        if ob.issuer_contact(site) is not None:
            return None
    except LMSError as exc:
        return exc.message
    return (
        "Open Badges need the issuer's email address, and this site has none: set "
        "issuer_email in the badges plugin's settings, or configure a mail sender "
        "(mail.sender). Until then the issuer profile shows "
        f"{ob.issuer_email(site)}, which nobody reads."
    )


def _render_admin_index(
    *, errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200
) -> Any:
    ctx = read_ctx()
    rules = list(db().scalars(select(PointRule).order_by(PointRule.name, PointRule.id)))
    # ``.all()``: a Result has keys(), so dict(result) would take it for a mapping.
    counts = dict(
        db()
        .execute(
            select(Award.badge_id, func.count())
            .where(Award.revoked_at.is_(None))
            .group_by(Award.badge_id)
        )
        .all()
    )
    classes = list(db().scalars(_badges_query().order_by(BadgeClass.name)))
    course_ids = {b.course_id for b in classes if b.course_id is not None}
    codes = (
        dict(db().execute(select(Course.id, Course.code).where(Course.id.in_(course_ids))).all())
        if course_ids
        else {}
    )
    levels = list(db().scalars(select(Level).order_by(Level.threshold)))
    return (
        render_template(
            "badges/admin/index.html",
            issuer_warning=_issuer_warning(),
            rules=rules,
            event_types=services.event_types(ctx),
            ops=forms.OPS,
            classes=classes,
            counts=counts,
            codes=codes,
            levels=levels,
            errors=errors or {},
            values=values or {},
            form=EmptyForm(),
        ),
        status,
    )


@bp.route("/admin")
@requires("badges.manage")
def admin_index() -> Any:
    return _render_admin_index()


@bp.route("/admin/levels", methods=["POST"])
@requires("badges.manage")
def level_new() -> Any:
    _check_csrf()
    values = {"level_name": _text("level_name"), "threshold": _text("threshold")}
    try:
        threshold = forms.parse_optional_int(values["threshold"], "The threshold", "threshold")
        if threshold is None:
            raise forms.FormProblem("Enter the points needed for this level.", "threshold")
        with write() as ctx:
            services.create_level(ctx, values["level_name"], threshold)
    except forms.FormProblem as problem:
        return _render_admin_index(
            errors={problem.field: problem.message}, values=values, status=400
        )
    except LMSError as exc:
        key = "threshold" if _field_of(exc) == "threshold" else "level_name"
        return _render_admin_index(errors={key: exc.message}, values=values, status=400)
    flash(f"Level {values['level_name']} was added.", "success")
    return redirect(url_for("badges.admin_index"))


@bp.route("/admin/levels/<id:level_id>/delete", methods=["POST"])
@requires("badges.manage")
def level_delete(level_id: int) -> Any:
    _check_csrf()
    level = _row_or_404(Level, level_id)
    try:
        with write() as ctx:
            services.delete_level(ctx, ctx.attach(level))
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash("The level was deleted.", "success")
    return redirect(url_for("badges.admin_index"))


# -- admin: point rules ---------------------------------------------------------------------


def _rule_values(rule: PointRule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "name": "",
            "event_type": "",
            "points": "",
            "once_per_course": False,
            "daily_cap": "",
            "active": True,
            "rows": forms.pad_conditions([]),
        }
    return {
        "name": rule.name,
        "event_type": rule.event_type,
        "points": str(rule.points),
        "once_per_course": rule.once_per_course,
        "daily_cap": "" if rule.daily_cap is None else str(rule.daily_cap),
        "active": rule.active,
        "rows": forms.rows_from_conditions(list(rule.conditions or [])),
    }


def _rule_form_values() -> dict[str, Any]:
    return {
        "name": _text("name"),
        "event_type": _text("event_type"),
        "points": _text("points"),
        "once_per_course": bool(request.form.get("once_per_course")),
        "daily_cap": _text("daily_cap"),
        "active": bool(request.form.get("active")),
        "rows": forms.condition_rows(request.form),
    }


def _render_rule_form(
    rule: PointRule | None, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Any:
    types = services.event_types(read_ctx())
    chosen = types.get(values["event_type"])
    return (
        render_template(
            "badges/admin/rule_form.html",
            rule=rule,
            values=values,
            errors=errors,
            event_types=types,
            fields=(chosen.fields if chosen else None),
            ops=forms.OPS,
            form=EmptyForm(),
        ),
        status,
    )


def _save_rule(rule: PointRule | None) -> Any:
    _check_csrf()
    values = _rule_form_values()
    errors: dict[str, str] = {}
    types = services.event_types(read_ctx())
    if "refresh" in request.form:
        # "Show this type's fields": re-render with the chosen type, save nothing.
        return _render_rule_form(rule, values, errors)
    chosen = types.get(values["event_type"])
    try:
        conditions = forms.conditions_from_rows(values["rows"], chosen.fields if chosen else {})
        points = forms.parse_optional_int(values["points"], "Points", "points")
        if points is None:
            raise forms.FormProblem("Enter the points this rule gives.", "points")
        daily_cap = forms.parse_optional_int(values["daily_cap"], "The daily cap", "daily_cap")
        fields = {
            "name": values["name"],
            "event_type": values["event_type"],
            "conditions": conditions,
            "points": points,
            "once_per_course": values["once_per_course"],
            "daily_cap": daily_cap,
        }
        with write() as ctx:
            if rule is None:
                services.create_point_rule(ctx, **fields)
            else:
                services.update_point_rule(ctx, ctx.attach(rule), active=values["active"], **fields)
    except forms.FormProblem as problem:
        errors[problem.field] = problem.message
    except LMSError as exc:
        key = _field_of(exc)
        errors[key if key in values or key == "conditions" else "form"] = exc.message
    else:
        flash(f"The point rule {values['name']} was saved.", "success")
        return redirect(url_for("badges.admin_index"))
    values["rows"] = forms.pad_conditions(values["rows"])
    return _render_rule_form(rule, values, errors, 400)


@bp.route("/admin/rules/new", methods=["GET", "POST"])
@requires("badges.manage")
def rule_new() -> Any:
    if request.method == "POST":
        return _save_rule(None)
    values = _rule_values(None)
    values["event_type"] = (request.args.get("event_type") or "").strip()
    return _render_rule_form(None, values, {})


def _rule_or_404(rule_id: int) -> PointRule:
    return _row_or_404(PointRule, rule_id)


@bp.route("/admin/rules/<id:rule_id>", methods=["GET", "POST"])
@requires("badges.manage")
def rule_edit(rule_id: int) -> Any:
    rule = _rule_or_404(rule_id)
    if request.method == "POST":
        return _save_rule(rule)
    return _render_rule_form(rule, _rule_values(rule), {})


@bp.route("/admin/rules/<id:rule_id>/delete", methods=["POST"])
@requires("badges.manage")
def rule_delete(rule_id: int) -> Any:
    rule = _rule_or_404(rule_id)
    _check_csrf()
    try:
        with write() as ctx:
            services.delete_point_rule(ctx, ctx.attach(rule))
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(f"The point rule {rule.name} was deleted.", "success")
    return redirect(url_for("badges.admin_index"))


# -- admin: badge classes -------------------------------------------------------------------


def _course_id_of(code: str) -> int | None:
    key = _lookup_key(code)
    if key is None:
        return None
    found: int | None = db().scalar(select(Course.id).where(Course.code_key == key.upper()))
    return found


def _badge_id_of(slug: str) -> int | None:
    key = _lookup_key(slug)
    if key is None:
        return None
    found: int | None = db().scalar(select(BadgeClass.id).where(BadgeClass.slug == key.lower()))
    return found


def _course_code_of(course_id: int) -> str:
    code = db().scalar(select(Course.code).where(Course.id == course_id))
    return code if code is not None else f"#{course_id}"


def _badge_slug_of(badge_id: int) -> str:
    slug = db().scalar(select(BadgeClass.slug).where(BadgeClass.id == badge_id))
    return slug if slug is not None else f"#{badge_id}"


def _badge_values(badge: BadgeClass | None) -> dict[str, Any]:
    if badge is None:
        return {
            "name": "",
            "description": "",
            "criteria_text": "",
            "expires_days": "",
            "repeatable": False,
            "course_id": "",
            "active": True,
            "groups": forms.criteria_rows([], _course_code_of, _badge_slug_of),
        }
    return {
        "name": badge.name,
        "description": badge.description,
        "criteria_text": badge.criteria_text,
        "expires_days": "" if badge.expires_days is None else str(badge.expires_days),
        "repeatable": badge.repeatable,
        "course_id": "" if badge.course_id is None else str(badge.course_id),
        "active": badge.active,
        "groups": forms.criteria_rows(list(badge.criteria or []), _course_code_of, _badge_slug_of),
    }


def _badge_form_values() -> dict[str, Any]:
    return {
        "name": _text("name"),
        "description": _text("description"),
        "criteria_text": _text("criteria_text"),
        "expires_days": _text("expires_days"),
        "repeatable": bool(request.form.get("repeatable")),
        "course_id": _text("course_id"),
        "active": bool(request.form.get("active")),
        "groups": forms.requirement_rows(request.form),
    }


def _render_badge_form(
    badge: BadgeClass | None, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Any:
    courses = db().execute(select(Course.id, Course.code, Course.title).order_by(Course.code))
    return (
        render_template(
            "badges/admin/badge_form.html",
            badge=badge,
            values=values,
            errors=errors,
            courses=[(str(cid), f"{code} · {title}") for cid, code, title in courses],
            types=forms.REQUIREMENT_TYPES,
            image=_image_url(badge) if badge is not None and badge.image_type else None,
            form=EmptyForm(),
        ),
        status,
    )


def _save_badge(badge: BadgeClass | None) -> Any:
    _check_csrf()
    values = _badge_form_values()
    errors: dict[str, str] = {}
    upload = request.files.get("image")
    data = upload.read() if upload is not None and upload.filename else b""
    try:
        criteria = forms.criteria_from_rows(values["groups"], _course_id_of, _badge_id_of)
        expires = forms.parse_optional_int(
            values["expires_days"], "Days until expiry", "expires_days"
        )
        course_id = forms.parse_optional_int(values["course_id"], "The course", "course_id")
        fields = {
            "name": values["name"],
            "description": values["description"],
            "criteria_text": values["criteria_text"],
            "criteria": criteria,
            "expires_days": expires,
            "repeatable": values["repeatable"],
            "course_id": course_id,
        }
        with write() as ctx:
            if badge is None:
                saved = services.create_badge_class(ctx, **fields)
            else:
                saved = ctx.attach(badge)
                services.update_badge_class(ctx, saved, active=values["active"], **fields)
            if data:
                try:
                    services.set_badge_image(
                        ctx, saved, data, upload.mimetype if upload is not None else ""
                    )
                except LMSError as exc:
                    raise forms.FormProblem(exc.message, "image") from None
            slug = saved.slug
    except forms.FormProblem as problem:
        errors[problem.field] = problem.message
    except LMSError as exc:
        key = _field_of(exc)
        errors[key if key in values or key in ("criteria", "image") else "form"] = exc.message
    else:
        flash(f"The badge {values['name']} ({slug}) was saved.", "success")
        return redirect(url_for("badges.admin_index"))
    return _render_badge_form(badge, values, errors, 400)


@bp.route("/admin/classes/new", methods=["GET", "POST"])
@requires("badges.manage")
def badge_new() -> Any:
    if request.method == "POST":
        return _save_badge(None)
    return _render_badge_form(None, _badge_values(None), {})


@bp.route("/admin/classes/<id:badge_id>", methods=["GET", "POST"])
@requires("badges.manage")
def badge_edit(badge_id: int) -> Any:
    badge = _row_or_404(BadgeClass, badge_id)
    if request.method == "POST":
        return _save_badge(badge)
    return _render_badge_form(badge, _badge_values(badge), {})


# -- the dashboard widget and the course panel (wrapped by hooks.py) ------------------------


def dashboard_widget_html(ctx: Context, user: User | None) -> str:
    """The "Badges" dashboard box: points, level, the latest badges. "" for nobody signed in.

    Two statements whatever the number of badges, levels and awards (see
    :func:`services.summary`): the dashboard is the page every learner loads.
    """
    if user is None:
        return ""
    box = services.summary(ctx, user.id, latest=WIDGET_BADGES)
    # Rendered straight from the environment: render_template would run every context
    # processor again (the nav is collected from all plugins) for a fragment that uses none.
    template = current_app.jinja_env.get_template("badges/_widget.html")
    return template.render(
        points=box.points,
        level=box.level,
        next_level=box.next_level,
        latest=box.latest,
    )


def _mentions_course(criteria: list[Any], course: Course) -> bool:
    for group in criteria or []:
        for req in group.get("requirements", []):
            if req.get("type") == "course" and req.get("course_id") == course.id:
                return True
            if req.get("type") == "courses" and course.id in (req.get("course_ids") or []):
                return True
            # "Any course in <category>" leads through this course; plain "any course"
            # would be listed on every course page, so it is left to "My badges".
            if (
                req.get("type") == "any_courses"
                and req.get("category") is not None
                and same_category(course.category, req["category"])
            ):
                return True
    return False


def course_panel_html(ctx: Context, course: Course, user: User | None) -> str:
    """The "Badges" course-page box: badges this course leads to (tied to it, or site-wide
    badges whose criteria name it), which of them the user holds, and, for those who may,
    a link to award badges. "" when there is nothing to show."""
    badges = [
        badge
        for badge in ctx.session.scalars(
            select(BadgeClass)
            .options(defer(BadgeClass.image))
            .where(BadgeClass.active.is_(True))
            .order_by(BadgeClass.name)
        )
        if badge.course_id == course.id
        or (badge.course_id is None and _mentions_course(list(badge.criteria or []), course))
    ]
    may_award = user is not None and can(user, "badges.award", course)
    if not badges and not may_award:
        return ""
    held: set[int] = set()
    if user is not None and badges:
        held = set(
            ctx.session.scalars(
                select(Award.badge_id).where(
                    Award.user_id == user.id,
                    Award.revoked_at.is_(None),
                    Award.badge_id.in_([b.id for b in badges]),
                    or_(Award.expires_at.is_(None), Award.expires_at > utcnow()),
                )
            )
        )
    return render_template(
        "badges/_panel.html",
        course=course,
        badges=badges,
        held=held,
        award_url=_url("badges.course_awards", course_id=course.id) if may_award else None,
    )
