"""``deeptrust models``: what models are installed, and their cards."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from deeptrust.card import load_card
from deeptrust.registry import iter_models, resolve_model

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the models found on the model search path."""
    models = iter_models()
    if as_json:
        rows = [{"name": d.name, "path": str(d), **c.to_dict()} for d, c in models]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="deeptrust models")
    for column in ("name", "version", "family", "classes", "input", "threshold", "path"):
        table.add_column(column)
    for directory, card in models:
        pre = card.preprocessing
        table.add_row(
            directory.name,
            card.version,
            card.family,
            "/".join(card.class_names),
            f"{pre.input_size}px {pre.crop}×{pre.num_crops}",
            f"{card.threshold:.3f}",
            str(directory),
        )
    console.print(table)


@app.command("show")
def show_model(name: str = typer.Argument(..., help="Model name or directory.")) -> None:
    """Print a model's card as JSON."""
    try:
        typer.echo(load_card(resolve_model(name)).to_json())
    except (FileNotFoundError, ValueError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
