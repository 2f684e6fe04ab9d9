"""The ``lms`` command: set up, migrate, demo, import users."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from lms_core.config import load_config
from lms_core.errors import ConfigError
from lms_core.errors import LMSError
from lms_core.runtime import LMS

__all__ = ["cli", "main"]


class Env:
    """Lazily builds the runtime so ``lms --help`` needs no database."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._lms: LMS | None = None

    @property
    def lms(self) -> LMS:
        if self._lms is None:
            self._lms = LMS(load_config(self.config_path))
        return self._lms


pass_env = click.make_pass_decorator(Env)


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="LMS_CONFIG",
    help="TOML configuration file (default: LMS_CONFIG, else instance/lms.toml if present).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """A plugin-based learning management system."""
    ctx.obj = Env(config_path)


@cli.group()
def db() -> None:
    """Database schema."""


def _upgrade(lms: LMS) -> None:
    from lms_core.migrate import upgrade

    upgrade(lms)
    from lms_core.services.roles import ensure_builtin_roles

    with lms.transaction(system=True) as ctx:
        ensure_builtin_roles(ctx)


@db.command("upgrade")
@pass_env
def db_upgrade(env: Env) -> None:
    """Create or migrate the database schema (core and every installed plugin)."""
    _upgrade(env.lms)
    click.echo(f"Database is up to date: {env.lms.engine.url.render_as_string(hide_password=True)}")


@cli.command("init")
@click.option(
    "--admin-email", prompt="Administrator email", help="Email of the first administrator."
)
@click.option("--admin-name", default="Administrator", show_default=True)
@click.option(
    "--admin-password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="LMS_INIT_ADMIN_PASSWORD",
    help="Password of the first administrator (or LMS_INIT_ADMIN_PASSWORD).",
)
@pass_env
def init(env: Env, admin_email: str, admin_name: str, admin_password: str) -> None:
    """Create or migrate the database and create the first administrator."""
    from lms_core.services import roles
    from lms_core.services import users

    lms = env.lms
    _upgrade(lms)
    with lms.transaction(system=True) as ctx:
        existing = users.find_user(ctx, admin_email)
        if existing is not None:
            roles.assign_role(ctx, existing, "admin")
            click.echo(f"{existing.email} already exists; made sure they are an administrator.")
            return
        users.create_user(
            ctx,
            admin_email,
            name=admin_name,
            password=admin_password,
            roles=("admin", "learner"),
            password_min_length=lms.config.auth.password_min_length,
        )
    click.echo(f"Created administrator {admin_email}.")


@cli.command("demo")
@click.option(
    "--users", "user_count", default=200, show_default=True, help="How many learners to make."
)
@click.option(
    "--courses", "course_count", default=20, show_default=True, help="How many courses to make."
)
@click.option("--seed", default=2026, show_default=True, help="Random seed (same seed, same site).")
@click.option("--reset/--keep", default=True, show_default=True, help="Empty the database first.")
@pass_env
def demo(env: Env, user_count: int, course_count: int, seed: int, reset: bool) -> None:
    """Build a realistic demo site and print how to sign in."""
    from lms_core.demo import build_demo

    lms = env.lms
    _upgrade(lms)
    summary = build_demo(
        lms, users=user_count, courses=course_count, seed=seed, reset=reset, echo=click.echo
    )
    click.echo("")
    click.echo(summary.describe())


@cli.group()
def users() -> None:
    """User accounts."""


@users.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--skip-bad-rows", is_flag=True, help="Import the good rows even if some rows are bad."
)
@click.option("--dry-run", is_flag=True, help="Check the file and report, but write nothing.")
@pass_env
def users_import(env: Env, csv_file: Path, skip_bad_rows: bool, dry_run: bool) -> None:
    """Create or update users, groups and enrollments from a CSV file.

    Columns (header row, any order): email (required), name, department, location, job_title,
    manager_email, groups, courses. groups and courses are lists separated by ';'
    (courses by code). Re-running the same file changes nothing.
    """
    from lms_core.importer import import_users_csv

    lms = env.lms
    with click.progressbar(length=0, label="Importing", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        report = import_users_csv(
            lms, csv_file, skip_bad_rows=skip_bad_rows, dry_run=dry_run, progress=progress
        )
    for line in report.problem_lines():
        click.echo(line, err=True)
    click.echo(report.summary())
    if report.bad_rows and not skip_bad_rows:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="lms", standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except LMSError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
