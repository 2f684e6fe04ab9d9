"""``lms serve``: gunicorn (and ``--dev`` werkzeug) serving an existing site."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time

import pytest

from lms_core.testing import prepare_database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    prepare_database(url)
    config = tmp_path / "lms.toml"
    config.write_text(
        f'instance_path = "{tmp_path / "instance"}"\n[database]\nurl = "{url}"\n', encoding="utf-8"
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
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
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}" in output
