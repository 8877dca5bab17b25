"""The Ray engine of ``deeptrust train``: the same loop under Ray Train's ``TorchTrainer`` (DDP, gloo).

    deeptrust train -c configs/cifake.yaml --engine ray --workers 4                  # a Ray started here
    deeptrust train -c configs/cifake.yaml --engine ray --address auto --workers 8   # a running cluster
    deeptrust train -c configs/cifake.yaml --engine ray --workers 4 --resume         # after a crash

The driver prepares the data once, as the local engine does, puts the decoded pixels in Ray's object
store and opens the MLflow run. ``workers`` ranks then train with DDP, each on its slice of every
global batch: the same batches, augmentations and schedule as a local run (``loop.train_one_epoch``).
Rank 0 validates, logs each epoch to that MLflow run and reports a Ray checkpoint holding the local
engine's two files (``last.pt``, ``best.pt``). A worker that dies is replaced and the group resumes from
the latest checkpoint, up to ``max_failures`` times. At the end the driver copies both files into the run
directory and finishes as the local engine does (threshold, summary.json, plots, MLflow artifacts), so
``deeptrust export --run`` and a local ``--resume`` read either engine's runs.

Non-goals: the tapped-feature (``*_taps``) families, whose probe fit has no epochs to spread; GPUs. A
multi-node cluster needs the run directory (Ray's checkpoint storage) on a shared file system, and the
deeptrust home too unless MLFLOW_TRACKING_URI names a tracking server. Ray is imported only here:
``pip install 'deeptrust[ray]'``.
"""

from __future__ import annotations

import logging
import math
import shutil
import socket
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deeptrust.settings import Settings, get_settings
from deeptrust.train.config import TrainConfig
from deeptrust.train.data import fixed_crops, to_tensor
from deeptrust.train.loop import (
    TrainState,
    build_model,
    eval_model,
    finish_run,
    flat_params,
    format_epoch,
    prepare_data,
    preprocessing_of,
    record_epoch,
    restore_checkpoint,
    save_checkpoint,
    seed_everything,
    stop_reason,
    train_one_epoch,
    training_setup,
    validate,
)
from deeptrust.train.tracking import Tracker, tracking_uri

RUN_NAME = "train"  # Ray's run folder under <run dir>/ray; the same name is what lets a rerun resume


class RayTrainError(RuntimeError):
    """The Ray engine cannot start or finish: no Ray, no cluster, too few CPUs, workers that kept failing."""


def train_ray(
    config: TrainConfig,
    *,
    resume: bool = False,
    show: bool = True,
    settings: Settings | None = None,
    address: str | None = None,
    workers: int = 2,
    cpus_per_worker: int = 1,
    max_failures: int = 2,
) -> Path:
    """Train ``config`` on ``workers`` Ray workers; returns the run directory (as ``loop.train``).

    ``address``: None starts a Ray instance on this machine (stopped at the end); ``auto`` or
    ``ray://HOST:PORT`` joins a running cluster. A Ray already initialised in this process is used as is.
    """
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if max_failures < 0:
        raise ValueError(f"--max-failures must be 0 or more, got {max_failures}")
    if cpus_per_worker < 1:
        raise ValueError(f"--cpus-per-worker must be at least 1, got {cpus_per_worker}")
    if config.model.family.endswith("_taps"):
        raise ValueError(
            f"--engine ray trains by epochs; {config.model.family} fits a linear probe on cached "
            "features instead: run it with the local engine (drop --engine ray)"
        )
    ray = import_ray()
    settings = settings or get_settings()
    out = Path(config.out_dir or settings.runs_dir / config.name).resolve()
    latest = _latest_checkpoint(out, resume=resume)
    check_address(address)
    started = not ray.is_initialized()
    if started:
        connect(ray, address)
    try:
        _check_cpus(ray, workers * cpus_per_worker)
        return _run(ray, config, out, latest, settings, show, workers, cpus_per_worker, max_failures)
    finally:
        if started:
            ray.shutdown()


def import_ray() -> Any:
    try:
        import ray
        import ray.train.torch  # the extra's other half; fail here, not inside a worker
    except ImportError as exc:
        raise RayTrainError(
            f"--engine ray needs Ray Train ({exc.name} is missing): pip install 'deeptrust[ray]'"
        ) from exc
    return ray


def check_address(address: str | None) -> None:
    """A HOST:PORT address must be a listening port: fail fast, with the address in the message (Ray
    would retry an unreachable GCS or client server for a minute or more)."""
    if address in (None, "auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayTrainError(f"--address must be 'auto', ray://HOST:PORT or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise RayTrainError(f"no Ray cluster reachable at {address}: {exc}") from exc


def connect(ray: Any, address: str | None) -> None:
    """``ray.init``: a new local instance (None), or the cluster at ``address``."""
    try:
        ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
    except ConnectionError as exc:
        raise RayTrainError(f"no Ray cluster at --address {address}: {exc}") from exc


def _check_cpus(ray: Any, needed: int) -> None:
    """Ray Train waits for resources it cannot get without a word: refuse instead."""
    have = int(ray.cluster_resources().get("CPU", 0))
    if have < needed:
        raise RayTrainError(
            f"the Ray cluster has {have} CPUs, the run needs {needed} (--workers × --cpus-per-worker)"
        )


def _latest_checkpoint(out: Path, *, resume: bool) -> Path | None:
    """The checkpoint folder (``last.pt`` + ``best.pt``) a resume starts from, or None to start afresh.

    Ray's own latest checkpoint when an earlier Ray run left one (Ray restores it by the run's name),
    else the run directory's files (a local run, or a finished Ray run copied there)."""
    ray_dir = out / "ray" / RUN_NAME
    saved = sorted(ray_dir.glob("checkpoint_*/last.pt"))
    if not resume:
        if saved or (out / "last.pt").exists():
            raise FileExistsError(f"{out} already holds a run: pass --resume to continue it or remove it")
        return None
    if saved:
        epochs = {
            p.parent: torch.load(p, map_location="cpu", weights_only=False)["state"]["epoch"] for p in saved
        }
        return max(epochs, key=epochs.__getitem__)
    return out if (out / "last.pt").exists() else None


def _run(ray, config, out, latest, settings, show, workers, cpus_per_worker, max_failures) -> Path:
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    data = prepare_data(config, settings, show)
    val_crops, owner = fixed_crops(data["val"], preprocessing_of(config))
    val_x = to_tensor(val_crops, config.input)
    run_id = None
    if latest is not None:  # the same MLflow run, and the same config (as loop.restore_checkpoint demands)
        ckpt = torch.load(latest / "last.pt", map_location="cpu", weights_only=False)
        if ckpt["config"] != config.model_dump(mode="json"):
            raise ValueError(f"{latest} was trained with a different config; resume needs the same one")
        run_id = ckpt["state"]["run_id"]
    tracker = Tracker(settings, experiment=config.name, run_id=run_id)
    try:
        tracker.log_params(flat_params(config, data) | {"engine": "ray", "workers": str(workers)})
        context = {
            "config": config.model_dump(mode="json"),
            "payload": ray.put({"data": data, "val_x": val_x, "owner": owner}),
            "run_id": tracker.run_id,
            "tracking_uri": tracking_uri(settings),
            "resume_dir": str(latest) if latest is not None and latest == out else None,
            "threads": cpus_per_worker,
            "show": show,
        }
        trainer = TorchTrainer(
            train_worker,
            train_loop_config=context,
            torch_config=TorchConfig(backend="gloo"),
            scaling_config=ScalingConfig(
                num_workers=workers, use_gpu=False, resources_per_worker={"CPU": cpus_per_worker}
            ),
            run_config=RunConfig(
                name=RUN_NAME,
                storage_path=str(out / "ray"),
                failure_config=FailureConfig(max_failures=max_failures),
                checkpoint_config=CheckpointConfig(num_to_keep=2),
            ),
        )
        result = _fit(trainer)
        with result.checkpoint.as_directory() as folder:
            for name in ("last.pt", "best.pt"):
                shutil.copyfile(Path(folder) / name, out / name)
        state = TrainState(**torch.load(out / "last.pt", map_location="cpu", weights_only=False)["state"])
        _log_missing_epochs(tracker, state)
        model = build_model(config, len(data["class_names"]), pretrained=False)
        engine = {"name": "ray", "workers": workers, "resumed_from": state.resumed_from}
        finish_run(model, out, config, data, val_x, owner, state, tracker, extra={"engine": engine})
    finally:
        tracker.close()
    return out


def _fit(trainer: Any) -> Any:
    """``trainer.fit()``, its failures as one readable line (a worker's own error when it raised one)."""
    from ray.train import TrainingFailedError

    try:
        result = trainer.fit()
    except TrainingFailedError as exc:
        failures = getattr(exc, "worker_failures", {}) or {}
        reasons = "; ".join(f"rank {rank}: {_root(err)}" for rank, err in sorted(failures.items()))
        raise RayTrainError(f"Ray training failed: {reasons or exc}") from exc
    if result.checkpoint is None:
        raise RayTrainError("Ray training ended without reporting a checkpoint")
    return result


def _root(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return f"{type(error).__name__}: {error}".splitlines()[0]


def _log_missing_epochs(tracker: Tracker, state: TrainState) -> None:
    """Rank 0 logs each epoch once Ray has registered its checkpoint; a worker killed in between leaves
    that epoch out of MLflow, though it is in the checkpoint's history. Log such epochs here."""
    client = tracker.mlflow.MlflowClient()
    logged = {m.step for m in client.get_metric_history(tracker.run_id, "train_loss")}
    for row in state.history:
        if row["epoch"] not in logged:
            tracker.log_metrics(row, step=int(row["epoch"]))


# -- on every worker ----------------------------------------------------------------------------


def train_worker(context: dict[str, Any]) -> None:
    """One rank of the run: build, restore (Ray's checkpoint, else ``resume_dir``), wrap in DDP, train."""
    import ray
    import ray.train
    from ray.train.torch import prepare_model

    config = TrainConfig.model_validate(context["config"])
    payload = ray.get(context["payload"])
    data = payload["data"]
    train_ctx = ray.train.get_context()
    rank, world = train_ctx.get_world_rank(), train_ctx.get_world_size()
    torch.set_num_threads(config.optim.threads or context["threads"])
    seed_everything(config.seed)
    o = config.optim
    steps = math.ceil((o.samples_per_epoch or len(data["train"].labels)) / o.batch_size)
    model, opt, sched, ema = training_setup(config, len(data["class_names"]), steps)
    state, rng = TrainState(run_id=context["run_id"]), np.random.default_rng(config.seed)
    scratch = Path(tempfile.mkdtemp(prefix="deeptrust-train-"))  # rank 0's best.pt between reports
    checkpoint = ray.train.get_checkpoint()
    folder_ctx = checkpoint.as_directory() if checkpoint else nullcontext(context["resume_dir"])
    with folder_ctx as folder:
        if folder:
            state, rng = restore_checkpoint(Path(folder) / "last.pt", model, opt, sched, config, ema)
            shutil.copyfile(Path(folder) / "best.pt", scratch / "best.pt")
    if world > 1:  # the same initial weights on every rank (DDP checks), but each its own dropout masks
        torch.manual_seed(config.seed * 7919 + rank * 104729 + state.epoch)
    worker = _Worker(config, data, payload, context, rank, world, scratch)
    try:
        worker.epochs(prepare_model(model), model, opt, sched, ema, state, rng)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _Worker:
    """What one rank holds for its epochs; rank 0 alone validates, checkpoints and logs."""

    def __init__(self, config, data, payload, context, rank: int, world: int, scratch: Path):
        self.config, self.data, self.payload, self.context = config, data, payload, context
        self.rank, self.world, self.scratch = rank, world, scratch
        self.client: Any = None

    def epochs(self, ddp, model, opt, sched, ema, state: TrainState, rng) -> None:
        import ray.train
        import torch.distributed as dist

        o = self.config.optim
        while state.epoch < o.epochs:
            t0 = time.perf_counter()
            split = self.data["train"]
            loss = train_one_epoch(
                ddp, opt, sched, split, self.config, rng, False, ema, shard=(self.rank, self.world)
            )
            shared: list[Any] = [None, None]
            row, improved = {}, False
            if self.rank == 0:
                row, improved = self._validate(model, ema, state, loss, sched, time.perf_counter() - t0)
                shared = [state, stop_reason(state, self.config)]
            if self.world > 1:  # every rank needs the epoch count and the stop decision
                dist.broadcast_object_list(shared, src=0)
            state, stop = shared
            if self.rank == 0:
                self._report(row, improved, model, opt, sched, ema, state)
            else:
                ray.train.report({"epoch": state.epoch})
            if stop:
                if self.rank == 0:
                    sys.stdout.write(f"{stop}\n")
                break

    def _validate(self, model, ema, state, train_loss, sched, seconds):
        c = self.config
        scored = eval_model(model, ema)
        val_x, owner = self.payload["val_x"], self.payload["owner"]
        _, metrics = validate(
            scored, self.data["val"], val_x, owner, self.data["class_names"], c, bf16=c.optim.autocast_bf16
        )
        row, improved = record_epoch(state, train_loss, metrics, sched, seconds=seconds)
        if self.context["show"]:
            # not print(): Ray Train's print patch would show each line twice on the driver
            sys.stdout.write(format_epoch(state, row, improved, c.optim.epochs) + "\n")
            sys.stdout.flush()
        return row, improved

    def _report(self, row, improved, model, opt, sched, ema, state) -> None:
        """Ray checkpoint = the local engine's files; then the epoch's metrics to the MLflow run."""
        import ray.train

        names = self.data["class_names"]
        if improved:
            save_checkpoint(
                self.scratch / "best.pt", model, opt, sched, state, self.config, names, self.data, ema
            )
        with tempfile.TemporaryDirectory(prefix="deeptrust-ckpt-") as folder:
            save_checkpoint(
                Path(folder) / "last.pt", model, opt, sched, state, self.config, names, self.data, ema
            )
            shutil.copyfile(self.scratch / "best.pt", Path(folder) / "best.pt")
            ray.train.report(row, checkpoint=ray.train.Checkpoint.from_directory(folder))
        # Log only once Ray has registered the checkpoint: a worker killed before that re-runs the
        # epoch, and MLflow would get it twice. (This waits up to a controller poll, 2 s by default.)
        ray.train.get_all_reported_checkpoints()
        self._log(row, state.epoch)

    def _log(self, row: dict[str, float], step: int) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        self.client = self.client or MlflowClient(self.context["tracking_uri"])
        stamp = int(time.time() * 1000)
        clean = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and v == v}
        metrics = [Metric(k, v, stamp, step) for k, v in clean.items()]
        self.client.log_batch(self.context["run_id"], metrics=metrics)
