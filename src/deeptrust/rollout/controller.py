"""The rollout controller: start a challenger in shadow or canary, watch it, promote or abort it.

It hangs on the service through its seams only: ``route_upload`` (which runtime decodes an upload: the
canary's, while one runs) and ``after_predict_hooks`` (every answered prediction: per version metrics, and
the shadow lane's sample). A monitor task judges the canary once a second and aborts it by itself when a
threshold is breached: the routing stops at once, the reason is logged, counted in
``deeptrust_rollout_aborts_total{reason}`` and kept in the status. Promotion reuses the service's hot reload
(the challenger becomes the champion atomically; under several workers they all follow).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import random
from typing import Any

from deeptrust.registry import (
    ArtifactIntegrityError,
    ModelNotAllowedError,
    RegistryUnavailableError,
    resolve_trusted,
)
from deeptrust.rollout import policy
from deeptrust.rollout.canary import CanaryAnswer, CanaryRuntime
from deeptrust.rollout.errors import (
    ChallengerLoadError,
    ChallengerNotAllowedError,
    ModelIntegrityError,
    NoRolloutError,
    PromotionRefusedByRegistryError,
    RegistryDownError,
    RolloutRunningError,
    UnknownChallengerError,
)
from deeptrust.rollout.gate import BusySignal
from deeptrust.rollout.metrics import RolloutMetrics
from deeptrust.rollout.quality import QualityLoop
from deeptrust.rollout.run import LaneModel, Run, answer_latency_s, count, is_ai, mv, named
from deeptrust.rollout.shadow import LaneStartError, ShadowLane
from deeptrust.rollout.shared import Event, SharedRollout
from deeptrust.rollout.state import Ended, Mode, RolloutState, Thresholds, check_mode, check_share
from deeptrust.rollout.window import VersionWindows
from deeptrust.serve.runtime import Decoded, ModelRuntime
from deeptrust.serve.service import Service
from deeptrust.serve.workers import follow

log = logging.getLogger("deeptrust.rollout")
JUDGE_EVERY_S = 1.0


class Rollout:
    def __init__(self, service: Service, *, drift: policy.DriftCheck | None = None):
        self.service = service
        self.settings = service.settings
        self.metrics = RolloutMetrics(service.metrics.registry)
        self.drift = drift or policy.drift_of_service(service)
        self.run: Run | None = None
        self.last: Ended | None = None
        self.ai_windows = VersionWindows(self.settings.ai_ratio_window_s)
        self._lock = asyncio.Lock()
        self._monitor: asyncio.Task[None] | None = None
        self._reading: policy.Reading | None = None
        runtime_dir = self.settings.runtime_dir
        self.shared = SharedRollout(runtime_dir) if runtime_dir is not None else None
        self._generation = 0  # the newest shared rollout event acted on
        self._follower: asyncio.Task[None] | None = None
        self._busy: BusySignal | None = None
        self.quality = QualityLoop(
            lambda: service.extras.get("feedback_store"), self.metrics, real_labels=self._real_labels,
            days=self.settings.quality_window_days, interval_s=self.settings.quality_interval_s,
        )  # fmt: skip

    # -- wiring --
    def install(self) -> None:
        self.service.route_upload = self.upload_runtime
        self.service.after_predict_hooks.append(self.on_answer)
        self.service.on_stop.append(self.close)

    def ensure_watching(self) -> None:
        """Start the monitor (and the quality loop) on the event loop's first use, not at app creation:
        apps that are built and never started (tests, tools) leave no task or thread behind."""
        if self._monitor is None or self._monitor.done():
            # A context of its own: not the request's (its request id would tag every log line).
            loop, context = asyncio.get_running_loop(), contextvars.Context()
            self._monitor = loop.create_task(self._watch(), context=context)
            self.quality.start()
            if self.shared is not None:
                self._follower = loop.create_task(self._follow_shared(), context=context)

    def _real_labels(self) -> set[str]:
        labels = {self.service.holder.current.card.real_class}
        run = self.run
        if run is not None:
            labels |= {run.lane_model.card.real_class, *([run.canary.card.real_class] if run.canary else [])}
        return labels

    def upload_runtime(self) -> ModelRuntime:
        run = self.run
        if run is not None and run.canary is not None:
            return run.canary
        return self.service.holder.current

    # -- the admin verbs --
    async def start(
        self, reference: str, *, mode: str, share: float, thresholds: Thresholds | None = None
    ) -> dict[str, Any]:
        kind, share = check_mode(mode), check_share(share)
        limits = thresholds or self.default_thresholds()
        async with self._lock:
            if self.run is not None:
                state = self.run.state
                raise RolloutRunningError(
                    f"a {state.mode.value} rollout of {named(state.challenger)} is running: promote or "
                    "abort it first"
                )
            target = self._resolve(reference)
            loop = asyncio.get_running_loop()
            run = await loop.run_in_executor(None, self._load, target, kind, share, limits)
            self._begin(run)
            if self.shared is not None:  # the other workers start it too
                event = {"reference": target, "mode": kind.value, "share": share, "thresholds": vars(limits)}
                self._generation = self.shared.publish(action="start", **event).generation
        return self.status()

    async def promote(self) -> dict[str, Any]:
        async with self._lock:
            run = self._running("promote")
            loop = asyncio.get_running_loop()
            target = await loop.run_in_executor(None, self._promote_in_registry, run)
            try:
                await self.service.reload(target)
            except Exception as exc:
                log.exception("promotion failed: the champion stays", extra={"model": run.state.challenger})
                raise ChallengerLoadError(
                    f"could not load {run.state.challenger['name']} as champion ({type(exc).__name__}); "
                    "the rollout goes on; the server log has the details"
                ) from exc
            self.metrics.promotions.labels(**mv(run.state.challenger)).inc()
            await self._end(run, "promoted", "promoted", "promoted to champion")
        return self.status()

    async def abort(self, reason: str = "manual", detail: str = "aborted by an operator") -> dict[str, Any]:
        async with self._lock:
            run = self._running("abort")
            await self._end(run, "aborted", reason, detail)
        return self.status()

    def status(self) -> dict[str, Any]:
        run, reading = self.run, self._reading
        body: dict[str, Any] = {
            "state": "idle" if run is None else "running",
            "champion": self.service.holder.current.info,
            "rollout": None if run is None else run.state.to_dict(),
            "last": None if self.last is None else vars(self.last),
        }
        if run is not None:
            body["window"] = None if reading is None else vars(reading)
            lane = run.lane
            body["shadow_scored"] = lane.done if lane else 0
            if lane is not None:
                body["shadow_lane"] = {
                    "pid": lane.pid, "up": lane.up, "priority": lane.priority, "restarts": lane.restarts,
                    "waiting": lane.waiting,
                }  # fmt: skip
        return body

    def default_thresholds(self) -> Thresholds:
        s = self.settings
        return Thresholds(
            window_s=s.rollout_window_s,
            min_requests=s.rollout_min_requests,
            max_error_rate=s.rollout_max_error_rate,
            max_p95_ms=s.rollout_max_p95_ms,
            max_disagreement=s.rollout_max_disagreement,
        )

    # -- inside --
    def _running(self, verb: str) -> Run:
        if self.run is None:
            raise NoRolloutError(f"nothing to {verb}: no rollout is running (start one with `rollout start`)")
        return self.run

    def _resolve(self, reference: str) -> str:
        """A name, an allowed path or a registry reference (``photos@challenger``, ``photos/3``)."""
        s = self.settings
        try:
            return resolve_trusted(reference, paths=s.model_paths, allow_dirs=s.reload_allow_dirs, settings=s)
        except RegistryUnavailableError as exc:
            raise RegistryDownError(str(exc)) from exc
        except ArtifactIntegrityError as exc:
            raise ModelIntegrityError(str(exc)) from exc
        except ModelNotAllowedError as exc:
            raise ChallengerNotAllowedError(str(exc)) from exc
        except FileNotFoundError as exc:
            raise UnknownChallengerError(f"unknown challenger: {exc}") from exc

    def _promote_in_registry(self, run: Run) -> str:
        """Move the registry's champion alias to the challenger's version when it came from the registry;
        → the reference the service then serves (the champion alias, so a restart loads the same)."""
        resolution = getattr(run.challenger, "resolution", None)
        if resolution is None or resolution.source not in ("registry", "cache") or resolution.version is None:
            return run.state.reference  # a model directory: nothing to move
        from deeptrust.registry import PromotionRefusedError, Store, promote

        try:
            promote(resolution.name, resolution.version, store=Store(self.settings))
        except PromotionRefusedError as exc:
            raise PromotionRefusedByRegistryError(
                f"the registry refuses: {exc}; the rollout goes on"
            ) from exc
        except (ConnectionError, RegistryUnavailableError) as exc:
            raise RegistryDownError(f"the registry does not answer ({exc}); the rollout goes on") from exc
        log.info("champion alias moved", extra={"model": resolution.name, "version": resolution.version})
        return str(resolution.name)

    def _load(self, target: str, mode: Mode, share: float, limits: Thresholds) -> Run:
        """Load and warm the models (in a thread); the lane's runs in a process of its own."""
        champion = self.service.holder
        try:
            canary = None
            if mode is Mode.CANARY:
                canary = CanaryRuntime(
                    target, self.settings, share=share, champion=lambda: champion.current,
                    on_outcome=lambda ok: self._on_canary_outcome(canary, ok),
                )  # fmt: skip
                canary.warm_up()
                current = champion.current  # the lane re-scores canary images with the champion
                lane_model = LaneModel(current.resolution, current.card)
            else:
                lane_model = LaneModel.load(target, self.settings)
        except Exception as exc:
            log.exception("challenger failed to load", extra={"model": target})
            raise ChallengerLoadError(
                f"the challenger could not be loaded ({type(exc).__name__}); the champion goes on alone and "
                "the server log has the details"
            ) from exc
        challenger = (canary or lane_model).info
        state = RolloutState(
            mode=mode, share=share, reference=target, challenger=challenger,
            champion=champion.current.info, thresholds=limits,
        )  # fmt: skip
        run = Run(state, lane_model=lane_model, canary=canary)
        run.lane = self._start_lane(run)
        return run

    def _start_lane(self, run: Run) -> ShadowLane:
        """The shadow lane's process, its model loaded (ChallengerLoadError if it does not load)."""
        s, m, labels = self.settings, self.metrics, mv(run.state.challenger)
        lane = ShadowLane(
            run.lane_model.resolution.path,
            cpu_share=s.rollout_shadow_cpu_share,
            max_queue=s.rollout_shadow_queue,
            on_skip=lambda reason: m.shadow_skipped.labels(**labels, reason=reason).inc(),
            on_up=lambda up: m.lane_up.labels(**labels).set(1 if up else 0),
            on_restart=lambda: m.lane_restarts.labels(**labels).inc(),
            name=run.lane_model.info["name"],
            busy=self._busy_signal(),
            max_pixels=s.max_image_pixels,
            log_level=s.log_level,
        )
        m.lane_restarts.labels(**labels)  # the series exists from the start, at 0
        try:
            return lane.start()
        except LaneStartError as exc:
            log.error(
                "the shadow lane could not start", extra={"model": run.lane_model.info, "error": str(exc)}
            )
            raise ChallengerLoadError(
                f"the shadow lane could not load {named(run.lane_model.info)} ({exc}); the champion goes on "
                "alone and the server log has the details"
            ) from exc

    def _busy_signal(self) -> BusySignal | None:
        """This worker's images in flight, shared with its lanes (one signal, made at the first lane)."""
        if not (self.settings.rollout_shadow_yield and BusySignal.available()):
            return None
        if self._busy is None:
            self._busy = BusySignal()
            self._busy.set(self.service.in_flight)
            self.service.on_in_flight.append(self._busy.set)
        return self._busy

    def _begin(self, run: Run) -> None:
        labels = mv(run.state.challenger)
        self._reading = None
        self.run = run
        mode = run.state.mode.value
        self.metrics.active.labels(**labels, mode=mode).set(1)
        self.metrics.share.labels(**labels, mode=mode).set(run.state.share)
        self.metrics.compared.labels(**labels)  # series exist from the start, at 0
        self.metrics.disagreements.labels(**labels)
        for reason in ("manual", "error_rate", "p95", "disagreement", "drift"):
            self.metrics.aborts.labels(**labels, reason=reason)
        self.ensure_watching()
        log.info("rollout started", extra={"rollout": run.state.to_dict()})

    async def _end(self, run: Run, outcome: str, reason: str, detail: str, *, publish: bool = True) -> None:
        self.run = None  # new uploads go to the champion from here on
        if publish and self.shared is not None:  # the other workers end it too (a promotion's model
            # reaches them through the service's own model.json)
            event = {"reference": run.state.reference, "outcome": outcome, "reason": reason, "detail": detail}
            self._generation = self.shared.publish(action="end", **event).generation
        labels, mode = mv(run.state.challenger), run.state.mode.value
        self.metrics.active.labels(**labels, mode=mode).set(0)
        self.metrics.share.labels(**labels, mode=mode).set(0)
        if outcome == "aborted" and publish:  # counted once, by the worker that decided it
            self.metrics.aborts.labels(**labels, reason=reason).inc()
        self.last = Ended(outcome, reason, detail, run.state.challenger)
        level = logging.WARNING if reason not in ("manual", "promoted") else logging.INFO
        log.log(
            level, f"rollout {outcome}: {detail}", extra={"rollout": run.state.to_dict(), "reason": reason}
        )
        if run.lane is not None:
            await asyncio.get_running_loop().run_in_executor(None, run.lane.close)

    def _on_canary_outcome(self, canary: CanaryRuntime | None, ok: bool) -> None:
        run = self.run
        if run is None or canary is None or run.canary is not canary:
            return
        run.attempts.add(0.0 if ok else 1.0)
        if not ok:
            self.metrics.errors.labels(**mv(canary.info), role="canary").inc()

    # -- every answer --
    def on_answer(
        self, caller: Any, data: bytes, result: dict[str, Any], decoded: Decoded | None = None
    ) -> None:
        self.ensure_watching()
        run = self.run
        role = "canary" if isinstance(result, CanaryAnswer) else "champion"
        model = result["model"]
        count(self.metrics, model, role, result, answer_latency_s(result))
        self.ai_windows.get(model, "ai").add(1.0 if is_ai(result) else 0.0)
        if run is None:
            return
        latency = answer_latency_s(result)
        if latency is not None:
            (run.latency if role == "canary" else run.champion_latency).add(latency)
        # Shadow: a random sample of the champion's answers. Canary: every canary answer, which the champion
        # re-scores so that the two can be compared.
        shadow = run.state.mode is Mode.SHADOW
        if (shadow and random.random() < run.state.share) or (not shadow and role == "canary"):
            assert run.lane is not None
            scored = functools.partial(run.on_shadow_scored, self.metrics, is_ai(result))
            run.lane.offer(run.lane_model.payload(decoded, data), scored)

    # -- several workers --
    async def _follow_shared(self) -> None:
        assert self.shared is not None
        published = self.shared.read()  # a worker (re)started during a rollout joins it
        if published is not None:
            await self._on_event(published)
        await follow(self.shared, self._on_event)  # type: ignore[arg-type]

    async def _on_event(self, event: Event) -> None:
        if event.generation <= self._generation:
            return
        self._generation = event.generation
        try:
            if event.action == "start" and self.run is None:
                await self._join(event)
            elif (
                event.action == "end" and self.run is not None and self.run.state.reference == event.reference
            ):
                async with self._lock:
                    if self.run is not None:
                        await self._end(self.run, event.outcome, event.reason, event.detail, publish=False)
        except Exception:  # what another worker started should start here; if not, serve the champion
            log.exception(
                "could not follow the rollout another worker published", extra={"event": vars(event)}
            )

    async def _join(self, event: Event) -> None:
        limits = Thresholds(**(event.thresholds or {}))
        load = functools.partial(self._load, event.reference, Mode(event.mode), event.share, limits)
        async with self._lock:
            self._begin(await asyncio.get_running_loop().run_in_executor(None, load))

    # -- the monitor --
    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(JUDGE_EVERY_S)
            try:
                await self.judge_once()
            except Exception:  # the watcher must outlive a bad reading
                log.exception("rollout monitor failed")

    async def judge_once(self) -> policy.Breach | None:
        """Export the window's reading and, for a canary, abort on the first breached limit."""
        self._export_ai_ratios()
        run = self.run
        if run is None:
            return None
        reading = policy.read(run.attempts, run.latency, run.disagreement)
        self._reading = reading
        run.export(self.metrics, reading)
        if run.state.mode is not Mode.CANARY:
            return None
        limits = run.state.thresholds
        drift = self.drift(run.state.challenger) if limits.abort_on_drift else None
        breach = policy.judge(reading, limits, drift=drift)
        if breach is not None:
            async with self._lock:
                if self.run is run:  # not promoted or aborted meanwhile
                    await self._end(run, "aborted", breach.reason, f"automatic abort: {breach.detail}")
        return breach

    def _export_ai_ratios(self) -> None:
        for name, version, _ in self.ai_windows.keys():  # noqa: SIM118 - a method, not a dict
            ratio = self.ai_windows.get({"name": name, "version": version}, "ai").mean()
            if ratio is not None:
                self.metrics.ai_ratio.labels(model=name, version=version).set(ratio)

    def close(self) -> None:
        for task in (self._monitor, self._follower):
            if task is not None:
                task.cancel()
        self._monitor = self._follower = None
        self.quality.close()
        run, self.run = self.run, None
        if run is not None and run.lane is not None:
            run.lane.close()
