"""Benchmark: the plugin layer's cost per web request (5 enabled no-op plugins vs none).

In one process, through Flask's test client (no network, no server): a small demo site on a
SQLite file, the demo learner signed in, and N learner-dashboard requests served by an app
whose runtime has the five no-op plugins of ``bench/bench_plugins`` enabled, and by one with
no plugins at all. The two apps alternate in rounds so drift affects both alike. Prints
microseconds per request for both and their ratio; the last line is a JSON object.

    python bench/plugin_overhead.py [--requests 2000] [--database-url sqlite:///...]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lms_core.config import load_config  # noqa: E402
from lms_core.demo import build_demo  # noqa: E402
from lms_core.migrate import upgrade  # noqa: E402
from lms_core.runtime import LMS  # noqa: E402
from lms_core.services.plugins import sync_plugin_states  # noqa: E402
from lms_core.services.roles import ensure_builtin_roles  # noqa: E402
from lms_core.web import create_app  # noqa: E402

PLUGINS = [f"bench_plugins.noop_{c}" for c in "abcde"]
ROUNDS = 5


def signed_in_client(app: Any, email: str, password: str) -> Any:
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "no CSRF token on the sign-in page"
    response = client.post(
        "/auth/login", data={"email": email, "password": password, "csrf_token": match.group(1)}
    )
    assert response.status_code == 302, response.status_code
    assert client.get("/").status_code == 200
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-overhead-"))
    try:
        url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
        overrides = {"database": {"url": url}, "instance_path": str(workdir / "instance")}
        config = load_config(env={}, overrides=overrides)
        setup = LMS(config, use_entry_points=False)
        upgrade(setup)
        with setup.transaction(system=True) as ctx:
            ensure_builtin_roles(ctx)
        summary = build_demo(setup, users=40, courses=8, seed=2026)
        setup.dispose()
        learner = summary.account("learner")

        with_plugins = LMS(
            load_config(
                env={}, overrides={**overrides, "plugins": {"enabled": ["*"], "modules": []}}
            ),
            plugins=PLUGINS,
            use_entry_points=False,
        )
        sync_plugin_states(with_plugins)
        assert with_plugins.enabled_plugins == {p.rpartition(".")[2] for p in PLUGINS}
        without = LMS(config, plugins=[], use_entry_points=False)
        clients = {
            "plugins_5": signed_in_client(
                create_app(lms=with_plugins), learner.email, learner.password
            ),
            "plugins_0": signed_in_client(create_app(lms=without), learner.email, learner.password),
        }
        per_round = max(1, args.requests // ROUNDS)
        for client in clients.values():  # warm up
            for _ in range(min(100, per_round)):
                client.get("/")
        times: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(ROUNDS):
            for name, client in clients.items():
                started = time.perf_counter()
                for _ in range(per_round):
                    response = client.get("/")
                    assert response.status_code == 200
                times[name].append((time.perf_counter() - started) / per_round * 1e6)
        with_plugins.dispose()
        without.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    figures: dict[str, Any] = {"requests": per_round * ROUNDS, "plugins": len(PLUGINS)}
    for name, samples in times.items():
        figures[f"{name}_us_per_request"] = round(statistics.median(samples), 1)
    overhead = figures["plugins_5_us_per_request"] - figures["plugins_0_us_per_request"]
    figures["overhead_us"] = round(overhead, 1)
    figures["ratio_5_vs_0"] = round(
        figures["plugins_5_us_per_request"] / figures["plugins_0_us_per_request"], 3
    )
    print(f"dashboard, 5 no-op plugins: {figures['plugins_5_us_per_request']:.0f} µs/request")
    print(f"dashboard, no plugins:      {figures['plugins_0_us_per_request']:.0f} µs/request")
    print(
        f"plugin layer: {overhead:+.0f} µs/request, ratio {figures['ratio_5_vs_0']}x "
        f"(median of {ROUNDS} rounds of {per_round})"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
