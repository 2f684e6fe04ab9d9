"""Every route refuses who it should: a walk over ``app.url_map`` collected at run time.

The app is built with every installed plugin and every sample plugin that has routes, all
enabled. For each rule (except static files and the reviewed public ones) and each method it
allows, with its URL parameters filled with ids of real objects:

* an anonymous request is refused: sent to sign in, or 401 under ``/api/``;
* a signed-in learner is refused (403, or 404 for things hidden from them) when the route
  needs a permission the learner role does not hold. Forms carry a valid CSRF token and API
  calls a valid personal token, so neither is what refuses them.

A new ``@public`` route fails :func:`test_the_public_routes_are_exactly_the_reviewed_ones`
until it is reviewed and added to :data:`PUBLIC_ENDPOINTS`.
"""

from __future__ import annotations

from typing import Any

import pytest

from lms_core.testing import AuthActions
from lms_core.testing import csrf_token
from lms_core.web.decorators import PUBLIC
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import access_of
from lms_core.web.decorators import allows

PASSWORD = "correct horse battery staple"

#: Reviewed: these pages are meant for visitors who are not signed in.
PUBLIC_ENDPOINTS = {
    "auth.login",
    "auth.reset_request",
    "auth.reset",
    "learner.catalog",
    "learner.course",
    "api.openapi",
    # A notification mail's unsubscribe link (signed for one person and one kind; RFC 8058
    # one-click POST from the mail client, which has no session).
    "unsubscribe.confirm",
    "unsubscribe.unsubscribe",
    # The file route decides per file (lms_core.services.files.readable_file): the owning
    # use's permission, the owner, or the use's may_read; a use may serve anonymous readers.
    "files.serve",
    # badges: the Open Badges documents outside verifiers fetch without an account
    # (plugins/badges/openbadges_views.py; only public keys, revocable public assertions).
    "badges_public.issuer",
    "badges_public.badge_class",
    "badges_public.badge_image",
    "badges_public.assertion",
    "badges_public.baked",
    "badges_public.page",
    "badges_public.revocations",
    "badges_public.jwks",
    "badges_public.key",
}

#: Sample plugins that contribute routes, loaded besides every installed plugin.
SAMPLE_PLUGINS_WITH_ROUTES = ["sample_plugins.navplugin"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def site(lms_config):
    """A runtime with every installed plugin and the sample plugins with routes, all enabled."""
    import attrs

    from lms_core.runtime import LMS
    from lms_core.services.plugins import sync_plugin_states

    cfg = attrs.evolve(lms_config, plugins=attrs.evolve(lms_config.plugins, enabled=("*",)))
    runtime = LMS(cfg, plugins=SAMPLE_PLUGINS_WITH_ROUTES, use_entry_points=True)
    sync_plugin_states(runtime)
    try:
        yield runtime
    finally:
        runtime.dispose()


@pytest.fixture
def app(site):
    from lms_core.web import create_app

    application = create_app(lms=site)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def objects(lms, site, factory):
    """Real objects for URL parameters, owned by someone other than the learner."""
    from lms_core.models import Role
    from lms_core.services import groups
    from lms_core.services import tokens

    learner = factory.user("learner@example.com", password=PASSWORD)
    other = factory.user("other@example.com", password=PASSWORD)
    course = factory.course("AUTH-1", lessons=2)
    enrollment = factory.enrollment(other, course)
    factory.enrollment(learner, course)
    with lms.transaction(system=True) as ctx:
        group = groups.create_group(ctx, "Auditors")
        token, _secret = tokens.create_token(ctx, ctx.session.merge(other), "theirs")
        _mine, learner_secret = tokens.create_token(ctx, ctx.session.merge(learner), "mine")
        role_id = ctx.session.query(Role.id).filter(Role.name == "admin").scalar()
        lesson_id = ctx.session.merge(course).lessons[0].id
        ids = {
            "course_id": course.id,
            "lesson_id": lesson_id,
            "user_id": other.id,
            "group_id": group.id,
            "enrollment_id": enrollment.id,
            "token_id": token.id,
            "role_id": role_id,
            "name": SAMPLE_PLUGINS_WITH_ROUTES[0].rsplit(".", 1)[-1],
            "plugin": SAMPLE_PLUGINS_WITH_ROUTES[0].rsplit(".", 1)[-1],
            "id": 1,
        }
    return {"ids": ids, "learner": learner, "learner_token": learner_secret}


def protected_rules(app) -> list[tuple[Any, str]]:
    """(rule, access) for every rule but static files and public pages, collected now."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        access = access_of(app.view_functions[rule.endpoint])
        if access != PUBLIC:
            out.append((rule, access))
    return sorted(out, key=lambda item: (item[0].rule, item[0].endpoint))


def url_for_rule(rule, ids: dict[str, Any]) -> str:
    from werkzeug.routing.converters import AnyConverter
    from werkzeug.routing.converters import NumberConverter

    values = {}
    for arg in rule.arguments:
        converter = rule._converters.get(arg)
        value = ids.get(arg, 1)
        if isinstance(converter, AnyConverter):
            value = sorted(converter.items)[0]
        elif isinstance(converter, NumberConverter) and not isinstance(value, int):
            value = 1
        values[arg] = value
    return rule.build(values, append_unknown=False)[1]


def methods_of(rule) -> list[str]:
    return [m for m in METHODS if m in (rule.methods or ())]


def send(client, method: str, url: str, token: str | None, bearer: str | None = None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if method == "GET":
        return client.get(url, headers=headers)
    if url.startswith("/api/"):
        return client.open(url, method=method, json={}, headers=headers)
    return client.open(url, method=method, data={"csrf_token": token}, headers=headers)


def test_the_walk_covers_the_app(app, objects):
    rules = protected_rules(app)
    endpoints = {rule.endpoint for rule, _ in rules}
    for expected in ("learner.dashboard", "learner.enroll", "teach.index", "admin.index"):
        assert expected in endpoints
    assert any(rule.rule.startswith("/api/") for rule, _ in rules)
    assert "navplugin.index" in endpoints, "the sample plugin's routes are mounted"


def test_the_public_routes_are_exactly_the_reviewed_ones(app):
    public = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and not rule.endpoint.endswith(".static")
        and access_of(app.view_functions[rule.endpoint]) == PUBLIC
    }
    assert public == PUBLIC_ENDPOINTS, (
        f"new public routes (review them, then add them to PUBLIC_ENDPOINTS): "
        f"{sorted(public - PUBLIC_ENDPOINTS)}; no longer public: {sorted(PUBLIC_ENDPOINTS - public)}"
    )


def test_anonymous_visitors_are_refused_everywhere(app, objects):
    client = app.test_client()
    token = csrf_token(client, "/auth/login")
    problems = []
    for rule, _access in protected_rules(app):
        url = url_for_rule(rule, objects["ids"])
        for method in methods_of(rule):
            response = send(client, method, url, token)  # status: collected in problems
            if url.startswith("/api/"):
                ok = response.status_code == 401
            else:
                location = response.headers.get("Location", "")
                ok = response.status_code == 302 and "/auth/login" in location
            if not ok:
                problems.append(
                    f"{method} {url} ({rule.endpoint}) -> {response.status_code} "
                    f"{response.headers.get('Location', '')}"
                )
    assert not problems, "reachable without signing in:\n" + "\n".join(problems)


def test_learners_are_refused_what_their_role_does_not_allow(lms, app, objects):
    from lms_core.models import User

    client = app.test_client()
    response = AuthActions(client).login("learner@example.com", PASSWORD)
    assert response.status_code == 302
    token = csrf_token(client, "/")
    checked, problems = 0, []
    with lms.session() as session:
        learner = session.get(User, objects["learner"].id)
        for rule, access in protected_rules(app):
            if access == SIGNED_IN:
                continue
            view = app.view_functions[rule.endpoint]
            course_arg = getattr(view, "lms_course_arg", None)
            course = objects["ids"].get(course_arg) if course_arg in rule.arguments else None
            if allows(view, learner, course):
                continue
            url = url_for_rule(rule, objects["ids"])
            bearer = objects["learner_token"] if url.startswith("/api/") else None
            for method in methods_of(rule):
                checked += 1
                response = send(client, method, url, token, bearer)  # status: in problems
                if response.status_code not in (403, 404):
                    problems.append(
                        f"{method} {url} ({rule.endpoint}, needs {access}) -> "
                        f"{response.status_code}"
                    )
    assert checked > 0
    assert not problems, "a learner got past a permission check:\n" + "\n".join(problems)


def test_an_instructor_of_another_course_is_refused_this_courses_routes(lms, app, objects, factory):
    """Instructing one course grants nothing in another: every per-course route of the
    walk's course refuses an instructor of a different course (and the site-wide ones that
    need more than instructing refuse them too)."""
    from lms_core.models import User
    from lms_core.services import tokens

    teacher = factory.user("teacher@example.com", password=PASSWORD)
    factory.course("AUTH-2", lessons=1, instructors=[teacher])
    with lms.transaction(system=True) as ctx:
        _row, secret = tokens.create_token(ctx, ctx.session.merge(teacher), "walk")
    client = app.test_client()
    assert AuthActions(client).login("teacher@example.com", PASSWORD).status_code == 302
    token = csrf_token(client, "/")
    checked, problems = 0, []
    with lms.session() as session:
        walker = session.get(User, teacher.id)
        for rule, access in protected_rules(app):
            if access == SIGNED_IN:
                continue
            view = app.view_functions[rule.endpoint]
            course_arg = getattr(view, "lms_course_arg", None)
            course = objects["ids"].get(course_arg) if course_arg in rule.arguments else None
            if allows(view, walker, course):
                continue
            url = url_for_rule(rule, objects["ids"])
            bearer = secret if url.startswith("/api/") else None
            for method in methods_of(rule):
                checked += 1
                response = send(client, method, url, token, bearer)  # status: in problems
                if response.status_code not in (403, 404):
                    problems.append(
                        f"{method} {url} ({rule.endpoint}, needs {access}) -> "
                        f"{response.status_code}"
                    )
    assert checked > 0
    assert not problems, "an instructor of another course got in:\n" + "\n".join(problems)
