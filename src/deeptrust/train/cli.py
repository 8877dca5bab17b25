"""``deeptrust train``."""

from __future__ import annotations

from pathlib import Path

import typer


def parse_overrides(values: list[str]) -> dict[str, object]:
    import yaml

    overrides: dict[str, object] = {}
    for item in values:
        if "=" not in item:
            raise typer.BadParameter(f"expected KEY=VALUE such as optim.epochs=3, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key] = yaml.safe_load(value)
    return overrides


def train(
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config, e.g. configs/cifake.yaml."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run's last checkpoint."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key: --set optim.epochs=3."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default <home>/runs/<name>)."),
    engine: str = typer.Option("local", "--engine", help="local, or ray: DDP on Ray Train workers."),
    address: str | None = typer.Option(
        None, "--address", help="Ray: 'auto' or ray://HOST:PORT to join a cluster; default starts one here."
    ),
    workers: int = typer.Option(2, "--workers", help="Ray: training workers (DDP ranks)."),
    cpus_per_worker: int = typer.Option(1, "--cpus-per-worker", help="Ray: CPUs (torch threads) per worker."),
    max_failures: int = typer.Option(
        2, "--max-failures", help="Ray: worker-group restarts from the last checkpoint before giving up."
    ),
) -> None:
    """Train a model; writes checkpoints, summary.json and an MLflow run."""
    from pydantic import ValidationError

    from deeptrust.train.config import load_config
    from deeptrust.train.loop import train as run_training

    if engine not in ("local", "ray"):
        typer.secho(f"--engine must be local or ray, got {engine!r}", fg="red", err=True)
        raise typer.Exit(2)
    overrides = parse_overrides(set_)
    if out is not None:
        overrides["out_dir"] = str(out)
    try:
        cfg = load_config(config, **overrides)
    except (FileNotFoundError, ValidationError, ValueError) as exc:
        typer.secho(f"bad config {config}: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    if engine == "ray":
        _train_on_ray(cfg, resume, address, workers, cpus_per_worker, max_failures)
        return
    try:
        if cfg.model.family.endswith("_taps"):  # a frozen backbone: its linear probe is fitted, no epochs
            from deeptrust.probe.run import fit_run

            run_dir = fit_run(cfg)  # --resume has nothing to do: features are cached per image
        else:
            run_dir = run_training(cfg, resume=resume)
    except (FileExistsError, ValueError, FileNotFoundError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"run written to {run_dir}")


def _train_on_ray(cfg, resume: bool, address: str | None, workers: int, cpus: int, max_failures: int) -> None:
    from deeptrust.train.engine_ray import RayTrainError, train_ray

    try:
        run_dir = train_ray(
            cfg,
            resume=resume,
            address=address,
            workers=workers,
            cpus_per_worker=cpus,
            max_failures=max_failures,
        )
    except (FileExistsError, ValueError, FileNotFoundError, RayTrainError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"run written to {run_dir}")
