"""Everything one running service holds, built from ``Settings`` and started/stopped by the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deeptrust.evidence.collect import collect
from deeptrust.evidence.collect import warm_up as warm_up_evidence
from deeptrust.evidence.types import Evidence
from deeptrust.serve.auth import JwtVerifier, KeyStore, Principal
from deeptrust.serve.batching import MicroBatcher
from deeptrust.serve.metrics import Metrics
from deeptrust.serve.ratelimit import RateLimiter, RedisRateLimiter, create_rate_limiter
from deeptrust.serve.runtime import Decoded, ModelHolder, ModelRuntime, predict_grouped
from deeptrust.serve.workers import Published, SharedModel, follow
from deeptrust.settings import Settings

log = logging.getLogger("deeptrust.serve")


class OverloadedError(RuntimeError):
    """More images in flight than the service admits; answered with 503 + Retry-After."""


class InsecureConfigError(RuntimeError):
    """The server would listen beyond loopback without any way to authenticate callers."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Service:
    settings: Settings
    holder: ModelHolder
    metrics: Metrics
    keys: KeyStore
    jwt: JwtVerifier
    limiter: RateLimiter | None
    auth_required: bool
    batcher: MicroBatcher[Any, Any] = field(init=False)
    decode_pool: ThreadPoolExecutor = field(init=False)
    explain_slots: asyncio.Semaphore = field(init=False)  # explains holding a decoded image at once
    started: bool = False
    in_flight: int = 0  # images admitted and not yet answered (decoding, queued or being predicted)
    extras: dict[str, Any] = field(default_factory=dict)  # other concerns (feedback store…) hang here
    # Hooks: after each answered prediction (caller, image bytes, result, the decoded upload: its crops
    # spare the rollout's shadow lane a second decode) and at shutdown.
    after_predict_hooks: list[Callable[[Principal, bytes, dict[str, Any], Decoded], None]] = field(
        default_factory=list
    )
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    on_start: list[Callable[[], None]] = field(default_factory=list)  # once ready (background workers)
    on_in_flight: list[Callable[[int], None]] = field(default_factory=list)  # each change of in_flight
    # Hooks that need the decoded upload too (drift monitoring): (Decoded, image bytes, result).
    observers: list[Callable[[Any, bytes, dict[str, Any]], None]] = field(default_factory=list)
    # Which runtime decodes (and so answers) an upload: a rollout routes a canary's share here; None: the
    # current model. Heatmaps (/v1/explain) always come from the current model.
    route_upload: Callable[[], ModelRuntime] | None = None
    shared: SharedModel | None = field(init=False, default=None)  # the model all workers serve
    _follower: asyncio.Task[None] | None = field(init=False, default=None)
    _generation: int = field(init=False, default=0)  # the newest shared model version acted on

    def __post_init__(self) -> None:
        s = self.settings
        self.batcher = MicroBatcher(
            predict_grouped,
            max_batch_size=s.max_batch_size,
            max_wait_ms=s.max_wait_ms,
            max_queue=s.max_queue,
            workers=s.runner_threads,
            on_batch=self.metrics.on_batch,
        )
        self.decode_pool = self._new_pool()
        self.explain_slots = asyncio.Semaphore(s.decode_threads)
        self.metrics.watch_queue(lambda: self.batcher.depth)
        self.metrics.set_model(self.holder.current.info)
        self.metrics.before_render.append(lambda: self.metrics.ready.set(1 if self.ready else 0))
        if s.runtime_dir is not None:
            self.shared = SharedModel(s.runtime_dir)

    @property
    def admission_limit(self) -> int:
        s = self.settings
        return s.max_queue + s.runner_threads * s.max_batch_size

    @contextlib.contextmanager
    def admit(self, n: int = 1) -> Iterator[None]:
        """Shed load at the door, before any decoding, when too many images are already in flight."""
        if self.in_flight + n > self.admission_limit:
            self.metrics.shed.inc()
            raise OverloadedError(f"{self.in_flight} images in flight (limit {self.admission_limit})")
        self.in_flight += n
        self.metrics.on_admission(self.in_flight, self.admission_limit)
        for hook in self.on_in_flight:
            hook(self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= n
            self.metrics.on_admission(self.in_flight, self.admission_limit)
            for hook in self.on_in_flight:
                hook(self.in_flight)

    def after_predict(self, caller: Principal, data: bytes, result: dict[str, Any], decoded: Decoded) -> None:
        self.metrics.on_after_predict(result["label"], result["p_ai"])
        self.metrics.on_evidence(result)
        for hook in self.after_predict_hooks:
            hook(caller, data, result, decoded)

    def observe(self, decoded: Any, data: bytes, result: dict[str, Any]) -> None:
        for observer in self.observers:
            observer(decoded, data, result)

    def collect_evidence(self, data: bytes, pixels: np.ndarray) -> list[Evidence]:
        """Evidence beyond the pixels (C2PA, XMP, generator metadata…), run in the decode thread."""
        return collect(data, pixels, settings=self.settings)

    @property
    def ready(self) -> bool:
        return self.started and self.holder.current.warmed

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.settings.decode_threads, thread_name_prefix="decode")

    async def start(self) -> None:
        if self.decode_pool._shutdown:  # started again after a stop (tests, embedding apps)
            self.decode_pool = self._new_pool()
        self.explain_slots = asyncio.Semaphore(self.settings.decode_threads)  # bound to this event loop
        await asyncio.get_running_loop().run_in_executor(self.decode_pool, self.holder.current.warm_up)
        await asyncio.get_running_loop().run_in_executor(self.decode_pool, warm_up_evidence, self.settings)
        await self.batcher.start()
        if self.shared is not None:
            published = self.shared.read()
            self._generation = published.generation if published else 0
            self._follower = asyncio.create_task(follow(self.shared, self._follow))
        self.started = True
        for start in self.on_start:
            start()
        self.metrics.started_at.set_to_current_time()
        self.metrics.on_admission(self.in_flight, self.admission_limit)
        self.metrics.ready.set(1)
        log.info("ready", extra={"model": self.holder.current.info, "auth_required": self.auth_required})

    async def stop(self) -> None:
        self.started = False
        self.metrics.ready.set(0)
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        await self.batcher.stop()
        self.decode_pool.shutdown(wait=True)
        for close in self.on_stop:
            close()
        if isinstance(self.limiter, RedisRateLimiter):
            await self.limiter.close()
        self.metrics.close()

    async def reload(self, model: str | None, *, publish: bool = True) -> dict[str, str]:
        """Swap the model in place; under several workers, tell the others to do the same."""
        loop = asyncio.get_running_loop()
        runtime = await loop.run_in_executor(None, self.holder.reload, model)
        self.metrics.set_model(runtime.info)
        self.metrics.reloads.inc()
        log.info("model reloaded", extra={"model": runtime.info})
        if publish and self.shared is not None:
            # Synchronous (a few hundred bytes under a lock), so this worker's own follower, which runs
            # on this event loop, already knows the generation when it next looks.
            self._generation = self.shared.publish(self.holder.source).generation
        return runtime.info

    async def _follow(self, published: Published) -> None:
        if published.generation <= self._generation:
            return
        self._generation = published.generation
        try:
            await self.reload(published.model, publish=False)
        except Exception:  # a model another worker loaded should load here; if not, keep serving
            log.exception(
                "could not follow the model another worker loaded", extra={"model": published.model}
            )


def credentials_of(settings: Settings) -> tuple[KeyStore, JwtVerifier]:
    keys = KeyStore(settings.keys_file)
    jwt = JwtVerifier(
        secret=settings.jwt_secret,
        public_key=settings.jwt_public_key,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    return keys, jwt


def auth_required(settings: Settings, keys: KeyStore, jwt: JwtVerifier) -> bool:
    """Whether callers must authenticate; refuses to listen beyond loopback with no way to do so."""
    credentials = keys.has_active() or jwt.enabled
    loopback = is_loopback(settings.host)
    if not loopback and (settings.auth == "off" or not credentials):
        raise InsecureConfigError(
            f"refusing to listen on {settings.host} without authentication: create an API key "
            "(`deeptrust keys create NAME`) or set DEEPTRUST_JWT_SECRET / DEEPTRUST_JWT_PUBLIC_KEY, "
            "or listen on 127.0.0.1"
        )
    return settings.auth == "required" or (settings.auth == "auto" and not loopback)


def build_service(settings: Settings, *, model: str | None = None) -> Service:
    keys, jwt = credentials_of(settings)
    required = auth_required(settings, keys, jwt)
    limiter = create_rate_limiter(
        rate=settings.rate_limit_per_s, burst=settings.rate_limit_burst, redis_url=settings.redis_url
    )
    return Service(
        settings=settings,
        holder=ModelHolder(model or settings.model, settings),
        metrics=Metrics(),
        keys=keys,
        jwt=jwt,
        limiter=limiter,
        auth_required=required,
    )
