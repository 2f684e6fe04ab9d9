"""Property-based tests of the JSON API, generated from its own OpenAPI document.

Schemathesis reads the document the API serves (``/api/v1/openapi.json``, built from the
route registry) and, for every operation, sends valid and invalid requests through WSGI (no
network), as an admin and as a learner with real API tokens. Every response must:

* not be a server error (5xx);
* have a status, content type and headers the document lists for that operation;
* match the response schema the document gives;
* refuse what the document says is invalid (4xx), and accept what it says is valid (2xx, or
  the documented 401/403/404/409/422 when a rule only the service knows says no: an email that
  belongs to nobody, an empty title).

Bounded to run in about a minute on the CI machine: a fixed seed, deterministic generation,
30 examples per operation and phase, no stateful phase, and a per-example deadline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings
from schemathesis.config import SchemathesisConfig

from lms_core.api.openapi import document
from lms_core.services import groups as group_service
from lms_core.services import tokens as token_service

# CI runs one fixed seed; explore further with e.g. LMS_PROPERTY_SEED=3 LMS_PROPERTY_EXAMPLES=200.
SEED = int(os.environ.get("LMS_PROPERTY_SEED", "8"))
EXAMPLES = int(os.environ.get("LMS_PROPERTY_EXAMPLES", "30"))

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",  # valid and invalid requests
            "max-examples": EXAMPLES,
            "deterministic": True,
            # Parameters an operation does not list are ignored, as the document says.
            "allow-extra-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 403, 404, 409, 422]},
        },
    }
)

PROPERTY_SETTINGS = settings(
    # The site (database, app) is set up once per operation, not per generated request:
    # each request is independent of what earlier ones wrote.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    deadline=5000,  # ms per request; a generous bound that still stops a hang
    database=None,  # nothing remembered between runs: CI runs what a developer runs
)


class _Site:
    """The WSGI app of the running test.

    Schemathesis binds the operations to an app when the module is collected; the app
    (with its database) is made per test by the fixtures, so this forwards to it.
    """

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


SITE = _Site()
# The document the API serves is document() (test_the_served_document_is_the_one_tested).
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)
schema.app = SITE


@schema.hook("filter_query")
def _values_a_query_string_can_carry(context: Any, query: dict[str, Any] | None) -> bool:
    """Leave out generated query values that have no query-string form.

    An empty object or list goes on the wire as ``per_page=`` (or as nothing), which the
    document allows (empty means not given), so the case would be called schema-violating
    when the request it sends is not.
    """
    return not any(value in ({}, []) for value in (query or {}).values())


@pytest.fixture
def callers(app, lms, factory) -> Iterator[dict[str, dict[str, str]]]:
    """An admin and a learner with tokens, and something for the ids to find (named, not
    numbered, so the responses, and what is generated from them, are the same in every run)."""
    SITE.app = app
    admin = factory.admin("ada@example.com", name="Ada")
    learner = factory.user("lee@example.com", name="Lee", department="Sales")
    course = factory.course("SAFE-101", title="Safety", lessons=2)
    factory.course("DRAFT-1", title="Draft", publish=False)
    factory.enrollment(learner, course)
    with lms.transaction(admin) as ctx:
        group = group_service.create_group(ctx, "Sales team", rule={"department": "Sales"})
        assert group.id == 1
    out = {}
    for name, who in (("admin", admin), ("learner", learner)):
        with lms.transaction(who) as ctx:
            _row, secret = token_service.create_token(ctx, who, "properties")
        out[name] = {"Authorization": f"Bearer {secret}"}
    yield out
    SITE.app = None


@schema.parametrize()
@PROPERTY_SETTINGS
def test_as_admin(case, callers):
    case.call_and_validate(headers=callers["admin"])


@schema.parametrize()
@PROPERTY_SETTINGS
def test_as_learner(case, callers):
    case.call_and_validate(headers=callers["learner"])


def test_the_served_document_is_the_one_tested(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == document()
