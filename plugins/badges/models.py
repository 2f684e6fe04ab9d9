"""The badges plugin's tables (all prefixed ``badges_``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import false
from sqlalchemy import true
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.db import Base
from lms_core.db import utcnow


class PointRule(Base):
    """Points for an event: ``conditions`` is a list of {"field", "op", "value"} on the event."""

    __tablename__ = "badges_point_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    event_type: Mapped[str] = mapped_column(String(120), index=True)
    conditions: Mapped[list[Any]] = mapped_column(default=list)
    points: Mapped[int] = mapped_column()
    once_per_course: Mapped[bool] = mapped_column(default=False, server_default=false())
    daily_cap: Mapped[int | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """One grant of points, pointing at the event that caused it (``key`` makes it idempotent)."""

    __tablename__ = "badges_ledger"
    __table_args__ = (Index("ix_badges_ledger_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column()
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("badges_point_rules.id", ondelete="SET NULL"), default=None
    )
    event_name: Mapped[str] = mapped_column(String(120))
    event_id: Mapped[str | None] = mapped_column(String(64), default=None)
    course_id: Mapped[int | None] = mapped_column(default=None, index=True)
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BadgeClass(Base):
    """A badge that can be earned. ``criteria`` is a list of requirement groups: every
    requirement in a group must hold (AND); any one group suffices (OR)."""

    __tablename__ = "badges_classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    criteria_text: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[list[Any]] = mapped_column(default=list)
    image: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    image_type: Mapped[str | None] = mapped_column(String(40), default=None)
    expires_days: Mapped[int | None] = mapped_column(default=None)
    repeatable: Mapped[bool] = mapped_column(default=False, server_default=false())
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="SET NULL"), default=None, index=True
    )
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Award(Base):
    """A badge held by a user: an Open Badges assertion at ``/badges/assertions/<uid>``."""

    __tablename__ = "badges_awards"
    __table_args__ = (
        UniqueConstraint("source_key"),
        Index("ix_badges_awards_user", "user_id", "awarded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    badge_id: Mapped[int] = mapped_column(
        ForeignKey("badges_classes.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: Idempotency: the same cause never awards twice (``class:<id>:user:<id>`` for once-only badges).
    source_key: Mapped[str] = mapped_column(String(200))
    awarded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    awarded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    evidence: Mapped[str] = mapped_column(Text, default="")
    #: Salt for the hashed recipient identity in the assertion.
    salt: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(Text, default=None)
    revoked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class Level(Base):
    __tablename__ = "badges_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    threshold: Mapped[int] = mapped_column(unique=True)


class LevelReached(Base):
    """Which levels a user has reached (so "level reached" is published once)."""

    __tablename__ = "badges_levels_reached"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    level_id: Mapped[int] = mapped_column(
        ForeignKey("badges_levels.id", ondelete="CASCADE"), primary_key=True
    )
    reached_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LeaderboardOptOut(Base):
    __tablename__ = "badges_optouts"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SigningKey(Base):
    """An Open Badges 3.0 signing key of the site (``algorithm`` RS256, or EdDSA for the
    Ed25519 key earlier versions made); the private part encrypted with the site secret."""

    __tablename__ = "badges_signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SubjectId(Base):
    """A learner's pseudonymous id in Open Badges 3.0 credentials (``credentialSubject.id``
    and the JWT ``sub``, as ``urn:uuid:<uuid>``): a random UUID made the first time one of
    their credentials is signed, the same in all of them, unrelated to their email or id."""

    __tablename__ = "badges_subject_ids"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EventRecord(Base):
    """An event a badge criterion may count (``{"type": "event"}``), kept per user.

    Only events of types that some badge class counts, or that another plugin contributed
    through ``badges_register_event_types``, are kept. ``key`` (the event's identity) makes a
    redelivery harmless.
    """

    __tablename__ = "badges_event_records"
    __table_args__ = (Index("ix_badges_event_records_user_name", "user_id", "event_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_name: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


MODELS = [
    PointRule,
    LedgerEntry,
    BadgeClass,
    Award,
    Level,
    LevelReached,
    LeaderboardOptOut,
    SigningKey,
    SubjectId,
    EventRecord,
]
