"""Property-based run over the app's own OpenAPI schema (schemathesis 4): no 5xx, documented responses.

Each operation gets a bounded number of generated requests, valid and invalid (bodies, headers,
parameters), sent in-process to a fresh app on the tiny ``cifake`` model. Afterwards that same app must
still be ready and still answer a good prediction.

Why not ``@schema.parametrize()``: schemathesis' pytest plugin ends every ASGI lifespan after each test
and starts it again on the next request, and a deeptrust ``Service`` cannot be started twice (its decode
pool is shut down). So each operation gets its own app, and ``@given`` runs inside the test, which leaves
the app running for the checks that follow.
"""

from __future__ import annotations

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from deeptrust.serve.app import create_app

from .badinputs import good_jpeg
from .conftest import make_settings

MAX_EXAMPLES = 30
# Not status_code_conformance: several routes answer 404 (unknown model, unknown review item) without
# documenting it, which is a documentation gap rather than bad-input handling.
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
# Operations of the web/feedback module (another module, in progress) with known failures: reported, and
# kept visible here (non-strict xfail: they show as XPASS once fixed, then drop the entry).
KNOWN_FAILURES: dict[str, str] = {}


def fresh_app(home):
    return create_app(make_settings(home=home, max_body_bytes=1 << 20, max_image_pixels=4_000_000))


# The schema as the app publishes it (app.openapi() is what /openapi.json serves); nothing is started.
with tempfile.TemporaryDirectory(prefix="deeptrust-schema-") as _home:
    schema = schemathesis.openapi.from_dict(fresh_app(_home).openapi())
OPERATIONS = [result.ok() for result in schema.get_all_operations()]
PARAMS = [
    pytest.param(
        op,
        id=op.label,
        marks=[pytest.mark.xfail(reason=KNOWN_FAILURES[op.label])] if op.label in KNOWN_FAILURES else [],
    )
    for op in OPERATIONS
]


def test_the_schema_lists_the_service_operations():
    labels = {op.label for op in OPERATIONS}
    assert {"POST /v1/predict", "POST /v1/predict/batch", "POST /v1/explain", "GET /readyz"} <= labels


@pytest.mark.parametrize("operation", PARAMS)
def test_operation_never_errors_and_conforms(operation, tmp_path):
    app = fresh_app(tmp_path)
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run: a failure here is never a fluke
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        case.call_and_validate(app=app, checks=CHECKS)

    fuzz()
    with asgi.get_client(app) as client:  # the same app, lifespan still running
        assert client.get("/readyz").status_code == 200
        r = client.post("/v1/predict", data=good_jpeg(), headers={"content-type": "image/jpeg"})
        assert r.status_code == 200 and r.json()["image"]["width"] == 48
