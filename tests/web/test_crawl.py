"""The crawl: every demo role walks the demo site, and no page may answer 5xx.

Once per run this module builds the demo site (:func:`lms_core.demo.build_demo`, what
``lms demo`` builds) into the test database with every bundled plugin switched on: the
plugins this distribution registers under the ``lms_core.plugins`` entry points, so a
plugin added to ``pyproject.toml`` is crawled without touching this file. Then, signed in as
each demo account (admin, manager, instructor, learner) and anonymously, it follows
same-site links breadth-first from the start pages (dashboard, catalog, teaching, admin,
profile; the menus, including plugins' items, are on every page), taking ``href``, ``src``
and GET-form addresses from HTML and same-site URLs from JSON documents, and following
redirects. Addresses of an endpoint it has not fetched yet go first, every endpoint gets a
few different addresses (different courses, people, states), and each role stops at
:data:`MAX_PAGES`. Afterwards each role fetches :data:`UNLINKED`, the short table of routes
no page links to (API reads, sent with the role's own API token; a password-reset link),
filled with ids learnt from the crawl.

The tests then fail on any 5xx, naming every failing address with its traceback, and on any
GET route of the app that no role reached with an answer below 400: a new route must be
linked from somewhere (or, if nothing should link to it, listed in :data:`UNLINKED`).
POST routes are not crawled (the walk in ``test_authorization.py`` checks their access).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib.metadata import distribution
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import attrs
import pytest
from flask import redirect
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from lms_core.config import load_config
from lms_core.demo import DemoSummary
from lms_core.demo import build_demo
from lms_core.runtime import LMS
from lms_core.services.plugins import sync_plugin_states
from lms_core.testing import AuthActions
from lms_core.testing import ServerError
from lms_core.testing import empty_database
from lms_core.web import create_app
from lms_core.web.decorators import public

#: The distribution whose bundled plugins are crawled (pyproject.toml's project name).
DISTRIBUTION = "lms-core"
ENTRY_POINT_GROUP = "lms_core.plugins"
#: A demo big enough to have every state (see lms_core.demo.MIN_USERS), small to build.
DEMO = {"users": 40, "courses": 8, "seed": 2026}
#: At most this many fetches per role ...
MAX_PAGES = 400
#: ... and at most this many different addresses of one endpoint per role.
PER_ENDPOINT = 15
START_PAGES = ("/", "/courses", "/teach/", "/admin/", "/profile")
ANONYMOUS = "anonymous"
ROLES = (ANONYMOUS, "learner", "instructor", "manager", "admin")

#: Routes that no page links to, and where to find them: endpoint -> address, with
#: ``{name}`` filled from what the crawl learnt (a value of that URL argument seen in any
#: crawled address) or from :func:`_extra_values`. Keep it short: a page that should link
#: to a route should link to it, and an entry whose route the crawl reaches by links fails
#: the test (remove the entry).
UNLINKED: dict[str, str] = {
    "api.me": "/api/v1/me",
    "api.my_enrollments": "/api/v1/me/enrollments",
    "api.list_courses": "/api/v1/courses",
    "api.get_course": "/api/v1/courses/{course_id}",
    "api.list_lessons": "/api/v1/courses/{course_id}/lessons",
    "api.list_course_enrollments": "/api/v1/courses/{course_id}/enrollments",
    "api.list_users": "/api/v1/users",
    "api.get_user": "/api/v1/users/{user_id}",
    "api.list_groups": "/api/v1/groups",
    "api.get_group": "/api/v1/groups/{group_id}",
    # The emailed one-time link.
    "auth.reset": "/auth/reset/{reset_token}",
    # The unsubscribe link of a notification mail.
    "unsubscribe.confirm": "/unsubscribe/{unsubscribe_token}",
}


def bundled_plugins() -> dict[str, str]:
    """name -> module of every plugin this distribution registers (its entry points)."""
    points = distribution(DISTRIBUTION).entry_points
    return {ep.name: ep.value for ep in points if ep.group == ENTRY_POINT_GROUP}


# -- the demo site --------------------------------------------------------------------------


@attrs.frozen
class Demo:
    site: LMS
    app: Any
    summary: DemoSummary
    tokens: dict[str, str]
    seconds: float


@pytest.fixture(scope="module")
def demo(lms_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo site with every bundled plugin on, built into the test database.

    Module-scoped: the database is shared with the rest of the suite, whose ``lms`` fixture
    expects it empty, so it is emptied when this module is done.
    """
    started = time.perf_counter()
    config = load_config(
        env={},
        overrides={
            "database": {"url": lms_database_url},
            "instance_path": str(tmp_path_factory.mktemp("crawl") / "instance"),
            "plugins": {"enabled": ["*"]},
        },
    )
    site = LMS(config, plugins=list(bundled_plugins().values()), use_entry_points=False)
    try:
        sync_plugin_states(site)
        summary = build_demo(site, **DEMO)
        app = create_app(lms=site)
        app.config["TESTING"] = True
        yield Demo(site, app, summary, _api_tokens(site, summary), time.perf_counter() - started)
    finally:
        empty_database(site)
        site.dispose()


def _api_tokens(site: LMS, summary: DemoSummary) -> dict[str, str]:
    """A personal API token for each demo account, made as its owner would."""
    from sqlalchemy import select

    from lms_core.models import User
    from lms_core.services import tokens

    secrets = {}
    with site.session() as session:
        people = {
            account.role: session.scalars(select(User).where(User.email == account.email)).one()
            for account in summary.accounts
        }
    for role, person in people.items():
        with site.transaction(person) as ctx:
            _row, secrets[role] = tokens.create_token(ctx, ctx.attach(person), "crawl")
    return secrets


def _extra_values(demo: Demo) -> dict[str, str]:
    """Values for :data:`UNLINKED` that no crawled address carries."""
    from sqlalchemy import select

    from lms_core.default_notifications import ENROLLED
    from lms_core.models import User
    from lms_core.services.notifications import make_unsubscribe_token
    from lms_core.web.auth import make_reset_token

    learner = demo.summary.account("learner")
    with demo.site.session() as session, demo.app.test_request_context():
        person = session.scalars(select(User).where(User.email == learner.email)).one()
        return {
            "reset_token": make_reset_token(person),
            "unsubscribe_token": make_unsubscribe_token(
                demo.app.config["SECRET_KEY"], person.id, ENROLLED
            ),
        }


# -- the crawler ----------------------------------------------------------------------------


class _Links(HTMLParser):
    """The addresses on a page: a/link ``href``, img/script ``src``, and GET forms submitted
    with their defaults and with each option of each ``<select>`` in turn (so a filter or a
    leaderboard scope is tried with every real id the page offers)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._form: _Form | None = None
        self._select: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in ("a", "link") and values.get("href"):
            self.found.append(values["href"])
        elif tag in ("img", "script") and values.get("src"):
            self.found.append(values["src"])
        elif tag == "form" and values.get("method", "get").lower() == "get":
            self._form = _Form(values.get("action", ""))
        elif self._form is not None and tag == "input" and values.get("name"):
            kind = values.get("type", "text").lower()
            if kind not in ("checkbox", "radio", "submit") or "checked" in values:
                self._form.fields.append((values["name"], values.get("value", "")))
        elif self._form is not None and tag == "select" and values.get("name"):
            self._select = []
            self._form.selects.append((values["name"], self._select))
        elif self._select is not None and tag == "option":
            option = values.get("value", "")
            if "selected" in values:
                self._select.insert(0, option)
            else:
                self._select.append(option)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._form is not None:
            self.found.extend(self._form.submissions())
            self._form = None


@attrs.define
class _Form:
    action: str
    fields: list[tuple[str, str]] = attrs.field(factory=list)
    selects: list[tuple[str, list[str]]] = attrs.field(factory=list)

    def submissions(self) -> list[str]:
        defaults = [(name, options[0]) for name, options in self.selects if options]
        out = [self._url(defaults)]
        for index, (name, options) in enumerate(self.selects):
            for option in options[1:]:
                chosen = [*defaults[:index], (name, option), *defaults[index + 1 :]]
                out.append(self._url(chosen))
        return out

    def _url(self, chosen: list[tuple[str, str]]) -> str:
        query = urlencode([(k, v) for k, v in (*self.fields, *chosen) if v])
        return f"{self.action.split('?')[0]}?{query}" if query else self.action


def _json_urls(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _json_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_urls(item)
    elif isinstance(value, str) and value.startswith(("http://", "https://")):
        yield value


@attrs.define
class Fetch:
    url: str
    endpoint: str | None
    status: int
    linked: bool


@attrs.define
class Failure:
    role: str
    url: str
    status: int
    traceback: str

    def __str__(self) -> str:
        return f"[{self.role}] GET {self.url} -> {self.status}\n{self.traceback}"


@attrs.define
class RoleCrawl:
    role: str
    fetches: list[Fetch] = attrs.field(factory=list)
    failures: list[Failure] = attrs.field(factory=list)
    #: URL argument name -> a value seen in a crawled address
    values: dict[str, Any] = attrs.field(factory=dict)


class Crawler:
    def __init__(self, demo: Demo, role: str) -> None:
        self.demo = demo
        self.role = role
        self.client = demo.app.test_client()
        self.adapter = demo.app.url_map.bind("localhost")
        base = urlsplit(demo.site.config.base_url)
        self.own_hosts = {"localhost", base.netloc}
        self.result = RoleCrawl(role)

    def sign_in(self) -> None:
        if self.role == ANONYMOUS:
            return
        account = self.demo.summary.account(self.role)
        response = AuthActions(self.client).login(account.email, account.password)
        assert response.status_code == 302, f"{self.role} could not sign in"

    def endpoint_of(self, url: str) -> tuple[str | None, dict[str, Any]]:
        parts = urlsplit(url)
        try:
            endpoint, args = self.adapter.match(parts.path, method="GET", query_args=parts.query)
        except RequestRedirect:
            return None, {}
        except HTTPException:
            return None, {}
        return str(endpoint), dict(args)

    def fetch(self, url: str, *, linked: bool, headers: dict[str, str] | None = None) -> Any:
        endpoint, args = self.endpoint_of(url)
        try:
            response = self.client.get(url, headers=headers or {})  # status: kept; 5xx raises
        except ServerError as error:
            self.result.failures.append(
                Failure(self.role, url, error.response.status_code, str(error))
            )
            self.result.fetches.append(Fetch(url, endpoint, error.response.status_code, linked))
            return None
        response.get_data()  # read it all, then let go of the file behind a static response
        response.close()
        self.result.fetches.append(Fetch(url, endpoint, response.status_code, linked))
        if response.status_code < 400:
            for name, value in args.items():
                self.result.values.setdefault(name, value)
        return response

    def links_of(self, url: str, response: Any) -> list[str]:
        found: list[str] = []
        if 300 <= response.status_code < 400 and response.location:
            found.append(response.location)
        elif response.status_code == 200 and response.mimetype == "text/html":
            parser = _Links()
            parser.feed(response.get_data(as_text=True))
            found.extend(parser.found)
        elif response.status_code == 200 and response.is_json:
            found.extend(_json_urls(response.get_json()))
        out = []
        for href in found:
            absolute = urlsplit(urljoin("http://localhost" + url, href))
            if absolute.scheme not in ("http", "https") or absolute.netloc not in self.own_hosts:
                continue
            out.append(absolute.path + (f"?{absolute.query}" if absolute.query else ""))
        return out

    def crawl(self, start: tuple[str, ...] = START_PAGES) -> RoleCrawl:
        """Breadth-first over links; endpoints not fetched yet go first."""
        self.sign_in()
        fresh: collections.deque[str] = collections.deque(start)
        more: collections.deque[str] = collections.deque()
        queued = set(start)
        per_endpoint: collections.Counter[str | None] = collections.Counter()
        pages = 0
        while (fresh or more) and pages < MAX_PAGES:
            from_fresh = bool(fresh)
            url = fresh.popleft() if fresh else more.popleft()
            endpoint, _args = self.endpoint_of(url)
            if from_fresh and per_endpoint[endpoint]:
                more.append(url)  # its endpoint was fetched since it was queued
                continue
            if per_endpoint[endpoint] >= PER_ENDPOINT:
                continue
            per_endpoint[endpoint] += 1
            pages += 1
            response = self.fetch(url, linked=True)  # status: any; 5xx kept as failures
            if response is None:
                continue
            for link in self.links_of(url, response):
                if link in queued:
                    continue
                queued.add(link)
                target, _ = self.endpoint_of(link)
                (more if per_endpoint[target] else fresh).append(link)
        return self.result

    def fetch_unlinked(self, values: dict[str, Any]) -> None:
        token = self.demo.tokens.get(self.role)
        for endpoint, template in UNLINKED.items():
            try:
                url = template.format(**values)
            except KeyError as missing:
                raise AssertionError(
                    f"UNLINKED[{endpoint!r}] needs {missing}, which no crawled address carries "
                    "(add it to _extra_values)"
                ) from None
            headers = {"Authorization": f"Bearer {token}"} if token and "/api/" in url else {}
            self.fetch(url, linked=False, headers=headers)  # status: any; 5xx kept


@pytest.fixture(scope="module")
def crawl(demo: Demo) -> dict[str, RoleCrawl]:
    """Every role's crawl, then every role's fetch of :data:`UNLINKED`."""
    started = time.perf_counter()
    crawlers = {role: Crawler(demo, role) for role in ROLES}
    results = {role: crawler.crawl() for role, crawler in crawlers.items()}
    values: dict[str, Any] = _extra_values(demo)
    for result in results.values():
        for name, value in result.values.items():
            values.setdefault(name, value)
    for crawler in crawlers.values():
        crawler.fetch_unlinked(values)
    seconds = time.perf_counter() - started
    pages = sum(len(r.fetches) for r in results.values())
    print(f"\ndemo built in {demo.seconds:.1f} s; crawled {pages} pages in {seconds:.1f} s")
    return results


# -- the tests ------------------------------------------------------------------------------


def test_the_crawler_follows_every_kind_of_link_and_reports_each_server_error(demo):
    """The crawler itself, on a few extra routes: HTML links, a redirect, a GET form with a
    select, a same-site URL inside JSON; two of them fail, and both are reported."""
    app = create_app(lms=demo.site)
    app.config["TESTING"] = True
    base = demo.site.config.base_url

    @public
    def probe():
        return (
            '<a href="/probe/redirect">on</a> <img src="/probe/json" alt="">'
            '<a href="https://elsewhere.example/x">off site</a>'
            '<form method="get" action="/probe/form"><input name="q" value="x">'
            '<select name="pick"><option value="1">1</option>'
            '<option value="2" selected>2</option></select></form>'
        )

    @public
    def probe_redirect():
        return redirect("/probe/broken")

    @public
    def probe_json():
        return {"next": f"{base}/probe/deep", "elsewhere": "https://elsewhere.example/"}

    @public
    def probe_form():
        return "a form's answer"

    @public
    def probe_broken():
        raise RuntimeError("the probe broke")

    @public
    def probe_deep():
        raise ValueError("deep inside JSON")

    for view in (probe, probe_redirect, probe_json, probe_form, probe_broken, probe_deep):
        path = "/" + view.__name__.replace("_", "/")
        app.add_url_rule(path, view.__name__, view)

    crawler = Crawler(attrs.evolve(demo, app=app), ANONYMOUS)
    result = crawler.crawl(start=("/probe",))

    assert [f.url for f in result.fetches] == [
        "/probe",
        "/probe/redirect",
        "/probe/json",
        "/probe/form?q=x&pick=2",
        "/probe/broken",
        "/probe/deep",
        "/probe/form?q=x&pick=1",
    ]
    failures = {f.url: f for f in result.failures}
    assert sorted(failures) == ["/probe/broken", "/probe/deep"]
    assert "RuntimeError: the probe broke" in failures["/probe/broken"].traceback
    assert "ValueError: deep inside JSON" in failures["/probe/deep"].traceback
    assert "in probe_deep" in str(failures["/probe/deep"])


def test_the_crawled_site_runs_every_bundled_plugin_and_crawls_every_demo_role(demo):
    bundled = bundled_plugins()
    assert "badges" in bundled  # the scan found this distribution's entry points
    assert set(bundled) <= demo.site.enabled_plugins
    assert {account.role for account in demo.summary.accounts} == set(ROLES) - {ANONYMOUS}


@pytest.mark.parametrize("role", ROLES)
def test_no_page_answers_a_server_error(crawl, role):
    result = crawl[role]
    assert len(result.fetches) > len(START_PAGES), [f.url for f in result.fetches]
    failures = result.failures
    assert not failures, f"{len(failures)} server error(s) for {role}:\n\n" + "\n\n".join(
        map(str, failures)
    )


def test_every_get_route_is_reached_by_some_role(demo, crawl):
    reached = {
        fetch.endpoint
        for result in crawl.values()
        for fetch in result.fetches
        if fetch.endpoint is not None and fetch.status < 400
    }
    only_refused = {
        fetch.endpoint
        for result in crawl.values()
        for fetch in result.fetches
        if fetch.endpoint is not None
    } - reached
    routes = {rule.endpoint for rule in demo.app.url_map.iter_rules() if "GET" in rule.methods}
    missing = sorted(routes - reached)
    assert not missing, (
        "no role reached these GET routes with an answer below 400: link them from a page "
        "(or, if no page should, add them to UNLINKED in tests/web/test_crawl.py): "
        + ", ".join(missing)
        + (f"\n(reached, but only with an error status: {sorted(only_refused & set(missing))})")
    )


def test_the_unlinked_table_lists_only_routes_no_page_links_to(demo, crawl):
    linked = {
        fetch.endpoint for result in crawl.values() for fetch in result.fetches if fetch.linked
    }
    routes = {rule.endpoint for rule in demo.app.url_map.iter_rules()}
    assert set(UNLINKED) <= routes, sorted(set(UNLINKED) - routes)
    assert not set(UNLINKED) & linked, (
        f"linked from a page now, remove from UNLINKED: {sorted(set(UNLINKED) & linked)}"
    )
