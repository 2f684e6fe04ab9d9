"""Keeps notes about users but implements no privacy hooks: must be refused."""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core.contributions import PluginInfo
from lms_core.db import Base

PLUGIN = PluginInfo(name="nosy", version="1.0", title="Nosy")


class NosyNote(Base):
    __tablename__ = "nosy_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
