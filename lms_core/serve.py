"""Serving the web app: gunicorn in production, werkzeug for development.

``lms serve`` runs :class:`GunicornApp`, a small embedding of gunicorn
(:class:`gunicorn.app.base.BaseApplication`): every worker process builds its own app with
:func:`lms_core.web.create_app` (configuration from ``LMS_CONFIG`` and the ``LMS_*``
environment, exactly as a stand-alone ``gunicorn 'lms_core.web:create_app()'`` would), so no
database connection or runtime is shared across a fork. ``--dev`` serves one process with
werkzeug's threaded server instead (no reloader), which also works where gunicorn does not
(Windows).

Links the site writes into emails, badges and verification pages are built from
``base_url``. Left unconfigured, it follows the address actually served
(:func:`base_url_for`, passed to the workers as ``LMS_BASE_URL``); a configured one that
disagrees with the served address is kept, with a warning (a reverse proxy may well serve it
there).

Jobs and schedules need a worker (:mod:`lms_core.worker`): unless told ``worker=False``
(``--no-worker``, for deployments whose ``lms worker`` processes run elsewhere), :func:`serve`
starts one ``lms worker`` process beside the web workers and stops it when serving stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen

from lms_core.config import Config

__all__ = [
    "BaseURL",
    "GunicornApp",
    "base_url_for",
    "default_workers",
    "serve",
    "serve_dev",
    "serve_gunicorn",
    "served_url",
    "start_worker",
]

log = logging.getLogger(__name__)

#: Bind addresses meaning "every interface": a browser on this machine uses loopback instead.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def served_url(host: str, port: int) -> str:
    """The address a browser on this machine opens for a server bound to ``host:port``."""
    host = host.strip("[]")
    host = _WILDCARDS.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number: compare as given
        port = None
    return scheme, "loopback" if host in _LOOPBACK else host, port


@frozen
class BaseURL:
    """The base URL a served site uses, and what to tell the operator about it."""

    #: the base URL the site's links are built from
    url: str
    #: True when ``base_url`` was configured (file or ``LMS_BASE_URL``), False when it follows
    #: the served address
    configured: bool
    #: set when a configured ``base_url`` disagrees with the served address
    warning: str | None = None


def base_url_for(config: Config, sources: Mapping[str, str], host: str, port: int) -> BaseURL:
    """Which base URL a site served at ``host:port`` uses.

    :param sources: where configured keys came from (see
        :func:`lms_core.config.load_config_with_sources`); ``base_url`` missing from it means
        it was not configured, so it follows the served address.
    """
    served = served_url(host, port)
    source = sources.get("base_url")
    if source is None:
        return BaseURL(url=served, configured=False)
    if _origin(config.base_url) == _origin(served):
        return BaseURL(url=config.base_url, configured=True)
    return BaseURL(
        url=config.base_url,
        configured=True,
        warning=(
            f"base_url is {config.base_url} (from {source}) but the site is served at {served}; "
            "links in emails, badges and verification pages use base_url. That is right behind "
            "a proxy that serves base_url; otherwise change or remove base_url."
        ),
    )


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


def start_worker() -> subprocess.Popen[bytes]:
    """Start one ``lms worker`` process with this process's environment (``LMS_CONFIG`` ...).

    It stops by itself if this process dies without stopping it (``--exit-with-parent``).
    """
    command = [sys.executable, "-m", "lms_core", "worker", "--exit-with-parent"]
    return subprocess.Popen(command, env=dict(os.environ))


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        log.warning("the worker did not stop within 15 s; killing it")
        process.kill()
        process.wait()


def serve(
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    workers: int | None = None,
    threads: int = 1,
    dev: bool = False,
    config_path: str | None = None,
    base_url: str | None = None,
    worker: bool = True,
    environment: Mapping[str, str] | None = None,
) -> None:
    """Serve the site configured by ``config_path`` (passed to workers as ``LMS_CONFIG``).

    :param base_url: the base URL to serve with (passed to workers as ``LMS_BASE_URL``); the
        CLI passes the served address when ``base_url`` is not configured.
    :param worker: also run an ``lms worker`` process (jobs, schedules, event retries) while
        serving.
    :param environment: more variables for the site's processes (``LMS_*`` settings).
    """
    os.environ.update(environment or {})
    if config_path:
        os.environ["LMS_CONFIG"] = os.fspath(config_path)
    if base_url:
        os.environ["LMS_BASE_URL"] = base_url
    background = start_worker() if worker else None
    try:
        if dev or sys.platform == "win32":
            # werkzeug leaves SIGTERM at its default (die at once): stop as on Ctrl+C instead,
            # so the worker is stopped too.
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signal.SIGTERM, _interrupt)
            serve_dev(host, port)
        else:
            serve_gunicorn(host, port, workers=workers, threads=threads)
    finally:
        if background is not None:
            _stop_worker(background)
