"""The page at ``/`` and its API: ``POST /v1/feedback`` and the moderators' review queue.

``install(app, service)`` is called by ``deeptrust.serve.app.create_app``; it also hooks the predict
routes so that borderline predictions (``|p_ai - threshold| < DEEPTRUST_REVIEW_BAND``) join the queue,
and starts the periodic retention purge (``DEEPTRUST_FEEDBACK_PURGE_INTERVAL_S``).
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as FastApiPath
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from deeptrust.feedback import (
    FeedbackError,
    FeedbackImageError,
    FeedbackLimitError,
    FeedbackStore,
    ImageFacts,
    ItemNotFoundError,
    is_borderline,
)
from deeptrust.feedback.background import BoundedWriter, RetentionLoop
from deeptrust.hashes.review import on_review
from deeptrust.imageio import ImageError
from deeptrust.serve.auth import Principal
from deeptrust.serve.deps import Caller, Moderator, ServiceDep, image_problem
from deeptrust.serve.problems import Problem
from deeptrust.serve.schemas import PROBLEM_RESPONSES
from deeptrust.serve.service import OverloadedError, Service
from deeptrust.web import INDEX_HTML, STATIC_DIR

log = logging.getLogger("deeptrust.web")
router = APIRouter(tags=["feedback"])
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


ItemId = Annotated[int, FastApiPath(ge=1, le=2**62, description="a review item's id")]


class ReviewAction(BaseModel):
    action: Literal["approve", "relabel"]
    label: str | None = None


def install(app: FastAPI, service: Service) -> None:
    settings = service.settings
    store = FeedbackStore.from_settings(settings)
    store.create_schema()
    writer = BoundedWriter(
        max_items=settings.review_queue_max_items,
        max_bytes=settings.review_queue_max_bytes,
        on_drop=lambda reason: service.metrics.review_dropped.labels(reason).inc(),
        name="borderline",
    )
    retention = RetentionLoop(
        store, days=settings.feedback_retention_days, interval_s=settings.feedback_purge_interval_s
    )
    retention.start()
    service.extras.update(feedback_store=store, review_writer=writer, feedback_retention=retention)
    service.metrics.watch_feedback_disk(store.images.root)
    service.after_predict_hooks.append(_queue_borderline(service, store, writer))
    service.on_stop.extend([writer.close, retention.close, store.close])
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _queue_borderline(service: Service, store: FeedbackStore, writer: BoundedWriter):  # type: ignore[no-untyped-def]
    """A hook for the predict routes: borderline images go to the review queue, off the request path.

    The queue is bounded (``DEEPTRUST_REVIEW_QUEUE_MAX_ITEMS`` / ``_MAX_BYTES``); what does not fit, or
    would exceed the caller's daily cap, is dropped and counted in ``deeptrust_review_dropped_total``.
    """
    band = service.settings.review_band

    def add(caller: Principal, data: bytes, result: dict[str, Any]) -> None:
        try:
            store.add_borderline(
                data,
                predicted_label=result["label"],
                p_ai=result["p_ai"],
                threshold=result["threshold"],
                model_name=result["model"]["name"],
                model_version=result["model"]["version"],
                who=caller.subject,
            )
        except FeedbackLimitError:
            service.metrics.review_dropped.labels("caller_cap").inc()
        except FeedbackImageError:  # the service decoded it, so the store's cap must differ
            service.metrics.review_dropped.labels("invalid").inc()
        except Exception:  # the prediction was answered; a failed queue write is logged, not raised
            service.metrics.review_dropped.labels("error").inc()
            log.exception("could not queue a borderline image for review")

    def hook(caller: Principal, data: bytes, result: dict[str, Any], decoded: object = None) -> None:
        if band > 0 and is_borderline(result["p_ai"], result["threshold"], band):
            writer.offer(functools.partial(add, caller, data, dict(result)), len(data))

    return hook


def _store(service: Service) -> FeedbackStore:
    return service.extras["feedback_store"]


def _problem(exc: FeedbackError, service: Service | None = None, name: str = "file") -> Problem:
    if isinstance(exc, ItemNotFoundError):
        return Problem(404, str(exc), type_="not-found")
    if isinstance(exc, FeedbackImageError) and isinstance(exc.__cause__, ImageError):
        # the same statuses and counter as the predict routes: 415 / 400 / 422 over the pixel cap
        if service is not None:
            service.metrics.image_errors.labels(exc.reason).inc()
        return image_problem(exc.__cause__, name)
    if isinstance(exc, FeedbackLimitError):
        return Problem(429, str(exc), type_="feedback-limit", headers={"Retry-After": "3600"})
    return Problem(422, str(exc), type_="invalid-feedback")


async def _decode(service: Service, store: FeedbackStore, data: bytes) -> ImageFacts:
    """Decode under the pixel cap on the service's bounded decode pool, admitted like a prediction: a
    burst of large flags is shed (503) by the same bound instead of decoding on 40 threads at once."""
    try:
        with service.admit(1):
            return await asyncio.get_running_loop().run_in_executor(
                service.decode_pool, store.check_image, data
            )
    except OverloadedError as exc:
        raise Problem(
            503, f"server busy: {exc}; retry shortly", headers={"Retry-After": "1"}, type_="overloaded"
        ) from exc


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(INDEX_HTML, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.post(
    "/v1/feedback", status_code=201, responses=PROBLEM_RESPONSES, summary="Say a prediction was wrong"
)
async def send_feedback(
    service: ServiceDep,
    caller: Caller,
    file: Annotated[UploadFile, File(description="the image that was classified")],
    predicted_label: Annotated[str, Form()],
    corrected_label: Annotated[str, Form()],
    p_ai: Annotated[float, Form(ge=0, le=1)],
    model_version: Annotated[str, Form()],
    comment: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    data = await file.read()
    if not data:
        raise Problem(400, "the feedback image is empty (0 bytes)", type_="empty-upload")
    card, store = service.holder.current.card, _store(service)
    try:
        facts = await _decode(service, store, data)
        item = await run_in_threadpool(
            store.add_feedback,
            data,
            predicted_label=predicted_label,
            corrected_label=corrected_label,
            p_ai=p_ai,
            model_version=model_version,
            model_name=card.name,
            threshold=card.threshold,
            who=caller.subject,
            comment=comment,
            class_names=card.class_names,
            facts=facts,
        )
    except FeedbackError as exc:
        raise _problem(exc, service, file.filename or "file") from exc
    return JSONResponse({"id": item.id, "status": str(item.status.value)}, status_code=201)


def _item(item: Any) -> dict[str, Any]:
    return item.to_dict() | {"image_url": f"/v1/review/{item.id}/image"}


@router.get("/v1/review", responses=PROBLEM_RESPONSES, summary="The review queue (moderators)")
async def review_queue(
    service: ServiceDep,
    moderator: Moderator,
    status: Annotated[str | None, Query(description="pending, approved, relabelled or all")] = "pending",
    origin: Annotated[str | None, Query(description="flag or borderline")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    wanted = None if status == "all" else status
    try:
        items = await run_in_threadpool(
            _store(service).list_review, wanted, origin, limit=limit, offset=offset
        )
        total = await run_in_threadpool(_store(service).count, wanted, origin)
    except FeedbackError as exc:
        raise _problem(exc) from exc
    return {"items": [_item(i) for i in items], "total": total}


@router.get(
    "/v1/review/export",
    response_class=Response,
    responses=PROBLEM_RESPONSES | {200: {"content": {"application/gzip": {}}}},
    summary="Reviewed items as an ImageFolder .tar.gz",
)
async def export_reviewed(service: ServiceDep, moderator: Moderator) -> Response:
    buf = io.BytesIO()
    try:
        result = await run_in_threadpool(_store(service).export_tar_gz, buf)
    except FeedbackError as exc:
        raise _problem(exc) from exc
    headers = {
        "Content-Disposition": 'attachment; filename="deeptrust-reviewed.tar.gz"',
        "X-Deeptrust-Items": str(result.total),
    }
    return Response(buf.getvalue(), media_type="application/gzip", headers=headers)


@router.get("/v1/review/{item_id}/image", responses=PROBLEM_RESPONSES, summary="A review item's image")
async def review_image(item_id: ItemId, service: ServiceDep, moderator: Moderator) -> FileResponse:
    store = _store(service)
    try:
        item = await run_in_threadpool(store.get, item_id)
    except FeedbackError as exc:
        raise _problem(exc) from exc
    path = store.image_file(item)
    if not path.exists():
        raise Problem(404, f"the image of item {item_id} was purged (retention)", type_="not-found")
    return FileResponse(
        path, media_type=MEDIA_TYPES.get(str(item.image_format or "").upper(), "application/octet-stream")
    )


@router.post("/v1/review/{item_id}", responses=PROBLEM_RESPONSES, summary="Approve or relabel an item")
async def review_item(
    item_id: ItemId, body: ReviewAction, service: ServiceDep, moderator: Moderator, request: Request
) -> dict[str, Any]:
    card = service.holder.current.card
    try:
        item = await run_in_threadpool(
            _store(service).review,
            item_id,
            body.action,
            label=body.label,
            reviewer=moderator.subject,
            class_names=card.class_names,
        )
    except FeedbackError as exc:
        raise _problem(exc) from exc
    # the decision joins the known-image (PDQ) lists, so re-uploads are caught at once
    await run_in_threadpool(on_review, service.settings, _store(service), item, real_class=card.real_class)
    return _item(item)
