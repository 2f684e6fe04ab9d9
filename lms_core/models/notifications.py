"""Notifications: what the site told whom, people's channel choices, and admins' per-kind rules."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import bool_false
from lms_core.columns import created_at
from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["Notification", "NotificationPreference", "NotificationKindSetting"]


class Notification(Base):
    """One thing told to one person, with the channel it went by when it was made.

    ``channel`` is ``site``, ``email`` or ``digest`` (``off`` makes no row). ``mailed_at`` is
    set once its email (or the digest holding it) was handed to the mail server.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        # The bell's unread count and the list page: one person's rows, unread first.
        Index("ix_notifications_user_read", "user_id", "read_at"),
        # The daily digest: unsent digest rows.
        Index("ix_notifications_channel_mailed", "channel", "mailed_at"),
    )

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(String(2000))
    #: A path on this site (``/courses/12``), or None.
    link: Mapped[str | None] = mapped_column(String(500), default=None)
    # Retention deletes by age.
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    mailed_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    def __repr__(self) -> str:
        return f"<Notification {self.id} user={self.user_id} {self.kind} {self.channel}>"


class NotificationPreference(Base):
    """A person's channel for one kind (absent: the kind's default)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[created_at]


class NotificationKindSetting(Base):
    """An admin's rule for one kind: a default channel other than the plugin's, mandatory."""

    __tablename__ = "notification_kind_settings"

    kind: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: None: the default the plugin declared.
    default_channel: Mapped[str | None] = mapped_column(String(10), default=None)
    mandatory: Mapped[bool_false]
    updated_at: Mapped[created_at]
