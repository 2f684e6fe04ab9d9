"""Roles bundle permissions; assignments give a role to a user at site or course scope."""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import bool_false
from lms_core.columns import created_at
from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["Role", "RolePermission", "RoleAssignment", "KnownPermission", "ALL_PERMISSIONS"]

#: A role holding this pseudo-permission holds every permission, including plugins' ones.
ALL_PERMISSIONS = "*"


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    builtin: Mapped[bool_false]
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<Role {self.name}>"


class RolePermission(Base):
    __tablename__ = "role_permissions"

    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    permission: Mapped[str] = mapped_column(String(100), primary_key=True)


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (
        # One assignment per (user, role, scope); NULL course means site scope, and NULLs are
        # distinct in unique constraints, so site scope gets its own partial index.
        Index(
            "uq_role_assignments_site",
            "user_id",
            "role_id",
            unique=True,
            sqlite_where=text("course_id IS NULL"),
            postgresql_where=text("course_id IS NULL"),
        ),
        Index("uq_role_assignments_course", "user_id", "role_id", "course_id", unique=True),
    )

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True, default=None
    )
    assigned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    assigned_at: Mapped[created_at]


class KnownPermission(Base):
    """Permissions the site has already seen: their default role grants were applied once,
    so an admin who later removes one from a built-in role is not overruled on restart."""

    __tablename__ = "known_permissions"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    first_seen_at: Mapped[created_at]
