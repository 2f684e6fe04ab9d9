"""The unit of work services run in: a session, who is acting, and the hooks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from attrs import define
from attrs import field
from sqlalchemy import inspect
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from lms_core.hooks.caller import Hooks
    from lms_core.models import User
    from lms_core.runtime import LMS

__all__ = ["Context"]

T = TypeVar("T")


@define(kw_only=True)
class Context:
    """Passed to every service function.

    ``actor`` is the signed-in user acting (None for anonymous); ``system`` marks work done by
    the site itself (CLI, imports, workers) which needs no permission. ``address`` is the
    client IP for the audit log. Events recorded during the unit of work are delivered after
    it commits (see :mod:`lms_core.outbox`).
    """

    session: Session
    hooks: Hooks
    actor: User | None = None
    address: str | None = None
    system: bool = False
    #: The runtime, for plugins that need their settings or configuration.
    lms: LMS | None = None
    #: Outbox event ids written in this unit of work, delivered after commit.
    event_ids: list[int] = field(factory=list)
    #: Set by a service that raises an error but whose writes so far must stand (a failed
    #: sign-in still counts towards lock-out and is audited). Checked by ``LMS.transaction``.
    commit_on_error: bool = False
    #: Work to do once this unit of work has committed, and only then (deleting a file's
    #: bytes once no row names them). Run by ``LMS.transaction``; failures are logged.
    after_commit: list[Callable[[], None]] = field(factory=list)

    def attach(self, obj: T) -> T:
        """``obj`` as an instance of this unit of work's session (loaded elsewhere is fine).

        An object loaded in another session is read again from the database (or taken from
        this session's identity map): its detached copy may be stale, and services check
        invariants (is the user active? is the course archived?) on what they get back.
        """
        state = inspect(obj)
        if state.session_id == self.session.hash_key:
            return obj
        if state.key is not None:
            cls = state.mapper.class_
            fresh = self.session.get(cls, state.identity)
            if fresh is None:
                from lms_core.errors import NotFound

                raise NotFound(f"That {cls.__name__.lower()} does not exist any more.")
            return fresh
        return self.session.merge(obj)

    def settings(self, plugin: str) -> Any:
        """The settings object of ``plugin`` (its ``PluginInfo.settings`` class, validated)."""
        if self.lms is None:
            raise RuntimeError("this unit of work has no runtime attached")
        from lms_core.services.plugins import settings_for

        return settings_for(self.lms, plugin)

    def enqueue(
        self,
        job: str,
        payload: Any,
        *,
        key: str | None = None,
        run_at: dt.datetime | None = None,
        requested_by: int | None = None,
    ) -> int | None:
        """Ask for background job ``job`` with ``payload``, run after this unit of work commits.

        One INSERT in this transaction: if it rolls back, the job was never asked for. A
        worker runs it (never this request). ``key`` is its idempotency key: the same
        (job, key) is enqueued once (None is returned the second time); by default every call
        gets a new one. ``run_at`` delays it; ``requested_by`` (a user id) is told when a
        job finishes (the ``lms.job.finished.v1`` event). Returns the job's id.
        """
        from lms_core.jobs import enqueue

        return enqueue(self, job, payload, key=key, run_at=run_at, requested_by=requested_by)

    @property
    def actor_id(self) -> int | None:
        return self.actor.id if self.actor is not None else None

    @property
    def actor_label(self) -> str:
        if self.actor is not None:
            return self.actor.email
        return "system" if self.system else "anonymous"
