"""The runner against a stand-in server that answers one request at a time: the schedule does not wait
for answers (open loop), and latency counts from the due time, so the queue shows in the numbers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deeptrust.simulate import Plan, run_plan
from deeptrust.simulate.run import Phase
from deeptrust.simulate.sources import Sample
from deeptrust.simulate.summary import summarize
from tests.serve.conftest import free_port

SERVICE_S = 0.15  # per request, one at a time


def _app(received: list[tuple[str, float]], feedback: list[dict]) -> Starlette:
    lock = asyncio.Lock()

    async def predict(request: Request) -> JSONResponse:
        body = await request.body()
        received.append((request.headers["content-type"], time.perf_counter()))
        async with lock:
            await asyncio.sleep(SERVICE_S)
        label = "FAKE" if body.endswith(b"F") else "REAL"
        return JSONResponse(
            {"label": label, "p_ai": 0.9 if label == "FAKE" else 0.1, "scores": {"FAKE": 0.5, "REAL": 0.5},
             "model": {"name": "stub", "version": "1"}}
        )  # fmt: skip

    async def send_feedback(request: Request) -> JSONResponse:
        feedback.append(dict(await request.form()))
        return JSONResponse({"id": len(feedback)}, status_code=201)

    return Starlette(routes=[Route("/v1/predict", predict, methods=["POST"]),
                             Route("/v1/feedback", send_feedback, methods=["POST"])])  # fmt: skip


@pytest.fixture
def stub() -> Iterator[tuple[str, list, list]]:
    received: list = []
    feedback: list = []
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_app(received, feedback), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", received, feedback
    server.should_exit = True
    thread.join(10)


def _samples(label: str, n: int) -> list[Sample]:
    tail = b"F" if label == "FAKE" else b"R"
    return [Sample(f"{label}/{i}.jpg", b"\xff\xd8\xff" + bytes([i]) + tail, label) for i in range(n)]


def test_open_loop_latency_counts_the_queue(stub):
    url, received, _ = stub
    plan = Plan(url=url, times=np.arange(20) / 20, phases=[Phase("a", 0, _samples("REAL", 4))], duration=1.0)
    result = run_plan(plan)
    assert len(received) == 20 and {kind for kind, _ in received} == {"image/jpeg"}
    # every request was sent on time although the server answers one per 150 ms ...
    assert result.max_send_lag < 0.5
    assert received[-1][1] - received[0][1] < 1.5
    # ... so the last one waited for the 19 before it: ~3 s, not the 150 ms a closed loop would report
    summary = summarize(result)
    assert summary["latency_ms"]["max"] > 2000 and summary["latency_ms"]["p50"] > 500
    assert summary["statuses"] == {"200": 20}


def test_drift_switches_source_and_feedback_corrects_wrong_answers(stub):
    url, _, feedback = stub
    phases = [Phase("before", 0, _samples("REAL", 3)), Phase("after", 0.5, _samples("AI", 3))]
    plan = Plan(url=url, times=np.arange(10) / 10, phases=phases, duration=1.0, feedback_rate=1.0)
    summary = summarize(run_plan(plan))
    assert [(name, p["requests"]) for name, p in summary["phases"].items()] == [("before", 5), ("after", 5)]
    assert summary["phases"]["before"]["accuracy"] == 1.0  # REAL images answered REAL
    assert summary["phases"]["after"]["accuracy"] == 0.0  # AI images answered REAL: FAKE is the truth
    assert summary["feedback"] == {
        "checked": 10,
        "confirmed": 5,
        "corrections_sent": 5,
        "statuses": {"201": 5},
    }
    assert {(f["predicted_label"], f["corrected_label"]) for f in feedback} == {("REAL", "FAKE")}
