"""Users: people who sign in, learn, teach and administer."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import bool_true
from lms_core.columns import created_at
from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["User", "PROFILE_ATTRIBUTES"]

#: User attributes that admins group people by (and that group rules may test).
PROFILE_ATTRIBUTES = ("department", "location", "job_title")


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased email: uniqueness and look-ups are case-insensitive on every database.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # argon2id hash; NULL for accounts that only sign in through single sign-on.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    is_active: Mapped[bool_true]
    department: Mapped[str | None] = mapped_column(String(120), index=True, default=None)
    location: Mapped[str | None] = mapped_column(String(120), index=True, default=None)
    job_title: Mapped[str | None] = mapped_column(String(120), default=None)
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[created_at]
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Every signed-in session names the version it started under; bumping it ends them all
    # (lms_core.services.sessions).
    session_version: Mapped[int] = mapped_column(default=1, server_default=text("1"))

    if TYPE_CHECKING:
        #: The session this instance was loaded for, set by the web layer (not a column).
        session_token: str | None

    # Flask-Login's user protocol (the web layer relies on it; harmless elsewhere).
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """Flask-Login's id, kept in its cookies: the session token, so that the cookies name
        one session of this user, which can end without the user changing."""
        token = self.__dict__.get("session_token")
        if token is None:
            raise RuntimeError("start a session first (lms_core.services.sessions.start_session)")
        return str(token)

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"
