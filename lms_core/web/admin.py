"""Admin pages: users (and CSV import), groups, roles, the audit log, plugins and deliveries.

Views parse the form, call a service and render. A service's refusal (a typed error with a
human message) is shown next to the field it names, or at the top of the page, and the form
is rendered again with what the user typed and HTTP 400; the write transaction is rolled
back, so nothing is half-saved.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
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
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import aliased
from werkzeug.utils import secure_filename
from wtforms import Field
from wtforms import PasswordField
from wtforms import StringField

from lms_core import limits
from lms_core import outbox
from lms_core.db import utcnow
from lms_core.errors import LMSError
from lms_core.importer import import_users_csv
from lms_core.jobs import job_title
from lms_core.limits import DB_INT_MAX
from lms_core.limits import TooLong
from lms_core.limits import excerpt
from lms_core.limits import listing
from lms_core.limits import shorten_refused
from lms_core.limits import shown
from lms_core.models import ALL_PERMISSIONS
from lms_core.models import PROFILE_ATTRIBUTES
from lms_core.models import AuditEntry
from lms_core.models import Course
from lms_core.models import Delivery
from lms_core.models import DeliveryStatus
from lms_core.models import Enrollment
from lms_core.models import Group
from lms_core.models import GroupKind
from lms_core.models import GroupMember
from lms_core.models import OutboxEvent
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import RolePermission
from lms_core.models import User
from lms_core.services import groups as group_service
from lms_core.services import plugins as plugin_service
from lms_core.services import roles as role_service
from lms_core.services import sessions as session_service
from lms_core.services import users as user_service
from lms_core.services.audit import audit_query
from lms_core.services.permissions import Explanation
from lms_core.services.permissions import explain
from lms_core.services.permissions import registry
from lms_core.settings import SettingField
from lms_core.settings import SettingsInvalid
from lms_core.settings import setting_fields
from lms_core.web.db import client_address
from lms_core.web.db import db
from lms_core.web.db import lms
from lms_core.web.db import write
from lms_core.web.decorators import requires
from lms_core.web.forms import EmptyForm
from lms_core.web.params import page_arg
from lms_core.web.redirects import redirect_to
from lms_core.web.templating import safe_url
from lms_core.web.templating import visible

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
#: Rule conditions offered on the group form (one more empty row than the rule has).
RULE_ROWS_MIN = 2


def _actor() -> Any:
    return current_user._get_current_object()


def _page() -> int:
    return page_arg()


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


def _check_csrf() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def _text(name: str) -> str:
    return (request.form.get(name) or "").strip()


# -- index --------------------------------------------------------------------------------


@bp.route("/")
@requires("user.view")
def index() -> Any:
    items = visible(lms().hooks.collect("lms_admin_pages"), _actor())
    pages = [(item, url) for item in items if (url := safe_url(item.endpoint))]
    return render_template("admin/index.html", pages=pages, tasks=_by_task(pages))


def _by_task(pages: list[tuple[Any, str]]) -> list[tuple[str, list[tuple[Any, str, int | None]]]]:
    """The pages under their task, tasks in the order of their first page, each page with its
    count (None when it has none)."""
    tasks: dict[str, list[tuple[Any, str, int | None]]] = {}
    for item, url in pages:
        count = item.count(db()) if item.count is not None else None
        tasks.setdefault(item.task, []).append((item, url, count))
    return list(tasks.items())


# -- users --------------------------------------------------------------------------------


class UserForm(FlaskForm):
    email = StringField("Email")
    name = StringField("Name")
    department = StringField("Department")
    location = StringField("Location")
    job_title = StringField("Job title")
    manager_email = StringField("Manager's email")
    password = PasswordField("Initial password")


#: Service field names -> form field names.
_USER_FIELDS = {"manager_id": "manager_email", "current_password": "password"}


def _field_error(form: FlaskForm, exc: LMSError, mapping: dict[str, str] | None = None) -> None:
    """Show ``exc`` next to the field it names, else at the top of the page."""
    name = getattr(exc, "field", None)
    name = (mapping or {}).get(name, name) if name else None
    field = getattr(form, name, None) if name else None
    if isinstance(field, Field):
        field.errors = [*field.errors, exc.message]
        shorten_refused(form, exc, name)
    else:
        flash(exc.message, "error")


def _all_roles() -> list[Role]:
    return list(db().scalars(select(Role).order_by(Role.builtin.desc(), Role.name)))


def _site_wide_roles() -> list[Role]:
    """The roles a user form offers: all but those only ever given per course."""
    return [r for r in _all_roles() if r.name not in role_service.COURSE_ONLY_ROLES]


def _site_roles(user_id: int) -> set[str]:
    return set(
        db().scalars(
            select(Role.name)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.course_id.is_(None))
        )
    )


@bp.route("/users")
@requires("user.view")
def users() -> Any:
    q = (request.args.get("q") or "").strip()
    page = _page()
    stmt = select(User)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                User.email_key.like(like),
                func.lower(User.name).like(like),
                func.lower(User.department).like(like),
            )
        )
    total = db().scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db().scalars(
        stmt.order_by(User.email_key).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    )
    return render_template(
        "admin/users.html",
        users=list(rows),
        q=q,
        page=page,
        pages=_pages(total, PAGE_SIZE),
        total=total,
        form=EmptyForm(),
    )


def _manager_id(form: UserForm) -> tuple[bool, int | None]:
    """(ok, manager id) from the manager email field; a field error when unknown."""
    email = (form.manager_email.data or "").strip()
    if not email:
        return True, None
    manager = db().scalars(select(User).where(User.email_key == email.lower())).first()
    if manager is None:
        form.manager_email.errors = [
            *form.manager_email.errors,
            f"There is no user with the email {email}.",
        ]
        return False, None
    return True, manager.id


def _profile(form: UserForm) -> dict[str, Any]:
    return {
        "name": (form.name.data or "").strip(),
        **{key: getattr(form, key).data for key in PROFILE_ATTRIBUTES},
    }


@bp.route("/users/new", methods=["GET", "POST"])
@requires("user.manage")
def user_new() -> Any:
    form = UserForm()
    roles = _site_wide_roles()
    chosen = {"learner"}
    status = 200
    if request.method == "POST":
        chosen = set(request.form.getlist("roles"))
        if not form.validate_on_submit():
            abort(400)
        ok, manager_id = _manager_id(form)
        if ok:
            try:
                with write() as ctx:
                    user = user_service.create_user(
                        ctx,
                        form.email.data or "",
                        password=form.password.data or None,
                        roles=tuple(sorted(chosen)),
                        password_min_length=lms().config.auth.password_min_length,
                        manager_id=manager_id,
                        **_profile(form),
                    )
                    user_id, email = user.id, user.email
            except LMSError as exc:
                _field_error(form, exc, _USER_FIELDS)
            else:
                flash(f"{email} was created.", "success")
                return redirect(url_for("admin.user_edit", user_id=user_id))
        status = 400
    return (
        render_template("admin/user_form.html", form=form, roles=roles, chosen=chosen, user=None),
        status,
    )


@bp.route("/users/<id:user_id>", methods=["GET", "POST"])
@requires("user.manage")
def user_edit(user_id: int) -> Any:
    user = db().get(User, user_id)
    if user is None:
        abort(404)
    roles = _site_wide_roles()
    current_roles = _site_roles(user.id)
    status = 200
    if request.method == "POST":
        form = UserForm()
        form.password.label.text = "New password"
        chosen = set(request.form.getlist("roles"))
        if not form.validate_on_submit():
            abort(400)
        ok, manager_id = _manager_id(form)
        if ok:
            try:
                with write() as ctx:
                    target = ctx.attach(user)
                    user_service.update_user(
                        ctx,
                        target,
                        email=form.email.data or "",
                        manager_id=manager_id,
                        **_profile(form),
                    )
                    for name in sorted(chosen - current_roles):
                        role_service.assign_role(ctx, target, name)
                    for name in sorted(current_roles - chosen):
                        role_service.revoke_role(ctx, target, name)
                    if form.password.data:
                        user_service.set_password(
                            ctx,
                            target,
                            form.password.data,
                            min_length=lms().config.auth.password_min_length,
                        )
            except LMSError as exc:
                _field_error(form, exc, _USER_FIELDS)
            else:
                flash(f"{form.email.data} was saved.", "success")
                return redirect(url_for("admin.user_edit", user_id=user_id))
        status = 400
    else:
        manager = db().get(User, user.manager_id) if user.manager_id else None
        form = UserForm(
            data={
                "email": user.email,
                "name": user.name,
                "department": user.department,
                "location": user.location,
                "job_title": user.job_title,
                "manager_email": manager.email if manager else "",
            }
        )
        form.password.label.text = "New password"
        chosen = current_roles
    why, why_errors = _explain_request(user)
    if why_errors and status == 200:
        status = 400
    return (
        render_template(
            "admin/user_form.html",
            form=form,
            roles=roles,
            chosen=chosen,
            user=user,
            **_user_details(user),
            why=why,
            why_errors=why_errors,
        ),
        status,
    )


#: Enrollments listed on a user's page (newest first; the total is shown).
USER_ENROLLMENTS_SHOWN = 50


def _user_details(user: User) -> dict[str, Any]:
    """A user's groups, enrollments and role assignments, for their admin page (4 queries)."""
    groups = db().execute(
        select(Group, GroupMember.source, GroupMember.added_at)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user.id)
        .order_by(Group.name_key)
    )
    enrollments = db().execute(
        select(Enrollment, Course.code, Course.title)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.user_id == user.id)
        .order_by(Enrollment.enrolled_at.desc(), Enrollment.id.desc())
        .limit(USER_ENROLLMENTS_SHOWN)
    )
    enrollment_total = db().scalar(select(func.count()).where(Enrollment.user_id == user.id)) or 0
    giver = aliased(User)
    assignments = db().execute(
        select(RoleAssignment, Role.name, Role.title, Course.code, giver.email)
        .join(Role, Role.id == RoleAssignment.role_id)
        .outerjoin(Course, Course.id == RoleAssignment.course_id)
        .outerjoin(giver, giver.id == RoleAssignment.assigned_by_id)
        .where(RoleAssignment.user_id == user.id)
        .order_by(RoleAssignment.course_id.is_not(None), Course.code_key, Role.name)
    )
    return {
        "member_of": groups.all(),
        "enrollments": enrollments.all(),
        "enrollment_total": enrollment_total,
        "assignments": assignments.all(),
        "permission_names": sorted(registry(lms().hooks)),
        "now": utcnow(),  # due dates are worded by the due_date macro: "Overdue since ..."
    }


def _explain_request(user: User) -> tuple[Explanation | None, dict[str, str]]:
    """The answer to "may this user use ?permission (in ?course)?", when the page asks."""
    permission = (request.args.get("permission") or "").strip()
    code = (request.args.get("course") or "").strip()
    if not permission and not code:
        return None, {}
    errors: dict[str, str] = {}
    if permission not in registry(lms().hooks):
        errors["permission"] = (
            f"There is no permission {shown(permission)}." if permission else "Choose a permission."
        )
    course = None
    if code:
        course = db().scalars(select(Course).where(Course.code_key == code.upper())).first()
        if course is None:
            errors["course"] = f"There is no course with the code {shown(code)}."
    if errors:
        return None, errors
    return explain(user, permission, course), {}


def _user_action(user_id: int, action: str) -> Any:
    _check_csrf()
    user = db().get(User, user_id)
    if user is None:
        abort(404)
    try:
        with write() as ctx:
            if action == "deactivate":
                changed = user_service.deactivate_user(ctx, ctx.attach(user))
            else:
                changed = user_service.reactivate_user(ctx, ctx.attach(user))
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        if changed:
            flash(f"{user.email} was {action}d.", "success")
        else:
            flash(f"{user.email} already was {action}d.", "info")
    return redirect_to(request.form.get("next"), url_for("admin.user_edit", user_id=user_id))


@bp.route("/users/<id:user_id>/deactivate", methods=["POST"])
@requires("user.manage")
def user_deactivate(user_id: int) -> Any:
    return _user_action(user_id, "deactivate")


@bp.route("/users/<id:user_id>/reactivate", methods=["POST"])
@requires("user.manage")
def user_reactivate(user_id: int) -> Any:
    return _user_action(user_id, "reactivate")


@bp.route("/users/<id:user_id>/end-sessions", methods=["POST"])
@requires("user.manage")
def user_end_sessions(user_id: int) -> Any:
    _check_csrf()
    user = db().get(User, user_id)
    if user is None:
        abort(404)
    try:
        with write() as ctx:
            session_service.end_all_sessions(ctx, ctx.attach(user))
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(f"All of {user.email}'s sessions were ended: they must sign in again.", "success")
    return redirect(url_for("admin.user_edit", user_id=user_id))


@bp.route("/users/import", methods=["GET", "POST"])
@requires("user.manage")
def users_import() -> Any:
    report = None
    skip_bad_rows = False
    dry_run = False
    status = 200
    if request.method == "POST":
        _check_csrf()
        skip_bad_rows = bool(request.form.get("skip_bad_rows"))
        dry_run = bool(request.form.get("dry_run"))
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("Choose a CSV file to import.", "error")
            status = 400
        else:
            name = secure_filename(upload.filename) or "upload.csv"
            with tempfile.TemporaryDirectory(prefix="lms-import-") as folder:
                path = Path(folder) / name
                upload.save(path)
                report = import_users_csv(
                    lms(),
                    path,
                    skip_bad_rows=skip_bad_rows,
                    dry_run=dry_run,
                    actor=current_user._get_current_object(),
                    address=client_address(),
                )
            refused = report.file_error is not None or (
                bool(report.bad_rows) and not report.written and not dry_run
            )
            status = 400 if refused else 200
    return (
        render_template(
            "admin/import.html",
            report=report,
            skip_bad_rows=skip_bad_rows,
            dry_run=dry_run,
        ),
        status,
    )


# -- groups -------------------------------------------------------------------------------


def _row_number(index: str) -> tuple[int, str]:
    """Sorts ``rule_attr_2`` before ``rule_attr_10`` (digits only: no int() of a huge one)."""
    return (len(index), index) if index.isascii() and index.isdigit() else (0, "")


def _rule_from_form() -> tuple[dict[str, str] | None, list[tuple[str, str]], str | None]:
    """(rule, the rows as typed, error) from the rule_attr_N / rule_value_N fields."""
    rows: list[tuple[str, str]] = []
    for key in sorted(
        (k for k in request.form if k.startswith("rule_attr_")),
        key=lambda k: _row_number(k.rsplit("_", 1)[1]),
    ):
        index = key.rsplit("_", 1)[1]
        rows.append((_text(key), _text(f"rule_value_{index}")))
    rule: dict[str, str] = {}
    for attribute, value in rows:
        if not attribute and not value:
            continue
        if not attribute:
            return None, rows, f"Choose the attribute that {excerpt(value)} applies to."
        if attribute in rule:
            return None, rows, f"The rule tests {attribute} twice; use one condition per attribute."
        rule[attribute] = value
    return (rule or None), rows, None


def _shorten_group_values(values: dict[str, Any], exc: LMSError) -> None:
    """Show a refused name, description or rule value cut to what fits, not whole."""
    shorten_refused(values, exc)
    if isinstance(exc, TooLong) and exc.field == "rule":
        values["rule_rows"] = [(a, v[: exc.limit]) for a, v in values["rule_rows"]]


def _rule_rows(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    rows = [r for r in rows if r[0] or r[1]]
    return rows + [("", "")] * max(1, RULE_ROWS_MIN - len(rows))


def _groups_page(values: dict[str, Any], errors: dict[str, str], status: int) -> Any:
    counts = (
        select(GroupMember.group_id, func.count().label("members"))
        .group_by(GroupMember.group_id)
        .subquery()
    )
    rows = db().execute(
        select(Group, func.coalesce(counts.c.members, 0))
        .outerjoin(counts, counts.c.group_id == Group.id)
        .order_by(Group.name_key)
    )
    return (
        render_template(
            "admin/groups.html",
            groups=rows.all(),
            values=values,
            errors=errors,
            kinds=[k.value for k in GroupKind],
            attributes=PROFILE_ATTRIBUTES,
        ),
        status,
    )


def _group_values() -> dict[str, Any]:
    return {
        "name": _text("name"),
        "kind": _text("kind") or GroupKind.CUSTOM.value,
        "description": _text("description"),
    }


@bp.route("/groups", methods=["GET", "POST"])
@requires("group.manage")
def groups() -> Any:
    values: dict[str, Any] = {
        "name": "",
        "kind": GroupKind.CUSTOM.value,
        "description": "",
        "rule_rows": _rule_rows([]),
    }
    errors: dict[str, str] = {}
    if request.method == "GET":
        return _groups_page(values, errors, 200)
    _check_csrf()
    values = _group_values()
    rule, rows, problem = _rule_from_form()
    values["rule_rows"] = _rule_rows(rows)
    if problem:
        errors["rule"] = problem
        return _groups_page(values, errors, 400)
    try:
        with write() as ctx:
            group = group_service.create_group(
                ctx,
                values["name"],
                kind=values["kind"],
                description=values["description"],
                rule=rule,
            )
            group_id = group.id
    except LMSError as exc:
        errors[getattr(exc, "field", None) or "form"] = exc.message
        if "form" in errors:
            flash(errors.pop("form"), "error")
        _shorten_group_values(values, exc)
        return _groups_page(values, errors, 400)
    flash(f"The group {values['name']} was created.", "success")
    return redirect(url_for("admin.group", group_id=group_id))


def _group_or_404(group_id: int) -> Group:
    group = db().get(Group, group_id)
    if group is None:
        abort(404)
    return group


def _group_page(
    group: Group, values: dict[str, Any], errors: dict[str, str], status: int, emails: str = ""
) -> Any:
    members = db().execute(
        select(User, GroupMember.source, GroupMember.added_at)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group.id)
        .order_by(User.email_key)
    )
    return (
        render_template(
            "admin/group.html",
            group=group,
            members=members.all(),
            values=values,
            errors=errors,
            emails=emails,
            kinds=[k.value for k in GroupKind],
            attributes=PROFILE_ATTRIBUTES,
            form=EmptyForm(),
        ),
        status,
    )


@bp.route("/groups/<id:group_id>", methods=["GET", "POST"])
@requires("group.manage")
def group(group_id: int) -> Any:
    group = _group_or_404(group_id)
    errors: dict[str, str] = {}
    if request.method == "GET":
        values = {
            "name": group.name,
            "kind": group.kind,
            "description": group.description,
            "rule_rows": _rule_rows(list((group.rule or {}).items())),
        }
        return _group_page(group, values, errors, 200)
    _check_csrf()
    values = _group_values()
    rule, rows, problem = _rule_from_form()
    values["rule_rows"] = _rule_rows(rows)
    if problem:
        errors["rule"] = problem
        return _group_page(group, values, errors, 400)
    try:
        with write() as ctx:
            group_service.update_group(
                ctx,
                ctx.attach(group),
                name=values["name"],
                kind=values["kind"],
                description=values["description"],
                rule=rule,
            )
    except LMSError as exc:
        field = getattr(exc, "field", None)
        if field:
            errors[field] = exc.message
        else:
            flash(exc.message, "error")
        _shorten_group_values(values, exc)
        return _group_page(group, values, errors, 400)
    flash(f"The group {values['name']} was saved.", "success")
    return redirect(url_for("admin.group", group_id=group_id))


def _split_emails(text: str) -> list[str]:
    return [e for e in text.replace(",", " ").replace(";", " ").split() if e]


@bp.route("/groups/<id:group_id>/members", methods=["POST"])
@requires("group.manage")
def group_add_members(group_id: int) -> Any:
    _check_csrf()
    group = _group_or_404(group_id)
    text = request.form.get("emails") or ""
    emails = _split_emails(text)
    if len(emails) > limits.LIST_ITEMS:
        text = ""  # not shown again: too long to be worth it
    values = {
        "name": group.name,
        "kind": group.kind,
        "description": group.description,
        "rule_rows": _rule_rows(list((group.rule or {}).items())),
    }
    if not emails:
        return _group_page(group, values, {"emails": "Enter one or more email addresses."}, 400)
    if len(emails) > limits.LIST_ITEMS:
        message = f"Add at most {limits.LIST_ITEMS:,} people at a time ({len(emails):,} given)."
        return _group_page(group, values, {"emails": message}, 400)
    found = list(db().scalars(select(User).where(User.email_key.in_([e.lower() for e in emails]))))
    known = {u.email_key for u in found}
    unknown = [e for e in emails if e.lower() not in known]
    if unknown:
        message = f"There is no user with the email {listing(unknown)}; nobody was added."
        return _group_page(group, values, {"emails": message}, 400, emails=text)
    try:
        with write() as ctx:
            added = group_service.add_members(ctx, ctx.attach(group), found)
    except LMSError as exc:
        return _group_page(group, values, {"emails": exc.message}, 400, emails=text)
    flash(f"{len(added)} member(s) added.", "success")
    return redirect(url_for("admin.group", group_id=group_id))


@bp.route("/groups/<id:group_id>/members/<id:user_id>/remove", methods=["POST"])
@requires("group.manage")
def group_remove_member(group_id: int, user_id: int) -> Any:
    _check_csrf()
    group = _group_or_404(group_id)
    user = db().get(User, user_id)
    if user is None:
        abort(404)
    try:
        with write() as ctx:
            group_service.remove_members(ctx, ctx.attach(group), [user])
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(f"{user.email} was removed from {group.name}.", "success")
    return redirect(url_for("admin.group", group_id=group_id))


@bp.route("/groups/<id:group_id>/delete", methods=["POST"])
@requires("group.manage")
def group_delete(group_id: int) -> Any:
    _check_csrf()
    group = _group_or_404(group_id)
    name = group.name
    try:
        with write() as ctx:
            group_service.delete_group(ctx, ctx.attach(group))
    except LMSError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.group", group_id=group_id))
    flash(f"The group {name} was deleted.", "success")
    return redirect(url_for("admin.groups"))


# -- roles --------------------------------------------------------------------------------


def _permission_groups() -> list[tuple[str, list[Any]]]:
    """The declared permissions grouped by prefix (``course.edit`` -> ``course``)."""
    grouped: dict[str, list[Any]] = {}
    for permission in sorted(registry(lms().hooks).values(), key=lambda p: p.name):
        grouped.setdefault(permission.name.split(".", 1)[0], []).append(permission)
    return sorted(grouped.items())


def _roles_page(
    create: dict[str, Any], assign: dict[str, Any], errors: dict[str, str], status: int
) -> Any:
    roles = _all_roles()
    held: dict[int, list[str]] = {}
    for role_id, permission in db().execute(
        select(RolePermission.role_id, RolePermission.permission).order_by(
            RolePermission.permission
        )
    ):
        held.setdefault(role_id, []).append(permission)
    role_filter = (request.args.get("role") or "").strip()
    who = (request.args.get("who") or "").strip()
    page = _page()
    stmt = (
        select(RoleAssignment, User.email, Role.name, Course.code)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .outerjoin(Course, Course.id == RoleAssignment.course_id)
    )
    if role_filter:
        stmt = stmt.where(Role.name == role_filter)
    if who:
        stmt = stmt.where(User.email_key.like(f"%{who.lower()}%"))
    total = db().scalar(select(func.count()).select_from(stmt.subquery())) or 0
    assignments = db().execute(
        stmt.order_by(Role.name, User.email_key, Course.code)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    courses = db().execute(select(Course.id, Course.code, Course.title).order_by(Course.code_key))
    return (
        render_template(
            "admin/roles.html",
            roles=roles,
            course_only=role_service.COURSE_ONLY_ROLES,
            site_only=role_service.SITE_ONLY_ROLES,
            held=held,
            permission_groups=_permission_groups(),
            all_permissions=ALL_PERMISSIONS,
            create=create,
            assign=assign,
            errors=errors,
            assignments=assignments.all(),
            courses=courses.all(),
            role_filter=role_filter,
            who=who,
            page=page,
            pages=_pages(total, PAGE_SIZE),
            total=total,
            form=EmptyForm(),
        ),
        status,
    )


_NEW_ROLE: dict[str, Any] = {"name": "", "title": "", "description": "", "permissions": set()}
_NEW_ASSIGNMENT: dict[str, Any] = {"email": "", "role": "", "course_id": ""}


@bp.route("/roles", methods=["GET", "POST"])
@requires("role.manage")
def roles() -> Any:
    if request.method == "GET":
        return _roles_page(dict(_NEW_ROLE), dict(_NEW_ASSIGNMENT), {}, 200)
    _check_csrf()
    create: dict[str, Any] = {
        "name": _text("name"),
        "title": _text("title"),
        "description": _text("description"),
        "permissions": set(request.form.getlist("permissions")),
    }
    try:
        with write() as ctx:
            role_service.create_role(
                ctx,
                create["name"],
                create["title"],
                create["permissions"],
                description=create["description"],
            )
    except LMSError as exc:
        errors = {"create_" + (getattr(exc, "field", None) or "form"): exc.message}
        shorten_refused(create, exc)
        return _roles_page(create, dict(_NEW_ASSIGNMENT), errors, 400)
    flash(f"The role {create['name']} was created.", "success")
    return redirect(url_for("admin.roles"))


def _role_or_404(role_id: int) -> Role:
    role = db().get(Role, role_id)
    if role is None:
        abort(404)
    return role


@bp.route("/roles/<id:role_id>", methods=["GET", "POST"])
@requires("role.manage")
def role(role_id: int) -> Any:
    role = _role_or_404(role_id)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        _check_csrf()
        chosen = set(request.form.getlist("permissions"))
        try:
            with write() as ctx:
                role_service.set_role_permissions(ctx, ctx.attach(role), chosen)
        except LMSError as exc:
            errors["permissions"] = exc.message
            status = 400
        else:
            flash(f"The permissions of {role.name} were saved.", "success")
            return redirect(url_for("admin.role", role_id=role_id))
    else:
        chosen = set(
            db().scalars(select(RolePermission.permission).where(RolePermission.role_id == role.id))
        )
    return (
        render_template(
            "admin/role.html",
            role=role,
            chosen=chosen,
            errors=errors,
            permission_groups=_permission_groups(),
            all_permissions=ALL_PERMISSIONS,
            form=EmptyForm(),
        ),
        status,
    )


@bp.route("/roles/<id:role_id>/delete", methods=["POST"])
@requires("role.manage")
def role_delete(role_id: int) -> Any:
    _check_csrf()
    role = _role_or_404(role_id)
    name = role.name
    try:
        with write() as ctx:
            role_service.delete_role(ctx, ctx.attach(role))
    except LMSError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.role", role_id=role_id))
    flash(f"The role {name} was deleted.", "success")
    return redirect(url_for("admin.roles"))


@bp.route("/roles/assignments", methods=["POST"])
@requires("role.manage")
def role_assign() -> Any:
    _check_csrf()
    assign = {"email": _text("email"), "role": _text("role"), "course_id": _text("course_id")}
    errors: dict[str, str] = {}
    user: User | None = None
    if not assign["email"]:
        errors["assign_email"] = "Enter the email of the person to give the role to."
    else:
        user = db().scalars(select(User).where(User.email_key == assign["email"].lower())).first()
        if user is None:
            errors["assign_email"] = f"There is no user with the email {shown(assign['email'])}."
    course = None
    if assign["course_id"]:
        digits = assign["course_id"]
        known = digits.isascii() and digits.isdigit() and len(digits) <= len(str(DB_INT_MAX))
        course = db().get(Course, int(digits)) if known and int(digits) <= DB_INT_MAX else None
        if course is None:
            errors["assign_course"] = "That course does not exist."
    if not assign["role"]:
        errors["assign_role"] = "Choose a role."
    if errors or user is None:
        return _roles_page(dict(_NEW_ROLE), assign, errors, 400)
    try:
        with write() as ctx:
            added = role_service.assign_role(
                ctx, ctx.attach(user), assign["role"], ctx.attach(course) if course else None
            )
    except LMSError as exc:
        return _roles_page(dict(_NEW_ROLE), assign, {"assign_form": exc.message}, 400)
    scope = f"in {course.code}" if course else "site-wide"
    if added:
        flash(f"{user.email} now has the role {assign['role']} {scope}.", "success")
    else:
        flash(f"{user.email} already had the role {assign['role']} {scope}.", "info")
    return redirect(url_for("admin.roles"))


@bp.route("/roles/assignments/<id:assignment_id>/revoke", methods=["POST"])
@requires("role.manage")
def role_revoke(assignment_id: int) -> Any:
    _check_csrf()
    assignment = db().get(RoleAssignment, assignment_id)
    if assignment is None:
        abort(404)
    try:
        with write() as ctx:
            user = ctx.session.get(User, assignment.user_id)
            role = ctx.session.get(Role, assignment.role_id)
            course = ctx.session.get(Course, assignment.course_id) if assignment.course_id else None
            assert user is not None and role is not None
            role_service.revoke_role(ctx, user, role, course)
            message = f"{user.email} no longer has the role {role.name}" + (
                f" in {course.code}." if course else " site-wide."
            )
    except LMSError as exc:
        flash(exc.message, "error")
    else:
        flash(message, "success")
    return redirect(url_for("admin.roles"))


# -- audit log ----------------------------------------------------------------------------


def _date(name: str) -> tuple[dt.date | None, str | None]:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None, None
    try:
        return dt.date.fromisoformat(raw), None
    except ValueError:
        return None, f"{raw!r} is not a date (YYYY-MM-DD)."


def _utc_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@bp.route("/audit")
@requires("audit.view")
def audit() -> Any:
    filters = {
        key: (request.args.get(key) or "").strip()
        for key in ("action", "actor", "target_type", "target", "since", "until")
    }
    errors: dict[str, str] = {}
    since, errors_since = _date("since")
    until, errors_until = _date("until")
    if errors_since:
        errors["since"] = errors_since
    if errors_until:
        errors["until"] = errors_until
    action = filters["action"]
    if action and not action.endswith("*"):
        action += "*"  # a prefix: "user." finds every user action
    actor_id = None
    if filters["actor"]:
        actor = db().scalars(select(User).where(User.email_key == filters["actor"].lower())).first()
        if actor is None:
            errors["actor"] = f"There is no user with the email {shown(filters['actor'])}."
        else:
            actor_id = actor.id
    entries: list[AuditEntry] = []
    total = 0
    page = _page()
    if not errors:
        stmt = audit_query(
            action=action or None,
            actor_id=actor_id,
            target_type=filters["target_type"] or None,
            since=_utc_start(since) if since else None,
            until=_utc_start(until + dt.timedelta(days=1)) if until else None,
        )
        target = filters["target"]
        if target:
            stmt = stmt.where(
                or_(
                    AuditEntry.target_id == target,
                    func.lower(AuditEntry.target_label) == target.lower(),
                )
            )
        total = db().scalar(select(func.count()).select_from(stmt.subquery())) or 0
        entries = list(
            db().scalars(stmt.offset((page - 1) * AUDIT_PAGE_SIZE).limit(AUDIT_PAGE_SIZE))
        )
    target_types = sorted(t for t in db().scalars(select(AuditEntry.target_type).distinct()) if t)
    return (
        render_template(
            "admin/audit.html",
            entries=entries,
            filters=filters,
            errors=errors,
            target_types=target_types,
            page=page,
            pages=_pages(total, AUDIT_PAGE_SIZE),
            total=total,
        ),
        400 if errors else 200,
    )


# -- plugins ------------------------------------------------------------------------------


def _settings_fields(cls: type) -> list[SettingField]:
    """The settings of ``cls`` that the form edits (str, int, float and bool ones)."""
    return [f for f in setting_fields(cls) if f.input is not None]


def _plugins_page(
    status: int = 200,
    inputs: dict[str, dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
    field_errors: dict[str, dict[str, str]] | None = None,
) -> Any:
    runtime = lms()
    statuses = plugin_service.plugin_statuses(runtime)
    settings: dict[str, dict[str, Any]] = {}
    setting_errors = dict(errors or {})
    problems = dict(field_errors or {})
    for st in statuses:
        plugin = runtime.plugins.loaded.get(st.name)
        cls = plugin.info.settings if plugin is not None else None
        if cls is None:
            continue
        fields = _settings_fields(cls)
        current: dict[str, Any] = {}
        try:
            obj = plugin_service.settings_for(runtime, st.name)
            current = {f.name: getattr(obj, f.name) for f in fields}
        except SettingsInvalid as exc:
            setting_errors.setdefault(st.name, exc.message)
            problems.setdefault(st.name, exc.problems)
        except LMSError as exc:
            setting_errors.setdefault(st.name, exc.message)
        if inputs and st.name in inputs:
            current.update(inputs[st.name])
        settings[st.name] = {
            "fields": fields,
            "values": current,
            "errors": problems.get(st.name, {}),
        }
    return (
        render_template(
            "admin/plugins.html",
            statuses=statuses,
            settings=settings,
            setting_errors=setting_errors,
            form=EmptyForm(),
        ),
        status,
    )


@bp.route("/plugins")
@requires("plugin.manage")
def plugins() -> Any:
    return _plugins_page()


def _toggle(name: str, enable: bool) -> Any:
    _check_csrf()
    runtime = lms()
    service = plugin_service.enable_plugin if enable else plugin_service.disable_plugin
    try:
        changed = service(runtime, name, _actor(), address=client_address())
    except LMSError as exc:
        flash(exc.message, "error")
        return _plugins_page(400)
    state = "on" if enable else "off"
    flash(f"{name} is {state}." if changed else f"{name} already was {state}.", "success")
    return redirect(url_for("admin.plugins"))


@bp.route("/plugins/<name>/enable", methods=["POST"])
@requires("plugin.manage")
def plugin_enable(name: str) -> Any:
    return _toggle(name, True)


@bp.route("/plugins/<name>/disable", methods=["POST"])
@requires("plugin.manage")
def plugin_disable(name: str) -> Any:
    return _toggle(name, False)


@bp.route("/plugins/<name>/settings", methods=["POST"])
@requires("plugin.manage")
def plugin_settings(name: str) -> Any:
    _check_csrf()
    runtime = lms()
    plugin = runtime.plugins.loaded.get(name)
    if plugin is None or plugin.info.settings is None:
        abort(404)
    typed: dict[str, Any] = {}  # what the form shows again if it is refused
    for spec in _settings_fields(plugin.info.settings):
        raw = request.form.get(f"s-{spec.name}")
        if spec.kind is bool:
            typed[spec.name] = raw is not None
        else:
            typed[spec.name] = (raw or "").strip()
    try:
        plugin_service.save_settings(runtime, name, dict(typed), _actor())
    except SettingsInvalid as exc:
        return _plugins_page(400, {name: typed}, {name: exc.message}, {name: exc.problems})
    except LMSError as exc:
        return _plugins_page(400, {name: typed}, {name: exc.message})
    flash(f"The settings of {name} were saved.", "success")
    return redirect(url_for("admin.plugins"))


# -- deliveries ---------------------------------------------------------------------------


def _troubled() -> Any:
    """Failed deliveries, and pending ones that have failed at least once."""
    return or_(
        Delivery.status == DeliveryStatus.FAILED,
        (Delivery.status == DeliveryStatus.PENDING) & (Delivery.attempts > 0),
    )


#: Running and waiting jobs shown above the troubled deliveries.
JOBS_SHOWN = 20


@bp.route("/deliveries")
@requires("plugin.manage")
def deliveries() -> Any:
    page = _page()
    stmt = (
        select(Delivery, OutboxEvent.name, OutboxEvent.created_at)
        .outerjoin(OutboxEvent, OutboxEvent.id == Delivery.event_id)
        .where(_troubled())
    )
    # Jobs running now (a leased long job) or waiting for their first attempt.
    jobs_now = list(
        db().scalars(
            select(Delivery)
            .where(
                Delivery.job.is_not(None),
                Delivery.status == DeliveryStatus.PENDING,
                or_(Delivery.attempts == 0, Delivery.lease_until.is_not(None)),
            )
            .order_by(Delivery.lease_until.is_(None), Delivery.next_attempt_at, Delivery.id)
            .limit(JOBS_SHOWN)
        )
    )
    total = db().scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db().execute(
        stmt.order_by(Delivery.status, Delivery.next_attempt_at, Delivery.id)
        .offset((page - 1) * AUDIT_PAGE_SIZE)
        .limit(AUDIT_PAGE_SIZE)
    )
    return render_template(
        "admin/deliveries.html",
        jobs_now=jobs_now,
        job_title=lambda name: job_title(lms(), name),
        rows=rows.all(),
        page=page,
        pages=_pages(total, AUDIT_PAGE_SIZE),
        total=total,
        form=EmptyForm(),
    )


def _retry(ids: list[int]) -> Any:
    runtime = lms()
    with write() as ctx:
        queued = outbox.redeliver(ctx, ids)
        events = sorted(
            {
                event_id
                for event_id in ctx.session.scalars(
                    select(Delivery.event_id).where(Delivery.id.in_(ids))
                )
                if event_id is not None
            }
        )
        jobs_queued = queued - int(
            ctx.session.scalar(
                select(func.count()).where(Delivery.id.in_(ids), Delivery.event_id.is_not(None))
            )
            or 0
        )
    # Event deliveries are attempted now; jobs are never run inside a request: a worker
    # takes them within seconds.
    delivered = outbox.deliver_events(runtime, events, worker="admin") if events else 0
    attempted = queued - max(jobs_queued, 0)
    message = f"{queued} delivery(ies) queued again; {delivered} delivered now."
    if jobs_queued > 0:
        message += f" {jobs_queued} job(s) will run in the background."
    if delivered < attempted:
        message += " The rest failed again; see the error below."
    flash(message, "success" if delivered >= attempted else "info")
    return redirect(url_for("admin.deliveries"))


@bp.route("/deliveries/<id:delivery_id>/retry", methods=["POST"])
@requires("plugin.manage")
def delivery_retry(delivery_id: int) -> Any:
    _check_csrf()
    if db().get(Delivery, delivery_id) is None:
        abort(404)
    return _retry([delivery_id])


@bp.route("/deliveries/retry-all", methods=["POST"])
@requires("plugin.manage")
def deliveries_retry_all() -> Any:
    _check_csrf()
    ids = list(db().scalars(select(Delivery.id).where(_troubled())))
    if not ids:
        flash("Nothing to retry.", "info")
        return redirect(url_for("admin.deliveries"))
    return _retry(ids)
