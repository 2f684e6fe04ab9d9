"""Annotated column aliases shared by core and plugin models."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from sqlalchemy import false
from sqlalchemy import true
from sqlalchemy.orm import mapped_column

from lms_core.db import utcnow

__all__ = ["intpk", "created_at", "bool_false", "bool_true"]

intpk = Annotated[int, mapped_column(primary_key=True)]
created_at = Annotated[dt.datetime, mapped_column(default=utcnow, nullable=False)]
bool_false = Annotated[bool, mapped_column(default=False, server_default=false(), nullable=False)]
bool_true = Annotated[bool, mapped_column(default=True, server_default=true(), nullable=False)]
