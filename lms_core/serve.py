"""Serving the web app: gunicorn in production, werkzeug for development.

``lms serve`` runs :class:`GunicornApp`, a small embedding of gunicorn
(:class:`gunicorn.app.base.BaseApplication`): every worker process builds its own app with
:func:`lms_core.web.create_app` (configuration from ``LMS_CONFIG`` and the ``LMS_*``
environment, exactly as a stand-alone ``gunicorn 'lms_core.web:create_app()'`` would), so no
database connection or runtime is shared across a fork. ``--dev`` serves one process with
werkzeug's threaded server instead (no reloader), which also works where gunicorn does not
(Windows).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

__all__ = ["GunicornApp", "default_workers", "serve", "serve_dev", "serve_gunicorn"]


def default_workers() -> int:
    """Two workers: enough to overlap a slow request without a lot of memory."""
    return 2


def _build_app() -> Any:
    from lms_core.web import create_app

    return create_app()


if sys.platform != "win32":  # gunicorn only runs on POSIX
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class GunicornApp(BaseApplication):
        """gunicorn with settings from a dict and the app built by a factory in each worker."""

        def __init__(
            self, options: Mapping[str, Any], factory: Callable[[], Any] = _build_app
        ) -> None:
            self.options = dict(options)
            self.factory = factory
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key.lower(), value)

        def load(self) -> Any:
            # Without preload_app this runs in each worker, after the fork.
            return self.factory()


def serve_gunicorn(
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    workers: int | None = None,
    threads: int = 1,
    factory: Callable[[], Any] = _build_app,
    **options: Any,
) -> None:
    """Serve with gunicorn until interrupted (blocks)."""
    settings: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers or default_workers(),
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "accesslog": "-",
        "errorlog": "-",
        "graceful_timeout": 10,
        # No shared control socket: two sites on one machine must not clash over it.
        "control_socket_disable": True,
    }
    settings.update(options)
    GunicornApp(settings, factory).run()


def serve_dev(host: str = "127.0.0.1", port: int = 5000) -> None:
    """Serve with werkzeug's threaded development server, without the reloader (blocks)."""
    from werkzeug.serving import run_simple

    run_simple(host, port, _build_app(), use_reloader=False, use_debugger=False, threaded=True)


def serve(
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    workers: int | None = None,
    threads: int = 1,
    dev: bool = False,
    config_path: str | None = None,
) -> None:
    """Serve the site configured by ``config_path`` (passed to workers as ``LMS_CONFIG``)."""
    if config_path:
        os.environ["LMS_CONFIG"] = os.fspath(config_path)
    if dev or sys.platform == "win32":
        serve_dev(host, port)
    else:
        serve_gunicorn(host, port, workers=workers, threads=threads)
