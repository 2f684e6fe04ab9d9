"""The request's unit of work: a read session for the page, a write transaction per change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from flask import g
from flask import request
from flask_login import current_user
from sqlalchemy.orm import Session

from lms_core.context import Context
from lms_core.runtime import LMS

__all__ = ["lms", "db", "read_ctx", "write", "client_address"]


def lms() -> LMS:
    runtime: LMS = current_app.extensions["lms"]
    return runtime


def db() -> Session:
    """The request's read session (closed when the request ends)."""
    if "lms_session" not in g:
        g.lms_session = lms().Session()
    session: Session = g.lms_session
    return session


def client_address() -> str | None:
    # Behind a proxy, configure werkzeug's ProxyFix (see README) so this is the client's.
    return request.remote_addr


def read_ctx() -> Context:
    """A context for service reads in this request's session, acting as the signed-in user."""
    if "lms_ctx" not in g:
        actor = current_user._get_current_object() if current_user.is_authenticated else None
        g.lms_ctx = Context(
            session=db(), hooks=lms().hooks, actor=actor, address=client_address(), lms=lms()
        )
    ctx: Context = g.lms_ctx
    return ctx


@contextmanager
def write() -> Iterator[Context]:
    """A write transaction acting as the signed-in user; events are delivered after commit."""
    actor = current_user._get_current_object() if current_user.is_authenticated else None
    with lms().transaction(actor, address=client_address()) as ctx:
        yield ctx
    # The page's read session may hold an older snapshot (SQLite WAL keeps one per read
    # transaction): end it, so what the page reads next includes this write.
    if "lms_session" in g:
        g.lms_session.rollback()


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("lms_session", None)
    g.pop("lms_ctx", None)
    if session is not None:
        session.close()
