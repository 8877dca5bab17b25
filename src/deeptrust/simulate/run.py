"""Replay images against a running service, open loop, and optionally send feedback with the true labels.

Open loop, no coordinated omission (as ``benchmarks/_loadgen.py``): request ``i`` is sent when it is due
whatever the earlier ones are doing, and its latency counts from when it was due, so waiting for a
connection or a slow server shows in the numbers instead of slowing the offered load down.

Feedback: the service's ``POST /v1/feedback`` takes corrections (the label the image should have had).
For a ``feedback_rate`` share of the answered predictions the simulator plays a user who checks the
answer: when the true label differs from the predicted one it sends a correction; when it agrees there
is nothing to send (counted as ``confirmed``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from deeptrust.simulate.errors import SimulateError
from deeptrust.simulate.sources import Sample

KEEPALIVE_EXPIRY_S = 4.0  # below uvicorn's 5 s idle close, or a reused connection races the close


@dataclass(frozen=True)
class Phase:
    """A stretch of the run that replays one source: from ``start`` seconds on."""

    name: str
    start: float
    samples: Sequence[Sample]


@dataclass
class Outcome:
    phase: str
    due: float  # offset in the run, seconds
    status: int  # 0: no HTTP answer
    latency: float  # seconds from due to the answer
    true_label: str
    label: str = ""
    p_ai: float = float("nan")
    version: str = ""
    truth: str = ""  # the true label as one of the model's classes ("" when it cannot be said)


@dataclass
class FeedbackCounts:
    checked: int = 0  # predictions a simulated user looked at
    confirmed: int = 0  # the prediction was right: nothing to send
    statuses: dict[int, int] = field(default_factory=dict)  # corrections sent, by HTTP status (0: no answer)


@dataclass
class RunResult:
    url: str
    pattern: str
    duration: float  # of the schedule
    seconds: float  # until the last answer
    outcomes: list[Outcome]
    feedback: FeedbackCounts
    max_send_lag: float  # worst delay between a request's due time and its send: the generator kept up?


@dataclass
class Plan:
    url: str
    times: np.ndarray  # due offsets, seconds
    phases: list[Phase]  # by start time; the first starts at 0
    duration: float = 0.0
    pattern: str = "constant"
    feedback_rate: float = 0.0
    api_key: str | None = None
    seed: int = 0
    max_in_flight: int = 256
    timeout_s: float = 30.0

    def phase_at(self, t: float) -> Phase:
        return [p for p in self.phases if p.start <= t][-1]


def check_service(url: str, *, api_key: str | None = None, timeout_s: float = 5.0) -> dict[str, Any]:
    """The service's /readyz answer, or a SimulateError that says why it cannot be used."""
    try:
        r = httpx.get(url.rstrip("/") + "/readyz", headers=_auth(api_key), timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise SimulateError(f"cannot reach {url}: {exc} (is `deeptrust serve` running there?)") from exc
    if r.status_code != 200:
        raise SimulateError(
            f"{url}/readyz answered {r.status_code}: the service is not ready ({r.text[:200]})"
        )
    return dict(r.json())


def run_plan(plan: Plan, *, on_done: Callable[[Outcome], None] | None = None) -> RunResult:
    return asyncio.run(_run(plan, on_done or (lambda _: None)))


async def _run(plan: Plan, on_done: Callable[[Outcome], None]) -> RunResult:
    rng = random.Random(plan.seed)
    orders = {p.name: rng.sample(range(len(p.samples)), len(p.samples)) for p in plan.phases}
    feedback = FeedbackCounts()
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=plan.max_in_flight, keepalive_expiry=KEEPALIVE_EXPIRY_S)
    slots = asyncio.Semaphore(plan.max_in_flight)
    tasks: set[asyncio.Task[None]] = set()
    max_lag = 0.0
    async with httpx.AsyncClient(
        base_url=plan.url.rstrip("/"), limits=limits, timeout=plan.timeout_s, headers=_auth(plan.api_key)
    ) as client:
        start = time.perf_counter() + 0.05
        counters = {p.name: 0 for p in plan.phases}
        for t in plan.times:
            phase = plan.phase_at(float(t))
            order = orders[phase.name]
            sample = phase.samples[order[counters[phase.name] % len(order)]]
            counters[phase.name] += 1
            delay = start + t - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, time.perf_counter() - start - t)
            check = rng.random() < plan.feedback_rate
            task = asyncio.create_task(
                _predict(
                    client, slots, sample, phase.name, start, float(t), check, feedback, outcomes, on_done
                )
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
        seconds = time.perf_counter() - start
    return RunResult(plan.url, plan.pattern, plan.duration, seconds, outcomes, feedback, max_lag)


async def _predict(
    client: httpx.AsyncClient, slots: asyncio.Semaphore, sample: Sample, phase: str, start: float, due: float,
    check: bool, feedback: FeedbackCounts, outcomes: list[Outcome], on_done: Callable[[Outcome], None],
) -> None:  # fmt: skip
    outcome = Outcome(phase, due, 0, 0.0, sample.label)
    body: dict[str, Any] = {}
    async with slots:
        try:
            r = await client.post(
                "/v1/predict", content=sample.data, headers={"content-type": sample.content_type}
            )
            outcome.status = r.status_code
            body = r.json() if r.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            pass
        outcome.latency = time.perf_counter() - start - due
    if body:
        outcome.label, outcome.p_ai = str(body["label"]), float(body["p_ai"])
        outcome.version = str(body["model"]["version"])
        outcome.truth = true_class(sample.label, body)
    outcomes.append(outcome)
    on_done(outcome)
    if check and body:
        await _send_feedback(client, sample, body, feedback)


async def _send_feedback(
    client: httpx.AsyncClient, sample: Sample, body: dict[str, Any], counts: FeedbackCounts
) -> None:
    counts.checked += 1
    truth = true_class(sample.label, body)
    if not truth or truth == body["label"]:  # right, or the label says nothing the model knows
        counts.confirmed += 1
        return
    form = {
        "predicted_label": body["label"],
        "corrected_label": truth,
        "p_ai": str(body["p_ai"]),
        "model_version": str(body["model"]["version"]),
        "comment": "deeptrust simulate",
    }
    files = {"file": (sample.name.rsplit("/", 1)[-1], sample.data, sample.content_type)}
    try:
        status = (await client.post("/v1/feedback", data=form, files=files)).status_code
    except httpx.HTTPError:
        status = 0
    counts.statuses[status] = counts.statuses.get(status, 0) + 1


def true_class(label: str, body: dict[str, Any]) -> str:
    """The model's class for a true label: the same name, or for a binary model any non-REAL label is its
    other class (a dataset's AI / FAKE / SD folders are all "not a photo")."""
    classes = list(body.get("scores", {}))
    if label in classes:
        return label
    others = [c for c in classes if c != "REAL"]
    if label and label != "REAL" and "REAL" in classes and len(others) == 1:
        return others[0]
    return ""


def _auth(api_key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def validate_plan(plan: Plan) -> None:
    if not 0 <= plan.feedback_rate <= 1:
        raise SimulateError(f"--feedback-rate must be between 0 and 1, got {plan.feedback_rate}")
    if len(plan.times) == 0:
        raise SimulateError("the schedule has no requests: raise --rate or --duration")
