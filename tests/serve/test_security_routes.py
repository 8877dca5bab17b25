"""Every route in the OpenAPI schema × every caller × every auth mode gets the answer its role table says.

The routes come from ``app.openapi()``, so a route added without the right dependency fails here: a route
not listed below must refuse anonymous callers wherever credentials are required (issue 17, finding 10).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from deeptrust.serve.app import create_app
from deeptrust.serve.auth import ROLES, KeyStore

from .conftest import make_settings

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}  # probes and scrapes, no data
NEEDS = {
    ("GET", "/v1/review"): "moderator",
    ("GET", "/v1/review/export"): "moderator",
    ("GET", "/v1/review/{item_id}/image"): "moderator",
    ("POST", "/v1/review/{item_id}"): "moderator",
    ("POST", "/v1/models/reload"): "admin",
    ("GET", "/v1/rollout"): "admin",
    ("POST", "/v1/rollout"): "admin",
    ("POST", "/v1/rollout/promote"): "admin",
    ("POST", "/v1/rollout/abort"): "admin",
    ("POST", "/v1/admin/retrain"): "admin",
    ("GET", "/v1/admin/jobs"): "admin",
    ("GET", "/v1/admin/jobs/{job_id}"): "admin",
}  # every other operation in the schema: the user role
OUTSIDE_SCHEMA = [("GET", "/"), ("GET", "/static/app.js"), ("GET", "/openapi.json")]  # the page: public
CALLERS = ("anonymous", *ROLES)
LAN = {"base_url": "http://192.0.2.1:8000", "client": ("192.0.2.7", 40000)}
MODES = {
    # name: (settings, TestClient options, what an anonymous caller is: None = refused with 401)
    "loopback": ({}, {}, "user"),
    "loopback-local-admin": ({"local_admin": True}, {}, "admin"),
    "required": ({"auth": "required"}, {}, None),
    "settings-loopback-socket-lan": ({"allowed_hosts": ["*"]}, LAN, None),  # uvicorn --host 0.0.0.0
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> tuple:
    home = tmp_path_factory.mktemp("routes-home")
    store = KeyStore(home / "api_keys.json")
    return home, {role: store.create(f"matrix-{role}", role=role)[1] for role in ROLES}


@pytest.fixture(params=list(MODES), scope="module")
def mode(request, keys) -> Iterator[tuple[str, TestClient, dict[str, str]]]:
    home, role_keys = keys
    overrides, client_options, _ = MODES[request.param]
    with TestClient(create_app(make_settings(home=home, **overrides)), **client_options) as client:
        yield request.param, client, role_keys


def operations(client: TestClient) -> list[tuple[str, str]]:
    schema = client.app.openapi()
    return [(method.upper(), path) for path, item in schema["paths"].items() for method in item]


def expected(operation: tuple[str, str], caller: str, anonymous_is: str | None) -> str:
    """'ok' (neither 401 nor 403), '401' or '403'."""
    if operation in PUBLIC:
        return "ok"
    role = anonymous_is if caller == "anonymous" else caller
    if role is None:
        return "401"
    return "ok" if ROLES.index(role) >= ROLES.index(NEEDS.get(operation, "user")) else "403"


def outcome(status: int) -> str:
    return str(status) if status in (401, 403) else "ok"


def test_the_role_table_names_only_real_routes(mode):
    _, client, _ = mode
    listed = set(operations(client))
    assert PUBLIC | set(NEEDS) <= listed, (PUBLIC | set(NEEDS)) - listed
    assert len(listed) >= 13  # predict, batch, explain, models, reload, probes, feedback, review…


def mismatches(name: str, client: TestClient, role_keys: dict[str, str]) -> list[str]:
    anonymous_is = MODES[name][2]
    wrong = []
    for method, template in operations(client):
        path = template.replace("{item_id}", "1")
        for caller in CALLERS:
            headers = {} if caller == "anonymous" else {"authorization": f"Bearer {role_keys[caller]}"}
            r = client.request(method, path, headers=headers)
            want, got = expected((method, template), caller, anonymous_is), outcome(r.status_code)
            if want != got:
                wrong.append(f"{name}: {caller} {method} {template} → {r.status_code}, expected {want}")
            elif got != "ok" and r.headers["content-type"] != "application/problem+json":
                wrong.append(f"{name}: {caller} {method} {template} → {r.status_code} is not a problem")
    return wrong


def test_every_route_answers_every_caller_as_its_role_says(mode):
    wrong = mismatches(*mode)
    assert not wrong, "\n".join(wrong)


def test_a_new_route_without_the_auth_dependency_is_caught(keys):
    home, role_keys = keys
    app = create_app(make_settings(home=home, auth="required"))

    @app.post("/v1/forgotten")
    async def forgotten() -> dict:  # no Caller: anyone may call it
        return {}

    with TestClient(app) as client:
        wrong = mismatches("required", client, role_keys)
    assert wrong == ["required: anonymous POST /v1/forgotten → 200, expected 401"]


def test_the_page_and_schema_stay_public(mode):
    _, client, _ = mode
    for method, path in OUTSIDE_SCHEMA:
        assert client.request(method, path).status_code == 200, path
