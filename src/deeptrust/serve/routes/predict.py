"""``POST /v1/predict`` and ``POST /v1/predict/batch``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from deeptrust.evidence.fusion import evidence_fields
from deeptrust.serve.auth import Principal
from deeptrust.serve.batching import BatcherClosedError, QueueFullError
from deeptrust.serve.deps import Caller, Identity, ServiceDep, Upload, charge, decode_upload
from deeptrust.serve.problems import Problem
from deeptrust.serve.runtime import Decoded
from deeptrust.serve.schemas import PROBLEM_RESPONSES, BatchResponse, PredictResponse
from deeptrust.serve.service import OverloadedError, Service

router = APIRouter(prefix="/v1", tags=["predict"])

IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/webp": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def score(service: Service, decoded: Decoded, caller: Principal, data: bytes) -> dict[str, Any]:
    """Queue one decoded upload for the model; shed load with 503 when the queue is full."""
    started = time.perf_counter()
    try:
        probs = await service.batcher.submit(decoded)
    except QueueFullError as exc:
        service.metrics.shed.inc()
        raise Problem(
            503, f"server busy: {exc}; retry shortly", headers={"Retry-After": "1"}, type_="overloaded"
        ) from exc
    except BatcherClosedError as exc:
        raise Problem(
            503, "server is shutting down", headers={"Retry-After": "1"}, type_="unavailable"
        ) from exc
    result = decoded.runtime.result(probs)
    result |= evidence_fields(result["p_ai"], result["threshold"], decoded.evidence)
    service.observe(decoded, data, result)
    result["image"] = {
        "sha256": decoded.sha256,
        "width": decoded.width,
        "height": decoded.height,
        "format": decoded.format,
        "bytes": decoded.bytes,
    }
    result["timings_ms"] = decoded.timings_ms | {"queue_and_inference": (time.perf_counter() - started) * 1e3}
    service.after_predict(caller, data, result, decoded)  # with timings: the rollout's per-version latency
    return result


@contextlib.contextmanager
def admitted(service: Service, n: int = 1) -> Iterator[None]:
    try:
        with service.admit(n):
            yield
    except OverloadedError as exc:
        raise Problem(
            503, f"server busy: {exc}; retry shortly", headers={"Retry-After": "1"}, type_="overloaded"
        ) from exc


def _finish(request: Request, result: dict[str, Any], started: float) -> dict[str, Any]:
    result["timings_ms"]["total"] = (time.perf_counter() - started) * 1e3
    result["timings_ms"] = {k: round(v, 3) for k, v in result["timings_ms"].items()}
    return {"request_id": request.state.request_id} | result


@router.post(
    "/predict",
    summary="Is this image AI-generated?",
    response_model=PredictResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra=IMAGE_BODY,
)
async def predict(request: Request, service: ServiceDep, caller: Caller, upload: Upload) -> JSONResponse:
    started = time.perf_counter()
    data, name = upload
    with admitted(service):
        decoded = await decode_upload(service, data, name)
        result = await score(service, decoded, caller, data)
    return JSONResponse(_finish(request, result, started))


@router.post(
    "/predict/batch",
    summary="Score up to max_batch_images images; a bad image yields an error entry, not a failed request",
    response_model=BatchResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["files"],
                        "properties": {
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                        },
                    }
                }
            },
        }
    },
)
async def predict_batch(request: Request, service: ServiceDep, caller: Identity) -> JSONResponse:
    limit = service.settings.max_batch_images
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise Problem(
            415,
            "expected multipart/form-data with one or more 'files' fields",
            type_="unsupported-media-type",
        )
    try:
        form = await request.form(max_files=limit, max_fields=limit + 20)
    except HTTPException as exc:
        if "Too many files" in str(exc.detail):
            raise Problem(
                422, f"more than {limit} images sent; at most {limit} per batch", type_="too-many-images"
            ) from exc
        raise
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not uploads:
        raise Problem(
            422, "expected one or more images in multipart fields named 'files'", type_="missing-file"
        )
    if len(uploads) > limit:
        raise Problem(422, f"{len(uploads)} images sent; at most {limit} per batch", type_="too-many-images")
    await charge(request, service, caller, images=len(uploads))  # one rate-limit token per image
    with admitted(service, len(uploads)):
        items = await asyncio.gather(*(_one(request, service, caller, f) for f in uploads))
    errors = sum(not item["ok"] for item in items)
    return JSONResponse(
        {"request_id": request.state.request_id, "n": len(items), "errors": errors, "results": items}
    )


async def _one(request: Request, service: Service, caller: Principal, upload: UploadFile) -> dict[str, Any]:
    started = time.perf_counter()
    name = upload.filename or "upload"
    try:
        data = await upload.read()
        if not data:
            raise Problem(400, f"the upload {name!r} is empty (0 bytes)", type_="empty-upload")
        result = await score(service, await decode_upload(service, data, name), caller, data)
    except Problem as exc:
        return {"filename": name, "ok": False, "error": exc.to_dict()}
    return {"filename": name, "ok": True, "result": _finish(request, result, started)}
