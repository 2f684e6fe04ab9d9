"""``lms users can EMAIL PERMISSION [--course CODE]``: allowed or not, and why."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lms_core.cli import cli
from lms_core.config import load_config
from lms_core.runtime import LMS
from lms_core.services import courses as course_service
from lms_core.services import roles as role_service
from lms_core.services import users as user_service


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "lms.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "cli.sqlite3"}"\n', encoding="utf-8")
    return path


def _site(config: Path) -> LMS:
    return LMS(load_config(config, env={}))


def _invoke(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def test_users_can_says_whether_and_why_a_person_may_use_a_permission(tmp_path):
    config = _config(tmp_path)
    assert _invoke(config, "db", "upgrade").exit_code == 0
    site = _site(config)
    try:
        with site.transaction(system=True) as ctx:
            boss = user_service.create_user(ctx, "boss@example.com", roles=("admin",))
            course = course_service.create_course(ctx, "SAFE-1", "Safety")
            teacher = user_service.create_user(ctx, "teacher@example.com")
        with site.transaction(boss) as ctx:
            role_service.assign_role(ctx, teacher, "instructor", course)
    finally:
        site.dispose()

    allowed = _invoke(
        config, "users", "can", "TEACHER@example.com", "course.edit", "--course", "safe-1"
    )
    assert allowed.exit_code == 0, allowed.output
    assert (
        "may use course.edit in SAFE-1, through the role instructor (in SAFE-1)" in allowed.output
    )
    assert "by boss@example.com" in allowed.output

    refused = _invoke(config, "users", "can", "teacher@example.com", "course.edit")
    assert refused.exit_code == 1, refused.output
    assert "may not use course.edit site-wide" in refused.output
    assert "Roles that include it: admin" in refused.output
    assert "Also holds it in SAFE-1 only, through instructor." in refused.output

    unknown = _invoke(config, "users", "can", "teacher@example.com", "course.edt")
    assert unknown.exit_code == 2 and "there is no permission 'course.edt'" in unknown.output
    nobody = _invoke(config, "users", "can", "nobody@example.com", "course.edit")
    assert nobody.exit_code == 2 and "no user with the email nobody@example.com" in nobody.output
    nocourse = _invoke(config, "users", "can", "boss@example.com", "course.edit", "--course", "X")
    assert nocourse.exit_code == 2 and "no course with the code X" in nocourse.output
