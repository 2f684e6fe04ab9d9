"""The web UI: a Flask application factory over the core's services.

``create_app()`` builds one app per process; the runtime (:class:`~lms_core.runtime.LMS`)
lives on ``app.extensions["lms"]``. Views parse input, call a service and render; they never
write rows themselves. Every view declares its permission (see :mod:`.decorators`) and the
factory refuses to build an app with an undeclared route.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask import abort
from flask import request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from lms_core.config import Config
from lms_core.config import load_config
from lms_core.runtime import LMS
from lms_core.services.sessions import SESSION_LIFETIME
from lms_core.site_key import site_secret_key
from lms_core.web import db as web_db
from lms_core.web.decorators import access_of
from lms_core.web.params import refuse_unstorable_input
from lms_core.web.routing import register_converters

__all__ = ["create_app", "csrf", "login_manager"]

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"


def _secret_key(config: Config) -> str:
    """The site's secret key (see :func:`lms_core.site_key.site_secret_key`)."""
    return site_secret_key(config)


def create_app(
    config: Config | Mapping[str, Any] | None = None,
    *,
    lms: LMS | None = None,
    plugins: tuple[Any, ...] = (),
    use_entry_points: bool = True,
) -> Flask:
    """Build the web app.

    :param config: a :class:`Config`, a nested dict of overrides (tests), or None to load the
        configuration from the file and environment.
    :param lms: an existing runtime to serve (tests); built from ``config`` otherwise.
    """
    if lms is None:
        if config is None or isinstance(config, Mapping):
            config = load_config(overrides=config)
        lms = LMS(config, plugins=plugins, use_entry_points=use_entry_points)
    cfg = lms.config
    app = Flask(
        "lms_core",
        instance_path=str(Path(cfg.instance_path).resolve()),
        static_folder=str(Path(__file__).parent.parent / "static"),
        template_folder=str(Path(__file__).parent.parent / "templates"),
    )
    register_converters(app)  # before any blueprint: every route's <id:...> is bounded
    secure = cfg.base_url.startswith("https://")
    app.config.update(
        SECRET_KEY=_secret_key(cfg),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_DURATION=SESSION_LIFETIME,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead of a clock
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    app.extensions["lms"] = lms
    # Any app.test_client() fails the test on a 5xx (see lms_core.web.testclient).
    from lms_core.web.testclient import LMSClient

    app.test_client_class = LMSClient

    csrf.init_app(app)
    login_manager.init_app(app)
    app.teardown_appcontext(web_db.close_session)

    from lms_core.web import errors
    from lms_core.web import files
    from lms_core.web import security
    from lms_core.web import templating
    from lms_core.web.auth import bp as auth_bp

    app.extensions["lms_limiter"] = lms.limiter
    security.init_app(app)
    errors.init_app(app)
    files.init_app(app)  # before any before_request reads a form: upload views' size limit
    app.before_request(refuse_unstorable_input)
    templating.init_app(app)
    app.register_blueprint(auth_bp)
    for blueprint in _core_blueprints():
        app.register_blueprint(blueprint)
    _register_plugin_blueprints(app, lms)

    @app.before_request
    def _pick_up_plugin_toggles() -> None:
        lms.refresh_plugins()
        owner = app.extensions["lms_blueprint_plugins"].get(request.blueprint or "")
        if owner is not None and not lms.plugin_enabled(owner):
            abort(404)

    _check_every_route_declares_access(app)
    return app


def _core_blueprints() -> list[Any]:
    from lms_core.web import pages

    return list(pages.BLUEPRINTS)


def _register_plugin_blueprints(app: Flask, lms: LMS) -> None:
    """Mount every installed plugin's blueprints once; disabled plugins' routes answer 404."""
    owners: dict[str, str] = {}
    for plugin, fn in lms.hooks.implementations("lms_register_blueprints", include_disabled=True):
        for blueprint in fn() or ():
            app.register_blueprint(blueprint)
            owners[blueprint.name] = plugin
    app.extensions["lms_blueprint_plugins"] = owners


def _check_every_route_declares_access(app: Flask) -> None:
    missing = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and not rule.endpoint.endswith(".static")
        and access_of(app.view_functions[rule.endpoint]) is None
    ]
    if missing:
        raise RuntimeError(
            "these routes do not declare who may use them (@public or @requires(...)): "
            + ", ".join(sorted(missing))
        )
