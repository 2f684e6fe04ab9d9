"""The hello plugin's one page: the courses its user was congratulated on."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import render_template_string
from flask_login import current_user
from lms_core.models import AuditEntry
from lms_core.web.db import read_ctx
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import requires
from sqlalchemy import select

bp = Blueprint("hello", __name__, url_prefix="/hello")

#: Inline so the example needs no package data; a real plugin keeps templates/<name>/.
PAGE = """{% extends "base.html" %}
{% block title %}Hello{% endblock %}
{% block content %}
<h1>Hello, {{ name }}</h1>
{% if courses %}
<p>Congratulations on completing:</p>
<ul>{% for code in courses %}<li>{{ code }}</li>{% endfor %}</ul>
{% else %}
<p>Complete a course and you will be congratulated here.</p>
{% endif %}
{% endblock %}"""


@bp.route("/")
@requires(SIGNED_IN)
def index() -> Any:
    from lms_hello.hooks import CONGRATULATED

    details = read_ctx().session.scalars(
        select(AuditEntry.details)
        .where(
            AuditEntry.action == CONGRATULATED,
            AuditEntry.target_type == "user",
            AuditEntry.target_id == str(current_user.id),
        )
        .order_by(AuditEntry.id)
    )
    courses = [d.get("course") for d in details if d.get("course")]
    return render_template_string(PAGE, name=current_user.display_name, courses=courses)
