"""A line manager's team: the people who report to them (``users.manager_id``), and theirs.

Reads only; enrolling team members goes through :mod:`lms_core.services.enrollments`, which
lets a line manager enroll (and withdraw) their direct reports.
"""

from __future__ import annotations

from sqlalchemy import Select
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased
from sqlalchemy.orm import object_session

from lms_core.models import User

__all__ = ["MAX_DEPTH", "manages_anyone", "team_ids", "direct_report_ids"]

#: How many levels below the manager "their reports too" reaches (deeper is left out, so a
#: management loop a database edit made cannot make the query run away).
MAX_DEPTH = 8

_CACHE_KEY = "lms.manages"


def manages_anyone(user: User | None) -> bool:
    """Whether ``user`` is the line manager of at least one active person (the "My team"
    link). One indexed query per user per transaction, cached in ``session.info``."""
    if user is None or not user.is_active:
        return False
    session = object_session(user)
    if session is None:
        raise RuntimeError("manages_anyone() needs a user loaded in a session")
    cache: dict[int, bool] = session.info.setdefault(_CACHE_KEY, {})
    if user.id not in cache:
        cache[user.id] = (
            session.scalar(
                select(User.id).where(User.manager_id == user.id, User.is_active.is_(True)).limit(1)
            )
            is not None
        )
    return cache[user.id]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_CACHE_KEY, None)


def team_ids(manager_id: int, *, indirect: bool = False) -> Select[int, int]:
    """``(user_id, depth)`` of the people below ``manager_id``: depth 1 are their direct
    reports; with ``indirect``, also their reports' reports, down to :data:`MAX_DEPTH`
    levels. Deactivated people are included (the page says so); each person once, at the
    shallowest depth they are found.
    """
    if not indirect:
        return select(User.id.label("user_id"), literal(1).label("depth")).where(
            User.manager_id == manager_id
        )
    below = (
        select(User.id.label("user_id"), literal(1).label("depth"))
        .where(User.manager_id == manager_id)
        .cte("team", recursive=True)
    )
    report = aliased(User)
    below = below.union_all(
        select(report.id, below.c.depth + 1)
        .join(below, report.manager_id == below.c.user_id)
        .where(below.c.depth < MAX_DEPTH)
    )
    return (
        select(below.c.user_id, func.min(below.c.depth).label("depth"))
        .where(below.c.user_id != manager_id)
        .group_by(below.c.user_id)
    )


def direct_report_ids(session: Session, manager_id: int) -> set[int]:
    """Ids of the active people who report to ``manager_id`` directly."""
    return set(
        session.scalars(
            select(User.id).where(User.manager_id == manager_id, User.is_active.is_(True))
        )
    )
