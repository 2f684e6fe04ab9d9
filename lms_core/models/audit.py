"""The audit log: an append-only record of admin and security actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy import event
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["AuditEntry"]


class AuditEntry(Base):
    """Who did what, to whom, when and from which address.

    Actor and target are stored as ids *and* labels with no foreign keys, so an entry
    still reads correctly after the people and things it names are gone.
    """

    __tablename__ = "audit_log"

    id: Mapped[intpk]
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(index=True, default=None)
    actor_label: Mapped[str] = mapped_column(String(254), default="system")
    action: Mapped[str] = mapped_column(String(80), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40), default=None)
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    target_label: Mapped[str | None] = mapped_column(String(254), default=None)
    address: Mapped[str | None] = mapped_column(String(45), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


@event.listens_for(Session, "before_flush")
def _audit_log_is_append_only(session: Session, _flush_context: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("the audit log is append-only: entries cannot be changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _audit_log_refuses_bulk_changes(orm_execute_state: ORMExecuteState) -> None:
    # ``session.execute(update(AuditEntry))`` / ``delete(AuditEntry)`` skip the flush check above.
    # (Retention, lms_core.retention, deletes entries past [retention] audit_days through the
    # table itself: the one deleter there is.)
    if orm_execute_state.is_update or orm_execute_state.is_delete:
        mapper = orm_execute_state.bind_mapper
        if mapper is not None and mapper.class_ is AuditEntry:
            raise RuntimeError("the audit log is append-only: entries cannot be changed or deleted")
