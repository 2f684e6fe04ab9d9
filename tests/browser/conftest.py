"""Browser tests: Playwright driving Debian's Chromium against a live werkzeug server.

Chromium comes from the distribution (``apt-get install chromium``), never from
``playwright install`` (no network in CI). Without it the tests are skipped locally with the
reason, and fail in CI (``CI=true``), where a missing browser is a broken build.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from liveserver import LiveServer

CHROMIUM = os.environ.get("LMS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "correct horse battery staple"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if IN_CI:
            pytest.fail(f"browser tests cannot run in CI: {missing}", pytrace=False)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(width=1280, height=800)``: a page in a fresh context (own cookies)."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 800) -> Any:
        # bypass_csp: axe is injected as an inline script, which the site's CSP forbids.
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """``serve(app)`` starts a live server for ``app`` and returns its base URL.

    The test fails (at teardown) if any request to it answered 5xx.
    """
    servers: list[LiveServer] = []

    def start(app: Any) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.url

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
    errors = [error for server in servers for error in server.errors]
    if errors:
        pytest.fail("the live server answered with a server error:\n" + "\n".join(errors))


@pytest.fixture
def live_server(lms: Any, serve: Callable[[Any], str]) -> str:
    """The test site (``lms``) served over HTTP; returns its base URL."""
    from lms_core.web import create_app

    return serve(create_app(lms=lms))


def sign_in(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    assert page.goto(f"{base_url}/auth/login").status == 200
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.locator("main").get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/auth/login" not in page.url, f"sign-in failed for {email}: {page.inner_text('main')}"


def check_accessibility(page: Any, what: str) -> None:
    """Run axe-core on the page; fail on serious or critical violations, printed readably."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations; }"
    )
    bad = [v for v in result if v.get("impact") in ("serious", "critical")]
    if bad:
        lines = [f"{len(bad)} serious/critical accessibility violation(s) on {what} ({page.url}):"]
        for v in bad:
            lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
            for node in v["nodes"][:5]:
                lines.append(f"    {json.dumps(node['target'])}: {node['html'][:160]}")
                if node.get("failureSummary"):
                    lines.append("      " + node["failureSummary"].replace("\n", "\n      "))
        pytest.fail("\n".join(lines), pytrace=False)


def no_horizontal_scroll(page: Any) -> bool:
    return bool(
        page.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


@pytest.fixture(name="sign_in")
def sign_in_fixture() -> Callable[..., None]:
    return sign_in


@pytest.fixture(name="check_accessibility")
def check_accessibility_fixture() -> Callable[[Any, str], None]:
    return check_accessibility


@pytest.fixture(name="no_horizontal_scroll")
def no_horizontal_scroll_fixture() -> Callable[[Any], bool]:
    return no_horizontal_scroll
