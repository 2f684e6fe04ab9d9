"""Template helpers: the navigation built from plugin contributions, flash categories."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import url_for
from flask_login import current_user
from werkzeug.routing import BuildError

from lms_core.services.permissions import can
from lms_core.web.db import lms


def visible(items: list[Any], user: Any) -> list[Any]:
    """Items whose ``permission`` the user holds (None: anyone), in order."""
    out = []
    for item in sorted(items, key=lambda i: (getattr(i, "order", 100), getattr(i, "label", ""))):
        permission = getattr(item, "permission", None)
        if permission is None or (user is not None and can(user, permission)):
            out.append(item)
    return out


def safe_url(endpoint: str, **values: Any) -> str | None:
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def init_app(app: Flask) -> None:
    app.jinja_env.globals["safe_url"] = safe_url

    @app.context_processor
    def _nav() -> dict[str, Any]:
        user = current_user._get_current_object() if current_user.is_authenticated else None
        runtime = lms()
        items = visible(runtime.hooks.collect("lms_nav_items", user=user), user)
        nav = [(item, safe_url(item.endpoint)) for item in items]
        return {
            "nav": [(item, url) for item, url in nav if url],
            "site_name": runtime.config.site_name,
            "can": lambda permission, course=None: (
                user is not None and can(user, permission, course)
            ),
        }
