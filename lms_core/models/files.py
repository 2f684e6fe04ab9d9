"""Stored files: one row per upload, the bytes content-addressed in the file store."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import created_at
from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["StoredFile"]


class StoredFile(Base):
    """A file some plugin stored for a purpose (its ``use``, such as ``core.lesson``).

    The bytes live in the file store under their SHA-256 (the same bytes are kept once,
    however many rows name them); ``content_type`` is what sniffing the bytes found, never
    what the uploader claimed. ``filename`` is shown and offered on download only.
    """

    __tablename__ = "files"

    id: Mapped[intpk]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str] = mapped_column(String(255))
    #: ``<plugin>.<use>`` as declared by ``lms_register_file_uses``.
    use: Mapped[str] = mapped_column(String(100), index=True)
    #: The person the file is about (a certificate, an attachment): in their privacy export,
    #: removed on their erasure. None for course material.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None
    )
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True, default=None
    )
    created_at: Mapped[created_at]
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    def __repr__(self) -> str:
        return f"<StoredFile {self.id} {self.use} {self.content_type} {self.size}B>"
