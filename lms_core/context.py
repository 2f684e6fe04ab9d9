"""The unit of work services run in: a session, who is acting, and the hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import TypeVar

from attrs import define
from attrs import field
from sqlalchemy import inspect
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from lms_core.hooks.caller import Hooks
    from lms_core.models import User

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
    #: Outbox event ids written in this unit of work, delivered after commit.
    event_ids: list[int] = field(factory=list)
    #: Set by a service that raises an error but whose writes so far must stand (a failed
    #: sign-in still counts towards lock-out and is audited). Checked by ``LMS.transaction``.
    commit_on_error: bool = False

    def attach(self, obj: T) -> T:
        """``obj`` as an instance of this unit of work's session (loaded elsewhere is fine)."""
        state = inspect(obj)
        if state.session_id == self.session.hash_key:
            return obj
        if state.key is not None and state.key in self.session.identity_map:
            return self.session.identity_map[state.key]  # type: ignore[return-value]
        return self.session.merge(obj, load=False)

    @property
    def actor_id(self) -> int | None:
        return self.actor.id if self.actor is not None else None

    @property
    def actor_label(self) -> str:
        if self.actor is not None:
            return self.actor.email
        return "system" if self.system else "anonymous"
