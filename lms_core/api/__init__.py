"""The JSON API under /api/v1 (being built)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import jsonify

from lms_core.web.decorators import public

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.route("/openapi.json")
@public
def openapi() -> Any:
    return jsonify(
        {"openapi": "3.1.0", "info": {"title": "lms-core", "version": "0.1.0"}, "paths": {}}
    )
