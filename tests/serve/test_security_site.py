"""What a web page, a rebinding DNS name or a remote caller can make the service do (issue 17: 1, 2, 7, 8).

In-process with TestClient, whose ``client`` and ``base_url`` set the peer and the socket the request
reached; one test runs the app under plain ``uvicorn --factory --host 0.0.0.0``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from deeptrust.serve.app import create_app
from deeptrust.serve.auth import KeyStore
from deeptrust.serve.middleware import host_name

from .conftest import REPO, free_port, jpeg_bytes, make_settings

JPEG = {"content-type": "image/jpeg"}
LOOPBACK = {"base_url": "http://127.0.0.1:8000", "client": ("127.0.0.1", 40000)}


@pytest.fixture
def start() -> Iterator:
    """``start(client_kwargs, **settings)``: an app like ``deeptrust serve`` builds it, on loopback."""
    clients: list[TestClient] = []

    def run(client: dict | None = None, **overrides) -> TestClient:
        settings = make_settings(**({"allowed_hosts": []} | overrides))  # the real default names
        c = TestClient(create_app(settings), **(client or LOOPBACK))
        clients.append(c.__enter__())
        return c

    yield run
    for c in clients:
        c.__exit__(None, None, None)


def is_problem(r: httpx.Response, status: int, type_: str) -> bool:
    return (
        r.status_code == status
        and r.headers["content-type"] == "application/problem+json"
        and r.json()["type"].endswith(type_)
    )


# -- 1. anonymous loopback callers are users, not admins --


def test_anonymous_loopback_callers_are_users_only(start, isolated_home):
    c = start()
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=JPEG).status_code == 200
    for method, path in (("POST", "/v1/models/reload"), ("GET", "/v1/review"), ("GET", "/v1/review/export")):
        r = c.request(method, path)
        assert is_problem(r, 403, "forbidden"), (path, r.status_code, r.text)
        assert "anonymous has ['user']" in r.json()["detail"]
    admin = KeyStore(isolated_home / "api_keys.json").create("ops", role="admin")[1]
    assert c.post("/v1/models/reload", headers={"authorization": f"Bearer {admin}"}).status_code == 200


def test_local_admin_opt_in_gives_the_local_user_every_role(start):
    c = start(local_admin=True)
    assert c.post("/v1/models/reload").status_code == 200
    assert c.get("/v1/review").status_code == 200


def test_local_admin_does_not_reach_beyond_loopback(start):
    """DEEPTRUST_LOCAL_ADMIN is for the laptop's own user; a caller from the LAN still needs a key."""
    remote = {"base_url": "http://192.0.2.1:8000", "client": ("192.0.2.7", 40000)}
    c = start(remote, local_admin=True, allowed_hosts=["*"])
    r = c.post("/v1/models/reload")
    assert is_problem(r, 401, "unauthorized") and r.headers["www-authenticate"].startswith("Bearer")


# -- 1. Host names: DNS rebinding --


def test_a_rebound_host_name_is_refused_before_any_route(start):
    c = start(local_admin=True)  # even where the local user may export everything
    for path in ("/v1/review/export", "/", "/v1/models", "/metrics"):
        r = c.get(path, headers={"host": "rebound.evil.example"})
        assert is_problem(r, 400, "host-not-allowed"), (path, r.status_code)
        assert "DEEPTRUST_ALLOWED_HOSTS" in r.json()["detail"]
        assert r.headers["x-frame-options"] == "DENY"  # refusals carry the headers too
    assert c.get("/v1/review/export").status_code == 200  # the same request under the real name


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST.", "[::1]:8000", "127.0.0.1", "localhost"]
)
def test_loopback_names_are_allowed_by_default(start, host):
    assert start().get("/healthz", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    ("allowed", "host", "ok"),
    [
        (["detector.example.com"], "detector.example.com:443", True),
        (["detector.example.com"], "localhost:8000", False),  # a configured list replaces the defaults
        (["*.example.com"], "a.example.com", True),
        (["*.example.com"], "evil-example.com", False),
        (["*"], "anything.example", True),
    ],
)
def test_allowed_hosts_setting(start, allowed, host, ok):
    r = start(allowed_hosts=allowed).get("/healthz", headers={"host": host})
    assert r.status_code == (200 if ok else 400)


def test_allowed_hosts_from_the_environment_and_the_listen_address(monkeypatch, start):
    monkeypatch.setenv("DEEPTRUST_ALLOWED_HOSTS", "a.example, B.example")
    from deeptrust.settings import Settings

    assert Settings().allowed_hosts == ["a.example", "b.example"]
    c = start(host="192.0.2.1", allowed_hosts=[], auth="required", jwt_secret="k" * 32)
    assert c.get("/healthz", headers={"host": "192.0.2.1:8000"}).status_code == 200  # its own address
    assert c.get("/healthz", headers={"host": "192.0.2.99:8000"}).status_code == 400


def test_host_name_parsing():
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM.:80") == "example.com"
    assert host_name("::1") == "::1" and host_name("") == ""


# -- 1. cross-site requests --


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"origin": "https://evil.example"}, 403),
        ({"origin": "null"}, 403),  # sandboxed frames and file:// pages
        ({"origin": "http://127.0.0.1:9999"}, 403),  # another port is another origin
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),
        ({"origin": "http://127.0.0.1:8000", "sec-fetch-site": "same-origin"}, 200),  # the page itself
        ({"sec-fetch-site": "none"}, 200),  # typed by the user
        ({}, 200),  # curl, scripts: no browser, no ambient credentials to abuse
    ],
)
def test_state_changing_requests_from_other_sites_are_refused(start, headers, status):
    r = start().post("/v1/predict", content=jpeg_bytes(), headers=JPEG | headers)
    assert r.status_code == status, r.text
    if status == 403:
        assert is_problem(r, 403, "cross-site-request")


@pytest.mark.parametrize(
    ("forwarded_host", "status"),
    [("detector.example.com", 200), ("detector.example.com, proxy.internal", 200), ("other.example", 403)],
)
def test_behind_a_proxy_that_rewrites_host_the_forwarded_host_is_the_origin(start, forwarded_host, status):
    c = start(auth="required", jwt_secret="k" * 32)  # behind a proxy: credentials required anyway
    token = jwt.encode({"sub": "page", "exp": time.time() + 60}, "k" * 32, algorithm="HS256")
    headers = JPEG | {
        "authorization": f"Bearer {token}",
        "origin": "https://detector.example.com",
        "x-forwarded-host": forwarded_host,  # nginx: Host is 127.0.0.1:8000, the browser's name is here
        "sec-fetch-site": "same-origin",
    }
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=headers).status_code == status


def test_a_foreign_page_cannot_post_feedback_or_reload(start):
    c = start(local_admin=True)
    foreign = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    files = {"file": ("x.jpg", jpeg_bytes(), "image/jpeg")}
    form = {"predicted_label": "REAL", "corrected_label": "FAKE", "p_ai": "0.4", "model_version": "1"}
    assert is_problem(
        c.post("/v1/feedback", files=files, data=form, headers=foreign), 403, "cross-site-request"
    )
    assert is_problem(c.post("/v1/models/reload", headers=foreign), 403, "cross-site-request")
    assert c.get("/v1/models", headers=foreign).status_code == 200  # reads are not refused by origin


# -- 2. where the server really listens --


def test_remote_callers_need_credentials_even_when_settings_say_loopback(start, isolated_home):
    """``uvicorn --factory … --host 0.0.0.0``: the settings say 127.0.0.1, the socket says otherwise."""
    remote = {"base_url": "http://192.0.2.1:8000", "client": ("192.0.2.7", 40000)}
    c = start(remote, allowed_hosts=["*"])
    for method, path in (("POST", "/v1/predict"), ("POST", "/v1/models/reload"), ("GET", "/v1/models")):
        assert is_problem(c.request(method, path, headers=JPEG), 401, "unauthorized"), path
    user = KeyStore(isolated_home / "api_keys.json").create("lan", role="user")[1]
    auth = JPEG | {"authorization": f"Bearer {user}"}
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=auth).status_code == 200


def test_requests_through_a_proxy_on_loopback_need_credentials(start):
    c = start()  # a reverse proxy on the same machine connects from 127.0.0.1 and says who it forwards
    r = c.post("/v1/predict", content=jpeg_bytes(), headers=JPEG | {"x-forwarded-for": "198.51.100.4"})
    assert is_problem(r, 401, "unauthorized")


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (the route out), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent over UDP by connect()
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_plain_uvicorn_on_all_interfaces_serves_no_admin_route_without_credentials(isolated_home):
    address = non_loopback_address()
    if address is None:
        pytest.fail("this test needs a non-loopback IPv4 address on the machine (none found)")
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "deeptrust.serve.app:create_app",
           "--host", "0.0.0.0", "--port", str(port)]  # fmt: skip
    env = os.environ | {"DEEPTRUST_HOME": str(isolated_home), "DEEPTRUST_MODEL": "cifake",
                        "DEEPTRUST_ALLOWED_HOSTS": "*", "DEEPTRUST_LOCAL_ADMIN": "true"}  # fmt: skip
    log = (isolated_home / "uvicorn.log").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://{address}:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (isolated_home / "uvicorn.log").read_text()
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "uvicorn did not become ready"
                time.sleep(0.3)
        for method, path in (
            ("POST", "/v1/models/reload"),
            ("GET", "/v1/review/export"),
            ("GET", "/v1/models"),
        ):
            r = httpx.request(method, url + path, timeout=10)
            assert r.status_code == 401, (path, r.status_code, r.text)
        assert httpx.get(url + "/docs", timeout=10).status_code == 404  # CDN scripts: loopback only
        local = f"http://127.0.0.1:{port}"  # the machine's own user, who opted in to local admin
        assert httpx.post(local + "/v1/models/reload", timeout=60).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)


# -- 7. tokens --


def test_a_token_with_roles_of_the_wrong_type_is_a_401_problem(start):
    secret = "k" * 32
    c = start(auth="required", jwt_secret=secret)
    token = jwt.encode({"sub": "mallory", "exp": time.time() + 60, "roles": 5}, secret, algorithm="HS256")
    r = c.get("/v1/models", headers={"authorization": f"Bearer {token}"})
    assert is_problem(r, 401, "unauthorized") and "'roles' claim must be a list" in r.json()["detail"]


def test_serve_refuses_a_short_jwt_secret_at_start(isolated_home):
    cmd = [sys.executable, "-m", "deeptrust.cli", "serve", "--port", str(free_port())]
    env = os.environ | {"DEEPTRUST_HOME": str(isolated_home), "DEEPTRUST_JWT_SECRET": "x"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    out = " ".join((done.stderr + done.stdout).split())
    assert "DEEPTRUST_JWT_SECRET is 1 bytes; HS256 needs at least 32" in out and "Traceback" not in out


# -- 8. headers --


def test_every_response_carries_the_security_headers(start):
    c = start()
    for r in (
        c.get("/"),
        c.get("/static/app.js"),
        c.get("/v1/models"),
        c.post("/v1/predict", content=b"nope", headers=JPEG),  # an error
        c.post("/v1/predict", content=b"x", headers=JPEG | {"content-length": str(1 << 30)}),  # 413
    ):
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_the_page_needs_nothing_the_policy_forbids(start):
    """No inline script or style, no handler attributes, nothing from another origin, no eval."""
    import re

    from deeptrust.web import STATIC_DIR

    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and "<style" not in html
    assert not re.search(r"\son[a-z]+=", html) and not re.search(r"\sstyle=", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    js = (STATIC_DIR / "app.js").read_text()
    assert "eval(" not in js and "new Function" not in js and "innerHTML" not in js
    assert not re.search(r"setAttribute\(\s*[\"']style", js) and "style:" not in js


def test_docs_are_for_loopback_callers_and_never_framed(start):
    c = start()
    docs = c.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    csp = docs.headers["content-security-policy"]
    assert (
        "frame-ancestors 'none'" in csp and "'sha256-" in csp and "script-src https://cdn.jsdelivr.net" in csp
    )
    assert "unsafe-eval" not in csp and docs.headers["x-frame-options"] == "DENY"
    assert c.get("/redoc").status_code == 200
    remote = {"base_url": "http://192.0.2.1:8000", "client": ("192.0.2.7", 40000)}
    lan = start(remote, allowed_hosts=["*"])
    assert lan.get("/docs").status_code == 404 and lan.get("/redoc").status_code == 404
    assert lan.get("/openapi.json").status_code == 200  # the schema itself holds no secret
    assert start(docs=False).get("/docs").status_code == 404
    assert start(remote, allowed_hosts=["*"], docs=True).get("/docs").status_code == 200


def test_anonymous_local_admins_are_rate_limited_per_address(start):
    c = start(local_admin=True, rate_limit_per_s=0.1, rate_limit_burst=1)
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=JPEG).status_code == 200
    r = c.post("/v1/predict", content=jpeg_bytes(), headers=JPEG)
    assert is_problem(r, 429, "rate-limited") and "for ip:127.0.0.1 " in r.json()["detail"]
