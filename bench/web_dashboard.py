"""Benchmark: learner-dashboard throughput over HTTP, with every plugin enabled and with none.

Prepares a database with a small demo site (a SQLite file in a temporary folder, or
``--database-url``: a PostgreSQL database whose public schema is DROPPED and rebuilt), then
for each configuration starts ``lms serve`` (gunicorn, 2 sync workers) on a free loopback
port and has 16 concurrent clients (threads, http.client) each sign in once through the
sign-in form and then load the dashboard for a fixed time. Configurations:

* ``all``: every installed entry-point plugin plus the five no-op plugins of
  ``bench/bench_plugins`` (``plugins.modules``), all enabled;
* ``none``: the same site with ``LMS_SAFE_MODE=1`` (every plugin off).

The two configurations alternate (``--rounds``, default 2, best run of each kept).
Prints requests/s for both and their ratio; the last line is a JSON object.

    python bench/web_dashboard.py [--seconds 15] [--clients 16] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lms_core.config import load_config  # noqa: E402
from lms_core.demo import build_demo  # noqa: E402
from lms_core.runtime import LMS  # noqa: E402
from lms_core.services.plugins import sync_plugin_states  # noqa: E402
from lms_core.services.roles import ensure_builtin_roles  # noqa: E402
from lms_core.testing import prepare_database  # noqa: E402

NOOP_PLUGINS = [f"bench_plugins.noop_{c}" for c in "abcde"]
HOST = "127.0.0.1"
MAX_REQUESTS_PER_CLIENT = 100_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Client:
    """One browser-like client: its own cookies, a new connection per request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            headers = {"Connection": "close"}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, text
        finally:
            conn.close()

    def sign_in(self, email: str, password: str) -> None:
        _status, page = self.request("GET", "/auth/login")
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert match, "no CSRF token on the sign-in page"
        form = urllib.parse.urlencode(
            {"email": email, "password": password, "csrf_token": match.group(1)}
        )
        status, _ = self.request("POST", "/auth/login", form)
        assert status == 302, f"sign-in answered {status}"


def wait_until_up(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited before it answered")
        try:
            status, _ = Client(port).request("GET", "/auth/login")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not answer in time")


def load(port: int, clients: int, seconds: float, email: str, password: str) -> dict[str, Any]:
    people = [Client(port) for _ in range(clients)]
    for person in people:
        person.sign_in(email, password)
    counts = [0] * clients
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def run(i: int) -> None:
        person = people[i]
        start.wait()
        while time.monotonic() < stop_at[0] and counts[i] < MAX_REQUESTS_PER_CLIENT:
            status, _ = person.request("GET", "/")
            if status == 200:
                counts[i] += 1
            else:
                errors[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    stop_at.append(began + seconds)
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return {
        "requests": sum(counts),
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(sum(counts) / elapsed, 1),
    }


def serve_and_load(
    config_path: Path, env: dict[str, str], workdir: Path, label: str, args: Any, account: Any
) -> dict[str, Any]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "lms_core",
        "--config",
        str(config_path),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    with open(workdir / f"server-{label}.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_up(port, process)
            return load(port, args.clients, args.seconds, account.email, account.password)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each configuration")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-web-"))
    try:
        url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
        modules = ", ".join(f'"{m}"' for m in NOOP_PLUGINS)
        config_path = workdir / "lms.toml"
        config_path.write_text(
            f'instance_path = "{workdir / "instance"}"\n\n'
            f'[database]\nurl = "{url}"\n\n'
            f'[plugins]\nenabled = ["*"]\nmodules = [{modules}]\n',
            encoding="utf-8",
        )
        prepare_database(url)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LMS_") or key == "LMS_CONFIG"
        }
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
        site = LMS(load_config(config_path, env={}))
        with site.transaction(system=True) as ctx:
            ensure_builtin_roles(ctx)
        summary = build_demo(site, users=60, courses=10, seed=2026)
        sync_plugin_states(site)
        plugins = sorted(site.enabled_plugins)
        site.dispose()
        account = summary.account("learner")

        envs = {"all": env, "none": {**env, "LMS_SAFE_MODE": "1"}}
        runs: dict[str, list[dict[str, Any]]] = {"all": [], "none": []}
        # Alternate the configurations so a drifting machine affects both alike; keep the best.
        for round_ in range(args.rounds):
            for label in ("none", "all") if round_ % 2 else ("all", "none"):
                run = serve_and_load(config_path, envs[label], workdir, label, args, account)
                print(f"round {round_ + 1}, {label}: {run}", flush=True)
                runs[label].append(run)
        results = {
            label: max(found, key=lambda r: r["requests_per_s"]) for label, found in runs.items()
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    database = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"{database}, gunicorn 2 workers, {args.clients} clients, {args.seconds:g} s each")
    print(f"all plugins ({len(plugins)}: {', '.join(plugins)}): {results['all']}")
    print(f"no plugins (LMS_SAFE_MODE=1): {results['none']}")
    ratio = results["all"]["requests_per_s"] / results["none"]["requests_per_s"]
    print(
        f"dashboard: {results['all']['requests_per_s']:.0f} req/s with plugins, "
        f"{results['none']['requests_per_s']:.0f} req/s without; ratio {ratio:.3f}"
    )
    figures = {
        "database": database,
        "workers": 2,
        "clients": args.clients,
        "seconds": args.seconds,
        "plugins": plugins,
        "all_requests_per_s": results["all"]["requests_per_s"],
        "none_requests_per_s": results["none"]["requests_per_s"],
        "all_errors": results["all"]["errors"],
        "none_errors": results["none"]["errors"],
        "ratio_all_vs_none": round(ratio, 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
