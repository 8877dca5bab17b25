"""Dependencies as ``Annotated`` aliases: the service, the authenticated caller, role checks, uploads."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import UploadFile

from deeptrust.imageio import ImageError, ImageTooLargeError, UnsupportedImageError
from deeptrust.serve.auth import (
    ANONYMOUS,
    KEY_PREFIX,
    LOCAL_ADMIN,
    AuthError,
    Principal,
    is_local_connection,
)
from deeptrust.serve.problems import Problem
from deeptrust.serve.ratelimit import RateLimitUnavailableError
from deeptrust.serve.runtime import Decoded, Inspector, ModelRuntime
from deeptrust.serve.service import Service

IMAGE_TYPES = ("image/", "application/octet-stream")


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def identify(request: Request, service: ServiceDep) -> Principal:
    """API key (``Authorization: Bearer dt_…`` or ``X-API-Key``) or JWT bearer; no rate limit yet."""
    principal = _identify(request, service)
    request.state.principal = principal
    return principal


Identity = Annotated[Principal, Depends(identify)]  # routes that charge per image call ``charge``


async def authenticate(request: Request, service: ServiceDep, principal: Identity) -> Principal:
    """The caller, after one rate-limit token for this request (one image for predict and explain)."""
    await charge(request, service, principal, images=1)
    return principal


async def charge(request: Request, service: Service, principal: Principal, *, images: int) -> None:
    """Take one token per image from the caller's bucket, all or nothing: 429 when short, and 503 when
    Redis cannot be asked, unless ``DEEPTRUST_RATE_LIMIT_FAIL_OPEN`` lets the request through."""
    limiter = service.limiter
    if limiter is None:
        return
    anonymous = principal.method == "anonymous"  # ANONYMOUS or LOCAL_ADMIN: one bucket per address
    key = f"ip:{(request.client or ('?',))[0]}" if anonymous else principal.subject
    if images > limiter.burst:
        service.metrics.rate_limited.inc()
        raise Problem(
            429,
            f"{images} images in one request, but the rate limit for {key} allows at most {limiter.burst} "
            f"at once (DEEPTRUST_RATE_LIMIT_BURST); send at most {limiter.burst} per request",
            type_="batch-over-rate-limit",
        )
    try:
        decision = await limiter.hit(key, images)
    except RateLimitUnavailableError as exc:  # the limiter logs the outage, with Redis's address
        service.metrics.rate_limit_unavailable.inc()
        if service.settings.rate_limit_fail_open:
            return
        raise Problem(
            503, "rate limits cannot be checked right now (their store does not answer); retry shortly",
            headers={"Retry-After": "5"}, type_="rate-limit-unavailable",
        ) from exc  # fmt: skip
    if not decision.allowed:
        service.metrics.rate_limited.inc()
        raise Problem(
            429,
            f"rate limit of {limiter.rate:g} images/s exceeded for {key} ({images} asked); retry later",
            headers={"Retry-After": str(max(1, math.ceil(decision.retry_after)))},
            type_="rate-limited",
        )


def _identify(request: Request, service: ServiceDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if header and scheme.lower() != "bearer":
        raise _unauthorized(f"expected 'Authorization: Bearer <key or token>', got scheme {scheme!r}")
    token = token.strip() or request.headers.get("x-api-key", "").strip()
    if not token:
        if service.auth_required or not is_local_connection(request.scope):
            raise _unauthorized("credentials required: send 'Authorization: Bearer <API key or JWT>'")
        return LOCAL_ADMIN if service.settings.local_admin else ANONYMOUS
    try:
        if token.startswith(KEY_PREFIX):
            return service.keys.verify(token)
        if service.jwt.enabled:
            return service.jwt.verify(token)
        raise AuthError("unknown API key (and no JWT verification is configured)")
    except AuthError as exc:
        raise _unauthorized(exc.detail) from exc


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, detail, headers={"WWW-Authenticate": 'Bearer realm="deeptrust"'}, type_="unauthorized"
    )


Caller = Annotated[Principal, Depends(authenticate)]


def require_role(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Caller) -> Principal:
        if not principal.has(role):
            raise Problem(
                403, f"this needs the {role} role; {principal.subject} has {sorted(principal.roles)}"
            )
        return principal

    return check


Moderator = Annotated[Principal, Depends(require_role("moderator"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]


async def read_upload(request: Request) -> tuple[bytes, str]:
    """One image from a multipart ``file`` field or a raw image body → (bytes, filename)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=20)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Problem(422, "expected the image in a multipart field named 'file'", type_="missing-file")
        data = await upload.read()
        name = upload.filename or "upload"
    elif content_type.startswith(IMAGE_TYPES):
        data, name = await request.body(), "body"
    else:
        raise Problem(
            415,
            "expected multipart/form-data with a 'file' field, or a raw body with an image content type "
            f"(image/jpeg, image/png, image/webp…), got {content_type or 'no content type'!r}",
            type_="unsupported-media-type",
        )
    if not data:
        raise Problem(400, f"the upload {name!r} is empty (0 bytes)", type_="empty-upload")
    return data, name


Upload = Annotated[tuple[bytes, str], Depends(read_upload)]


def image_problem(exc: ImageError, name: str) -> Problem:
    if isinstance(exc, UnsupportedImageError):
        status = 415
    elif isinstance(exc, ImageTooLargeError):
        status = 422
    else:
        status = 400
    return Problem(status, f"{name}: {exc}", type_=exc.reason.replace("_", "-"))


async def decode_upload(service: Service, data: bytes, name: str, *, keep_image: bool = False) -> Decoded:
    """Decode and preprocess in the decode thread pool: never on the event loop."""
    route = None if keep_image else service.route_upload  # a canary's share (deeptrust.rollout)
    runtime = route() if route is not None else service.holder.current
    loop = asyncio.get_running_loop()
    try:
        decoded = await loop.run_in_executor(
            service.decode_pool, _decode, runtime, data, keep_image, service.collect_evidence
        )
    except ImageError as exc:
        service.metrics.image_errors.labels(exc.reason).inc()
        raise image_problem(exc, name) from exc
    service.metrics.on_decoded(sum(decoded.timings_ms.values()) / 1e3)
    return decoded


def _decode(runtime: ModelRuntime, data: bytes, keep_image: bool, inspect: Inspector) -> Decoded:
    return runtime.decode(data, keep_image=keep_image, inspect=inspect)
