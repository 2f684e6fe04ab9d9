"""Property-based API tests generated from the OpenAPI document (schemathesis)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings
from schemathesis.config import SchemathesisConfig

from lms_core.api.openapi import document
from lms_core.services import tokens as token_service

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 8,
        "generation": {
            "mode": "all",
            "max-examples": 30,
            "deterministic": True,
            # Parameters an operation does not list are ignored, as the document says.
            "allow-extra-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # Schema-valid input may still break a rule only the service knows (an email
            # address that does not exist, an empty title): a documented 422.
            "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 403, 404, 409, 422]},
        },
    }
)


class _Site:
    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


SITE = _Site()
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)
schema.app = SITE


@pytest.fixture
def people(app, lms, factory):
    SITE.app = app
    admin = factory.admin("ada@example.com", name="Ada")
    learner = factory.user("lee@example.com", name="Lee")
    course = factory.course("SAFE-101", lessons=2)
    factory.enrollment(learner, course)
    out = {}
    for who in (admin, learner):
        with lms.transaction(who) as ctx:
            _row, secret = token_service.create_token(ctx, who, "props")
        out[who.email] = {"Authorization": f"Bearer {secret}"}
    return out


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=5000)
def test_as_admin(case, people):
    case.call_and_validate(headers=people["ada@example.com"])


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=5000)
def test_as_learner(case, people):
    case.call_and_validate(headers=people["lee@example.com"])
