"""``deeptrust export``."""

from __future__ import annotations

from pathlib import Path

import typer


def export(
    run: Path = typer.Option(
        ..., "--run", "-r", help="Training run directory (holds best.pt, summary.json)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write (model.onnx, card.json)."),
    name: str | None = typer.Option(None, help="Model name (default: the run config's name)."),
    version: str = typer.Option("1.0.0", help="Model version recorded in the card."),
    int8: bool = typer.Option(False, "--int8", help="Try static INT8; kept only if accuracy drops < 0.5 pt."),
    description: str = typer.Option("", help="One paragraph for the card."),
    limitation: list[str] = typer.Option([], "--limitation", help="A known limitation (repeatable)."),
    register: bool = typer.Option(
        True, "--register/--no-register", help="Register the model as a new version in the model registry."
    ),
    alias: str | None = typer.Option(None, "--alias", help="Point this alias at the new version."),
) -> None:
    """Export a run to ONNX, check parity with torch, write the model card."""
    from deeptrust.export.run import export_run

    if alias == "champion":
        typer.secho(
            "--alias champion is given by `deeptrust models promote` once the gate passed", fg="red", err=True
        )
        raise typer.Exit(2)
    if not (run / "best.pt").exists():
        typer.secho(f"no checkpoint at {run / 'best.pt'}: train first (deeptrust train)", fg="red", err=True)
        raise typer.Exit(2)
    result = export_run(
        run,
        out,
        name=name,
        version=version,
        int8=int8,
        description=description,
        limitations=tuple(limitation),
    )
    typer.echo(f"ONNX parity with torch: max |Δlogit| = {result.parity_max_abs_diff:.2e}")
    if result.int8:
        i8 = result.int8
        typer.echo(
            f"INT8: val accuracy {i8['fp32']['accuracy']:.4f} → {i8['int8']['accuracy']:.4f} "
            f"(drop {i8['accuracy_drop'] * 100:.2f} pt): {'kept' if i8['used'] else 'rejected'}"
        )
    typer.echo(f"model written to {result.directory} (quantization: {result.card.quantization})")
    if register:
        _register(result.directory, name or result.card.name, alias)


def _register(directory: Path, name: str, alias: str | None) -> None:
    """A new registry version of the exported model (ONNX + card, hashes, dataset hash, git commit)."""
    from deeptrust.registry import RegistryError, register_model, set_alias

    try:
        version = register_model(directory, name=name)
        if alias:
            set_alias(name, alias, version)
    except (RegistryError, ConnectionError, ValueError) as exc:
        typer.secho(f"the model was written but not registered: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"registered {name} version {version}" + (f" (@{alias})" if alias else ""))
