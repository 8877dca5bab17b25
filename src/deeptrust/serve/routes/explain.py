"""``POST /v1/explain``: the prediction plus a CAM heatmap (JSON with base64 PNGs, or ``image/png``)."""

from __future__ import annotations

import asyncio
import base64
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from deeptrust.evidence.fusion import evidence_fields
from deeptrust.serve.deps import Caller, ServiceDep, Upload, decode_upload
from deeptrust.serve.problems import Problem
from deeptrust.serve.routes.predict import IMAGE_BODY, admitted
from deeptrust.serve.schemas import PROBLEM_RESPONSES, ExplainResponse

router = APIRouter(prefix="/v1", tags=["explain"])


def wants_png(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "image/png" in accept and "application/json" not in accept


@router.post(
    "/explain",
    summary="Prediction plus a heatmap of where the evidence is (Accept: image/png for the overlay alone)",
    response_model=ExplainResponse,
    responses=PROBLEM_RESPONSES | {200: {"content": {"image/png": {}}}},
    openapi_extra=IMAGE_BODY,
)
async def explain(request: Request, service: ServiceDep, caller: Caller, upload: Upload) -> Response:
    started = time.perf_counter()
    data, name = upload
    # Admitted like any scored image; then at most decode_threads explains hold a decoded image at once
    # (a 49 MP one costs ~800 MiB and seconds of CPU), the others wait holding only their bytes.
    with admitted(service):
        async with service.explain_slots:
            decoded = await decode_upload(service, data, name, keep_image=True)
            runtime = decoded.runtime
            if runtime.head is None:
                raise Problem(
                    422, f"model {runtime.card.name} has no feature output, so no heatmap", type_="no-heatmap"
                )
            t0 = time.perf_counter()
            loop = asyncio.get_running_loop()
            probs, heatmap, overlay = await loop.run_in_executor(
                service.decode_pool, runtime.explain, decoded
            )
            decoded.image = None  # the full-size copy goes now, not when the response is sent
    result = runtime.result(probs)
    result |= evidence_fields(result["p_ai"], result["threshold"], decoded.evidence)
    service.after_predict(caller, data, result, decoded)
    if wants_png(request):
        headers = {"X-Deeptrust-Label": result["label"], "X-Deeptrust-P-AI": f"{result['p_ai']:.6f}"}
        headers["X-Deeptrust-Verdict"] = result["verdict"]["label"]
        return Response(overlay, media_type="image/png", headers=headers)
    timings = decoded.timings_ms | {"explain": (time.perf_counter() - t0) * 1e3}
    timings["total"] = (time.perf_counter() - started) * 1e3
    body = {"request_id": request.state.request_id} | result
    body["image"] = {
        "sha256": decoded.sha256,
        "width": decoded.width,
        "height": decoded.height,
        "format": decoded.format,
        "bytes": decoded.bytes,
    }
    body["timings_ms"] = {k: round(v, 3) for k, v in timings.items()}
    body["heatmap_png"] = base64.b64encode(heatmap).decode()
    body["overlay_png"] = base64.b64encode(overlay).decode()
    return JSONResponse(body)
