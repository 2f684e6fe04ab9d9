"""Admin pages (being built)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import render_template

from lms_core.web.decorators import requires

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@requires("user.view")
def index() -> Any:
    return render_template(
        "error.html", code=200, title="Admin", text="Admin pages are being built."
    )
