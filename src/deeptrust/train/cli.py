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
) -> None:
    """Train a model; writes checkpoints, summary.json and an MLflow run."""
    from pydantic import ValidationError

    from deeptrust.train.config import load_config
    from deeptrust.train.loop import train as run_training

    overrides = parse_overrides(set_)
    if out is not None:
        overrides["out_dir"] = str(out)
    try:
        cfg = load_config(config, **overrides)
    except (FileNotFoundError, ValidationError, ValueError) as exc:
        typer.secho(f"bad config {config}: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
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
