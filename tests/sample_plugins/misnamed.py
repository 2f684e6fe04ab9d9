"""Registers a model whose table lacks the plugin's prefix: refused."""

from __future__ import annotations

from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from lms_core import PluginInfo
from lms_core import hookimpl
from lms_core.db import Base

PLUGIN = PluginInfo(name="misnamed", version="1.0", title="Misnamed")


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(primary_key=True)


@hookimpl
def lms_register_models():
    return [Thing]
