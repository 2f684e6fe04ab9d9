"""Which installed plugins are on, kept in the database so every process agrees."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.columns import intpk
from lms_core.db import Base

__all__ = ["PluginState", "PluginStateVersion"]


class PluginState(Base):
    """One row per plugin the site has ever seen; ``enabled`` False is an explicit choice
    that survives upgrades (a plugin an admin turned off stays off)."""

    __tablename__ = "plugin_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    migrated_version: Mapped[str | None] = mapped_column(String(40), default=None)
    changed_at: Mapped[dt.datetime] = mapped_column()
    changed_by: Mapped[str | None] = mapped_column(String(254), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class PluginStateVersion(Base):
    """A single-row counter bumped on every toggle: processes compare it on each request
    (one cheap primary-key read) and reload their enabled set only when it moved."""

    __tablename__ = "plugin_state_version"

    id: Mapped[intpk]
    version: Mapped[int] = mapped_column(default=0)
