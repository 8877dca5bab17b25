"""Several worker processes behind one port: ``deeptrust serve --workers N``.

uvicorn's supervisor starts N processes that share the listening socket; each builds its own app (model,
batcher, decode threads) with ``worker_app()``. What one server's workers share lives in a runtime
directory the supervisor creates:

- ``metrics/``: prometheus_client's multiprocess files, so ``/metrics`` on any worker sums all of them;
- ``model.json``: the model the server should serve and a generation number. ``POST /v1/models/reload``
  swaps the model in the worker that took the request and publishes it here; the other workers follow
  within a fraction of a second (each swaps in place, so no connection or request is dropped), and a
  worker that the supervisor restarts loads it on start.

Per-process state that would be wrong across workers is refused at start: in-memory rate limits (each
worker would grant the whole budget) need ``DEEPTRUST_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deeptrust.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Published:
    model: str
    generation: int


class SharedModel:
    """The model every worker of one server should serve: ``model.json`` written atomically under a lock."""

    def __init__(self, runtime_dir: Path):
        self.path = runtime_dir / "model.json"
        self._lock = runtime_dir / "model.lock"

    def read(self) -> Published | None:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return Published(str(raw["model"]), int(raw["generation"]))

    def publish(self, model: str) -> Published:
        with self._lock.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = self.read()
            published = Published(model, (previous.generation if previous else 0) + 1)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"model": published.model, "generation": published.generation}))
            tmp.replace(self.path)
        return published

    def mtime_ns(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0


async def follow(shared: SharedModel, on_change: Callable[[Published], Awaitable[None]]) -> None:
    """Poll ``model.json`` and hand each new version of it to ``on_change``."""
    mtime = shared.mtime_ns()
    while True:
        await asyncio.sleep(POLL_SECONDS)
        now = shared.mtime_ns()
        if now == mtime:
            continue
        mtime = now
        published = shared.read()
        if published is not None:
            await on_change(published)


def worker_app():  # type: ignore[no-untyped-def]
    """The app factory each worker process runs (``uvicorn …:worker_app --factory``)."""
    from deeptrust.serve.app import create_app
    from deeptrust.serve.logs import configure_logging
    from deeptrust.serve.service import build_service

    settings = Settings()
    configure_logging(settings.log_level)
    assert settings.runtime_dir is not None, "worker_app runs under `deeptrust serve --workers N`"
    published = SharedModel(settings.runtime_dir).read()
    service = build_service(settings, model=published.model if published else None)
    return create_app(settings, service=service)


def preflight(settings: Settings) -> tuple[dict[str, str], bool]:
    """Check in the supervisor what would make every worker fail, without loading the model there.

    Returns the model's name and version and whether callers must authenticate.
    """
    from deeptrust.card import load_card
    from deeptrust.registry import resolve_model
    from deeptrust.serve.service import auth_required, credentials_of

    if settings.rate_limit_per_s > 0 and not settings.redis_url:
        raise ValueError(
            f"rate limits with {settings.workers} workers need a shared bucket: set DEEPTRUST_REDIS_URL "
            "(in-memory buckets would give each worker the whole budget)"
        )
    required = auth_required(settings, *credentials_of(settings))
    card = load_card(resolve_model(settings.model))
    return {"name": card.name, "version": card.version}, required


def worker_environment(settings: Settings, runtime_dir: Path) -> dict[str, str]:
    """What the workers inherit: the resolved settings that differ per server, and the shared dirs."""
    cores = os.cpu_count() or 1
    env = {
        "DEEPTRUST_MODEL": settings.model,
        "DEEPTRUST_HOST": settings.host,
        "DEEPTRUST_PORT": str(settings.port),
        "DEEPTRUST_RUNTIME_DIR": str(runtime_dir),
        MULTIPROC_ENV: str(runtime_dir / "metrics"),
    }
    # The cores are shared between the workers unless the operator said otherwise.
    for field, variable in (("intra_op_threads", "DEEPTRUST_INTRA_OP_THREADS"),
                            ("decode_threads", "DEEPTRUST_DECODE_THREADS")):  # fmt: skip
        if field not in settings.model_fields_set:
            env[variable] = str(max(1, cores // settings.workers))
    return env


@contextlib.contextmanager
def runtime_directory(settings: Settings):  # type: ignore[no-untyped-def]
    """The given ``runtime_dir`` (emptied of stale metrics), or a temporary one removed at exit."""
    if settings.runtime_dir is not None:
        path = Path(settings.runtime_dir)
        shutil.rmtree(path / "metrics", ignore_errors=True)
        (path / "model.json").unlink(missing_ok=True)
        (path / "rollout.json").unlink(missing_ok=True)  # deeptrust.rollout's, shared the same way
        (path / "metrics").mkdir(parents=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="deeptrust-serve-"))
    (path / "metrics").mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(settings: Settings, **uvicorn_options: Any) -> None:
    """Run ``settings.workers`` processes under uvicorn's supervisor until SIGINT/SIGTERM."""
    import uvicorn

    # uvicorn's supervisor kills a worker that misses its 5 s health ping; a worker's start (imports, model
    # load, warm-up) takes longer than that on a loaded 2-core machine, which turned start-up into a kill
    # loop.
    uvicorn_options.setdefault("timeout_worker_healthcheck", 60)
    with runtime_directory(settings) as runtime_dir:
        os.environ.update(worker_environment(settings, runtime_dir))
        uvicorn.run(
            "deeptrust.serve.workers:worker_app",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            **uvicorn_options,
        )
