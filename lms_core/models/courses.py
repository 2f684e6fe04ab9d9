"""Courses and their lessons."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from lms_core.columns import bool_true
from lms_core.columns import created_at
from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["Course", "CourseStatus", "EnrollmentPolicy", "CourseTag", "Lesson"]


class CourseStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class EnrollmentPolicy(enum.StrEnum):
    OPEN = "open"  # learners enroll themselves
    APPROVAL = "approval"  # learners ask; a manager or instructor approves
    MANAGERS = "managers"  # only people with enrollment.manage enroll others


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(40))
    # Upper-cased code: codes are unique and looked up case-insensitively.
    code_key: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(100), index=True, default=None)
    status: Mapped[str] = mapped_column(String(12), default=CourseStatus.DRAFT.value, index=True)
    enrollment_policy: Mapped[str] = mapped_column(String(12), default=EnrollmentPolicy.OPEN.value)
    capacity: Mapped[int | None] = mapped_column(default=None)
    # Compliance training: an enrollment is due this many days after it starts.
    due_days: Mapped[int | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[created_at]
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    archived_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    tag_rows: Mapped[list[CourseTag]] = relationship(
        cascade="all, delete-orphan", order_by="CourseTag.tag", lazy="selectin"
    )
    lessons: Mapped[list[Lesson]] = relationship(
        back_populates="course", order_by="Lesson.position", cascade="all, delete-orphan"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    def __repr__(self) -> str:
        return f"<Course {self.code}>"


class CourseTag(Base):
    __tablename__ = "course_tags"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(60), primary_key=True, index=True)


class Lesson(Base):
    __tablename__ = "lessons"
    __table_args__ = (Index("ix_lessons_course_position", "course_id", "position"),)

    id: Mapped[intpk]
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(200))
    # Open-ended: "page" and "link" ship with the core; plugins register more kinds.
    kind: Mapped[str] = mapped_column(String(50))
    required: Mapped[bool_true]
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2000), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_at]
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    course: Mapped[Course] = relationship(back_populates="lessons")

    def __repr__(self) -> str:
        return f"<Lesson {self.id} {self.kind} {self.title!r}>"
