"""One pure-ASGI middleware per request: request id, body-size cap while streaming, metrics, access log.

Pure ASGI (not ``BaseHTTPMiddleware``) because it sits on the hot path of every upload.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deeptrust.serve.logs import request_id_var
from deeptrust.serve.metrics import Metrics
from deeptrust.serve.problems import PROBLEM_BASE, PROBLEM_JSON

log = logging.getLogger("deeptrust.access")


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
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        try:
            try:
                declared = int(headers.get(b"content-length", b"0") or 0)
            except ValueError:
                declared = self.max_body_bytes + 1  # unparseable: refuse rather than trust the stream
            if declared > self.max_body_bytes:
                status = 413
                await _too_large(send, self.max_body_bytes, request_id, scope["path"])
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


async def _too_large(send: Send, limit: int, request_id: str, path: str) -> None:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + "payload-too-large",
        "title": "Payload Too Large",
        "status": 413,
        "detail": f"request body exceeds the limit of {limit:,} bytes (DEEPTRUST_MAX_BODY_BYTES)",
        "instance": path,
        "request_id": request_id,
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", request_id.encode("latin-1")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
