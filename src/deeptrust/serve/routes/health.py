"""``/healthz`` (the process is alive), ``/readyz`` (model loaded and warmed), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from deeptrust.serve.deps import ServiceDep
from deeptrust.serve.service import Service

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="The model is loaded and warmed and the batcher runs")
async def readyz(service: ServiceDep) -> JSONResponse:
    ready = service.ready
    body = {"status": "ready" if ready else "starting", "model": service.holder.current.info}
    if (drift := service.extras.get("drift")) is not None:  # informational: never affects readiness
        body["drift"] = drift.readiness()
    body["registry"] = registry_health(service)
    return JSONResponse(body, status_code=200 if ready else 503)


def registry_health(service: Service) -> dict:
    """Where the model came from; when from the registry, whether it answers (else: served from cache)."""
    from deeptrust.registry.health import registry_status

    status = registry_status(service.holder.current.resolution, service.settings)
    service.metrics.registry_reachable.set(0 if status.get("reachable") is False else 1)
    return status


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(service: ServiceDep) -> Response:
    registry_health(service)  # the registry gauge is as fresh as the scrape (a probe at most every 15 s)
    body, content_type = service.metrics.render()
    return Response(body, media_type=content_type)
