"""``GET /v1/models`` (cards) and ``POST /v1/models/reload`` (admin: hot swap without dropping requests)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from deeptrust.registry import iter_models, resolve_model
from deeptrust.serve.deps import Admin, Caller, ServiceDep
from deeptrust.serve.problems import Problem
from deeptrust.serve.schemas import PROBLEM_RESPONSES, ModelRef, ModelsResponse, ReloadRequest

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelsResponse, responses=PROBLEM_RESPONSES)
async def list_models(service: ServiceDep, caller: Caller) -> dict:
    current = service.holder.current
    cards = [dataclasses.asdict(card) | {"path": str(path)} for path, card in iter_models()]
    if not any(c["name"] == current.card.name for c in cards):
        cards.insert(0, dataclasses.asdict(current.card) | {"path": str(current.detector.path.parent)})
    return {"default": current.card.name, "loaded": current.info, "models": cards}


@router.post("/reload", response_model=ModelRef, responses=PROBLEM_RESPONSES)
async def reload_model(service: ServiceDep, admin: Admin, body: ReloadRequest | None = None) -> dict:
    target = body.model if body is not None else None
    if target is not None:
        try:
            resolve_model(target)
        except FileNotFoundError as exc:
            raise Problem(404, str(exc), type_="unknown-model") from exc
    return await service.reload(target)
