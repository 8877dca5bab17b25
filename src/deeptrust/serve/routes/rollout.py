"""The rollout admin API (admin role): ``GET /v1/rollout``, ``POST /v1/rollout`` (start),
``POST /v1/rollout/promote``, ``POST /v1/rollout/abort``. The logic lives in ``deeptrust.rollout``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from deeptrust import rollout
from deeptrust.rollout import RolloutError, Thresholds
from deeptrust.serve.deps import Admin, ServiceDep
from deeptrust.serve.problems import Problem
from deeptrust.serve.schemas import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/rollout", tags=["rollout"])
RESPONSES = PROBLEM_RESPONSES | {409: PROBLEM_RESPONSES[422]}


class AbortLimits(BaseModel):
    """Overrides of the automatic-abort thresholds (DEEPTRUST_ROLLOUT_* by default); 0 turns a limit off."""

    window_s: float | None = Field(default=None, gt=0)
    min_requests: int | None = Field(default=None, ge=1)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    max_p95_ms: float | None = Field(default=None, ge=0)
    max_disagreement: float | None = Field(default=None, ge=0, le=1)
    abort_on_drift: bool | None = None


class StartRequest(BaseModel):
    model: str = Field(
        min_length=1, description="the challenger: a name, a registry reference or an allowed path"
    )
    mode: Literal["shadow", "canary"] = Field(
        description="shadow (scores a sample off the request path) or canary (answers a share)"
    )
    share: float = Field(ge=0, le=1, description="shadow: the share of requests scored; canary: answered")
    abort: AbortLimits | None = None


def _rollout(service: Any) -> Any:
    return service.extras["rollout"]


def _problem(exc: RolloutError) -> Problem:
    return Problem(exc.status, str(exc), type_=exc.type_)


@router.get("", responses=RESPONSES, summary="The rollout's state, its window and how the last one ended")
async def rollout_status(service: ServiceDep, admin: Admin) -> dict[str, Any]:
    return _rollout(service).status()


@router.post("", responses=RESPONSES, summary="Start a challenger in shadow or canary mode")
async def start_rollout(body: StartRequest, service: ServiceDep, admin: Admin) -> dict[str, Any]:
    controller = _rollout(service)
    try:
        limits = None
        if body.abort is not None:
            given = body.abort.model_dump(exclude_none=True)
            limits = Thresholds(**(vars(controller.default_thresholds()) | given))
        return await controller.start(body.model, mode=body.mode, share=body.share, thresholds=limits)
    except RolloutError as exc:
        raise _problem(exc) from exc


@router.post("/promote", responses=RESPONSES, summary="Make the challenger the champion (hot swap)")
async def promote_rollout(service: ServiceDep, admin: Admin) -> dict[str, Any]:
    try:
        return await _rollout(service).promote()
    except RolloutError as exc:
        raise _problem(exc) from exc


@router.post("/abort", responses=RESPONSES, summary="Stop the challenger; the champion answers everything")
async def abort_rollout(service: ServiceDep, admin: Admin) -> dict[str, Any]:
    try:
        return await _rollout(service).abort()
    except RolloutError as exc:
        raise _problem(exc) from exc


def install(app: FastAPI, service: Any) -> None:
    rollout.install(service)
    app.include_router(router)
