"""Personal API tokens: a user's bearer secrets for the JSON API, stored hashed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import created_at
from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["ApiToken"]


class ApiToken(Base):
    """One personal token. Only the SHA-256 of the secret is kept; the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # sha256 hex digest of the whole secret ("lms_..."): look-ups go by this column.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret's random part, so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[created_at]
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} user={self.user_id} {self.prefix}>"
