"""Groups (cohorts): named sets of users, filled by hand, by import or by an attribute rule."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import created_at
from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["Group", "GroupKind", "GroupMember", "MembershipSource", "GroupCourse"]


class GroupKind(enum.StrEnum):
    DEPARTMENT = "department"
    LOCATION = "location"
    JOB_FUNCTION = "job_function"
    CUSTOM = "custom"


class MembershipSource(enum.StrEnum):
    MANUAL = "manual"
    IMPORT = "import"
    RULE = "rule"


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=GroupKind.CUSTOM.value)
    description: Mapped[str] = mapped_column(Text, default="")
    # {"department": "Sales", "location": "Berlin"}: every condition must hold. NULL = no rule.
    rule: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<Group {self.id} {self.name}>"


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    source: Mapped[str] = mapped_column(String(10), default=MembershipSource.MANUAL.value)
    added_at: Mapped[dt.datetime] = mapped_column()


class GroupCourse(Base):
    """A course the group is enrolled in: members who join later are enrolled too."""

    __tablename__ = "group_courses"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[created_at]
