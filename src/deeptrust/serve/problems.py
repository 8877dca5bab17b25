"""RFC 7807 problem details: every error the service returns is ``application/problem+json``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://deeptrust.dev/problems/"


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "",
        title: str = "",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_ or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra

    def to_dict(self, instance: str = "") -> dict[str, Any]:
        body = {
            "type": PROBLEM_BASE + self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        return body | self.extra


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "") if request is not None else ""
    body = problem.to_dict(request.url.path if request is not None else "")
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    return problem_response(Problem(exc.status_code, str(exc.detail), headers=headers), request)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return problem_response(Problem(422, detail, type_="validation-error", errors=errors), request)


async def _on_disconnect(request: Request, exc: Exception) -> JSONResponse:
    # The client went away mid-body: nobody reads this answer, but it keeps an aborted upload out of the
    # error log and the 5xx metrics (unhandled, it was logged as a crash and counted as a 500).
    detail = "the client disconnected before the request body was complete"
    return problem_response(Problem(400, detail, type_="client-disconnected"), request)


def install_problem_handlers(app: Any) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(ClientDisconnect, _on_disconnect)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation)
