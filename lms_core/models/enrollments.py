"""Enrollments (user x course) and lesson progress."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from lms_core.columns import intpk
from lms_core.db import Base
from lms_core.models.courses import Course
from lms_core.models.users import User

__all__ = ["Enrollment", "EnrollmentStatus", "EnrollmentSource", "LessonProgress"]


class EnrollmentStatus(enum.StrEnum):
    PENDING = "pending"  # asked for, waiting for approval
    ACTIVE = "active"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class EnrollmentSource(enum.StrEnum):
    SELF = "self"
    MANAGER = "manager"
    GROUP = "group"
    IMPORT = "import"
    API = "api"
    SSO = "sso"


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("user_id", "course_id"),
        # Completion-rate and capacity queries filter by course and status.
        Index("ix_enrollments_course_status", "course_id", "status"),
    )

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default=EnrollmentStatus.ACTIVE.value)
    source: Mapped[str] = mapped_column(String(10), default=EnrollmentSource.SELF.value)
    enrolled_at: Mapped[dt.datetime] = mapped_column()
    due_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    enrolled_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    course: Mapped[Course] = relationship()

    def is_overdue(self, now: dt.datetime) -> bool:
        return (
            self.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING)
            and self.due_at is not None
            and self.due_at < now
        )

    def __repr__(self) -> str:
        return f"<Enrollment {self.id} user={self.user_id} course={self.course_id} {self.status}>"


class LessonProgress(Base):
    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("enrollment_id", "lesson_id"),)

    id: Mapped[intpk]
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    completed_at: Mapped[dt.datetime] = mapped_column()
