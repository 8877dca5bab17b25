"""``create_app()``: the FastAPI application, wired from one ``Settings`` object.

Run it with ``deeptrust serve`` (uvicorn), or mount ``create_app(settings)`` in your own ASGI server.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from deeptrust import __version__
from deeptrust.serve.middleware import BodyTooLargeError, RequestMiddleware
from deeptrust.serve.problems import Problem, install_problem_handlers, problem_response
from deeptrust.serve.routes import explain, health, models, predict
from deeptrust.serve.service import Service, build_service
from deeptrust.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    settings = settings or get_settings()
    service = service or build_service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="deeptrust",
        version=__version__,
        summary="Tells whether an image is AI-generated, and shows why.",
        lifespan=lifespan,
    )
    app.state.service = service
    install_problem_handlers(app)

    async def on_body_too_large(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BodyTooLargeError)
        detail = f"{exc} (DEEPTRUST_MAX_BODY_BYTES)"
        problem = Problem(413, detail, type_="payload-too-large", title="Payload Too Large")
        return problem_response(problem, request)

    app.add_exception_handler(BodyTooLargeError, on_body_too_large)
    for router in (predict.router, explain.router, models.router, health.router):
        app.include_router(router)
    _mount_extensions(app, service)
    app.add_middleware(RequestMiddleware, metrics=service.metrics, max_body_bytes=settings.max_body_bytes)
    return app


def _mount_extensions(app: FastAPI, service: Service) -> None:
    """The web page and feedback store, when their module is present."""
    if importlib.util.find_spec("deeptrust.web.routes") is None:
        return
    from deeptrust.web.routes import install

    install(app, service)
