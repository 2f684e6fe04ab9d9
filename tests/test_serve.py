"""``lms serve``: gunicorn (and ``--dev`` werkzeug) serving an existing site."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.parametrize("mode", [[], ["--dev"]], ids=["gunicorn", "dev"])
@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn is POSIX only")
def test_lms_serve_answers_http_until_stopped(tmp_path, mode):
    url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    config = tmp_path / "lms.toml"
    config.write_text(
        f'instance_path = "{tmp_path / "instance"}"\n[database]\nurl = "{url}"\n', encoding="utf-8"
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    # the core and every installed plugin (badges answers below)
    upgrade = [sys.executable, "-m", "lms_core", "--config", str(config), "db", "upgrade"]
    subprocess.run(upgrade, env=env, check=True, capture_output=True)
    command = [sys.executable, "-m", "lms_core", "--config", str(config), "serve"]
    command += ["--port", str(port), "--workers", "1", *mode]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        try:
            status = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    status = _get(port, "/auth/login")
                    break
                except OSError:
                    time.sleep(0.2)
            assert status == 200, process.poll()
            assert _get(port, "/") == 302  # the dashboard sends visitors to sign in
            # base_url is not configured: the issuer's public id uses the port served
            assert f'"http://127.0.0.1:{port}/badges/public/issuer"' in _body(
                port, "/badges/public/issuer"
            )
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}" in output


# --- which base URL a served site uses ---------------------------------------------------------


def _config_with_sources(tmp_path, body: str = "", env: dict[str, str] | None = None):
    from lms_core.config import load_config_with_sources

    path = tmp_path / "lms.toml"
    path.write_text(body, encoding="utf-8")
    return load_config_with_sources(path, env=env or {})


def test_an_unconfigured_base_url_follows_the_served_port(tmp_path):
    from lms_core.serve import base_url_for

    config, sources = _config_with_sources(tmp_path)
    choice = base_url_for(config, sources, "127.0.0.1", 8123)
    assert choice.url == "http://127.0.0.1:8123"
    assert not choice.configured and choice.warning is None


def test_a_wildcard_bind_address_becomes_the_loopback_address(tmp_path):
    from lms_core.serve import base_url_for

    config, sources = _config_with_sources(tmp_path)
    assert base_url_for(config, sources, "0.0.0.0", 8000).url == "http://127.0.0.1:8000"
    assert base_url_for(config, sources, "::", 8000).url == "http://[::1]:8000"


def test_a_configured_base_url_that_matches_the_served_address_is_kept_quietly(tmp_path):
    from lms_core.serve import base_url_for

    config, sources = _config_with_sources(tmp_path, 'base_url = "http://localhost:8123/"\n')
    choice = base_url_for(config, sources, "127.0.0.1", 8123)
    assert choice.url == "http://localhost:8123/" and choice.configured
    assert choice.warning is None


def test_a_configured_base_url_that_disagrees_is_kept_with_a_warning_naming_both(tmp_path):
    from lms_core.serve import base_url_for

    config, sources = _config_with_sources(tmp_path, env={"LMS_BASE_URL": "http://127.0.0.1:5000"})
    choice = base_url_for(config, sources, "127.0.0.1", 8123)
    assert choice.url == "http://127.0.0.1:5000" and choice.configured
    assert choice.warning is not None
    assert "http://127.0.0.1:5000" in choice.warning and "LMS_BASE_URL" in choice.warning
    assert "http://127.0.0.1:8123" in choice.warning


def test_serve_hands_the_base_url_to_the_workers_through_the_environment(monkeypatch):
    from lms_core import serve as serve_module

    seen: list[tuple[str, int, str | None]] = []
    # setenv first records the variable's state, so monkeypatch restores it afterwards
    monkeypatch.setenv("LMS_BASE_URL", "http://placeholder")
    monkeypatch.delenv("LMS_BASE_URL")
    monkeypatch.setattr(
        serve_module,
        "serve_dev",
        lambda host, port: seen.append((host, port, os.environ.get("LMS_BASE_URL"))),
    )
    serve_module.serve("127.0.0.1", 8123, dev=True, base_url="http://127.0.0.1:8123")
    assert seen == [("127.0.0.1", 8123, "http://127.0.0.1:8123")]


# --- the worker beside the site ---------------------------------------------------------------


def _site_with_a_job(tmp_path):
    """A migrated SQLite site with one pending job (the core's audit prune), and its config."""
    from lms_core.config import load_config
    from lms_core.migrate import upgrade
    from lms_core.retention import Prune
    from lms_core.runtime import LMS

    url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    config = tmp_path / "lms.toml"
    config.write_text(
        f'instance_path = "{tmp_path / "instance"}"\n[database]\nurl = "{url}"\n', encoding="utf-8"
    )
    site = LMS(load_config(config, env={}))
    try:
        upgrade(site)
        with site.transaction(system=True) as ctx:
            job_id = ctx.enqueue("core.prune", Prune(what="audit"))
    finally:
        site.dispose()
    return config, url, job_id


def _job_status(url: str, job_id: int) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy import text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    text("SELECT status FROM outbox_deliveries WHERE id = :i"), {"i": job_id}
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("worker", [True, False], ids=["with-worker", "no-worker"])
@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn is POSIX only")
def test_lms_serve_runs_a_worker_beside_the_site_unless_told_not_to(tmp_path, worker):
    config, url, job_id = _site_with_a_job(tmp_path)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    command = [sys.executable, "-m", "lms_core", "--config", str(config), "serve"]
    command += ["--port", str(port), "--workers", "1"]
    if not worker:
        command.append("--no-worker")
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _job_status(url, job_id) == "pending":
                if not worker and _serving(port):
                    time.sleep(3)  # time enough for a worker to have run it
                    break
                time.sleep(0.2)
            assert _job_status(url, job_id) == ("delivered" if worker else "pending")
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0].decode()
    assert ("With a worker" in output) is worker


def _serving(port: int) -> bool:
    try:
        return _get(port, "/auth/login") == 200
    except OSError:
        return False
