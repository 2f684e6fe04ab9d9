"""``lms demo`` (the demo site builder) and the ``lms init`` / ``lms db upgrade`` / ``lms demo``
commands, run through click's test runner against a fresh SQLite file."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text

from lms_core.cli import cli
from lms_core.cli import main
from lms_core.config import load_config
from lms_core.db import utcnow
from lms_core.demo import DemoSummary
from lms_core.demo import build_demo
from lms_core.errors import ConfigError
from lms_core.errors import Conflict
from lms_core.errors import Invalid
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Enrollment
from lms_core.models import EnrollmentSource
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import GroupCourse
from lms_core.models import GroupMember
from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.models import Role
from lms_core.models import RoleAssignment
from lms_core.models import User
from lms_core.runtime import LMS
from lms_core.services import users as user_service

SMALL = {"users": 40, "courses": 8}

TIMEZONES = {
    "London": "Europe/London",
    "New York": "America/New_York",
    "Berlin": "Europe/Berlin",
    "Singapore": "Asia/Singapore",
    "São Paulo": "America/Sao_Paulo",
    "Bengaluru": "Asia/Kolkata",
    "Toronto": "America/Toronto",
}


@pytest.fixture
def demo(lms) -> DemoSummary:
    lines: list[str] = []
    summary = build_demo(lms, **SMALL, seed=7, echo=lines.append)
    assert any("people" in line for line in lines) and any("enrollments" in line for line in lines)
    return summary


# --- the demo site ----------------------------------------------------------------------------


def test_the_demo_has_the_people_and_courses_asked_for(lms, demo):
    assert demo.users == 40 and demo.courses == 8
    with lms.session() as session:
        people = session.scalars(select(User)).all()
        assert len(people) == 40
        assert all(u.email.endswith("@example.com") for u in people)
        assert len({u.email_key for u in people}) == 40
        assert all(u.department and u.location and u.job_title for u in people)
        assert all(u.timezone == TIMEZONES[u.location] for u in people)
        assert len({u.department for u in people}) >= 5
        assert len({u.location for u in people}) >= 3
        by_id = {u.id: u for u in people}
        managed = [u for u in people if u.manager_id is not None]
        assert len(managed) > len(people) // 2
        # line managers manage people in their own department
        assert all(by_id[u.manager_id].department == u.department for u in managed)
        assert session.scalar(select(func.count()).select_from(Course)) == 8


def test_every_enrollment_state_occurs_and_some_compliance_training_is_overdue(lms, demo):
    now = utcnow()
    with lms.session() as session:
        statuses = Counter(session.scalars(select(Enrollment.status)))
        assert {s.value for s in EnrollmentStatus} <= set(statuses)
        assert dict(demo.enrollments) == {s.value: statuses[s.value] for s in EnrollmentStatus}
        overdue = session.scalars(
            select(Enrollment).where(
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.due_at.is_not(None),
                Enrollment.due_at < now,
            )
        ).all()
        assert overdue and len(overdue) == demo.overdue
        assert all(e.course.due_days for e in overdue)
        # active enrollments both with and without progress
        done = set(session.scalars(select(LessonProgress.enrollment_id)))
        active = session.scalars(
            select(Enrollment.id).where(Enrollment.status == EnrollmentStatus.ACTIVE)
        ).all()
        assert any(eid in done for eid in active) and any(eid not in done for eid in active)
        # a group enrollment: the group is attached to the course and its members enrolled
        links = session.scalars(select(GroupCourse)).all()
        assert links
        for link in links:
            members = set(
                session.scalars(
                    select(GroupMember.user_id).where(GroupMember.group_id == link.group_id)
                )
            )
            enrolled = set(
                session.scalars(
                    select(Enrollment.user_id).where(Enrollment.course_id == link.course_id)
                )
            )
            assert members <= enrolled
        sources = set(session.scalars(select(Enrollment.source)))
        assert {EnrollmentSource.GROUP, EnrollmentSource.SELF, EnrollmentSource.MANAGER} <= sources


def test_the_demo_learner_has_something_in_every_state(lms, demo):
    now = utcnow()
    with lms.session() as session:
        learner = session.scalars(select(User).where(User.email_key == "learner@example.com")).one()
        mine = session.scalars(select(Enrollment).where(Enrollment.user_id == learner.id)).all()
        statuses = {e.status for e in mine}
        assert {"pending", "active", "completed"} <= statuses
        assert any(e.is_overdue(now) for e in mine)
        manager = session.get(User, learner.manager_id)
        assert manager is not None and manager.email == "manager@example.com"


def test_rule_groups_contain_exactly_the_matching_users(lms, demo):
    with lms.session() as session:
        groups = session.scalars(select(Group)).all()
        kinds = Counter(g.kind for g in groups)
        assert kinds["department"] >= 5 and kinds["location"] >= 3 and kinds["custom"] >= 2
        assert {"New starters 2026", "Safety champions"} <= {g.name for g in groups}
        people = session.scalars(select(User)).all()
        for group in groups:
            members = set(
                session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group.id))
            )
            if group.rule:
                wanted = {
                    u.id
                    for u in people
                    if u.is_active and all(getattr(u, k) == v for k, v in group.rule.items())
                }
                assert members == wanted, group.name
            else:
                assert members, f"{group.name} has no members"
        assert demo.groups == len(groups)


def test_published_courses_have_a_mix_of_lessons_and_policies(lms, demo):
    with lms.session() as session:
        courses = session.scalars(select(Course).order_by(Course.id)).all()
        statuses = Counter(c.status for c in courses)
        assert statuses[CourseStatus.PUBLISHED] >= 5
        assert statuses[CourseStatus.DRAFT] >= 1 and statuses[CourseStatus.ARCHIVED] == 1
        assert {"open", "approval", "managers"} <= {c.enrollment_policy for c in courses}
        assert any(c.capacity for c in courses)
        assert any(c.due_days == 30 and c.category == "Compliance" for c in courses)
        assert len({c.category for c in courses}) >= 4
        assert all(c.tags for c in courses)
        kinds: Counter[str] = Counter()
        for course in courses:
            assert 4 <= len(course.lessons) <= 10, course.code
            kinds.update(lesson.kind for lesson in course.lessons)
            for lesson in course.lessons:
                if lesson.kind == "page":
                    # sections and points; not the title again (the page shows it)
                    assert "\n## " in lesson.body and "\n- " in lesson.body
                    assert not lesson.body.startswith("# ")
                elif lesson.kind == "file":
                    # a real file in the store: a PDF summary in every course, a recording in one
                    assert lesson.data["content_type"] in ("application/pdf", "audio/wav")
                    assert not lesson.required
                else:
                    assert lesson.url and lesson.url.startswith("https://example.com/")
        assert kinds["page"] and kinds["link"] and kinds["file"] == len(courses) + 1
        assert session.scalar(select(func.count()).where(Lesson.required.is_(False)))
        # drafts take no enrollments; every course has a course-scope instructor
        drafts = [c.id for c in courses if c.status == CourseStatus.DRAFT]
        assert not session.scalars(select(Enrollment).where(Enrollment.course_id.in_(drafts))).all()
        scoped = set(
            session.scalars(
                select(RoleAssignment.course_id)
                .join(Role, Role.id == RoleAssignment.role_id)
                .where(Role.name == "instructor", RoleAssignment.course_id.is_not(None))
            )
        )
        assert scoped == {c.id for c in courses}


def test_progress_is_consistent_with_each_enrollment_state(lms, demo):
    now = utcnow()
    with lms.session() as session:
        required = {
            c.id: {lesson.id for lesson in c.lessons if lesson.required}
            for c in session.scalars(select(Course))
        }
        done: dict[int, set[int]] = {}
        for enrollment_id, lesson_id in session.execute(
            select(LessonProgress.enrollment_id, LessonProgress.lesson_id)
        ):
            done.setdefault(enrollment_id, set()).add(lesson_id)
        lesson_course = dict(session.execute(select(Lesson.id, Lesson.course_id)).all())
        for e in session.scalars(select(Enrollment)):
            mine = done.get(e.id, set())
            assert all(lesson_course[lid] == e.course_id for lid in mine)
            assert e.enrolled_at <= now
            if e.status == EnrollmentStatus.COMPLETED:
                assert required[e.course_id] <= mine
                assert e.completed_at is not None and e.enrolled_at <= e.completed_at <= now
            elif e.status == EnrollmentStatus.ACTIVE:
                assert not required[e.course_id] <= mine
            elif e.status == EnrollmentStatus.PENDING:
                assert not mine
            else:
                assert e.withdrawn_at is not None and e.withdrawn_at <= now
        times = session.execute(
            select(LessonProgress.completed_at, Enrollment.enrolled_at).join(
                Enrollment, Enrollment.id == LessonProgress.enrollment_id
            )
        ).all()
        assert all(start <= at <= now for at, start in times)
        assert demo.lessons_completed == len(times)


def test_the_demo_accounts_sign_in_and_nobody_else_has_a_password(lms, demo):
    assert {a.role for a in demo.accounts} == {"admin", "instructor", "manager", "learner"}
    for account in demo.accounts:
        assert len(account.password) >= 10
        with lms.transaction() as ctx:
            user = user_service.authenticate(ctx, account.email, account.password)
            assert user.email == account.email
    with lms.session() as session:
        with_password = set(
            session.scalars(select(User.email).where(User.password_hash.is_not(None)))
        )
        assert with_password == {a.email for a in demo.accounts}
        admin = session.scalars(select(User).where(User.email_key == "admin@example.com")).one()
        roles = set(
            session.scalars(
                select(Role.name)
                .join(RoleAssignment, RoleAssignment.role_id == Role.id)
                .where(RoleAssignment.user_id == admin.id, RoleAssignment.course_id.is_(None))
            )
        )
        assert "admin" in roles


def test_the_demo_instructor_sees_the_rosters_of_their_own_courses_only(lms, demo, client, auth):
    from lms_core.services import tokens

    account = demo.account("instructor")
    with lms.session() as session:
        instructor = session.scalars(select(User).where(User.email_key == account.email)).one()
        held = session.execute(
            select(Role.name, RoleAssignment.course_id)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == instructor.id)
        ).all()
        courses = {c.id: c.code for c in session.scalars(select(Course))}
        roster: dict[int, set[str]] = {cid: set() for cid in courses}
        enrolled: Counter[int] = Counter()
        for course_id, email, status in session.execute(
            select(Enrollment.course_id, User.email, Enrollment.status).join(
                User, User.id == Enrollment.user_id
            )
        ):
            enrolled[course_id] += 1
            if status != EnrollmentStatus.WITHDRAWN:
                roster[course_id].add(email)
    # Creating courses is site-wide; teaching is per course.
    assert {name for name, scope in held if scope is None} == {"course_creator", "learner"}
    taught = {scope for name, scope in held if name == "instructor"}
    assert None not in taught
    others = set(courses) - taught
    assert taught and others
    assert any(enrolled[cid] for cid in others), "the other courses have learners to hide"

    assert auth.login(account.email, account.password).status_code == 302
    listing = client.get("/teach/")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert all(courses[cid] in html for cid in taught)
    assert not any(re.search(rf"\b{re.escape(courses[cid])}\b", html) for cid in others)
    shown = re.compile(r'<small class="muted">([^<@]+@example\.com)</small>')
    for cid in taught:
        page = client.get(f"/teach/courses/{cid}/learners")
        assert page.status_code == 200
        assert set(shown.findall(page.get_data(as_text=True))) == roster[cid]
    for cid in others:
        page = client.get(f"/teach/courses/{cid}/learners")
        assert page.status_code == 403
        assert not shown.findall(page.get_data(as_text=True))
        assert client.get(f"/teach/courses/{cid}").status_code == 403

    with lms.transaction(instructor) as ctx:
        _row, secret = tokens.create_token(ctx, ctx.attach(instructor), "roster check")
    headers = {"Authorization": f"Bearer {secret}"}
    for cid in taught:
        response = client.get(f"/api/v1/courses/{cid}/enrollments?per_page=200", headers=headers)
        assert response.status_code == 200
        body = response.get_json()
        assert body["total"] == enrolled[cid]
        assert {e["course_id"] for e in body["items"]} <= {cid}
    for cid in others:
        response = client.get(f"/api/v1/courses/{cid}/enrollments", headers=headers)
        assert response.status_code == 403
        assert "items" not in response.get_json()
        patched = client.patch(f"/api/v1/courses/{cid}", json={"title": "Mine"}, headers=headers)
        assert patched.status_code == 403


def test_describe_says_what_was_built_and_how_to_sign_in(demo):
    text_ = demo.describe()
    assert "40 users" in text_ and "8 courses" in text_ and "overdue" in text_
    for account in demo.accounts:
        assert account.email in text_ and account.password in text_
    assert "lms serve" in text_
    assert demo.account("admin").password not in repr(demo.account("admin"))


def test_the_same_seed_builds_the_same_site(lms):
    def snapshot(summary: DemoSummary) -> tuple[list[str], list[str], dict[str, int], int]:
        with lms.session() as session:
            emails = list(session.scalars(select(User.email).order_by(User.email)))
            codes = list(session.scalars(select(Course.code).order_by(Course.code)))
        return emails, codes, dict(summary.enrollments), summary.overdue

    first = build_demo(lms, users=30, courses=6, seed=11)
    a = snapshot(first)
    second = build_demo(lms, users=30, courses=6, seed=11)
    assert snapshot(second) == a
    # the sign-in passwords are fresh on every build
    assert first.account("admin").password != second.account("admin").password
    other = build_demo(lms, users=30, courses=6, seed=12)
    assert snapshot(other)[0] != a[0]


def test_without_reset_a_database_with_users_is_refused(lms, factory):
    factory.user("someone@example.org")
    with pytest.raises(Conflict, match="already has users; use --reset"):
        build_demo(lms, users=20, courses=4, reset=False)
    with lms.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_without_reset_an_empty_database_is_filled(lms):
    summary = build_demo(lms, users=20, courses=4, reset=False)
    assert summary.users == 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"users": 3}, "at least 12 users"), ({"courses": 1}, "at least 4 courses")],
)
def test_too_small_a_demo_is_refused(lms, kwargs, message):
    with pytest.raises(Invalid, match=message):
        build_demo(lms, **kwargs)


def test_the_default_size_builds_a_site_with_every_kind_of_enrollment(lms):
    # How long it takes is measured (printed) by the crawl test, never asserted here: a
    # wall-clock limit fails on a loaded machine without anything being wrong.
    summary = build_demo(lms)
    assert summary.users == 200 and summary.courses == 20
    assert summary.enrollment_total > 500 and summary.overdue > 10
    assert all(n > 0 for n in summary.enrollments.values())


# --- the lms command --------------------------------------------------------------------------


def _config(tmp_path: Path, body: str | None = None) -> Path:
    path = tmp_path / "lms.toml"
    if body is None:
        body = f'[database]\nurl = "sqlite:///{tmp_path / "cli.sqlite3"}"\n'
    path.write_text(body, encoding="utf-8")
    return path


def _site(config: Path) -> LMS:
    return LMS(load_config(config, env={}))


def _invoke(config: Path, *args: str, **kwargs):
    return CliRunner().invoke(cli, ["--config", str(config), *args], **kwargs)


def test_db_upgrade_creates_the_schema_and_can_run_twice(tmp_path):
    config = _config(tmp_path)
    for _ in range(2):
        result = _invoke(config, "db", "upgrade")
        assert result.exit_code == 0, result.output
        assert "Database is up to date" in result.output
    site = _site(config)
    try:
        with site.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert {"users", "courses", "lessons", "enrollments", "groups"} <= tables
            assert "alembic_version" in tables
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
        with site.session() as session:
            names = set(session.scalars(select(Role.name)))
            assert names == {"admin", "manager", "course_creator", "instructor", "learner"}
    finally:
        site.dispose()


def test_init_creates_an_administrator_who_can_sign_in(tmp_path):
    config = _config(tmp_path)
    password = "a-long-enough-password"
    result = _invoke(
        config, "init", "--admin-email", "boss@example.com", "--admin-password", password
    )
    assert result.exit_code == 0, result.output
    assert "Created administrator boss@example.com" in result.output
    again = _invoke(
        config, "init", "--admin-email", "boss@example.com", "--admin-password", password
    )
    assert again.exit_code == 0 and "already exists" in again.output
    site = _site(config)
    try:
        with site.transaction() as ctx:
            user = user_service.authenticate(ctx, "boss@example.com", password)
            assert user.name == "Administrator"
            roles = set(
                ctx.session.scalars(
                    select(Role.name)
                    .join(RoleAssignment, RoleAssignment.role_id == Role.id)
                    .where(RoleAssignment.user_id == user.id)
                )
            )
            assert roles == {"admin", "learner"}
    finally:
        site.dispose()


def test_init_reads_the_password_from_the_environment(tmp_path):
    config = _config(tmp_path)
    result = _invoke(
        config,
        "init",
        "--admin-email",
        "env@example.com",
        env={"LMS_INIT_ADMIN_PASSWORD": "from-the-environment"},
    )
    assert result.exit_code == 0, result.output


def test_init_with_a_short_password_fails_and_says_how_long_it_must_be(tmp_path):
    config = _config(tmp_path)
    result = _invoke(
        config, "init", "--admin-email", "boss@example.com", "--admin-password", "short"
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, Invalid)
    assert "at least 10 characters" in str(result.exception)
    site = _site(config)
    try:
        with site.session() as session:
            assert session.scalar(select(func.count()).select_from(User)) == 0
    finally:
        site.dispose()


def test_main_prints_a_short_password_error_without_a_traceback(tmp_path, capsys):
    config = _config(tmp_path)
    with pytest.raises(SystemExit) as excinfo:
        main(
            [
                "--config",
                str(config),
                "init",
                "--admin-email",
                "boss@example.com",
                "--admin-password",
                "short",
            ]
        )
    assert excinfo.value.code == 1
    err = capsys.readouterr().err
    assert "Error: The password must be at least 10 characters long." in err
    assert "Traceback" not in err


def test_demo_command_builds_a_site_and_prints_the_accounts(tmp_path):
    config = _config(tmp_path)
    result = _invoke(config, "demo", "--no-serve", "--users", "30", "--courses", "6")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "30 users" in out and "6 courses" in out
    for email in ("admin", "instructor", "manager", "learner"):
        assert f"{email}@example.com" in out
    assert "lms serve" in out
    match = re.search(r"admin@example\.com\s+password: (\S+)", out)
    assert match is not None
    site = _site(config)
    try:
        with site.transaction() as ctx:
            user_service.authenticate(ctx, "admin@example.com", match.group(1))
    finally:
        site.dispose()
    # a second run resets by default; --keep refuses a site that has users
    assert _invoke(config, "demo", "--no-serve", "--users", "30", "--courses", "6").exit_code == 0
    kept = _invoke(config, "demo", "--no-serve", "--keep", "--users", "30", "--courses", "6")
    assert kept.exit_code != 0
    assert isinstance(kept.exception, Conflict) and "--reset" in str(kept.exception)


def test_a_bad_config_file_value_names_the_key_value_and_expectation(tmp_path):
    config = _config(tmp_path, "[database]\npool_size = 0\n")
    result = _invoke(config, "db", "upgrade")
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert "database.pool_size = 0" in message and "1 or more" in message
    assert str(config) in message


def test_a_bad_environment_value_names_the_variable(tmp_path):
    config = _config(tmp_path)
    result = _invoke(config, "db", "upgrade", env={"LMS_DATABASE_URL": "mysql://x"})
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert "database.url = 'mysql://x'" in message and "LMS_DATABASE_URL" in message
    assert "sqlite://" in message


def test_main_turns_a_config_error_into_exit_code_2(tmp_path, capsys):
    config = _config(tmp_path, "[database]\npool_size = 0\n")
    with pytest.raises(SystemExit) as excinfo:
        main(["--config", str(config), "db", "upgrade"])
    assert excinfo.value.code == 2
    assert "Error: Invalid configuration: database.pool_size = 0" in capsys.readouterr().err


def test_help_needs_no_database(tmp_path):
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "missing.toml"), "--help"])
    assert result.exit_code == 0 and "demo" in result.output


def _capture_serve(monkeypatch) -> list[dict[str, object]]:
    from lms_core import serve as serve_module

    calls: list[dict[str, object]] = []

    def fake_serve(host: str, port: int, **kwargs: object) -> None:
        calls.append({"host": host, "port": port, **kwargs})

    monkeypatch.setattr(serve_module, "serve", fake_serve)
    return calls


def test_lms_serve_on_another_port_builds_links_with_that_port(tmp_path, monkeypatch):
    calls = _capture_serve(monkeypatch)
    config = _config(tmp_path)
    assert _invoke(config, "db", "upgrade").exit_code == 0
    result = _invoke(config, "serve", "--port", "8123", "--dev")
    assert result.exit_code == 0, result.output
    assert calls and calls[0]["port"] == 8123
    assert calls[0]["base_url"] == "http://127.0.0.1:8123"
    assert "http://127.0.0.1:8123" in result.output and "5000" not in result.output


def test_a_configured_base_url_is_kept_but_a_disagreeing_port_is_warned_about(
    tmp_path, monkeypatch
):
    calls = _capture_serve(monkeypatch)
    config = _config(tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[database]", 'base_url = "https://learn.example.com"\n[database]'
        ),
        encoding="utf-8",
    )
    assert _invoke(config, "db", "upgrade").exit_code == 0
    result = _invoke(config, "serve", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert calls and calls[0]["base_url"] is None  # the configured one stands
    assert "Warning: base_url is https://learn.example.com" in result.output
    assert "http://127.0.0.1:8123" in result.output


def test_lms_demo_on_another_port_says_that_port_and_serves_links_with_it(tmp_path, monkeypatch):
    calls = _capture_serve(monkeypatch)
    config = _config(tmp_path)
    result = _invoke(config, "demo", "--port", "8124", "--users", "30", "--courses", "6")
    assert result.exit_code == 0, result.output
    assert calls and calls[0]["base_url"] == "http://127.0.0.1:8124"
    assert "Open http://127.0.0.1:8124 in a browser" in result.output
    assert ":5000" not in result.output


def test_the_demo_without_a_mail_server_writes_its_mail_to_the_instance_folder(
    tmp_path, monkeypatch
):
    calls = _capture_serve(monkeypatch)
    instance = tmp_path / "instance"
    config = _config(
        tmp_path,
        f'instance_path = "{instance}"\n[database]\nurl = "sqlite:///{tmp_path / "cli.sqlite3"}"\n',
    )
    result = _invoke(config, "demo", "--users", "30", "--courses", "6")
    assert result.exit_code == 0, result.output
    assert "Mail: no mail server is configured, so mail is written to" in result.output
    assert calls and calls[0]["environment"] == {"LMS_MAIL_TRANSPORT": "folder"}

    # The worker beside the demo sends the demo's notification mail into that folder.
    monkeypatch.setenv("LMS_MAIL_TRANSPORT", "folder")
    worked = _invoke(config, "worker", "--once")
    assert worked.exit_code == 0, worked.output
    mails = sorted((instance / "mail").glob("*.eml"))
    assert mails, "no mail was written"
    text = mails[0].read_text()
    assert "List-Unsubscribe:" in text and "Content-Type: multipart/alternative" in text
