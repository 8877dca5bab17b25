"""One running rollout: its state, its models, its shadow lane and windows; and what each score adds to the
per-version metrics. The controller (controller.py) owns when a run starts and ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deeptrust.card import ModelCard, card_of_onnx, load_card
from deeptrust.registry import Resolution, resolve_reference
from deeptrust.rollout.canary import CanaryRuntime
from deeptrust.rollout.metrics import RolloutMetrics
from deeptrust.rollout.policy import Reading
from deeptrust.rollout.shadow import ShadowLane
from deeptrust.rollout.state import Mode, RolloutState
from deeptrust.rollout.window import Window
from deeptrust.serve.runtime import Decoded
from deeptrust.settings import Settings

LATENCY_PARTS = ("decode", "preprocess", "queue_and_inference")


def answer_latency_s(result: dict[str, Any]) -> float | None:
    timings = result.get("timings_ms") or {}
    parts = [timings[k] for k in LATENCY_PARTS if k in timings]
    return sum(parts) / 1e3 if parts else None


def is_ai(result: dict[str, Any]) -> bool:
    """Predicted AI: p_ai reached the card's threshold (labels may be named differently across models)."""
    return bool(result["p_ai"] >= result["threshold"])


@dataclass(frozen=True)
class LaneModel:
    """The model the shadow lane's process runs, as the server knows it: where it is and its card (the
    server holds no ONNX session of it)."""

    resolution: Resolution
    card: ModelCard

    @classmethod
    def load(cls, reference: str, settings: Settings) -> LaneModel:
        resolution = resolve_reference(reference, settings=settings)
        path = resolution.path
        return cls(resolution, card_of_onnx(path) if path.suffix == ".onnx" else load_card(path))

    @property
    def info(self) -> dict[str, str]:
        return {"name": self.card.name, "version": self.card.version}

    def payload(self, decoded: Decoded | None, data: bytes) -> np.ndarray | bytes:
        """What the lane needs to score an answered upload: the crops already made for the answer when
        both cards preprocess alike (no second decode), else the bytes."""
        if decoded is not None and decoded.runtime.card.preprocessing == self.card.preprocessing:
            return decoded.crops
        return data


class Run:
    """What one running rollout holds: its state, models, lane and windows."""

    def __init__(self, state: RolloutState, *, lane_model: LaneModel, canary: CanaryRuntime | None):
        self.state, self.lane_model, self.canary = state, lane_model, canary
        self.challenger = canary or lane_model  # in shadow mode the lane runs the challenger
        horizon = state.thresholds.window_s
        self.attempts, self.latency = Window(horizon), Window(horizon)  # canary outcomes (1 = error)
        self.disagreement, self.champion_latency = Window(horizon), Window(horizon)
        self.lane: ShadowLane | None = None

    def on_shadow_scored(
        self,
        metrics: RolloutMetrics,
        answered_ai: bool,
        result: dict[str, Any] | None,
        error: str,
        elapsed: float,
    ) -> None:
        """On the lane's supervisor thread: what the other model said, compared with what was answered."""
        model = self.lane_model
        if result is None:
            metrics.errors.labels(**mv(model.info), role="shadow").inc()
            if self.state.mode is Mode.SHADOW:
                self.attempts.add(1.0)
            return
        if self.state.mode is Mode.SHADOW:  # the challenger's own figures; a canary's come from its answers
            self.attempts.add(0.0)
            self.latency.add(elapsed)
        count(metrics, model.info, "shadow", result, elapsed)
        disagree = is_ai(result) != answered_ai
        labels = mv(self.state.challenger)
        metrics.compared.labels(**labels).inc()
        if disagree:
            metrics.disagreements.labels(**labels).inc()
        self.disagreement.add(1.0 if disagree else 0.0)

    def export(self, metrics: RolloutMetrics, reading: Reading) -> None:
        """The window's reading as gauges (what the abort policy judged)."""
        labels, m = mv(self.state.challenger), metrics
        if reading.error_rate is not None:
            m.window_error_rate.labels(**labels).set(reading.error_rate)
        if reading.p95_s is not None:
            role = "canary" if self.state.mode is Mode.CANARY else "shadow"
            m.window_p95.labels(**labels, role=role).set(reading.p95_s)
        champion_p95 = self.champion_latency.percentile(95)
        if champion_p95 is not None:
            m.window_p95.labels(**mv(self.state.champion), role="champion").set(champion_p95)
        if reading.disagreement is not None:
            m.window_disagreement.labels(**labels).set(reading.disagreement)


def count(
    metrics: RolloutMetrics, model: dict[str, str], role: str, result: dict[str, Any], latency: float | None
) -> None:
    """One score into the per-version metrics: its label, its p_ai and (when known) its latency."""
    labels = mv(model)
    metrics.predictions.labels(**labels, role=role, label=result["label"]).inc()
    metrics.p_ai.labels(**labels, role=role).observe(result["p_ai"])
    if latency is not None:
        metrics.latency.labels(**labels, role=role).observe(latency)


def named(model: dict[str, str]) -> str:
    return f"{model['name']} {model['version']}"


def mv(model: dict[str, str]) -> dict[str, str]:
    return {"model": model["name"], "version": model["version"]}
