"""``lms users import``: what a CSV import does, refuses and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func
from sqlalchemy import select

from lms_core.cli import cli
from lms_core.config import Config
from lms_core.importer import ImportReport
from lms_core.importer import import_users_csv
from lms_core.models import AuditEntry
from lms_core.models import Enrollment
from lms_core.models import Group
from lms_core.models import GroupMember
from lms_core.models import OutboxEvent
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import User
from lms_core.runtime import LMS
from lms_core.services import courses
from lms_core.services import groups
from lms_core.testing import Factory

HEADER = "email,name,department,location,job_title,manager_email,groups,courses\n"


def write(tmp_path: Path, text: str, name: str = "people.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(lms: LMS, path: Path, **kwargs: Any) -> ImportReport:
    return import_users_csv(lms, path, **kwargs)


def count(lms: LMS, model: Any, *where: Any) -> int:
    with lms.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def user(lms: LMS, email: str) -> User | None:
    with lms.session() as s:
        return s.scalars(select(User).where(User.email_key == email.lower())).first()


def problems(report: ImportReport) -> list[str]:
    return list(report.problem_lines())


def test_import_creates_users_groups_and_enrolls_in_courses_by_code(
    lms: LMS, factory: Factory, tmp_path: Path
) -> None:
    factory.course(code="SAFE-101", due_days=30)
    factory.course(code="GDPR")
    path = write(
        tmp_path,
        HEADER
        + "ann@example.com,Ann Lee,Sales,Berlin,Rep,,Berlin Sales;Newcomers,safe-101;gdpr\n"
        + "bob@example.com,Bob,Sales,Paris,Lead,ann@example.com,newcomers,SAFE-101\n",
    )
    report = run(lms, path)
    assert report.bad_rows == []
    assert report.written
    assert (report.users_created, report.groups_created, report.memberships_added) == (2, 2, 3)
    assert report.enrollments_created == 3
    ann, bob = user(lms, "ann@example.com"), user(lms, "bob@example.com")
    assert ann is not None and bob is not None
    assert ann.password_hash is None  # SSO or a reset link later
    assert (ann.name, ann.department, ann.location, ann.job_title) == (
        "Ann Lee",
        "Sales",
        "Berlin",
        "Rep",
    )
    assert bob.manager_id == ann.id
    with lms.session() as s:
        learner = s.scalars(
            select(RoleAssignment)
            .join(Role, Role.id == RoleAssignment.role_id)
            .where(RoleAssignment.user_id == ann.id, Role.name == "learner")
        ).one()
        assert learner.course_id is None
        newcomers = s.scalars(select(Group).where(Group.name_key == "newcomers")).one()
        assert (newcomers.name, newcomers.kind, newcomers.rule) == ("Newcomers", "custom", None)
        sources = set(s.scalars(select(GroupMember.source)))
        assert sources == {"import"}
        enrollments = s.scalars(select(Enrollment).where(Enrollment.user_id == ann.id)).all()
        assert {(e.status, e.source) for e in enrollments} == {("active", "import")}
        safe = next(e for e in enrollments if e.due_at is not None)
        assert safe.due_at is not None
        assert (safe.due_at - safe.enrolled_at).days == 30


def test_import_records_outbox_events_and_one_audit_entry(
    lms: LMS, factory: Factory, tmp_path: Path
) -> None:
    factory.course(code="GDPR")
    path = write(tmp_path, "email,groups,courses\nann@example.com,Team A,GDPR\n")
    run(lms, path)
    with lms.session() as s:
        names = list(s.scalars(select(OutboxEvent.name).order_by(OutboxEvent.id)))
        created = s.scalars(
            select(OutboxEvent).where(OutboxEvent.name == "lms.user.created.v1")
        ).one()
        enrolled = s.scalars(
            select(OutboxEvent).where(OutboxEvent.name == "lms.enrollment.created.v1")
        ).one()
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "users.import")).one()
    assert "lms.group.membership_changed.v1" in names
    assert created.payload["source"] == "import"
    assert created.payload["person"]["email"] == "ann@example.com"
    assert enrolled.payload["course_code"] == "GDPR"
    assert enrolled.payload["source"] == "import"
    assert entry.details["created"] == 1
    assert entry.details["enrollments_created"] == 1


def test_importing_a_file_twice_changes_nothing_the_second_time(
    lms: LMS, factory: Factory, tmp_path: Path
) -> None:
    factory.course(code="GDPR")
    path = write(
        tmp_path,
        HEADER
        + "ann@example.com,Ann,Sales,Berlin,Rep,,Team A,GDPR\n"
        + "bob@example.com,Bob,Sales,Berlin,Rep,ann@example.com,Team A;Team B,gdpr\n",
    )
    first = run(lms, path)
    assert first.users_created == 2
    events = count(lms, OutboxEvent)
    second = run(lms, path)
    assert second.bad_rows == []
    assert (second.users_created, second.users_updated, second.users_unchanged) == (0, 0, 2)
    assert (second.groups_created, second.memberships_added, second.enrollments_created) == (
        0,
        0,
        0,
    )
    assert count(lms, User) == 2
    assert count(lms, GroupMember) == 3
    assert count(lms, Enrollment) == 2
    assert count(lms, OutboxEvent) == events  # nothing new happened, so nothing to announce


def test_existing_users_are_updated_not_duplicated_and_blank_cells_do_not_erase(
    lms: LMS, factory: Factory, tmp_path: Path
) -> None:
    factory.user("Carla@Example.com", name="Carla", department="Ops", location="Rome")
    path = write(tmp_path, "email,name,department,location\ncarla@example.COM,,Finance,\n")
    report = run(lms, path)
    assert (report.users_created, report.users_updated) == (0, 1)
    carla = user(lms, "carla@example.com")
    assert carla is not None
    assert (carla.email, carla.name, carla.department, carla.location) == (
        "Carla@Example.com",
        "Carla",
        "Finance",
        "Rome",
    )
    assert count(lms, User) == 1
    with lms.session() as s:
        updated = s.scalars(
            select(OutboxEvent).where(OutboxEvent.name == "lms.user.updated.v1")
        ).one()
    assert updated.payload["changed"] == ["department"]


def test_a_bad_row_stops_the_whole_file_unless_skip_bad_rows(
    lms: LMS, factory: Factory, tmp_path: Path
) -> None:
    factory.course(code="GDPR")
    path = write(
        tmp_path,
        "email,courses\nann@example.com,GDPR\nbob@example.com,NOPE-1\ncid@example.com,\n",
    )
    events = count(lms, OutboxEvent)
    refused = run(lms, path)
    assert problems(refused) == ["row 3 (bob@example.com): unknown course code(s): NOPE-1"]
    assert not refused.written
    assert "nothing was imported" in refused.summary()
    assert count(lms, User) == 0
    assert count(lms, OutboxEvent) == events

    skipped = run(lms, path, skip_bad_rows=True)
    assert skipped.written
    assert [b.row for b in skipped.bad_rows] == [3]
    assert skipped.users_created == 2
    assert user(lms, "bob@example.com") is None
    assert count(lms, Enrollment) == 1


def test_row_numbers_in_errors_count_the_header_as_row_1(lms: LMS, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,name\n"
        "ok@example.com,Fine\n"
        "not-an-email,Bad\n"
        '"multi@example.com","Two\nlines"\n'
        ",No email\n",
    )
    report = run(lms, path)
    # The quoted name spans two lines of text but is one row, as in a spreadsheet.
    assert [b.row for b in report.bad_rows] == [3, 5]
    lines = problems(report)
    assert lines[0].startswith("row 3 (not-an-email): ")
    assert "not a valid email address" in lines[0]
    assert lines[1] == "row 5: the email is missing"


def test_bom_and_crlf_spreadsheet_export_is_accepted(lms: LMS, tmp_path: Path) -> None:
    text = (
        "\ufeffEmail,Name,Job_Title\r\n"
        '"dana@example.com","Smith, Dana","Head of ""Fun"""\r\n'
        '"eve@example.com","Eve","Line one\r\nline two"\r\n'
        "\r\n"
        "\r\n"
    )
    report = run(lms, write(tmp_path, text))
    assert report.bad_rows == []
    assert report.rows == 2
    dana = user(lms, "dana@example.com")
    assert dana is not None
    assert (dana.name, dana.job_title) == ("Smith, Dana", 'Head of "Fun"')
    eve = user(lms, "eve@example.com")
    assert eve is not None and eve.job_title == "Line one line two"


def test_a_file_that_is_not_utf8_is_refused_with_a_clear_message(lms: LMS, tmp_path: Path) -> None:
    path = write(tmp_path, "email,name\nf@example.com,Fran\u00e7ois\n", encoding="latin-1")
    report = run(lms, path)
    assert report.file_error is not None
    assert "not UTF-8" in report.file_error
    assert problems(report)[0].startswith("row 1: ")
    assert count(lms, User) == 0


def test_unknown_column_is_refused_naming_it(lms: LMS, tmp_path: Path) -> None:
    path = write(tmp_path, "email,departmnet\nann@example.com,Sales\n")
    report = run(lms, path, skip_bad_rows=True)
    assert [b.row for b in report.bad_rows] == [1]
    (line,) = problems(report)
    assert "'departmnet'" in line
    assert "email, name, department, location, job_title, manager_email, groups, courses" in line
    assert not report.written
    assert count(lms, User) == 0


def test_a_file_without_an_email_column_is_refused(lms: LMS, tmp_path: Path) -> None:
    report = run(lms, write(tmp_path, "name\nAnn\n"))
    assert report.file_error is not None and "'email'" in report.file_error


def test_duplicate_email_in_file_is_reported_on_the_later_row(lms: LMS, tmp_path: Path) -> None:
    path = write(
        tmp_path, "email,name\nann@example.com,Ann\nbob@example.com,Bob\nANN@example.com,Ann 2\n"
    )
    report = run(lms, path)
    assert problems(report) == [
        "row 4 (ANN@example.com): ANN@example.com is already on row 2 of this file"
    ]


def test_a_row_with_more_cells_than_the_header_is_bad(lms: LMS, tmp_path: Path) -> None:
    path = write(tmp_path, "email,name\nann@example.com,Lee, Ann\nbob@example.com,Bob,,\n")
    report = run(lms, path)
    assert [b.row for b in report.bad_rows] == [2]  # empty trailing cells carry no data
    assert "3 cells but the header has 2 columns" in problems(report)[0]


def test_manager_must_be_a_user_or_in_the_file(lms: LMS, factory: Factory, tmp_path: Path) -> None:
    factory.user("boss@example.com")
    path = write(
        tmp_path,
        "email,manager_email\n"
        "a@example.com,boss@example.com\n"
        "b@example.com,a@example.com\n"
        "c@example.com,ghost@example.com\n"
        "d@example.com,c@example.com\n"
        "e@example.com,not an email\n",
    )
    report = run(lms, path)
    by_row = {b.row: b.reason for b in report.bad_rows}
    assert set(by_row) == {4, 5, 6}
    assert "ghost@example.com is not a user here, nor in this file" in by_row[4]
    assert "row 4, which is bad" in by_row[5]
    assert "not a valid email address" in by_row[6]


def test_a_management_loop_is_a_bad_row(lms: LMS, tmp_path: Path) -> None:
    path = write(
        tmp_path, "email,manager_email\na@example.com,b@example.com\nb@example.com,a@example.com\n"
    )
    report = run(lms, path)
    assert [b.row for b in report.bad_rows] == [2, 3]
    assert "loop" in report.bad_rows[0].reason


def test_dry_run_writes_nothing(lms: LMS, factory: Factory, tmp_path: Path) -> None:
    factory.course(code="GDPR")
    path = write(tmp_path, "email,groups,courses\nann@example.com,Team,GDPR\nbad,,\n")
    events = count(lms, OutboxEvent)
    report = run(lms, path, dry_run=True)
    assert [b.row for b in report.bad_rows] == [3]
    assert (report.users_created, report.groups_created, report.enrollments_created) == (1, 1, 1)
    assert "nothing was written" in report.summary()
    assert count(lms, User) == 0
    assert count(lms, Group) == 0
    assert count(lms, OutboxEvent) == events
    assert count(lms, AuditEntry, AuditEntry.action == "users.import") == 0


def test_full_course_row_is_bad(lms: LMS, factory: Factory, tmp_path: Path) -> None:
    small = factory.course(code="SMALL", capacity=2)
    factory.enrollment(factory.user("already@example.com"), small)
    path = write(
        tmp_path,
        "email,courses\nann@example.com,small\nbob@example.com,small\nalready@example.com,SMALL\n",
    )
    report = run(lms, path)
    assert problems(report) == ["row 3 (bob@example.com): course SMALL is full (2 places)"]
    report = run(lms, path, skip_bad_rows=True)
    assert report.enrollments_created == 1  # the one already enrolled keeps their seat
    assert count(lms, Enrollment) == 2


def test_archived_course_row_is_bad(lms: LMS, factory: Factory, tmp_path: Path) -> None:
    old = factory.course(code="OLD")
    with lms.transaction(system=True) as ctx:
        courses.archive_course(ctx, ctx.attach(old))
    report = run(lms, write(tmp_path, "email,courses\nann@example.com,OLD\n"))
    assert "archived" in problems(report)[0]


def test_rule_groups_take_no_imported_members_but_are_kept_in_sync(
    lms: LMS, factory: Factory, tmp_path: Path
) -> None:
    factory.user("old@example.com", department="Sales")
    with lms.transaction(system=True) as ctx:
        groups.create_group(ctx, "Sales people", rule={"department": "Sales"})
    refused = run(lms, write(tmp_path, "email,groups\nann@example.com,sales people\n"))
    assert "filled by its rule" in problems(refused)[0]

    path = write(
        tmp_path, "email,department\nnew@example.com,sales\nold@example.com,Support\n", "b.csv"
    )
    report = run(lms, path)
    assert report.bad_rows == []
    with lms.session() as s:
        members = set(
            s.scalars(
                select(User.email)
                .join(GroupMember, GroupMember.user_id == User.id)
                .join(Group, Group.id == GroupMember.group_id)
                .where(Group.name == "Sales people")
            )
        )
        changes = [
            e.payload["change"]
            for e in s.scalars(
                select(OutboxEvent).where(OutboxEvent.name == "lms.group.membership_changed.v1")
            )
        ]
    assert members == {"new@example.com"}
    assert changes.count("removed") == 1


def test_joining_a_group_enrolls_in_the_groups_courses(
    lms: LMS, factory: Factory, tmp_path: Path
) -> None:
    course = factory.course(code="ONBOARD")
    with lms.transaction(system=True) as ctx:
        team = groups.create_group(ctx, "Team")
        from lms_core.services.enrollments import enroll_group

        enroll_group(ctx, team, ctx.attach(course))
    report = run(lms, write(tmp_path, "email,groups\nann@example.com,team\n"))
    assert report.enrollments_created == 1
    with lms.session() as s:
        enrollment = s.scalars(select(Enrollment)).one()
    assert enrollment.source == "group"


def test_deactivated_users_are_not_enrolled(lms: LMS, factory: Factory, tmp_path: Path) -> None:
    factory.course(code="GDPR")
    gone = factory.user("gone@example.com")
    from lms_core.services.users import deactivate_user

    with lms.transaction(system=True) as ctx:
        deactivate_user(ctx, gone)
    report = run(lms, write(tmp_path, "email,courses\ngone@example.com,GDPR\n"))
    assert "deactivated" in problems(report)[0]


def _config_file(tmp_path: Path, lms_config: Config) -> Path:
    path = tmp_path / "lms.toml"
    path.write_text(f'[database]\nurl = "{lms_config.database_url}"\n', encoding="utf-8")
    return path


def test_cli_exits_1_naming_bad_rows_and_0_with_skip_bad_rows(
    lms: LMS, lms_config: Config, factory: Factory, tmp_path: Path
) -> None:
    factory.course(code="GDPR")
    config = _config_file(tmp_path, lms_config)
    path = write(tmp_path, "email,courses\nann@example.com,GDPR\nbob@example.com,NOPE\n")
    runner = CliRunner()
    args = ["--config", str(config), "users", "import", str(path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "row 3 (bob@example.com): unknown course code(s): NOPE" in result.output
    assert count(lms, User) == 0

    result = runner.invoke(cli, [*args, "--skip-bad-rows"])
    assert result.exit_code == 0, result.output
    assert "1 user(s) created" in result.output
    assert count(lms, User) == 1


def test_plugins_with_only_a_generic_event_handler_hear_of_imported_people(
    lms_factory: Any, event_collector: Any, tmp_path: Path
) -> None:
    # The collector implements only ``lms_on_event``, as rules engines and exporters do
    # (the badges plugin among them): imported users, memberships and enrollments must reach
    # it exactly as the same changes made through the services do.
    site = lms_factory([event_collector])
    with site.transaction(system=True) as ctx:
        from lms_core.services.roles import ensure_builtin_roles

        ensure_builtin_roles(ctx)
        course = courses.create_course(ctx, "GDPR", "Data protection")
        courses.add_lesson(ctx, course, "Basics", body="Text")
        courses.publish_course(ctx, course)
    path = write(tmp_path, "email,groups,courses\nann@example.com,Team A,GDPR\n")
    report = import_users_csv(site, path)
    assert report.written and report.users_created == 1
    names = event_collector.names()
    assert "lms.user.created.v1" in names
    assert "lms.group.membership_changed.v1" in names
    assert "lms.enrollment.created.v1" in names
    enrolled = next(e for e in event_collector.events if e.NAME == "lms.enrollment.created.v1")
    assert enrolled.source == "import"
