"""``create_app()``: the FastAPI application, wired from one ``Settings`` object.

Run it with ``deeptrust serve`` (uvicorn), or mount ``create_app(settings)`` in your own ASGI server.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from deeptrust import __version__
from deeptrust.monitor.serve import install as install_drift
from deeptrust.serve.auth import is_local_connection
from deeptrust.serve.middleware import BodyTooLargeError, RequestMiddleware, SiteGuard, allowed_hosts
from deeptrust.serve.problems import Problem, install_problem_handlers, problem_response
from deeptrust.serve.routes import explain, health, models, predict
from deeptrust.serve.routes import rollout as rollout_routes
from deeptrust.serve.service import Service, build_service
from deeptrust.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    settings = settings or get_settings()
    service = service or build_service(settings)
    install_drift(service)

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
        docs_url=None,
        redoc_url=None,
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
    rollout_routes.install(app, service)  # shadow / canary challenger, per-version metrics
    if settings.docs is not False:
        _add_docs(app, everyone=settings.docs is True)
    app.add_middleware(SiteGuard, allowed=allowed_hosts(settings.allowed_hosts, settings.host))
    app.add_middleware(RequestMiddleware, metrics=service.metrics, max_body_bytes=settings.max_body_bytes)
    return app


def _add_docs(app: FastAPI, *, everyone: bool) -> None:
    """/docs (Swagger UI) and /redoc, whose scripts come from a CDN and run on this origin, where the page
    keeps its API key: by default only for callers on loopback (a local user's own browser)."""
    swagger = get_swagger_ui_html(openapi_url="/openapi.json", title="deeptrust — API")
    redoc = get_redoc_html(openapi_url="/openapi.json", title="deeptrust — API", with_google_fonts=False)

    def page(html: HTMLResponse) -> HTMLResponse:
        return HTMLResponse(
            bytes(html.body), headers={"Content-Security-Policy": _docs_csp(bytes(html.body))}
        )

    async def docs(request: Request) -> HTMLResponse:
        if not (everyone or is_local_connection(request.scope)):
            raise Problem(404, "the API docs are served to loopback callers only (DEEPTRUST_DOCS=true: all)")
        return page(swagger if request.url.path == "/docs" else redoc)

    app.add_api_route("/docs", docs, include_in_schema=False)
    app.add_api_route("/redoc", docs, include_in_schema=False)


def _docs_csp(html: bytes) -> str:
    """The docs pages' policy: the CDN's scripts and this page's own inline script, nothing else."""
    inline = re.findall(rb"<script>(.*?)</script>", html, flags=re.S)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in inline)
    return (
        f"default-src 'none'; script-src https://cdn.jsdelivr.net {hashes}; "
        "style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: "
        "https://fastapi.tiangolo.com https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _mount_extensions(app: FastAPI, service: Service) -> None:
    """The web page and feedback store, then retraining and its jobs, when their modules are present."""
    if importlib.util.find_spec("deeptrust.web.routes") is not None:
        from deeptrust.web.routes import install

        install(app, service)
    if importlib.util.find_spec("deeptrust.retrain.routes") is not None:
        from deeptrust.retrain.routes import install as install_retrain

        install_retrain(app, service)
