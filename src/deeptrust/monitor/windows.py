"""Rolling windows per model version, tested off the request path, exported as Prometheus gauges.

The request path only appends: a header read (:func:`image_properties`), a bin lookup per signal and,
for models with a feature output, one (k × dim) projection of the pooled features. A background thread
wakes every ``interval_s``, or as soon as a window gained ``every`` observations (so a switch is caught
within a bounded number of requests at any rate), and, for each window that grew since it last looked
and holds at least ``min_window`` observations, runs every signal's test against the card's reference
profile (:mod:`deeptrust.monitor.stats`; thresholds are computed once per window size and cached, so a
test costs about a millisecond) and sets the gauges. A scrape only reads gauges.

Gauges (labels ``model``, ``version``, and ``signal`` ∈ score, embedding, width, height, format,
jpeg_quality, mode, metadata)::

    deeptrust_drift_statistic          the latest statistic (PSI; MMD² for the embedding)
    deeptrust_drift_threshold          its permutation-calibrated threshold at DEEPTRUST_DRIFT_ALPHA
    deeptrust_drift_detected           1 when statistic > threshold at the latest test, else 0
    deeptrust_drift_window_size        observations in the window (no signal label)
    deeptrust_drift_reference_present  0 when the card carries no reference profile (no signal label)

Other parts of the service ask :func:`drift_state` (or ``DriftMonitor.state``) for one model version.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deeptrust.monitor.profile import EMBEDDING_SIGNAL, SCORE_SIGNAL, NoProfileError, Profile
from deeptrust.monitor.properties import PROPERTY_SIGNALS, image_properties
from deeptrust.monitor.stats import TestResult, Thresholds, binned_test, mmd_test

log = logging.getLogger("deeptrust.monitor")

SIGNALS = (SCORE_SIGNAL, EMBEDDING_SIGNAL, *PROPERTY_SIGNALS)
NO_PROFILE = (
    "the model card carries no reference profile: drift is not monitored "
    "(add one with `deeptrust monitor profile --model M --data SRC`)"
)


@dataclass(frozen=True)
class DriftState:
    """Where one model version stands. ``status``: ok, drift, warming (window below its minimum),
    no-profile (the card has none) or unknown (the service has not seen this version)."""

    model: str
    version: str
    status: str
    window_size: int = 0
    drifting: tuple[str, ...] = ()
    signals: dict[str, dict[str, float]] = field(default_factory=dict)
    evaluated_at: float | None = None
    message: str = ""

    @property
    def detected(self) -> bool:
        return self.status == "drift"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "status": self.status,
            "window_size": self.window_size,
            "drifting": list(self.drifting),
            "signals": self.signals,
            "evaluated_at": self.evaluated_at,
            "message": self.message,
        }


class ModelWindow:
    """The last ``size`` observations of one model version, as bin codes and projected embeddings."""

    def __init__(
        self,
        model: str,
        version: str,
        profile: Profile | None,
        size: int,
        problem: str = "",
        thresholds: Thresholds | None = None,
    ):
        self.model, self.version, self.profile, self.problem = model, version, profile, problem
        self.thresholds = thresholds
        self.lock = threading.Lock()
        names = list(profile.signals) if profile is not None else []
        self.codes: dict[str, deque[int]] = {name: deque(maxlen=size) for name in names}
        self.embedded: deque[np.ndarray] = deque(maxlen=size)
        self.added = 0  # observations ever added
        self.tested = 0  # `added` when last tested
        self.results: dict[str, TestResult] = {}
        self.evaluated_at: float | None = None

    def add(self, p_ai: float, properties: dict[str, Any], pooled: np.ndarray | None) -> None:
        profile = self.profile
        if profile is None:
            return
        values = {SCORE_SIGNAL: p_ai, **properties}
        codes = {name: ref.code(values[name]) for name, ref in profile.signals.items() if name in values}
        emb = profile.embedding
        projected = None
        if emb is not None and pooled is not None and pooled.shape[-1] == emb.dim:
            projected = emb.project(pooled.reshape(1, -1))[0]
        with self.lock:
            for name, code in codes.items():
                self.codes[name].append(code)
            if projected is not None:
                self.embedded.append(projected)
            self.added += 1

    @property
    def size(self) -> int:
        return max((len(d) for d in self.codes.values()), default=0)

    def snapshot(self) -> tuple[int, dict[str, np.ndarray], np.ndarray | None]:
        """(added, window counts per signal, projected embeddings) taken under the lock."""
        assert self.profile is not None
        with self.lock:
            added = self.added
            counts = {
                name: np.bincount(
                    np.fromiter(d, np.int64, len(d)), minlength=len(self.profile.signals[name].counts)
                )
                for name, d in self.codes.items()
            }
            embedded = np.stack(self.embedded) if self.embedded else None
        return added, counts, embedded


def test_window(
    profile: Profile,
    counts: dict[str, np.ndarray],
    embedded: np.ndarray | None,
    *,
    thresholds: Thresholds,
    min_window: int,
) -> dict[str, TestResult]:
    """Every signal's test of one window against the profile (the service's and the offline report's)."""
    results: dict[str, TestResult] = {}
    for name, window in counts.items():
        m = int(window.sum())
        if m >= min_window:
            ref = profile.signals[name].counts
            limit = thresholds.binned(name, ref, m)
            results[name] = binned_test(ref, window, threshold=limit)
    emb = profile.embedding
    if emb is not None and embedded is not None and len(embedded) >= min_window:
        ref_phi = profile_features(profile)
        limit = thresholds.mmd(EMBEDDING_SIGNAL, ref_phi, len(embedded))
        results[EMBEDDING_SIGNAL] = mmd_test(
            ref_phi,
            emb.features(embedded),
            alpha=thresholds.alpha,
            permutations=0,
            rng=None,
            threshold=limit,  # type: ignore[arg-type]
        )
    return results


def profile_features(profile: Profile) -> np.ndarray:
    """The reference embedding's random Fourier features (computed once per profile)."""
    assert profile.embedding is not None
    cached = getattr(profile, "_reference_features", None)
    if cached is None:
        cached = profile.embedding.features(profile.embedding.reference)
        object.__setattr__(profile, "_reference_features", cached)
    return cached


class DriftMonitor:
    """Windows per (model, version), a background tester and the gauges. Thread-safe."""

    def __init__(
        self,
        *,
        window: int = 500,
        min_window: int = 100,
        interval_s: float = 10.0,
        every: int = 100,
        alpha: float = 1e-6,
        permutations: int = 2000,
        registry: Any = None,
        seed: int = 0,
    ):
        self.window, self.min_window, self.interval_s = window, min(min_window, window), interval_s
        self.every = every
        self._wake = threading.Event()
        self.alpha, self.permutations, self.seed = alpha, permutations, seed
        self._windows: dict[tuple[str, str], ModelWindow] = {}
        self._lock = threading.Lock()
        self._eval_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.gauges = _Gauges(registry) if registry is not None else None

    @classmethod
    def from_settings(cls, settings: Any, registry: Any = None) -> DriftMonitor:
        return cls(
            window=settings.drift_window,
            min_window=settings.drift_min_window,
            interval_s=settings.drift_interval_s,
            every=settings.drift_every,
            alpha=settings.drift_alpha,
            permutations=settings.drift_permutations,
            registry=registry,
        )

    # -- the request path --
    def window_for(self, card: Any) -> ModelWindow:
        key = (card.name, card.version)
        found = self._windows.get(key)
        if found is not None:
            return found
        with self._lock:
            if key in self._windows:
                return self._windows[key]
            try:
                profile, problem = Profile.from_card(card), ""
            except NoProfileError:
                profile, problem = None, NO_PROFILE
            except (KeyError, ValueError, TypeError) as exc:  # a damaged profile must not break serving
                profile, problem = None, f"the model card's reference profile cannot be read: {exc}"
            if problem:
                log.warning(
                    "drift not monitored",
                    extra={"model": card.name, "version": card.version, "reason": problem},
                )
            thresholds = Thresholds(
                alpha=self.alpha, permutations=self.permutations, seed=self.seed, exact=self.window
            )
            self._windows[key] = w = ModelWindow(
                card.name, card.version, profile, self.window, problem, thresholds
            )
            if self.gauges is not None:
                self.gauges.present(w)
            return w

    def observe(
        self,
        card: Any,
        *,
        p_ai: float,
        data: bytes | None = None,
        properties: dict[str, Any] | None = None,
        pooled: np.ndarray | None = None,
    ) -> None:
        """One answered prediction of ``card``'s model: its p_ai, the upload (or its properties) and,
        for models with a feature output, the image's pooled features. Never raises."""
        try:
            w = self.window_for(card)
            if w.profile is None:
                return
            if properties is None:
                properties = image_properties(data) if data is not None else {}
            w.add(p_ai, properties, pooled)
            self._ensure_running()
            if w.added - w.tested >= self.every:
                self._wake.set()
        except Exception:  # monitoring must never fail a prediction
            log.exception("drift observation failed", extra={"model": getattr(card, "name", "?")})

    def observe_decoded(self, decoded: Any, data: bytes, result: dict[str, Any]) -> None:
        """The service's hook: a scored upload (``serve.runtime.Decoded``), its bytes and the answer."""
        self.observe(
            decoded.runtime.card, p_ai=result["p_ai"], data=data, pooled=getattr(decoded, "embedding", None)
        )

    # -- off the request path --
    def evaluate(self, *, force: bool = False) -> None:
        """Test every window that grew since its last test (all of them with ``force``)."""
        with self._eval_lock:
            for w in list(self._windows.values()):
                if w.profile is None:
                    continue
                added, counts, embedded = w.snapshot()
                if (added == w.tested and not force) or w.size < self.min_window:
                    if self.gauges is not None:
                        self.gauges.window_size(w)
                    continue
                assert w.thresholds is not None
                w.results = test_window(
                    w.profile, counts, embedded, thresholds=w.thresholds, min_window=self.min_window
                )
                w.tested, w.evaluated_at = added, time.time()
                if self.gauges is not None:
                    self.gauges.update(w)
                drifting = [s for s, r in w.results.items() if r.detected]
                if drifting:
                    log.info(
                        "drift detected", extra={"model": w.model, "version": w.version, "signals": drifting}
                    )

    def activate(self) -> None:
        """Make this the monitor :func:`drift_state` asks (the service installing it does)."""
        global _ACTIVE
        _ACTIVE = self

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="drift", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        global _ACTIVE
        if _ACTIVE is self:
            _ACTIVE = None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _ensure_running(self) -> None:
        if self._thread is None:  # first observation, or again after a stop (an app started twice)
            with self._lock:
                if self._thread is None:
                    self.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.evaluate()
            except Exception:  # keep testing later windows; a bug here is logged, never raised
                log.exception("drift evaluation failed")

    # -- questions --
    def state(self, model: str, version: str) -> DriftState:
        w = self._windows.get((model, version))
        if w is None:
            return DriftState(
                model, version, "unknown", message="no prediction of this model version seen yet"
            )
        if w.profile is None:
            return DriftState(model, version, "no-profile", message=w.problem)
        size = w.size
        if not w.results:
            return DriftState(
                model, version, "warming", window_size=size,
                message=f"{size} of at least {self.min_window} observations before the first test",
            )  # fmt: skip
        drifting = tuple(s for s, r in w.results.items() if r.detected)
        signals = {
            s: {"statistic": r.statistic, "threshold": r.threshold, "detected": float(r.detected)}
            for s, r in w.results.items()
        }
        return DriftState(
            model, version, "drift" if drifting else "ok", window_size=size, drifting=drifting,
            signals=signals, evaluated_at=w.evaluated_at,
            message=f"drift in {', '.join(drifting)}" if drifting else "no drift detected",
        )  # fmt: skip

    def states(self) -> list[DriftState]:
        return [self.state(m, v) for m, v in list(self._windows)]

    def readiness(self) -> dict[str, Any]:
        """A short summary per model version for ``/readyz``."""
        return {f"{s.model}@{s.version}": {"status": s.status, "message": s.message} for s in self.states()}


_ACTIVE: DriftMonitor | None = None


def drift_state(model: str, version: str) -> DriftState:
    """The drift state of one model version in this process's running service (status ``unknown``
    when no service monitors drift here). For the canary's automatic abort: ``.detected`` is True
    when any signal's latest test exceeded its threshold; ``.drifting`` names them."""
    monitor = _ACTIVE
    if monitor is None:
        return DriftState(model, version, "unknown", message="drift monitoring is not running")
    return monitor.state(model, version)


class _Gauges:
    def __init__(self, registry: Any):
        from prometheus_client import Gauge

        labels = ["model", "version", "signal"]
        self.statistic = Gauge(
            "deeptrust_drift_statistic", "Latest drift statistic per signal (PSI; MMD² for embedding).",
            labels, registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self.threshold = Gauge(
            "deeptrust_drift_threshold", "Permutation-calibrated threshold of the drift statistic.",
            labels, registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self.detected = Gauge(
            "deeptrust_drift_detected", "1 when the latest drift statistic exceeds its threshold.",
            labels, registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self.size = Gauge(
            "deeptrust_drift_window_size", "Observations in the drift window.", ["model", "version"],
            registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self.present_gauge = Gauge(
            "deeptrust_drift_reference_present", "1 when the model card carries a reference profile, else 0.",
            ["model", "version"], registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip

    def present(self, w: ModelWindow) -> None:
        self.present_gauge.labels(w.model, w.version).set(0 if w.profile is None else 1)
        self.size.labels(w.model, w.version).set(0)

    def window_size(self, w: ModelWindow) -> None:
        self.size.labels(w.model, w.version).set(w.size)

    def update(self, w: ModelWindow) -> None:
        self.window_size(w)
        for signal, r in w.results.items():
            self.statistic.labels(w.model, w.version, signal).set(r.statistic)
            self.threshold.labels(w.model, w.version, signal).set(r.threshold)
            self.detected.labels(w.model, w.version, signal).set(1.0 if r.detected else 0.0)
