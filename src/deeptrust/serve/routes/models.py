"""``GET /v1/models`` (cards) and ``POST /v1/models/reload`` (admin: hot swap without dropping requests).

A reload loads only what ``registry.resolve_trusted`` allows (names on the search paths, paths inside them
or ``DEEPTRUST_RELOAD_ALLOW_DIRS``); its failures are problems that name no file on the server.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from fastapi import APIRouter

from deeptrust.registry import (
    ArtifactIntegrityError,
    ModelNotAllowedError,
    RegistryUnavailableError,
    iter_models,
    resolve_trusted,
)
from deeptrust.serve.deps import Admin, Caller, ServiceDep
from deeptrust.serve.problems import Problem
from deeptrust.serve.schemas import PROBLEM_RESPONSES, ModelRef, ModelsResponse, ReloadRequest

router = APIRouter(prefix="/v1/models", tags=["models"])
log = logging.getLogger("deeptrust.serve")


@router.get("", response_model=ModelsResponse, responses=PROBLEM_RESPONSES)
async def list_models(service: ServiceDep, caller: Caller) -> dict:
    current = service.holder.current
    found = iter_models(service.settings.model_paths)
    cards = [_listed(card) | {"path": str(path)} for path, card in found]
    if not any(c["name"] == current.card.name for c in cards):
        cards.insert(0, _listed(current.card) | {"path": str(current.detector.path.parent)})
    if not caller.has("admin"):  # where the server keeps its files is the operator's business
        cards = [_without_paths({k: v for k, v in c.items() if k != "path"}) for c in cards]
    return {"default": current.card.name, "loaded": current.info, "models": cards}


def _listed(card: Any) -> dict[str, Any]:
    """A card as the list shows it: the drift reference profile (histograms and hundreds of projected
    reference embeddings, ~150 KB for ``photos``) is summarised, not sent on every listing."""
    listed = dataclasses.asdict(card)
    profile = listed.pop("drift_profile", None) or {}
    listed["drift_profile"] = {"present": bool(profile), "n": profile.get("n"), "data": profile.get("data")}
    return listed


def _without_paths(value: Any) -> Any:
    """Cards record where their data came from; absolute paths are cut to their last part."""
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_paths(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return os.path.basename(value.rstrip("/")) or "/"
    return value


@router.post("/reload", response_model=ModelRef, responses=PROBLEM_RESPONSES)
async def reload_model(service: ServiceDep, admin: Admin, body: ReloadRequest | None = None) -> dict:
    target = body.model if body is not None else None
    settings = service.settings
    if target is not None:
        try:
            target = resolve_trusted(
                target, paths=settings.model_paths, allow_dirs=settings.reload_allow_dirs, settings=settings
            )
        except RegistryUnavailableError as exc:  # nothing cached either: the current model stays
            raise Problem(503, str(exc), type_="registry-unavailable") from exc
        except ArtifactIntegrityError as exc:
            raise Problem(422, str(exc), type_="model-integrity") from exc
        except ModelNotAllowedError as exc:
            raise Problem(422, str(exc), type_="model-not-allowed") from exc
        except FileNotFoundError as exc:
            raise Problem(404, str(exc), type_="unknown-model") from exc
    try:
        return await service.reload(target)
    except Exception as exc:  # a broken file: the old model stays; the log, not the caller, gets the trace
        log.exception("model reload failed", extra={"model": target})
        asked = "the requested model" if target is not None else "the current model"
        raise Problem(
            422,
            f"{asked} could not be loaded ({type(exc).__name__}); the previous model is still served and "
            "the server log has the details",
            type_="model-load-failed",
        ) from exc
