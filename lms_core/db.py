"""Database plumbing: the shared declarative ``Base``, engines and sessions.

SQLite is the embedded default (WAL journal, foreign keys on, write transactions started with
``BEGIN IMMEDIATE`` so two writers queue instead of failing); PostgreSQL is the production
database, reached through psycopg 3.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import JSON
from sqlalchemy import DateTime
from sqlalchemy import Engine
from sqlalchemy import MetaData
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import types
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

__all__ = ["Base", "UTCDateTime", "make_engine", "make_sessionmaker", "utcnow", "is_sqlite"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: What :func:`utcnow` answers instead of the wall clock, when set (by :func:`set_clock`).
_clock: Callable[[], dt.datetime] | None = None


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (the only kind of time the core stores).

    Every service (and every column default) reads the time here, so a test that freezes
    it with :func:`set_clock` (the ``clock`` fixture of :mod:`lms_core.testing`) moves the
    whole site's idea of "now": dates stored, deadlines, "the last 30 days", retry times.
    """
    if _clock is not None:
        return _clock()
    return dt.datetime.now(dt.UTC)


def set_clock(clock: Callable[[], dt.datetime] | None) -> None:
    """Make :func:`utcnow` answer ``clock()`` (aware UTC datetimes); None restores real time.

    For tests: the ``clock`` fixture calls it and undoes it afterwards.
    """
    global _clock
    _clock = clock


class UTCDateTime(types.TypeDecorator[dt.datetime]):
    """Stores UTC; always hands back timezone-aware UTC datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the core stores timezone-aware UTC only")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """The one declarative base: core and plugin models share its metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def is_sqlite(engine_or_session: Engine | Session) -> bool:
    bind = (
        engine_or_session.get_bind()
        if isinstance(engine_or_session, Session)
        else engine_or_session
    )
    return bind.dialect.name == "sqlite"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for a bare ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    """Create the engine for ``url`` with the project's per-database policy applied.

    JSON columns (event payloads, audit details) are encoded with orjson: the outbox writes
    one payload per event, and the standard library's encoder was most of a bulk import's
    outbox cost.
    """
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling issues BEGIN lazily and cannot do BEGIN IMMEDIATE;
    # take it over (the documented SQLAlchemy recipe) so write units of work can reserve the
    # database up front and wait on busy_timeout instead of failing with "database is locked".
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("sqlite_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get("sqlite_lazy_write"):
            conn.exec_driver_sql("BEGIN")

    # ``sqlite_lazy_write`` (long background jobs): no snapshot is held while the job reads,
    # each statement sees what is committed (PostgreSQL's READ COMMITTED), and the write lock
    # is taken at the first write. A job computing for seconds neither holds the lock that
    # long nor fails at its first write because another connection wrote meanwhile.
    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(
        conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        if not conn.get_execution_options().get("sqlite_lazy_write"):
            return
        dbapi_connection = conn.connection.dbapi_connection
        if dbapi_connection.in_transaction:
            return
        if statement.lstrip()[:6].upper() not in ("SELECT", "PRAGMA"):
            dbapi_connection.execute("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions keep loaded objects usable after commit (views render them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)
