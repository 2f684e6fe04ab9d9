"""Benchmark ``lms users import`` against a raw SQLAlchemy Core insert of the same rows.

    .venv/bin/python bench/import_users.py [--users 100000] [--database-url postgresql://...]

Generates a CSV of N users (no passwords), each in one of 20 groups and enrolled in 3 of 6
courses. Then, each on a fresh database of the same kind (SQLite files in a temp dir by
default; scratch databases created and dropped on the PostgreSQL server given):

* import: ``import_users_csv`` on the file (parsing, checking, users, learner roles, groups,
  memberships, enrollments, outbox events, audit entry; one transaction);
* raw: one Core ``insert()`` ``executemany`` per table of the same users, memberships and
  enrollments with the same column values, with ids chosen up front (the floor).

Prints human lines, then one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy import create_engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lms_core.config import load_config
from lms_core.db import normalise_url
from lms_core.db import utcnow
from lms_core.importer import import_users_csv
from lms_core.migrate import upgrade
from lms_core.models import Enrollment
from lms_core.models import Group
from lms_core.models import GroupMember
from lms_core.models import OutboxEvent
from lms_core.models import User
from lms_core.runtime import LMS
from lms_core.services import courses
from lms_core.services.roles import ensure_builtin_roles

N_GROUPS = 20
COURSES = ["SAFE-101", "GDPR-1", "ETHICS", "SEC-AWARE", "ONBOARD", "FIRE-1"]
BATCH = 20000


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def make_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email", "name", "department", "location", "job_title", "groups", "courses"])
        for i in range(n):
            picks = [COURSES[(i + k) % len(COURSES)] for k in range(3)]
            w.writerow(
                [
                    f"user{i}@example.com",
                    f"User {i}",
                    f"Dept {i % 12}",
                    f"City {i % 7}",
                    "Engineer",
                    f"Team {i % N_GROUPS}",
                    ";".join(picks),
                ]
            )


def make_lms(url: str) -> LMS:
    return LMS(load_config(env={}, overrides={"database": {"url": url}}))


def prepare(url: str) -> dict[str, int]:
    """Schema, built-in roles and the courses; returns course ids by code."""
    lms = make_lms(url)
    try:
        upgrade(lms)
        with lms.transaction(system=True) as ctx:
            ensure_builtin_roles(ctx)
            ids = {}
            for code in COURSES:
                course = courses.create_course(ctx, code, f"Course {code}")
                courses.add_lesson(ctx, course, "Lesson 1", body="Text")
                courses.publish_course(ctx, course)
                ids[code] = course.id
        return ids
    finally:
        lms.dispose()


def run_import(url: str, csv_path: Path) -> tuple[float, dict[str, Any]]:
    lms = make_lms(url)
    try:
        start = time.perf_counter()
        report = import_users_csv(lms, csv_path)
        elapsed = time.perf_counter() - start
        assert not report.bad_rows, list(report.problem_lines())[:5]
        with lms.session() as s:
            counts = {
                "users": s.scalar(select(func.count()).select_from(User)),
                "memberships": s.scalar(select(func.count()).select_from(GroupMember)),
                "enrollments": s.scalar(select(func.count()).select_from(Enrollment)),
                "outbox_events": s.scalar(select(func.count()).select_from(OutboxEvent)),
            }
        print(f"  {report.summary()}")
        return elapsed, counts
    finally:
        lms.dispose()


def run_raw(url: str, n: int, course_ids: dict[str, int]) -> float:
    """The floor: Core executemany of the same rows, ids chosen up front, one transaction."""
    lms = make_lms(url)
    engine = lms.engine
    try:
        now = utcnow()
        with engine.begin() as conn:
            conn.execute(
                insert(_table(Group)),
                [
                    {
                        "name": f"Team {g}",
                        "name_key": f"team {g}",
                        "kind": "custom",
                        "description": "",
                        "rule": None,
                        "created_at": now,
                    }
                    for g in range(N_GROUPS)
                ],
            )
            group_ids = {name: gid for gid, name in conn.execute(select(Group.id, Group.name_key))}
        start = time.perf_counter()
        with engine.begin() as conn:
            first = int(conn.scalar(select(func.coalesce(func.max(User.id), 0))) or 0) + 1
            users = [
                {
                    "id": first + i,
                    "email": f"user{i}@example.com",
                    "email_key": f"user{i}@example.com",
                    "name": f"User {i}",
                    "password_hash": None,
                    "is_active": True,
                    "department": f"Dept {i % 12}",
                    "location": f"City {i % 7}",
                    "job_title": "Engineer",
                    "manager_id": None,
                    "timezone": "UTC",
                    "locale": "en",
                    "created_at": now,
                    "updated_at": None,
                    "last_login_at": None,
                    "deactivated_at": None,
                    "session_version": 1,
                }
                for i in range(n)
            ]
            members = [
                {
                    "group_id": group_ids[f"team {i % N_GROUPS}"],
                    "user_id": first + i,
                    "source": "import",
                    "added_at": now,
                }
                for i in range(n)
            ]
            enrollments = [
                {
                    "user_id": first + i,
                    "course_id": course_ids[COURSES[(i + k) % len(COURSES)]],
                    "status": "active",
                    "source": "import",
                    "enrolled_at": now,
                    "due_at": None,
                    "completed_at": None,
                    "withdrawn_at": None,
                    "enrolled_by_id": None,
                }
                for i in range(n)
                for k in range(3)
            ]
            for table, rows in (
                (_table(User), users),
                (_table(GroupMember), members),
                (_table(Enrollment), enrollments),
            ):
                for s in range(0, len(rows), BATCH):
                    conn.execute(insert(table), rows[s : s + BATCH])
        return time.perf_counter() - start
    finally:
        lms.dispose()


def fresh_databases(base_url: str | None, tmp: Path) -> tuple[list[str], Callable[[], None]]:
    if base_url is None:
        return [f"sqlite:///{tmp / 'import.sqlite3'}", f"sqlite:///{tmp / 'raw.sqlite3'}"], (
            lambda: None
        )
    parsed = make_url(normalise_url(base_url))
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a postgresql:// URL (SQLite is the default)")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    names = [f"lms_bench_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("import", "raw")]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    urls = [parsed.set(database=name).render_as_string(hide_password=False) for name in names]
    return urls, drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server to use")
    args = parser.parse_args(argv)
    n = args.users
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        csv_path = tmp / "users.csv"
        make_csv(csv_path, n)
        (import_url, raw_url), drop = fresh_databases(args.database_url, tmp)
        try:
            kind = make_url(normalise_url(import_url)).get_backend_name()
            print(f"{n:,} users, {N_GROUPS} groups, 3 of {len(COURSES)} courses each, on {kind}")
            prepare(import_url)
            raw_course_ids = prepare(raw_url)
            import_s, counts = run_import(import_url, csv_path)
            print(f"import:     {import_s:8.2f} s  {counts}")
            raw_s = run_raw(raw_url, n, raw_course_ids)
            rows = n * 5
            print(f"raw insert: {raw_s:8.2f} s  ({rows:,} rows: users, memberships, enrollments)")
            ratio = import_s / raw_s
            print(f"ratio:      {ratio:8.2f}x")
        finally:
            drop()
    figures = {
        "users": n,
        "database": kind,
        "import_s": round(import_s, 3),
        "raw_insert_s": round(raw_s, 3),
        "ratio": round(ratio, 3),
        "outbox_events": counts["outbox_events"],
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
