"""Instructor pages (being built)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import render_template

from lms_core.web.decorators import requires

bp = Blueprint("teach", __name__, url_prefix="/teach")


@bp.route("/")
@requires("course.create")
def index() -> Any:
    return render_template(
        "error.html", code=200, title="Teach", text="Instructor pages are being built."
    )


@bp.route("/courses/<int:course_id>")
@requires("course.edit", course_arg="course_id")
def course(course_id: int) -> Any:
    return render_template(
        "error.html", code=200, title="Edit course", text="Instructor pages are being built."
    )
