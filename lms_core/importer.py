"""``lms users import``: create or update users, groups, memberships and enrollments from a CSV.

The whole file is read and checked in Python before anything is written, against the site's
rows loaded with a handful of queries. Bad rows are reported with their row numbers (the
header is row 1); unless ``skip_bad_rows`` is given nothing is written when any row is bad.
The writes then happen in one transaction as Core ``executemany`` batches, never as per-row
ORM flushes, so a 100,000-row file imports in seconds.

The import keeps the same promises as the services do one user at a time: new users get the
learner role, rule groups are re-synced for created and updated users, joining a group that
is enrolled in courses enrolls the newcomer too, capacity and archived courses are respected,
``lms_before_enroll`` filters are asked, and every change is published as the same outbox
events (``UserCreated``, ``UserUpdated``, ``GroupMembershipChanged``, ``UserEnrolled``).
One ``users.import`` audit entry sums the import up.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from attrs import define
from attrs import field
from sqlalchemy import Table
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from lms_core import limits
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.default_permissions import LEARNER
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import LMSError
from lms_core.events import Event
from lms_core.events import GroupMembershipChanged
from lms_core.events import UserCreated
from lms_core.events import UserEnrolled
from lms_core.events import UserUpdated
from lms_core.events import dump_event
from lms_core.limits import excerpt
from lms_core.limits import listing
from lms_core.models import PROFILE_ATTRIBUTES
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Delivery
from lms_core.models import Enrollment
from lms_core.models import EnrollmentSource
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import GroupCourse
from lms_core.models import GroupKind
from lms_core.models import GroupMember
from lms_core.models import MembershipSource
from lms_core.models import OutboxEvent
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.enrollments import parse_due_date
from lms_core.services.permissions import can
from lms_core.services.users import normalize_email

if TYPE_CHECKING:
    from lms_core.runtime import LMS

__all__ = ["COLUMNS", "BadRow", "ImportReport", "import_users_csv"]

#: The columns a file may have, in the order the error message lists them.
COLUMNS = (
    "email",
    "name",
    "department",
    "location",
    "job_title",
    "manager_email",
    "groups",
    "courses",
    "due_date",
)
_PROFILE = ("name", *PROFILE_ATTRIBUTES)
_LIMITS = {"name": limits.USER_NAME, **dict.fromkeys(PROFILE_ATTRIBUTES, limits.PROFILE_ATTRIBUTE)}
_OCCUPYING = (
    EnrollmentStatus.PENDING.value,
    EnrollmentStatus.ACTIVE.value,
    EnrollmentStatus.COMPLETED.value,
)
#: Values per ``IN (...)`` list: well under SQLite's 32,766 and PostgreSQL's 65,535 limits.
_IN_CHUNK = 5000
#: Rows per ``executemany`` call (also how often progress is reported while writing).
_WRITE_BATCH = 20000
#: Above this many events to deliver, leave them to ``lms worker`` instead of delivering
#: them in-process after the commit.
_INLINE_DELIVERY_LIMIT = 5000
_SOURCE = EnrollmentSource.IMPORT.value

Progress = Callable[[int, int], None]
T = TypeVar("T")


@define(frozen=True)
class BadRow:
    """A row that cannot be imported: its number in the file (header = 1) and why."""

    row: int
    reason: str
    email: str = ""

    def __str__(self) -> str:
        who = f" ({self.email})" if self.email else ""
        return f"row {self.row}{who}: {self.reason}"


@define(kw_only=True)
class ImportReport:
    """What an import found and did (or, for a dry run or a refused file, would have done)."""

    file: str
    rows: int = 0
    bad_rows: list[BadRow] = field(factory=list)
    #: A problem with the whole file (not UTF-8, unknown column...): nothing was written.
    file_error: str | None = None
    dry_run: bool = False
    skip_bad_rows: bool = False
    #: True when the changes were committed.
    written: bool = False
    users_created: int = 0
    users_updated: int = 0
    users_unchanged: int = 0
    groups_created: int = 0
    memberships_added: int = 0
    memberships_removed: int = 0
    enrollments_created: int = 0
    enrollments_skipped: int = 0
    events: int = 0

    def problem_lines(self) -> Iterator[str]:
        for bad in self.bad_rows:
            yield str(bad)

    def summary(self) -> str:
        if self.file_error is not None:
            return f"{self.file}: nothing was imported. {self.file_error}"
        counts = (
            f"{self.users_created} user(s) created, {self.users_updated} updated, "
            f"{self.users_unchanged} unchanged; {self.groups_created} group(s) created; "
            f"{self.memberships_added} group membership(s) added; "
            f"{self.enrollments_created} enrollment(s) created"
        )
        if self.memberships_removed:
            counts += f"; {self.memberships_removed} rule-group membership(s) ended"
        if self.enrollments_skipped:
            counts += f"; {self.enrollments_skipped} group enrollment(s) skipped (course full)"
        bad = len(self.bad_rows)
        if self.dry_run:
            head = f"Dry run of {self.file} ({self.rows} row(s)), nothing was written. Would have: "
            tail = f". {bad} bad row(s)." if bad else "."
            if bad and not self.skip_bad_rows:
                tail += " Without --skip-bad-rows the file would be refused."
            return head + counts + tail
        if bad and not self.written:
            return (
                f"{self.file}: {bad} of {self.rows} row(s) are bad, so nothing was imported. "
                "Fix them, or use --skip-bad-rows to import the good rows."
            )
        tail = f". {bad} bad row(s) skipped." if bad else "."
        return f"Imported {self.file} ({self.rows} row(s)): {counts}{tail}"


# -- reading the file ------------------------------------------------------------------


class _FileError(Exception):
    pass


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _FileError(
            f"The file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line} is not "
            "valid UTF-8). Save it as 'CSV UTF-8' and try again."
        ) from None
    if "\x00" in text:  # no database text column can hold one
        line = text[: text.index("\x00")].count("\n") + 1
        raise _FileError(f"The file has a NUL character on line {line}; it is not a CSV text file.")
    return text


def _read_records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header cells and (row number, cells) of each non-blank data row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    records: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    try:
        for number, cells in enumerate(reader, start=1):
            if header is None:
                if not any(c.strip() for c in cells):
                    raise _FileError("The first row must be the header row naming the columns.")
                header = cells
            elif any(c.strip() for c in cells):
                records.append((number, cells))
    except csv.Error as exc:
        raise _FileError(
            f"The file is not readable as CSV near line {reader.line_num}: {exc}."
        ) from None
    if header is None:
        raise _FileError("The file is empty: it needs a header row and at least one user.")
    return header, records


def _check_header(cells: list[str]) -> list[str]:
    names = [" ".join(c.split()).lower() for c in cells]
    while names and not names[-1]:
        names.pop()
    expected = ", ".join(COLUMNS)
    for position, name in enumerate(names, start=1):
        if not name:
            raise _FileError(f"Column {position} of the header has no name. Expected: {expected}.")
        if name not in COLUMNS:
            raise _FileError(
                f"Unknown column {excerpt(cells[position - 1].strip())} (column {position}). "
                f"The columns can be: {expected}."
            )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _FileError(f"The column {excerpt(name)} appears twice in the header.")
        seen.add(name)
    if "email" not in seen:
        raise _FileError(f"The header has no 'email' column; it is required. Expected: {expected}.")
    return names


# -- planning --------------------------------------------------------------------------


@define(slots=True, kw_only=True)
class _Row:
    number: int
    email: str
    key: str
    profile: dict[str, str]
    manager_key: str | None = None
    groups: list[str] = field(factory=list)
    courses: list[str] = field(factory=list)
    #: When the row's ``courses`` enrollments are due, instead of each course's due period.
    due_at: dt.datetime | None = None
    bad: str | None = None
    # Filled in by planning:
    user_id: int | None = None
    changes: dict[str, Any] = field(factory=dict)
    new_groups: list[str] = field(factory=list)
    new_courses: list[int] = field(factory=list)


@define(slots=True)
class _ExistingUser:
    id: int
    email: str
    key: str
    name: str
    department: str | None
    location: str | None
    job_title: str | None
    manager_id: int | None
    is_active: bool


@define(slots=True)
class _GroupInfo:
    id: int | None
    name: str
    key: str
    rule: dict[str, str] | None


def _clean_text(value: str) -> str:
    return " ".join(value.split())


def _split_list(value: str) -> list[str]:
    out: dict[str, str] = {}
    for part in value.split(";"):
        part = _clean_text(part)
        if part:
            out.setdefault(part.lower(), part)
    return list(out.values())


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parse_row(number: int, cells: list[str], columns: list[str]) -> _Row:
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
        return _Row(
            number=number,
            email=cells[columns.index("email")].strip() if "email" in columns else "",
            key="",
            profile={},
            bad=(
                f"the row has {len(cells)} cells but the header has {len(columns)} columns "
                "(is there an unquoted comma in a value?)"
            ),
        )
    values = dict(zip(columns, cells, strict=False))
    raw_email = values.get("email", "").strip()
    row = _Row(number=number, email=raw_email, key=raw_email.lower(), profile={})
    if not raw_email:
        row.bad = "the email is missing"
        return row
    try:
        row.email = normalize_email(raw_email)
    except Invalid as exc:
        row.bad = exc.message[0].lower() + exc.message[1:].rstrip(".")
        return row
    row.key = row.email.lower()
    for name in _PROFILE:
        raw = values.get(name, "")
        if len(raw) > _LIMITS[name]:  # as the services count: the text as sent
            row.bad = f"{name} is too long ({_LIMITS[name]} characters at most)"
            return row
        text = _clean_text(raw)
        if text:
            row.profile[name] = text
    manager = values.get("manager_email", "").strip()
    if manager:
        try:
            manager = normalize_email(manager)
        except Invalid:
            row.bad = f"manager_email {excerpt(manager)} is not a valid email address"
            return row
        row.manager_key = manager.lower()
        if row.manager_key == row.key:
            row.bad = "a user cannot be their own manager"
            return row
    row.groups = _split_list(values.get("groups", ""))
    for name in row.groups:
        if len(name) > limits.GROUP_NAME:
            row.bad = (
                f"group name {excerpt(name)} is too long ({limits.GROUP_NAME} characters at most)"
            )
            return row
    row.courses = [c.upper() for c in _split_list(values.get("courses", ""))]
    due_text = values.get("due_date", "").strip()
    if due_text:
        if not row.courses:
            row.bad = "due_date is given but the row has no courses for it to apply to"
            return row
        try:
            # The services' own rule, so a file and a form refuse the same dates.
            row.due_at = parse_due_date(due_text, field="due_date")
        except Invalid as exc:
            row.bad = "due_date: " + exc.message[0].lower() + exc.message[1:].rstrip(".")
            return row
    return row


class _Plan:
    """Everything the import will write, computed in Python from the loaded state."""

    def __init__(self, ctx: Context, rows: list[_Row]) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.rows = rows
        self.by_key: dict[str, _Row] = {}
        self.users: dict[str, _ExistingUser] = {}
        self.courses: dict[str, Course] = {}
        self.courses_by_id: dict[int, Course] = {}
        self.seats: dict[int, int] = {}
        self.groups: dict[str, _GroupInfo] = {}
        self.rule_groups: list[_GroupInfo] = []
        self.group_courses: dict[int, list[int]] = {}
        self.memberships: set[tuple[int, int]] = set()  # (group_id, user_id)
        self.enrollments: dict[
            tuple[int, int], tuple[int, str]
        ] = {}  # (user, course) -> id, status
        # Results of planning.
        self.create_groups: dict[str, str] = {}  # key -> display name
        self.group_enrollments: list[tuple[str, int, int | None, str]] = []
        self.skipped_group_enrollments: list[tuple[str, str, str, str]] = []
        self.rule_adds: list[tuple[str, int]] = []  # (user key, group id)
        self.rule_removes: list[tuple[int, int]] = []  # (user id, group id)

    # -- loading ---------------------------------------------------------------------
    def _in(self, stmt: Any, column: Any, values: Iterable[Any]) -> Iterator[Any]:
        items = sorted(set(values))
        for chunk in _chunks(items):
            yield from self.session.execute(stmt.where(column.in_(chunk)))

    def load(self) -> None:
        keys = {r.key for r in self.rows if r.key}
        keys |= {r.manager_key for r in self.rows if r.manager_key}
        cols = (
            User.id,
            User.email,
            User.email_key,
            User.name,
            User.department,
            User.location,
            User.job_title,
            User.manager_id,
            User.is_active,
        )
        total = self.session.scalar(select(func.count()).select_from(User)) or 0
        found: Iterable[Any]
        if total <= 2 * len(keys):
            found = self.session.execute(select(*cols))
        else:
            found = self._in(select(*cols), User.email_key, keys)
        for r in found:
            if r.email_key in keys:
                self.users[r.email_key] = _ExistingUser(*r)

        codes = {c for r in self.rows for c in r.courses}
        for course in self.session.scalars(
            select(Course).where(Course.code_key.in_(sorted(codes)))
        ):
            self.courses[course.code_key] = course
        names = {n.lower() for r in self.rows for n in r.groups}
        group_rows = list(
            self._in(
                select(Group.id, Group.name, Group.name_key, Group.rule), Group.name_key, names
            )
        )
        group_rows += list(
            self.session.execute(
                select(Group.id, Group.name, Group.name_key, Group.rule).where(
                    Group.rule.is_not(None)
                )
            )
        )
        for g in group_rows:
            info = _GroupInfo(g.id, g.name, g.name_key, g.rule or None)
            self.groups[g.name_key] = info
        self.rule_groups = [g for g in self.groups.values() if g.rule]
        group_ids = [g.id for g in self.groups.values() if g.id is not None]
        for gid, cid in self._in(
            select(GroupCourse.group_id, GroupCourse.course_id), GroupCourse.group_id, group_ids
        ):
            self.group_courses.setdefault(gid, []).append(cid)
        extra = {c for ids in self.group_courses.values() for c in ids} - {
            c.id for c in self.courses.values()
        }
        for course in self._in(select(Course), Course.id, extra):
            self.courses.setdefault(course[0].code_key, course[0])
        self.courses_by_id = {c.id: c for c in self.courses.values()}
        if self.courses_by_id and self.session.get_bind().dialect.name == "postgresql":
            # Concurrent enrollments wait for us, so capacity counts stay true.
            self.session.execute(
                select(Course.id)
                .where(Course.id.in_(sorted(self.courses_by_id)))
                .order_by(Course.id)
                .with_for_update()
            )
        course_ids = sorted(self.courses_by_id)
        self.seats = dict.fromkeys(course_ids, 0)
        if course_ids:
            for cid, count in self.session.execute(
                select(Enrollment.course_id, func.count())
                .where(Enrollment.course_id.in_(course_ids), Enrollment.status.in_(_OCCUPYING))
                .group_by(Enrollment.course_id)
            ):
                self.seats[cid] = count
        user_ids = [u.id for u in self.users.values()]
        if user_ids:
            for gid, uid in self._in(
                select(GroupMember.group_id, GroupMember.user_id), GroupMember.user_id, user_ids
            ):
                self.memberships.add((gid, uid))
            if course_ids:
                for eid, uid, cid, status in self._in(
                    select(
                        Enrollment.id, Enrollment.user_id, Enrollment.course_id, Enrollment.status
                    ).where(Enrollment.course_id.in_(course_ids)),
                    Enrollment.user_id,
                    user_ids,
                ):
                    self.enrollments[(uid, cid)] = (eid, status)

    # -- checking ----------------------------------------------------------------------
    def check_rows(self) -> None:
        seen: dict[str, int] = {}
        for row in self.rows:
            if row.bad is None and row.key:
                earlier = seen.get(row.key)
                if earlier is not None:
                    row.bad = f"{row.email} is already on row {earlier} of this file"
                    continue
                seen[row.key] = row.number
                self.by_key[row.key] = row
            if row.bad is not None:
                continue
            unknown = [c for c in row.courses if c not in self.courses]
            if unknown:
                row.bad = f"unknown course code(s): {listing(unknown)}"
                continue
            archived = [
                self.courses[c].code
                for c in row.courses
                if self.courses[c].status == CourseStatus.ARCHIVED
            ]
            if archived:
                row.bad = f"course {', '.join(archived)} is archived; it takes no new enrollments"
                continue
            for name in row.groups:
                group = self.groups.get(name.lower())
                if group is not None and group.rule:
                    rule = ", ".join(f"{k} = {v}" for k, v in group.rule.items())
                    row.bad = (
                        f"group {group.name!r} is filled by its rule ({rule}); "
                        "it cannot take members from an import"
                    )
                    break

    def check_managers(self) -> None:
        """Rows whose manager is neither a user nor a good row of the file are bad (to a fixpoint)."""
        changed = True
        while changed:
            changed = False
            for row in self.rows:
                key = row.manager_key
                if row.bad is not None or key is None or key in self.users:
                    continue
                other = self.by_key.get(key)
                if other is None:
                    row.bad = f"manager_email {key} is not a user here, nor in this file"
                    changed = True
                elif other.bad is not None:
                    row.bad = f"the manager {key} is on row {other.number}, which is bad"
                    changed = True

    def check_manager_loops(self) -> None:
        rows = [r for r in self.rows if r.bad is None and r.manager_key is not None]
        if not rows:
            return
        id_to_key: dict[int, str] = {}
        db_manager: dict[str, int] = {}
        if any(r.manager_key in self.users for r in rows):
            for uid, key, manager_id in self.session.execute(
                select(User.id, User.email_key, User.manager_id)
            ):
                id_to_key[uid] = key
                if manager_id is not None:
                    db_manager[key] = manager_id
        file_manager = {r.key: r.manager_key for r in rows}

        def boss(key: str) -> str | None:
            if key in file_manager:
                return file_manager[key]
            manager_id = db_manager.get(key)
            return id_to_key.get(manager_id) if manager_id is not None else None

        safe: set[str] = set()
        for row in rows:
            path = {row.key}
            node = row.manager_key
            while node is not None and node not in safe:
                if node == row.key:
                    row.bad = f"making {row.manager_key} the manager would make a management loop"
                    break
                if node in path:
                    break  # a loop not through this row: reported on the rows that make it
                path.add(node)
                node = boss(node)
            else:
                safe.update(path)
        for row in rows:
            if row.bad is not None:
                file_manager.pop(row.key, None)

    def plan_rows(self) -> None:
        """Work out each good row's changes, memberships and enrollments; check capacity."""
        before = self.ctx.hooks.implementations("lms_before_enroll")
        for row in self.rows:
            if row.bad is not None:
                continue
            user = self.users.get(row.key)
            uid = user.id if user is not None else None
            if user is not None:
                for name, value in row.profile.items():
                    if getattr(user, name) != value:
                        row.changes[name] = value
                if row.manager_key is not None:
                    manager = self.users.get(row.manager_key)
                    if manager is None or manager.id != user.manager_id:
                        row.changes["manager_id"] = row.manager_key
            for name in row.groups:
                group = self.groups.get(name.lower())
                gid = group.id if group is not None else None
                if uid is None or gid is None or (gid, uid) not in self.memberships:
                    row.new_groups.append(name)
            for code in row.courses:
                course = self.courses[code]
                existing = self.enrollments.get((uid, course.id)) if uid is not None else None
                if existing is None or existing[1] == EnrollmentStatus.WITHDRAWN:
                    row.new_courses.append(course.id)
            if user is not None and not user.is_active and (row.new_groups or row.new_courses):
                row.bad = (
                    f"{user.email} is deactivated; deactivated users cannot join groups "
                    "or be enrolled"
                )
                continue
            if before and row.new_courses:
                refused = self._ask_before_enroll(row, user, row.new_courses, _SOURCE)
                if refused:
                    row.bad = refused
                    continue
            full = [
                self.courses_by_id[cid]
                for cid in row.new_courses
                if self.courses_by_id[cid].capacity is not None
                and self.seats[cid] >= (self.courses_by_id[cid].capacity or 0)
            ]
            if full:
                row.bad = "; ".join(f"course {c.code} is full ({c.capacity} places)" for c in full)
                continue
            for cid in row.new_courses:
                self.seats[cid] += 1

    def _transient_user(self, row: _Row, user: _ExistingUser | None) -> User:
        values: dict[str, Any] = {"email": row.email, "email_key": row.key, "is_active": True}
        if user is not None:
            values.update(
                id=user.id,
                email=user.email,
                name=user.name,
                department=user.department,
                location=user.location,
                job_title=user.job_title,
                is_active=user.is_active,
            )
        values.update(row.profile)
        return User(**values)

    def _ask_before_enroll(
        self, row: _Row, user: _ExistingUser | None, course_ids: list[int], source: str
    ) -> str | None:
        subject = self._transient_user(row, user)
        for cid in course_ids:
            try:
                self.ctx.hooks.before_enroll(
                    ctx=self.ctx, user=subject, course=self.courses_by_id[cid], source=source
                )
            except LMSError as exc:
                return f"cannot be enrolled in {self.courses_by_id[cid].code}: {exc.message}"
        return None

    def plan_groups(self) -> None:
        """New groups; rule-group syncs; enrollments in the courses of groups people join."""
        good = [r for r in self.rows if r.bad is None]
        for row in good:
            for name in row.new_groups:
                key = name.lower()
                if key not in self.groups and key not in self.create_groups:
                    self.create_groups[key] = name
        joins: list[tuple[_Row, int]] = []  # existing groups people join (they may have courses)
        for row in good:
            for name in row.new_groups:
                group = self.groups.get(name.lower())
                if group is not None and group.id is not None:
                    joins.append((row, group.id))
            user = self.users.get(row.key)
            if self.rule_groups and (user is None or set(row.changes) & set(PROFILE_ATTRIBUTES)):
                final = {
                    a: row.profile.get(a) or (getattr(user, a) if user else None)
                    for a in PROFILE_ATTRIBUTES
                }
                active = user.is_active if user is not None else True
                for group in self.rule_groups:
                    assert group.id is not None and group.rule
                    match = active and all(
                        (final.get(a) or "").lower() == v.lower() for a, v in group.rule.items()
                    )
                    member = user is not None and (group.id, user.id) in self.memberships
                    if match and not member:
                        self.rule_adds.append((row.key, group.id))
                        joins.append((row, group.id))
                    elif not match and member:
                        assert user is not None
                        self.rule_removes.append((user.id, group.id))
        planned = {(r.key, cid) for r in good for cid in r.new_courses}
        before = bool(self.ctx.hooks.implementations("lms_before_enroll"))
        for row, gid in joins:
            group_name = next(g.name for g in self.groups.values() if g.id == gid)
            for cid in self.group_courses.get(gid, ()):
                course = self.courses_by_id.get(cid)
                if course is None or course.status == CourseStatus.ARCHIVED:
                    continue
                user = self.users.get(row.key)
                existing = self.enrollments.get((user.id, cid)) if user is not None else None
                if (row.key, cid) in planned or (
                    existing is not None and existing[1] != EnrollmentStatus.WITHDRAWN
                ):
                    continue
                if course.capacity is not None and self.seats[cid] >= course.capacity:
                    reason = f"{course.code} is full ({course.capacity} places)."
                    self.skipped_group_enrollments.append(
                        (row.key, course.code, group_name, reason)
                    )
                    continue
                if before:
                    refused = self._ask_before_enroll(
                        row, user, [cid], EnrollmentSource.GROUP.value
                    )
                    if refused:
                        self.skipped_group_enrollments.append(
                            (row.key, course.code, group_name, refused)
                        )
                        continue
                planned.add((row.key, cid))
                self.seats[cid] += 1
                self.group_enrollments.append(
                    (row.key, cid, existing[0] if existing is not None else None, group_name)
                )


# -- writing ---------------------------------------------------------------------------


class _Writer:
    def __init__(self, plan: _Plan, report: ImportReport, tick: Callable[[int], None]) -> None:
        self.plan = plan
        self.ctx = plan.ctx
        self.session = plan.ctx.session
        self.report = report
        self.tick = tick
        self.now = utcnow()
        self.now_iso = self.now.isoformat()
        self.events: dict[type[Event], list[dict[str, Any]]] = {}
        self.ids: dict[str, int] = {k: u.id for k, u in plan.users.items()}
        self.is_pg = self.session.get_bind().dialect.name == "postgresql"

    def _many(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """``INSERT`` ``rows`` (dicts with the same keys) as driver-level ``executemany`` batches.

        SQLAlchemy's per-row parameter handling costs more than SQLite's own insert, so the
        statement is compiled once and each column's bind processor (UTC datetimes, JSON,
        booleans: exactly what ``session.execute(insert(table), rows)`` would apply) is run
        here, once per distinct value where values are hashable (``now`` is shared).
        """
        if not rows:
            return
        keys = list(rows[0])
        dialect = self.session.get_bind().dialect
        compiled = insert(table).compile(dialect=dialect, column_keys=keys)
        sql = str(compiled)
        order = list(compiled.positiontup) if compiled.positional and compiled.positiontup else keys
        procs = [table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in order]
        conn = self.session.connection()
        for chunk in _chunks(rows, _WRITE_BATCH):
            columns: list[list[Any]] = []
            for k, proc in zip(order, procs, strict=True):
                values = [r[k] for r in chunk]
                if proc is not None:
                    memo: dict[Any, Any] = {None: None}
                    values = [
                        proc(v) if isinstance(v, dict | list) else _memo(memo, proc, v)
                        for v in values
                    ]
                columns.append(values)
            params: list[Any] = list(zip(*columns, strict=True))
            if not compiled.positional:
                params = [dict(zip(order, p, strict=True)) for p in params]
            conn.exec_driver_sql(sql, params)
            self.tick(len(chunk))

    def _many_constant(
        self, table: Table, constant: dict[str, Any], key: str, values: list[Any]
    ) -> None:
        """Like :meth:`_many` for rows that differ only in column ``key`` (the outbox rows)."""
        if not values:
            return
        dialect = self.session.get_bind().dialect
        keys = [*constant, key]
        compiled = insert(table).compile(dialect=dialect, column_keys=keys)
        sql = str(compiled)
        order = list(compiled.positiontup) if compiled.positional and compiled.positiontup else keys
        fixed = {}
        for k, v in constant.items():
            proc = table.c[k].type.dialect_impl(dialect).bind_processor(dialect)
            fixed[k] = proc(v) if proc is not None else v
        proc = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        conn = self.session.connection()
        at = order.index(key)
        before = tuple(fixed[k] for k in order[:at])
        after = tuple(fixed[k] for k in order[at + 1 :])
        for chunk in _chunks(values, _WRITE_BATCH):
            processed = [proc(v) for v in chunk] if proc is not None else list(chunk)
            params: list[Any]
            if compiled.positional:
                params = [(*before, v, *after) for v in processed]
            else:
                params = [{**fixed, key: v} for v in processed]
            conn.exec_driver_sql(sql, params)
            self.tick(len(chunk))

    def _fetch_ids(self, column: Any, key_column: Any, keys: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(keys):
            out.update(
                (k, i)
                for i, k in self.session.execute(
                    select(column, key_column).where(key_column.in_(chunk))
                )
            )
        return out

    def event(self, cls: type[Event], payload: dict[str, Any]) -> None:
        rows = self.events.setdefault(cls, [])
        if not rows:
            # The payloads are built by hand for speed; the first of each kind is checked
            # against the event class, so they cannot drift from what dump_event writes.
            built = dump_event(_structure(cls, payload))
            if built != payload:
                raise AssertionError(f"import payload for {cls.NAME} differs: {payload} != {built}")
        rows.append(payload)

    def write(self) -> None:
        plan, now = self.plan, self.now
        good = [r for r in plan.rows if r.bad is None]
        # Groups.
        if plan.create_groups:
            self._many(
                _table(Group),
                [
                    {
                        "name": name,
                        "name_key": key,
                        "kind": GroupKind.CUSTOM.value,
                        "description": "",
                        "rule": None,
                        "created_at": now,
                    }
                    for key, name in plan.create_groups.items()
                ],
            )
            for gid, name, key in self.session.execute(
                select(Group.id, Group.name, Group.name_key).where(
                    Group.name_key.in_(sorted(plan.create_groups))
                )
            ):
                plan.groups[key] = _GroupInfo(gid, name, key, None)
                audit(
                    self.ctx, "group.create", ("group", gid, name), kind="custom", source="import"
                )
        group_by_id = {g.id: g for g in plan.groups.values()}

        # New users, then their ids.
        new_rows = [r for r in good if r.key not in plan.users]
        user_rows = []
        for r in new_rows:
            p = r.profile
            manager = plan.users.get(r.manager_key) if r.manager_key else None
            user_rows.append(
                {
                    "email": r.email,
                    "email_key": r.key,
                    "name": p.get("name", ""),
                    "password_hash": None,
                    "is_active": True,
                    "department": p.get("department"),
                    "location": p.get("location"),
                    "job_title": p.get("job_title"),
                    "manager_id": manager.id if manager is not None else None,
                    "timezone": "UTC",
                    "locale": "en",
                    "created_at": now,
                    "updated_at": None,
                    "last_login_at": None,
                    "deactivated_at": None,
                    "session_version": 1,
                }
            )
        self._many(_table(User), user_rows)
        self.ids.update(self._fetch_ids(User.id, User.email_key, [r.key for r in new_rows]))
        later_managers = [
            {"b_id": self.ids[r.key], "b_manager": self.ids[r.manager_key]}
            for r in new_rows
            if r.manager_key is not None and r.manager_key not in plan.users
        ]
        if later_managers:
            self.session.execute(
                update(_table(User))
                .where(_table(User).c.id == bindparam("b_id"))
                .values(manager_id=bindparam("b_manager")),
                later_managers,
            )
        role_id = self.session.scalar(select(Role.id).where(Role.name == LEARNER))
        if role_id is not None and new_rows:
            self._many(
                _table(RoleAssignment),
                [
                    {
                        "user_id": self.ids[r.key],
                        "role_id": role_id,
                        "course_id": None,
                        "assigned_by_id": None,
                        "assigned_at": now,
                    }
                    for r in new_rows
                ],
            )
        for r in new_rows:
            self.event(
                UserCreated,
                {
                    "user_id": self.ids[r.key],
                    "created_at": self.now_iso,
                    "source": _SOURCE,
                    "person": {"email": r.email, "name": r.profile.get("name", "")},
                },
            )
        self.report.users_created = len(new_rows)

        # Updated users.
        updates = []
        for r in good:
            user = plan.users.get(r.key)
            if user is None:
                continue
            if not r.changes:
                self.report.users_unchanged += 1
                continue
            values = {name: r.changes.get(name, getattr(user, name)) for name in _PROFILE}
            manager_id = user.manager_id
            if "manager_id" in r.changes:
                manager_id = self.ids[r.changes["manager_id"]]
            updates.append(
                {
                    "b_id": user.id,
                    **{f"b_{k}": v for k, v in values.items()},
                    "b_manager": manager_id,
                }
            )
            changed = [n for n in (*_PROFILE, "manager_id") if n in r.changes]
            self.event(
                UserUpdated,
                {
                    "user_id": user.id,
                    "updated_at": self.now_iso,
                    "changed": changed,
                    "person": {"email": user.email, "name": values["name"]},
                },
            )
        if updates:
            table = _table(User)
            stmt = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    manager_id=bindparam("b_manager"),
                    updated_at=now,
                    **{k: bindparam(f"b_{k}") for k in _PROFILE},
                )
            )
            for chunk in _chunks(updates, _WRITE_BATCH):
                self.session.execute(stmt, list(chunk))
                self.tick(len(chunk))
        self.report.users_updated = len(updates)

        # Group memberships: imported, then rule-group syncs.
        members: list[dict[str, Any]] = []
        for r in good:
            uid = self.ids[r.key]
            for name in r.new_groups:
                group = plan.groups[name.lower()]
                assert group.id is not None
                members.append(
                    {"group_id": group.id, "user_id": uid, "source": "import", "added_at": now}
                )
        for key, gid in plan.rule_adds:
            members.append(
                {"group_id": gid, "user_id": self.ids[key], "source": "rule", "added_at": now}
            )
        self._many(_table(GroupMember), members)
        for m in members:
            self.event(
                GroupMembershipChanged,
                {
                    "group_id": m["group_id"],
                    "group_name": group_by_id[m["group_id"]].name,
                    "user_id": m["user_id"],
                    "change": "added",
                    "source": m["source"],
                    "changed_at": self.now_iso,
                },
            )
        if plan.rule_removes:
            table = _table(GroupMember)
            self.session.execute(
                table.delete().where(
                    table.c.group_id == bindparam("b_group"), table.c.user_id == bindparam("b_user")
                ),
                [{"b_group": g, "b_user": u} for u, g in plan.rule_removes],
            )
            for uid, gid in plan.rule_removes:
                self.event(
                    GroupMembershipChanged,
                    {
                        "group_id": gid,
                        "group_name": group_by_id[gid].name,
                        "user_id": uid,
                        "change": "removed",
                        "source": MembershipSource.RULE.value,
                        "changed_at": self.now_iso,
                    },
                )
        self.report.memberships_added = len(members)
        self.report.memberships_removed = len(plan.rule_removes)

        # Enrollments: new rows, and withdrawn ones coming back.
        # user, course, source, old id, due date (None: the course's due period)
        wanted: list[tuple[int, int, str, int | None, dt.datetime | None]] = []
        for r in good:
            uid = self.ids[r.key]
            for cid in r.new_courses:
                old = plan.enrollments.get((uid, cid))
                wanted.append((uid, cid, _SOURCE, old[0] if old is not None else None, r.due_at))
        for key, cid, old_id, _group in plan.group_enrollments:
            wanted.append((self.ids[key], cid, EnrollmentSource.GROUP.value, old_id, None))
        periods = {
            c.id: (now + dt.timedelta(days=c.due_days) if c.due_days else None)
            for c in plan.courses_by_id.values()
        }

        def due(cid: int, override: dt.datetime | None) -> dt.datetime | None:
            return override if override is not None else periods[cid]

        fresh = [
            {
                "user_id": uid,
                "course_id": cid,
                "status": EnrollmentStatus.ACTIVE.value,
                "source": source,
                "enrolled_at": now,
                "due_at": due(cid, override),
                "completed_at": None,
                "withdrawn_at": None,
                "enrolled_by_id": None,
            }
            for uid, cid, source, old, override in wanted
            if old is None
        ]
        self._many(_table(Enrollment), fresh)
        back = [
            {"b_id": old, "b_source": source, "b_due": due(cid, override)}
            for uid, cid, source, old, override in wanted
            if old is not None
        ]
        if back:
            table = _table(Enrollment)
            self.session.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    status=EnrollmentStatus.ACTIVE.value,
                    source=bindparam("b_source"),
                    enrolled_at=now,
                    due_at=bindparam("b_due"),
                    withdrawn_at=None,
                    completed_at=None,
                    enrolled_by_id=None,
                ),
                back,
            )
        enrollment_ids = self._enrollment_ids(
            {uid for uid, _c, _s, old, _d in wanted if old is None}
        )
        for uid, cid, source, old_id, override in wanted:
            course = plan.courses_by_id[cid]
            due_at = due(cid, override)
            self.event(
                UserEnrolled,
                {
                    "enrollment_id": old_id if old_id is not None else enrollment_ids[(uid, cid)],
                    "user_id": uid,
                    "course_id": cid,
                    "course_code": course.code,
                    "course_category": course.category,
                    "source": source,
                    "enrolled_at": self.now_iso,
                    "due_at": due_at.isoformat() if due_at is not None else None,
                },
            )
        self.report.enrollments_created = len(wanted)
        for key, code, group_name, reason in plan.skipped_group_enrollments:
            audit(
                self.ctx,
                "enrollment.group_skipped",
                ("user", self.ids[key], key),
                course=code,
                group=group_name,
                reason=reason,
            )
        self.report.enrollments_skipped = len(plan.skipped_group_enrollments)
        self._write_events()

    def _enrollment_ids(self, user_ids: set[int]) -> dict[tuple[int, int], int]:
        out: dict[tuple[int, int], int] = {}
        course_ids = sorted(self.plan.courses_by_id)
        ordered = sorted(user_ids)
        for chunk in _chunks(ordered):
            out.update(
                ((uid, cid), eid)
                for eid, uid, cid in self.session.execute(
                    select(Enrollment.id, Enrollment.user_id, Enrollment.course_id).where(
                        Enrollment.user_id.in_(chunk), Enrollment.course_id.in_(course_ids)
                    )
                )
            )
        return out

    def _write_events(self) -> None:
        """Outbox rows in bulk; delivery rows (and their event ids) only for events with recipients."""
        table = _table(OutboxEvent)
        deliver: list[int] = []
        for cls, payloads in self.events.items():
            plugins = self.ctx.hooks.event_recipients(cls.HOOK)
            self.report.events += len(payloads)
            if not plugins:
                self._many_constant(
                    table, {"name": cls.NAME, "created_at": self.now}, "payload", payloads
                )
                continue
            rows = [{"name": cls.NAME, "payload": p, "created_at": self.now} for p in payloads]
            ids: list[int] = []
            for chunk in _chunks(rows, _WRITE_BATCH):
                result = self.session.execute(
                    insert(table).returning(table.c.id, sort_by_parameter_order=True), list(chunk)
                )
                ids.extend(result.scalars())
                self.tick(len(chunk))
            self._many(
                _table(Delivery),
                [
                    {
                        "event_id": event_id,
                        "plugin": plugin,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": self.now,
                        "locked_by": None,
                        "last_error": None,
                        "delivered_at": None,
                        # Has a Python-side default, so the compiled INSERT names it.
                        "long": False,
                    }
                    for event_id in ids
                    for plugin in plugins
                ],
            )
            deliver.extend(ids)
        if len(deliver) <= _INLINE_DELIVERY_LIMIT:
            self.ctx.event_ids.extend(deliver)
        # Otherwise the deliveries are due now and `lms worker` delivers them.


def _memo(memo: dict[Any, Any], proc: Callable[[Any], Any], value: Any) -> Any:
    try:
        return memo[value]
    except KeyError:
        out = memo[value] = proc(value)
        return out


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _structure(cls: type[Event], payload: dict[str, Any]) -> Event:
    from lms_core.events import load_event

    return load_event(cls.NAME, payload)


# -- the entry point ---------------------------------------------------------------------


def import_users_csv(
    lms: LMS,
    csv_file: str | Path,
    *,
    skip_bad_rows: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    actor: User | None = None,
    address: str | None = None,
) -> ImportReport:
    """Import ``csv_file``; see the module docstring. Never raises for bad data: read the report.

    ``actor`` (who uploaded the file, from the web) must hold ``user.manage``; the import is
    audited as theirs. Without an actor it runs as the site itself (the CLI).
    """
    if actor is not None:
        with lms.session() as session:
            if not can(session.get(User, actor.id), "user.manage"):
                raise Forbidden(
                    "You are not allowed to import users (it needs the user.manage permission).",
                    "user.manage",
                )
    path = Path(csv_file)
    report = ImportReport(file=path.name, dry_run=dry_run, skip_bad_rows=skip_bad_rows)
    try:
        header, records = _read_records(_decode(path.read_bytes()))
        columns = _check_header(header)
    except _FileError as exc:
        report.file_error = str(exc)
        report.bad_rows.append(BadRow(1, str(exc)))
        return report
    report.rows = len(records)
    # Progress: parsing and checking is the first half of the bar, writing the second.
    total = 2 * len(records) + 1
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done = min(done + n, total - 1)
        if progress is not None:
            progress(done, total)

    rows: list[_Row] = []
    for i, (number, cells) in enumerate(records, start=1):
        rows.append(_parse_row(number, cells, columns))
        if i % 5000 == 0:
            tick(5000)
    tick(len(records) % 5000)

    if dry_run:
        session = lms.Session()
        ctx = Context(session=session, hooks=lms.hooks, system=True)
        try:
            _plan_and_write(ctx, rows, report, tick, write=False)
        finally:
            session.rollback()
            session.close()
    else:
        # The import writes in bulk as the site itself; ``actor`` is who the audit names.
        with lms.transaction(actor, address=address, system=True) as ctx:
            _plan_and_write(ctx, rows, report, tick, write=True)
    if progress is not None:
        progress(total, total)
    return report


def _plan_and_write(
    ctx: Context, rows: list[_Row], report: ImportReport, tick: Callable[[int], None], write: bool
) -> None:
    plan = _Plan(ctx, rows)
    plan.load()
    plan.check_rows()
    plan.check_managers()
    plan.check_manager_loops()
    plan.check_managers()
    plan.plan_rows()
    plan.check_managers()
    report.bad_rows = [BadRow(r.number, r.bad, r.email) for r in rows if r.bad is not None]
    if report.bad_rows and not report.skip_bad_rows and not report.dry_run:
        return
    plan.plan_groups()
    good = [r for r in rows if r.bad is None]
    if not write:
        report.users_created = sum(1 for r in good if r.key not in plan.users)
        report.users_updated = sum(1 for r in good if r.key in plan.users and r.changes)
        report.users_unchanged = sum(1 for r in good if r.key in plan.users and not r.changes)
        report.groups_created = len(plan.create_groups)
        report.memberships_added = sum(len(r.new_groups) for r in good) + len(plan.rule_adds)
        report.memberships_removed = len(plan.rule_removes)
        report.enrollments_created = sum(len(r.new_courses) for r in good) + len(
            plan.group_enrollments
        )
        report.enrollments_skipped = len(plan.skipped_group_enrollments)
        return
    writer = _Writer(plan, report, tick)
    report.groups_created = len(plan.create_groups)
    writer.write()
    audit(
        ctx,
        "users.import",
        None,
        file=report.file,
        rows=report.rows,
        created=report.users_created,
        updated=report.users_updated,
        unchanged=report.users_unchanged,
        groups_created=report.groups_created,
        memberships_added=report.memberships_added,
        memberships_removed=report.memberships_removed,
        enrollments_created=report.enrollments_created,
        bad_rows=[b.row for b in report.bad_rows],
    )
    report.written = True
