"""Shared fixtures. The database fixtures (``lms``, ``factory``, ...) come from
:mod:`lms_core.testing`, the same pytest plugin third-party plugin authors use."""

from __future__ import annotations

import os

import pytest

ON_POSTGRES = bool(os.environ.get("LMS_TEST_DATABASE_URL"))

postgres_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL (set LMS_TEST_DATABASE_URL)"
)
