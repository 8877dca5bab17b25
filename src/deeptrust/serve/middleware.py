"""Pure-ASGI middleware around every request (not ``BaseHTTPMiddleware``: it sits on the hot path of
every upload).

``RequestMiddleware``: request id, body-size cap while streaming, security headers, metrics, access log.
``SiteGuard``: answers only to allowed ``Host`` names (DNS rebinding) and refuses state-changing requests
that a browser says come from another site (CSRF); both before any route runs.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deeptrust.serve.logs import request_id_var
from deeptrust.serve.metrics import Metrics
from deeptrust.serve.problems import PROBLEM_BASE, PROBLEM_JSON

log = logging.getLogger("deeptrust.access")

# Sent with every response unless the route set its own. The page's scripts, styles and images all come
# from /static (blob: and data: URLs for the images it builds); nothing may frame it.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class BodyTooLargeError(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body exceeds the limit of {limit:,} bytes")
        self.limit = limit


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()
        self.metrics.in_flight.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = message.setdefault("headers", [])
                present = {name.lower() for name, _ in out}
                out.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                out.append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        try:
            try:
                declared = int(headers.get(b"content-length", b"0") or 0)
            except ValueError:
                declared = self.max_body_bytes + 1  # unparseable: refuse rather than trust the stream
            if declared > self.max_body_bytes:
                limit = f"{self.max_body_bytes:,} bytes (DEEPTRUST_MAX_BODY_BYTES)"
                detail = f"request body exceeds the limit of {limit}"
                await send_problem(
                    scope,
                    send_wrapper,
                    413,
                    "payload-too-large",
                    detail,
                    title="Payload Too Large",
                    close=True,
                )
                return
            await self.app(scope, self._capped(receive), send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.in_flight.dec()
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.on_response(route, scope["method"], status, elapsed)
            log.info(
                "request",
                extra={"method": scope["method"], "path": scope["path"], "route": route, "status": status,
                       "duration_ms": round(elapsed * 1e3, 2), "client": (scope.get("client") or ("",))[0]},
            )  # fmt: skip
            request_id_var.reset(token)

    def _capped(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        return capped


class SiteGuard:
    """Refuses a ``Host`` outside ``allowed`` (400) and a cross-site state-changing request (403).

    A browser tricked into calling the service sends the attacker's host name after DNS rebinding, and
    ``Origin`` / ``Sec-Fetch-Site`` on a cross-site POST; clients that are not browsers send neither
    header and pass. The origin served is the ``Host`` asked for, already checked against ``allowed``.
    """

    def __init__(self, app: ASGIApp, *, allowed: tuple[str, ...]):
        self.app = app
        self.allowed = tuple(a.lower().rstrip(".") for a in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not self.host_allowed(host):
            detail = (
                f"this server does not answer to Host {host!r}; if that is its name, add it to "
                "DEEPTRUST_ALLOWED_HOSTS"
            )
            await send_problem(scope, send, 400, "host-not-allowed", detail)
            return
        if scope["method"] not in SAFE_METHODS:
            refusal = cross_site_refusal(headers, host)
            if refusal:
                await send_problem(scope, send, 403, "cross-site-request", refusal)
                return
        await self.app(scope, receive, send)

    def host_allowed(self, host: str) -> bool:
        name = host_name(host)
        for pattern in self.allowed:
            if pattern == "*" or name == pattern:
                return True
            if pattern.startswith("*.") and name.endswith(pattern[1:]):
                return True
        return False


def allowed_hosts(configured: list[str], listen_host: str) -> tuple[str, ...]:
    """``DEEPTRUST_ALLOWED_HOSTS``, else the loopback names plus the one address the server listens on."""
    if configured:
        return tuple(configured)
    listen = listen_host.lower().strip("[]")
    concrete = listen not in ("", "0.0.0.0", "::") and listen not in LOOPBACK_NAMES
    return LOOPBACK_NAMES + ((listen,) if concrete else ())


def host_name(host: str) -> str:
    """``Host`` without its port: ``[::1]:8000`` → ``::1``, ``Example.COM.:80`` → ``example.com``."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name.rstrip(".")


def cross_site_refusal(headers: dict[str, str], host: str) -> str:
    """Why a state-changing request is cross-site ('' when it is not): ``Origin`` must name the server
    itself and ``Sec-Fetch-Site`` (sent by browsers, unforgeable by pages) be same-origin or none.

    Behind a proxy that rewrites ``Host``, the name the browser used arrives as ``X-Forwarded-Host``; a
    cross-site page cannot add that header to a request it may send without CORS, so it counts too.
    """
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"a {site} request may not change anything here (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is None:
        return ""
    forwarded = headers.get("x-forwarded-host", "").split(",")[0]
    served = {_without_default_port(h.strip().lower()) for h in (host, forwarded) if h.strip()}
    if origin == "null" or _without_default_port(urlsplit(origin.lower()).netloc) not in served:
        shown = " or ".join(sorted(served)) or "no Host"
        return f"Origin {origin!r} is not this server ({shown}); requests from other sites are refused"
    return ""


def _without_default_port(netloc: str) -> str:
    for port in (":80", ":443"):
        if netloc.endswith(port):
            return netloc[: -len(port)]
    return netloc


async def send_problem(
    scope: Scope, send: Send, status: int, type_: str, detail: str, *, title: str = "", close: bool = False
) -> None:
    """A problem+json answer from middleware, before any route (and its exception handlers) runs."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": scope["path"],
        "request_id": scope.get("state", {}).get("request_id", ""),
    }
    payload = json.dumps(body).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
