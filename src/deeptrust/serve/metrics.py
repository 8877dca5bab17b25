"""Prometheus metrics, named and labelled by Prometheus conventions (``_total``, ``_seconds``, base units).

Each app owns a registry, so several apps (tests, hot reload) never collide. Metrics are fed from hooks
(request middleware, the batcher's ``on_batch``, the predict routes' ``on_after_predict``).

Under ``deeptrust serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set) every worker writes its values to
that directory and ``render()`` sums them, prometheus_client's multiprocess mode: gauges say how they
combine, and the model is a gauge (``Info`` does not work across processes).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from deeptrust.serve.batching import BatchStats

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STEP_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "deeptrust_http_requests_total", "HTTP requests by route, method and status.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "deeptrust_http_request_duration_seconds", "HTTP request latency by route, method and status.",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "deeptrust_http_requests_in_flight", "HTTP requests being served.",
            multiprocess_mode="livesum", registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "deeptrust_batch_queue_depth",
            "Images waiting for the model.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self._depth: Callable[[], int] | None = None
        self.batch_size = Histogram(
            "deeptrust_batch_size", "Images per model call.", buckets=(1, 2, 4, 8, 16, 32, 64), registry=r
        )
        self.queue_wait = Histogram(
            "deeptrust_batch_wait_seconds",
            "Time an image waited for its batch.",
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.decode = Histogram(
            "deeptrust_decode_seconds",
            "Decoding and preprocessing one image.",
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "deeptrust_inference_seconds", "One model call (a whole batch).", buckets=STEP_BUCKETS, registry=r
        )
        self.scores = Histogram(
            "deeptrust_prediction_p_ai", "p_ai of answered predictions by predicted label.", ["label"],
            buckets=tuple(i / 20 for i in range(1, 21)), registry=r,
        )  # fmt: skip
        self.shed = Counter("deeptrust_load_shed_total", "Requests refused with 503: queue full.", registry=r)
        self.rate_limited = Counter("deeptrust_rate_limited_total", "Requests refused with 429.", registry=r)
        self.rate_limit_unavailable = Counter(
            "deeptrust_rate_limit_unavailable_total",
            "Requests whose rate limit could not be checked (Redis down): 503, or let through if fail-open.",
            registry=r,
        )
        self.image_errors = Counter(
            "deeptrust_image_errors_total", "Uploads refused as images, by reason.", ["reason"], registry=r
        )
        self.review_dropped = Counter(
            "deeptrust_review_dropped_total",
            "Borderline images not queued for review, by reason (queue_full, caller_cap, invalid, error).",
            ["reason"],
            registry=r,
        )
        self.model_info = Gauge(
            "deeptrust_model_info", "The model being served (1), by name and version.", ["name", "version"],
            multiprocess_mode="livemax", registry=r,
        )  # fmt: skip
        self._model: tuple[str, str] | None = None
        self.reloads = Counter("deeptrust_model_reloads_total", "Successful model hot swaps.", registry=r)
        # What the alert rules of deploy/prometheus/ watch beyond requests: readiness, saturation, restarts,
        # the feedback store's disk and CPU against its limit.
        self.ready = Gauge(
            "deeptrust_ready", "1 when the model is loaded and warmed and the batcher runs (as /readyz).",
            multiprocess_mode="livemin", registry=r,
        )  # fmt: skip
        self.admitted = Gauge(
            "deeptrust_admitted_images", "Images admitted, not yet answered (decoding, queued, predicted).",
            multiprocess_mode="livesum", registry=r,
        )  # fmt: skip
        self.admission_limit = Gauge(
            "deeptrust_admission_limit", "Images admitted at most at once; past it requests are shed (503).",
            multiprocess_mode="livesum", registry=r,
        )  # fmt: skip
        self.started_at = Gauge(
            "deeptrust_process_start_time_seconds", "Unix time the newest serving process started serving.",
            multiprocess_mode="max", registry=r,
        )  # fmt: skip
        self.feedback_disk_free = Gauge(
            "deeptrust_feedback_disk_free_bytes", "Free bytes on the filesystem of the feedback images.",
            multiprocess_mode="livemin", registry=r,
        )  # fmt: skip
        self.feedback_disk_size = Gauge(
            "deeptrust_feedback_disk_size_bytes", "Size in bytes of the filesystem of the feedback images.",
            multiprocess_mode="livemax", registry=r,
        )  # fmt: skip
        self._feedback_dir: Path | None = None
        self.cpu_seconds = Counter(
            "deeptrust_process_cpu_seconds_total", "CPU time (user + system) of the serving processes.",
            registry=r,
        )  # fmt: skip
        self.cpu_limit = Gauge(
            "deeptrust_cpu_limit_cores", "CPU cores this process may use: its cgroup quota, else affinity.",
            multiprocess_mode="livemax", registry=r,
        )  # fmt: skip
        self.cpu_limit.set(cpu_limit_cores())
        self._cpu_seen = time.process_time()
        self.before_render: list[Callable[[], None]] = []  # refresh gauges that are read at scrape time
        self.evidence = Counter(
            "deeptrust_evidence_total", "Evidence entries of answered predictions by kind, signal, strength.",
            ["kind", "signal", "strength"], registry=r,
        )  # fmt: skip
        self.verdicts = Counter(
            "deeptrust_verdicts_total", "Answered predictions by fused verdict and the rule that decided.",
            ["label", "rule"], registry=r,
        )  # fmt: skip
        self.registry_reachable = Gauge(
            "deeptrust_registry_reachable",
            "0 while the model registry does not answer (the model is served from the local cache), else 1.",
            multiprocess_mode="livemin", registry=r,
        )  # fmt: skip
        self.registry_reachable.set(1)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """Report ``depth()``: read at scrape time in one process, after each batch across workers."""
        if self.multiprocess:
            self._depth = depth
        else:
            self.queue_depth.set_function(depth)

    def set_model(self, info: dict[str, str]) -> None:
        labels = (info["name"], info["version"])
        if self._model is not None and self._model != labels:
            if self.multiprocess:  # the files keep every label set; 0 says "no longer served here"
                self.model_info.labels(*self._model).set(0)
            else:
                self.model_info.remove(*self._model)
        self.model_info.labels(*labels).set(1)
        self._model = labels

    def watch_feedback_disk(self, directory: Path) -> None:
        """Report the free and total bytes of ``directory``'s filesystem at each scrape."""
        self._feedback_dir = directory
        self.before_render.append(self._read_feedback_disk)

    def _read_feedback_disk(self) -> None:
        assert self._feedback_dir is not None
        directory = self._feedback_dir
        while not directory.exists() and directory != directory.parent:  # not written to yet
            directory = directory.parent
        usage = shutil.disk_usage(directory)
        self.feedback_disk_free.set(usage.free)
        self.feedback_disk_size.set(usage.total)

    def count_cpu(self) -> None:
        """Add the CPU time used since the last call (each worker counts its own; called per response)."""
        now = time.process_time()
        self.cpu_seconds.inc(max(0.0, now - self._cpu_seen))
        self._cpu_seen = now

    def on_admission(self, admitted: int, limit: int) -> None:
        self.admitted.set(admitted)
        self.admission_limit.set(limit)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        self.count_cpu()
        for refresh in self.before_render:
            refresh()
        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """A worker that stops drops out of the ``live*`` gauges."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())

    # -- hooks --
    def on_batch(self, stats: BatchStats) -> None:
        if self._depth is not None:
            self.queue_depth.set(self._depth())
        self.batch_size.observe(stats.size)
        self.inference.observe(stats.seconds)
        for wait in stats.waits:
            self.queue_wait.observe(wait)

    def on_decoded(self, seconds: float) -> None:
        self.decode.observe(seconds)

    def on_after_predict(self, label: str, p_ai: float) -> None:
        self.scores.labels(label).observe(p_ai)

    def on_evidence(self, result: dict) -> None:
        for entry in result.get("evidence", ()):
            self.evidence.labels(entry["kind"], entry["signal"], entry["strength"]).inc()
        if verdict := result.get("verdict"):
            self.verdicts.labels(verdict["label"], verdict["rule"]).inc()

    def on_response(self, route: str, method: str, status: int, seconds: float) -> None:
        self.count_cpu()
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method, str(status)).observe(seconds)


def cpu_limit_cores() -> float:
    """The cgroup v2 CPU quota (``cpu.max``: a container's limit) when set, else the CPUs we may run on."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    return float(len(os.sched_getaffinity(0)))
