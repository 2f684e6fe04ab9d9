"""The ``lms`` command: set up, migrate, demo, import users."""

from __future__ import annotations

import os
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
        #: Settings this command changes for itself (``lms demo``'s mail folder).
        self.overrides: dict[str, Any] = {}
        self._lms: LMS | None = None

    def close(self) -> None:
        if self._lms is not None:
            self._lms.dispose()
            self._lms = None

    @property
    def lms(self) -> LMS:
        if self._lms is None:
            self._lms = LMS(load_config(self.config_path, overrides=self.overrides or None))
        return self._lms


pass_env = click.make_pass_decorator(Env)


class LMSGroup(click.Group):
    """The root group; enabled plugins add their commands (``lms_register_commands``) lazily."""

    _plugins_added = False

    def _add_plugin_commands(self, ctx: click.Context) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        try:
            env = ctx.obj if isinstance(ctx.obj, Env) else Env(ctx.params.get("config_path"))
            lms = env.lms
        except Exception:  # no usable config yet: the core commands still work
            return
        for _name, fn in lms.hooks.implementations("lms_register_commands"):
            fn(cli=self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._add_plugin_commands(ctx)
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands(ctx)
        return super().list_commands(ctx)


@click.group(cls=LMSGroup)
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
    ctx.call_on_close(ctx.obj.close)


@cli.group()
def db() -> None:
    """Database schema."""


def _upgrade(lms: LMS) -> None:
    from lms_core.migrate import upgrade
    from lms_core.services.plugins import sync_plugin_states
    from lms_core.services.roles import ensure_builtin_roles

    upgrade(lms)  # the core first; sync_plugin_states then migrates every installed plugin
    with lms.transaction(system=True) as ctx:
        ensure_builtin_roles(ctx)
    for message in sync_plugin_states(lms):
        click.echo(message)


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


def _serve_options(fn: Any) -> Any:
    """The options ``lms serve`` and ``lms demo`` share."""
    for option in reversed(
        [
            click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind."),
            click.option("--port", default=5000, show_default=True, help="Port to listen on."),
            click.option(
                "--workers",
                "-w",
                type=int,
                default=None,
                help="gunicorn worker processes [default: 2].",
            ),
            click.option(
                "--threads", default=1, show_default=True, help="Threads per gunicorn worker."
            ),
            click.option(
                "--dev",
                is_flag=True,
                help="One process on werkzeug's development server (no reloader) instead of gunicorn.",
            ),
            click.option(
                "--worker/--no-worker",
                "worker",
                default=True,
                show_default=True,
                help="Also run an `lms worker` process (jobs, schedules, retries); "
                "--no-worker when workers run elsewhere.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _serve(
    env: Env,
    host: str,
    port: int,
    workers: int | None,
    threads: int,
    dev: bool,
    base_url: str | None = None,
    worker: bool = True,
    environment: dict[str, str] | None = None,
) -> None:
    from lms_core.serve import serve

    # Workers build their own runtime (and database connections) after the fork.
    env.close()
    serve(
        host,
        port,
        workers=workers,
        threads=threads,
        dev=dev,
        config_path=env.config_path,
        base_url=base_url,
        worker=worker,
        environment=environment,
    )


def _base_url_for_serving(env: Env, host: str, port: int) -> str | None:
    """The served address when ``base_url`` is not configured (None when it is), warning on
    standard error when a configured one disagrees with the address served."""
    from lms_core.config import load_config_with_sources
    from lms_core.serve import base_url_for

    config, sources = load_config_with_sources(env.config_path)
    choice = base_url_for(config, sources, host, port)
    if choice.warning:
        click.echo(f"Warning: {choice.warning}", err=True)
    return None if choice.configured else choice.url


@cli.command("serve")
@_serve_options
@pass_env
def serve_command(
    env: Env, host: str, port: int, workers: int | None, threads: int, dev: bool, worker: bool
) -> None:
    """Serve the site over HTTP (gunicorn; --dev for werkzeug's development server).

    For production, run gunicorn directly behind a reverse proxy:
    gunicorn -w 4 'lms_core.web:create_app()'
    """
    from lms_core.serve import served_url

    _ = env.lms  # fail early, in this process, on a bad configuration
    base_url = _base_url_for_serving(env, host, port)
    click.echo(f"Serving {served_url(host, port)} (press Ctrl+C to stop)")
    if worker:
        click.echo("With a worker for background jobs and schedules (--no-worker: none).")
    _serve(env, host, port, workers, threads, dev, base_url, worker)


@cli.command("demo")
@click.option(
    "--users", "user_count", default=200, show_default=True, help="How many learners to make."
)
@click.option(
    "--courses", "course_count", default=20, show_default=True, help="How many courses to make."
)
@click.option("--seed", default=2026, show_default=True, help="Random seed (same seed, same site).")
@click.option("--reset/--keep", default=True, show_default=True, help="Empty the database first.")
@click.option(
    "--serve/--no-serve", default=True, show_default=True, help="Serve the site after building it."
)
@_serve_options
@pass_env
def demo(
    env: Env,
    user_count: int,
    course_count: int,
    seed: int,
    reset: bool,
    serve: bool,
    host: str,
    port: int,
    workers: int | None,
    threads: int,
    dev: bool,
    worker: bool,
) -> None:
    """Build a realistic demo site, print how to sign in, and serve it (with a worker).

    Without a configured mail server, the demo's mail (notifications, digests, reset links)
    is written to files in the instance folder's ``mail/`` instead.
    """
    from lms_core.config import load_config_with_sources
    from lms_core.demo import build_demo
    from lms_core.mail import mail_folder
    from lms_core.serve import served_url

    config, sources = load_config_with_sources(env.config_path)
    mail_to_files = not any(key.startswith("mail.") for key in sources)
    if mail_to_files:
        env.overrides["mail"] = {"transport": "folder"}
    lms = env.lms
    base_url = _base_url_for_serving(env, host, port) if serve else None
    _upgrade(lms)
    summary = build_demo(
        lms, users=user_count, courses=course_count, seed=seed, reset=reset, echo=click.echo
    )
    click.echo("")
    click.echo(summary.describe(served_url(host, port) if serve else None))
    if mail_to_files:
        folder = mail_folder(config.mail, config.instance_path).resolve()
        click.echo(f"Mail: no mail server is configured, so mail is written to {folder}/")
    if not serve:
        return
    click.echo("")
    click.echo(f"Serving the demo at {served_url(host, port)} (press Ctrl+C to stop)")
    if worker:
        click.echo("With a worker for background jobs and schedules (--no-worker: none).")
    # The site's processes read their configuration afresh: tell them about the mail folder.
    extra = {"LMS_MAIL_TRANSPORT": "folder"} if mail_to_files else None
    _serve(env, host, port, workers, threads, dev, base_url, worker, extra)


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
    manager_email, groups, courses, due_date. groups and courses are lists separated by ';'
    (courses by code); due_date (YYYY-MM-DD) is when the row's courses are due instead of
    each course's due period. Re-running the same file changes nothing.
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
    if report.file_error or (report.bad_rows and not skip_bad_rows):
        raise SystemExit(1)


@users.command("export")
@click.argument("email")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--archive",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a zip instead: export.json and the person's files themselves.",
)
@pass_env
def users_export(env: Env, email: str, output: Path | None, archive: Path | None) -> None:
    """Export everything the site (core and every plugin) holds about a person, as JSON."""
    import json

    from lms_core.services.privacy import export_user
    from lms_core.services.privacy import export_user_archive

    if archive is not None:
        with env.lms.transaction(system=True) as ctx, archive.open("wb") as out:
            data = export_user_archive(ctx, email, out)
        click.echo(f"Wrote {archive} ({len(data['files'])} file(s))")
        return
    with env.lms.transaction(system=True) as ctx:
        data = export_user(ctx, email)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"Wrote {output}")
    else:
        click.echo(text)


@users.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_env
def users_erase(env: Env, email: str, yes: bool) -> None:
    """Erase a person's data in the core and every plugin (cannot be undone)."""
    from lms_core.services.privacy import erase_user

    if not yes:
        click.confirm(f"Erase {email} everywhere? This cannot be undone", abort=True)
    with env.lms.transaction(system=True) as ctx:
        uid = erase_user(ctx, email)
    click.echo(f"Erased user #{uid}.")


@users.command("can")
@click.argument("email")
@click.argument("permission")
@click.option("--course", "course_code", help="Ask about this course (its code).")
@pass_env
def users_can(env: Env, email: str, permission: str, course_code: str | None) -> None:
    """Whether a person may use PERMISSION (site-wide, or in --course), and why.

    Names the roles that grant it, their scope, when they were given and by whom; or the
    roles that would grant it. Exits 0 when allowed, 1 when not (2 for a bad argument).
    """
    from lms_core.services.courses import find_course
    from lms_core.services.permissions import explain
    from lms_core.services.permissions import registry
    from lms_core.services.users import find_user

    lms = env.lms
    with lms.transaction(system=True) as ctx:
        known = registry(lms.hooks)
        if permission not in known:
            raise click.BadParameter(
                f"there is no permission {permission!r}; known ones: {', '.join(sorted(known))}",
                param_hint="PERMISSION",
            )
        user = find_user(ctx, email)
        if user is None:
            raise click.BadParameter(f"there is no user with the email {email}", param_hint="EMAIL")
        course = find_course(ctx, course_code) if course_code else None
        if course_code and course is None:
            raise click.BadParameter(
                f"there is no course with the code {course_code}", param_hint="--course"
            )
        why = explain(user, permission, course)
    for line in why.lines():
        click.echo(line)
    if not why.allowed:
        raise SystemExit(1)


@cli.group()
def plugins() -> None:
    """Installed plugins: list, enable, disable, info, purge."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_env
def plugins_list(env: Env, as_json: bool) -> None:
    """Every installed plugin with its version and state."""
    from lms_core.serde import unstructure
    from lms_core.services.plugins import plugin_statuses

    statuses = plugin_statuses(env.lms)
    if as_json:
        import json

        click.echo(json.dumps([unstructure(s) for s in statuses], indent=2))
        return
    if not statuses:
        click.echo("No plugins installed.")
    for s in statuses:
        line = f"{s.name:<14} {s.version:<9} {s.state:<12} {s.title}"
        if s.reason:
            line += f"  ({s.reason})"
        click.echo(line)


@plugins.command("info")
@click.argument("name")
@pass_env
def plugins_info(env: Env, name: str) -> None:
    """Details of one plugin: requirements, state, hooks it implements."""
    from lms_core.errors import NotFound
    from lms_core.services.plugins import plugin_statuses

    for s in plugin_statuses(env.lms):
        if s.name == name:
            click.echo(f"{s.title} ({s.name} {s.version})")
            if s.description:
                click.echo(s.description)
            click.echo(f"State: {s.state}" + (f" - {s.reason}" if s.reason else ""))
            click.echo(f"Requires: {', '.join(s.requires) or 'nothing'}")
            click.echo(f"Package: {s.distribution or 'not from an installed distribution'}")
            click.echo("Hooks: " + (", ".join(s.hooks) or "none"))
            return
    raise NotFound(f"No plugin called {name!r} is installed.")


@plugins.command("enable")
@click.argument("name")
@pass_env
def plugins_enable(env: Env, name: str) -> None:
    """Turn a plugin on (migrating its tables the first time)."""
    from lms_core.services.plugins import enable_plugin

    changed = enable_plugin(env.lms, name)
    click.echo(f"{name} enabled." if changed else f"{name} was already enabled.")


@plugins.command("disable")
@click.argument("name")
@pass_env
def plugins_disable(env: Env, name: str) -> None:
    """Turn a plugin off; its data stays."""
    from lms_core.services.plugins import disable_plugin

    changed = disable_plugin(env.lms, name)
    click.echo(f"{name} disabled." if changed else f"{name} was already disabled.")


@plugins.command("purge")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_env
def plugins_purge(env: Env, name: str, yes: bool) -> None:
    """Drop a disabled plugin's tables and settings (cannot be undone)."""
    from lms_core.services.plugins import check_purgeable
    from lms_core.services.plugins import purge_plugin

    check_purgeable(env.lms, name)  # an enabled plugin is refused before anyone is asked
    if not yes:
        click.confirm(
            f"Drop every table of {name} and its settings? This cannot be undone", abort=True
        )
    tables = purge_plugin(env.lms, name)
    click.echo(f"Purged {name}: dropped {', '.join(tables) or 'no tables'}.")


@plugins.command("new")
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to make the package's folder (lms-NAME).",
)
@click.option("--title", help="The plugin's title (default: NAME in words).")
def plugins_new(name: str, directory: Path, title: str | None) -> None:
    """Write a new plugin package (a model, a migration, a page, tests) to start from."""
    from lms_core.scaffold import new_plugin

    target = new_plugin(name, directory, title)
    click.echo(f"Wrote {target}. Next:")
    click.echo(f"  cd {target} && pip install -e '.[test]' && pytest")


@db.command("revision")
@click.option("--plugin", "plugin_name", required=True, help="The plugin whose migration to write.")
@click.option("-m", "--message", default="changes", show_default=True, help="What changed.")
@click.option(
    "--autogenerate/--empty",
    default=False,
    help="Fill it with what the plugin's models have that the database lacks.",
)
@pass_env
def db_revision(env: Env, plugin_name: str, message: str, autogenerate: bool) -> None:
    """Write a plugin's next migration into its migrations folder (read it before committing)."""
    from lms_core.migrate import plugin_revision

    path = plugin_revision(env.lms, plugin_name, message, autogenerate=autogenerate)
    click.echo(f"Wrote {path}")


@cli.group()
def hooks() -> None:
    """Hook introspection."""


@hooks.command("list")
@click.option("--hook", "hook_name", help="Only this hook.")
@pass_env
def hooks_list(env: Env, hook_name: str | None) -> None:
    """Every hook and the enabled plugins implementing it, in the order they are called."""
    from lms_core.errors import NotFound

    lms = env.lms
    names = sorted(
        n for n in vars(lms.pm.hook) if not n.startswith("_") and getattr(lms.pm.hook, n).has_spec()
    )
    if hook_name:
        if hook_name not in names:
            raise NotFound(f"There is no hook called {hook_name!r}.")
        names = [hook_name]
    for name in names:
        implementers = lms.hooks.implementers(name)
        click.echo(f"{name}: {', '.join(implementers) if implementers else '-'}")


@cli.command("worker")
@click.option("--processes", "-p", default=1, show_default=True, help="Worker processes to run.")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds to wait when nothing is due.")
@click.option(
    "--exit-with-parent",
    is_flag=True,
    hidden=True,
    help="Stop when the process that started this one is gone (the worker beside `lms serve`).",
)
@pass_env
def worker(env: Env, processes: int, once: bool, poll: float, exit_with_parent: bool) -> None:
    """Run background jobs, fire schedules and deliver (and retry) outbox events.

    `lms serve` and `lms demo` start one beside the site; run more (on other hosts too) for
    a larger site and serve with --no-worker.
    """
    from lms_core.worker import run_workers

    try:
        total = run_workers(
            env.lms.config,
            processes,
            once=once,
            poll=poll,
            parent=os.getppid() if exit_with_parent else None,
        )
    except KeyboardInterrupt:  # Ctrl+C reaches the worker beside `lms serve` too
        return
    click.echo(f"Ran {total} deliveries and jobs.")


@cli.group()
def events() -> None:
    """The event outbox: failed deliveries and retries."""


@events.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "failed", "skipped", "delivered"]),
    default="failed",
    show_default=True,
)
@click.option("--limit", default=50, show_default=True)
@pass_env
def events_list(env: Env, status: str, limit: int) -> None:
    """Deliveries (of events, and jobs) in a given state, newest first, with their last error."""
    from sqlalchemy import select

    from lms_core.models import Delivery
    from lms_core.models import OutboxEvent

    with env.lms.session() as session:
        rows = session.execute(
            select(Delivery, OutboxEvent.name)
            .outerjoin(OutboxEvent, OutboxEvent.id == Delivery.event_id)
            .where(Delivery.status == status)
            .order_by(Delivery.id.desc())
            .limit(limit)
        ).all()
    if not rows:
        click.echo(f"No {status} deliveries.")
    for delivery, name in rows:
        what = name if name is not None else f"job {delivery.job}"
        click.echo(
            f"#{delivery.id} {what} -> {delivery.plugin} attempts={delivery.attempts} {delivery.last_error or ''}"
        )


@events.command("retry")
@click.argument("delivery_ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Retry every failed delivery.")
@pass_env
def events_retry(env: Env, delivery_ids: tuple[int, ...], all_failed: bool) -> None:
    """Put failed deliveries back in the queue and deliver them now."""
    from sqlalchemy import select

    from lms_core import outbox
    from lms_core.models import Delivery
    from lms_core.models import DeliveryStatus

    lms = env.lms
    with lms.transaction(system=True) as ctx:
        ids = list(delivery_ids)
        if all_failed:
            ids += list(
                ctx.session.scalars(
                    select(Delivery.id).where(Delivery.status == DeliveryStatus.FAILED)
                )
            )
        count = outbox.redeliver(ctx, ids)
    delivered = outbox.deliver_due(lms, worker="cli")
    click.echo(
        f"Re-queued {count} deliver{'y' if count == 1 else 'ies'}; delivered {delivered} now."
    )


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="lms", standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except LMSError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
