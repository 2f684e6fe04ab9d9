"""pytest fixtures for testing the core and plugins (registered as a ``pytest11`` plugin).

Fixtures:

* ``lms_database_url`` (session): ``LMS_TEST_DATABASE_URL`` if set (PostgreSQL in CI),
  otherwise a SQLite file in a temporary folder. The schema is migrated once per session.
* ``lms_config``: a :class:`~lms_core.config.Config` pointing at that database.
* ``lms``: a fresh :class:`~lms_core.runtime.LMS` with the built-in roles; every table is
  emptied after the test, so tests never see each other's rows.
* ``factory``: a :class:`Factory` that makes users, courses and enrollments (people get no
  password unless given one: :data:`DEFAULT_PASSWORD`).
* ``clock``: freezes the site's time (:class:`Clock`) for behaviour that depends on dates.
* ``lms_factory``: extra runtimes with chosen plugins loaded, migrated and enabled.
* ``app``, ``client``, ``auth``: the web app over ``lms``, its test client and sign-in actions.
  The client (:class:`LMSClient`, which every LMS app's ``test_client()`` returns) raises
  :class:`ServerError` on any 5xx response, with the app's traceback, unless the test wraps
  the request in ``with client.expect_server_error():``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from lms_core.config import Config
from lms_core.config import load_config
from lms_core.db import Base
from lms_core.hooks.markers import hookimpl
from lms_core.models import Course
from lms_core.models import Enrollment
from lms_core.models import User
from lms_core.runtime import LMS
from lms_core.web.testclient import ExpectedServerErrors
from lms_core.web.testclient import LMSClient
from lms_core.web.testclient import ServerError

__all__ = [
    "Clock",
    "DEFAULT_PASSWORD",
    "ExpectedServerErrors",
    "Factory",
    "LMSClient",
    "assert_migrations_match_models",
    "count_statements",
    "run_jobs",
    "ServerError",
    "csrf_token",
    "empty_database",
    "json_of",
    "prepare_database",
    "text_of",
]


def prepare_database(url: str) -> None:
    """Drop everything in a PostgreSQL test database, or nothing for SQLite; then migrate."""
    from lms_core.migrate import upgrade

    lms = LMS(load_config(env={}, overrides={"database": {"url": url}}))
    try:
        if lms.is_postgres:
            with lms.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(lms)
    finally:
        lms.dispose()


def empty_database(lms: LMS) -> None:
    """Delete every row of every table the metadata knows (the schema stays)."""
    present = set(sa_inspect(lms.engine).get_table_names())
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name in present]
    with lms.engine.begin() as conn:
        if lms.is_postgres:
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture(scope="session")
def lms_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("LMS_TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    )
    prepare_database(url)
    return url


@pytest.fixture
def lms_config(lms_database_url: str, tmp_path: Any) -> Config:
    return load_config(
        env={},
        overrides={
            "database": {"url": lms_database_url},
            "instance_path": str(tmp_path / "instance"),
        },
    )


@pytest.fixture
def lms(lms_config: Config) -> Iterator[LMS]:
    from lms_core.services.roles import ensure_builtin_roles

    site = LMS(lms_config)
    with site.transaction(system=True) as ctx:
        ensure_builtin_roles(ctx)
    try:
        yield site
    finally:
        empty_database(site)
        site.dispose()


#: A password that passes the site's policy, for test users who sign in:
#: ``factory.user("ann@example.com", password=DEFAULT_PASSWORD)`` then ``auth.login("ann@example.com")``.
DEFAULT_PASSWORD = "test password 123"


class Factory:
    """Makes test data through the services (so it is as real as the site's own).

    The ``factory`` fixture is one on the ``lms`` runtime; build ``Factory(site)`` for a runtime
    of your own (``Factory(lms_factory(["my_plugin.hooks"]))``). Each call commits its own
    transaction as the system (no permission checks), so what it made is there for the code
    under test, and events it caused (an enrollment, a completion) have been delivered.
    Names, e-mail addresses and course codes are numbered so that they never collide.

    **Passwords:** people are made *without* a password unless you give one (hashing one takes
    about 0.1 s, too slow to do for every person of every test). Someone who signs in through
    the web needs ``password=DEFAULT_PASSWORD`` (or any password of 10+ characters).
    """

    _seq = itertools.count(1)

    def __init__(self, lms: LMS) -> None:
        self.lms = lms

    def user(
        self,
        email: str | None = None,
        *,
        roles: tuple[str, ...] = ("learner",),
        password: str | None = None,
        **profile: Any,
    ) -> User:
        """A person, made by ``create_user``; returns the :class:`~lms_core.models.User`.

        :param email: default ``user<N>@example.com``.
        :param roles: site-wide roles (default just ``learner``).
        :param password: None (the default) makes an account no one can sign in to with a
            password; pass :data:`DEFAULT_PASSWORD` for one that ``auth.login`` can use.
        :param profile: other profile fields (``name`` defaults to ``Test User <N>``;
            ``department``, ``manager_id`` ... as ``create_user`` takes them).
        """
        from lms_core.services.users import create_user

        n = next(self._seq)
        email = email or f"user{n}@example.com"
        profile.setdefault("name", f"Test User {n}")
        with self.lms.transaction(system=True) as ctx:
            return create_user(ctx, email, roles=roles, password=password, **profile)

    def admin(self, email: str | None = None, **kwargs: Any) -> User:
        """A person with the site-wide ``admin`` role (and ``learner``); as :meth:`user`."""
        return self.user(email, roles=("admin", "learner"), **kwargs)

    def course(
        self,
        code: str | None = None,
        *,
        title: str | None = None,
        lessons: int = 2,
        optional_lessons: int = 0,
        publish: bool = True,
        instructors: Iterable[User] = (),
        **fields: Any,
    ) -> Course:
        """A course with ``lessons`` required lessons (and ``optional_lessons``), published.

        :param code: default ``C-<NNNN>``; ``title`` default ``Course <N>``.
        :param publish: False leaves it a draft (learners cannot enroll).
        :param instructors: people who get the ``instructor`` role in this course.
        :param fields: other ``create_course`` fields (``category``, ``tags``, ...).
        Lessons are ``course.lessons`` in order (``ctx.attach(course).lessons`` in a unit of work).
        """
        from lms_core.services import courses
        from lms_core.services import roles

        n = next(self._seq)
        code = code or f"C-{n:04d}"
        with self.lms.transaction(system=True) as ctx:
            course = courses.create_course(ctx, code, title or f"Course {n}", **fields)
            for person in instructors:
                roles.assign_role(ctx, ctx.attach(person), "instructor", course)
            for i in range(lessons):
                courses.add_lesson(ctx, course, f"Lesson {i + 1}", body=f"Text of lesson {i + 1}")
            for i in range(optional_lessons):
                courses.add_lesson(
                    ctx, course, f"Extra {i + 1}", body="Optional reading", required=False
                )
            if publish:
                courses.publish_course(ctx, course)
            return course

    def enrollment(self, user: User, course: Course, **kwargs: Any) -> Enrollment:
        """``user`` enrolled in ``course`` through ``enroll`` (so ``lms_before_enroll`` filters
        run and ``EnrollmentCreated`` is delivered); ``kwargs`` go to ``enroll`` (``source``,
        ``check_capacity``). For dates, freeze time with the ``clock`` fixture first."""
        from lms_core.services.enrollments import enroll

        with self.lms.transaction(system=True) as ctx:
            return enroll(ctx, user, course, **kwargs)


@pytest.fixture
def factory(lms: LMS) -> Factory:
    return Factory(lms)


@pytest.fixture
def lms_factory(lms: LMS, lms_config: Config) -> Iterator[Any]:
    """Make extra runtimes on the test database with chosen plugins loaded and set up.

    ``make(plugins=[module_or_dotted_name, ...], enabled=("*",), plugin_config={...})`` returns an
    :class:`LMS` that loads only those plugins (no entry points), with their migrations
    applied and their state rows written (enabled per ``enabled``). Several runtimes on the
    same database behave like several processes of one site.
    """
    import attrs

    from lms_core.services.plugins import sync_plugin_states

    made: list[LMS] = []

    def make(
        plugins: Any = (),
        enabled: tuple[str, ...] = ("*",),
        sync: bool = True,
        plugin_config: dict[str, Any] | None = None,
        **config: Any,
    ) -> LMS:
        plugin_settings = attrs.evolve(
            lms_config.plugins, enabled=tuple(enabled), **(plugin_config or {})
        )
        cfg = attrs.evolve(lms_config, plugins=plugin_settings, **config)
        site = LMS(cfg, plugins=plugins, use_entry_points=False)
        made.append(site)
        if sync:
            sync_plugin_states(site)
        return site

    try:
        yield make
    finally:
        for site in made:
            site.dispose()


class AuthActions:
    """Sign in and out through the real sign-in form (Flask tutorial style)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def login(self, email: str, password: str = DEFAULT_PASSWORD) -> Any:
        """Post the sign-in form; returns the response (302 when it worked: assert it)."""
        page = self._client.get("/auth/login")
        _assert_page(page, "/auth/login")
        token = _csrf_from(page.get_data(as_text=True))
        return self._client.post(
            "/auth/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self) -> Any:
        """Post the sign-out form from the dashboard; returns the response (302)."""
        page = self._client.get("/")
        _assert_page(page, "/")
        return self._client.post(
            "/auth/logout", data={"csrf_token": _csrf_from(page.get_data(as_text=True))}
        )


def _assert_page(response: Any, path: str) -> None:
    """A helper reads a form off a page: the page must be there (200)."""
    assert response.status_code == 200, f"GET {path} answered {response.status}, not 200"


def _csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    if match is None:
        raise AssertionError("no CSRF token on the page")
    return match.group(1)


def text_of(response: Any, status: int = 200) -> str:
    """The text of ``response``, after asserting that it answered ``status``.

    ``assert "Saved" in text_of(client.get("/page"))`` reads like the plain version, but an
    error page (or a 302 to the sign-in form) fails with its status instead of passing.
    """
    text = response.get_data(as_text=True)
    assert response.status_code == status, (
        f"{response.request.method} {response.request.path} answered {response.status}, "
        f"not {status}:\n{text[:2000]}"
    )
    return str(text)


def json_of(response: Any, status: int = 200) -> Any:
    """The JSON body of ``response``, after asserting that it answered ``status``."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.path} answered {response.status}, "
        f"not {status}:\n{response.get_data(as_text=True)[:2000]}"
    )
    return response.get_json()


def csrf_token(client: Any, path: str = "/") -> str:
    """A CSRF token for ``client``'s session, read from a page that has a form (200)."""
    page = client.get(path)
    _assert_page(page, path)
    return _csrf_from(page.get_data(as_text=True))


@pytest.fixture
def app(lms: LMS) -> Any:
    """The web app serving the test site (``lms``)."""
    from lms_core.web import create_app

    application = create_app(lms=lms)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def auth(client: Any) -> AuthActions:
    return AuthActions(client)


class EventCollector:
    """A plugin object that keeps every event delivered to it (through ``lms_on_event``).

    Load it like any plugin: ``site = lms_factory([my_plugin, collector])``; then
    ``collector.names()`` lists the delivered events' names in order.
    """

    def __init__(self, name: str = "collector") -> None:
        from lms_core.contributions import PluginInfo

        self.PLUGIN = PluginInfo(name=name, version="1.0", title="Event collector (tests)")
        self.__name__ = f"lms_core.testing.{name}"
        self.events: list[Any] = []

    @hookimpl
    def lms_on_event(self, event: Any) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [event.NAME for event in self.events]


@pytest.fixture
def event_collector() -> EventCollector:
    """An :class:`EventCollector` to pass to ``lms_factory``."""
    return EventCollector()


def run_jobs(lms: LMS, *, schedules: bool = False, limit: int = 10_000) -> int:
    """Run, in this process, every event delivery and job that is due, until none is.

    What a worker would do, for tests: short jobs in batches, long ones one at a time with
    their lease. ``schedules`` also enqueues the jobs of due schedules first (as a worker's
    loop does). Returns how many deliveries and jobs ran. Jobs retried with backoff become
    due when the ``clock`` fixture is advanced past their next attempt.
    """
    from lms_core import jobs
    from lms_core import outbox
    from lms_core.schedules import Scheduler

    if schedules:
        Scheduler(lms).tick(force=True)
    total = 0
    while total < limit:
        done = outbox.deliver_due(lms, worker="tests")
        if jobs.run_next_long_job(lms, "tests"):
            done += 1
        if done == 0:
            break
        total += done
    return total


@contextmanager
def count_statements(lms: LMS) -> Iterator[list[str]]:
    """Collect the SQL statements ``lms`` sends while the block runs (for query-count tests).

    ::

        with count_statements(site) as seen:
            client.get("/")
        assert len(seen) <= 2, seen
    """
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa_event.listen(lms.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(lms.engine, "before_cursor_execute", record)


def assert_migrations_match_models(
    site: LMS, plugin: str, tables: Iterable[str] | None = None
) -> None:
    """Fail, listing the differences, when plugin ``plugin``'s migrated tables differ from its models.

    ``site`` must have the plugin migrated (an ``lms_factory([...])`` runtime has). A column
    added to a model without a migration, or a migration that builds something the models do
    not have, fails here, in the plugin's own tests, rather than on someone's site::

        def test_the_migrations_build_what_the_models_describe(lms_factory):
            assert_migrations_match_models(lms_factory(["lms_streaks.hooks"]), "streaks")

    ``lms db revision --plugin NAME --autogenerate`` writes the missing migration.
    """
    from lms_core.migrate import plugin_schema_differences
    from lms_core.plugins import plugin_tables

    chosen = list(tables if tables is not None else plugin_tables(plugin))
    assert chosen, f"no tables named {plugin}_* are on the metadata: are the models imported?"
    differences = plugin_schema_differences(site, plugin, chosen)
    assert not differences, (
        f"{plugin}'s migrations and models differ (write a migration: "
        f"`lms db revision --plugin {plugin} --autogenerate -m '...'`):\n"
        + "\n".join(f"  {d!r}" for d in differences)
    )


class Clock:
    """The time the site sees (:func:`lms_core.db.utcnow`), frozen, and moved by the test.

    ``clock.now`` is the frozen time; ``clock.set("2026-03-01T09:00")`` jumps to another
    (a naive time is taken as UTC), ``clock.advance(days=31)`` moves it on (keyword
    arguments of :class:`datetime.timedelta`). Everything the services stamp or compare
    (enrollment and completion dates, due dates, "the last N days", retry times) follows it.
    """

    def __init__(self, start: dt.datetime) -> None:
        self.now = _aware(start)

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, when: dt.datetime | str) -> dt.datetime:
        """Jump to ``when`` (a datetime or an ISO 8601 string); returns it."""
        self.now = _aware(dt.datetime.fromisoformat(when) if isinstance(when, str) else when)
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        """Move on by ``timedelta(**delta)`` (``days=1``, ``hours=2``); returns the new time."""
        self.now += dt.timedelta(**delta)
        return self.now


def _aware(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


#: Where the ``clock`` fixture starts: a Monday morning, so tests need not know today's date.
CLOCK_START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Iterator[Clock]:
    """Freeze the site's time at :data:`CLOCK_START` for the test; see :class:`Clock`.

    ::

        def test_the_recent_board_forgets_old_points(clock, ...):
            ...  # points earned now
            clock.advance(days=31)
            ...  # the 30-day board no longer counts them
    """
    from lms_core.db import set_clock

    frozen = Clock(CLOCK_START)
    set_clock(frozen)
    try:
        yield frozen
    finally:
        set_clock(None)
