"""``deeptrust pipeline import|register``: the DVC pipeline's own stages (see dvc.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True)


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True).print(
        f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True
    )
    return typer.Exit(code=2)


@app.command("import")
def import_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="Training config naming the data.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for manifests and datasets.json.")],
) -> None:
    """Import every dataset the config trains on (as `deeptrust train` would) and record their hashes."""
    from pydantic import ValidationError

    from deeptrust.data.errors import DataError
    from deeptrust.pipeline.stages import import_for_config

    try:
        record = import_for_config(config, out)
    except (DataError, FileNotFoundError, ValidationError, ValueError) as exc:
        raise _fail(exc) from None
    for dataset in record["datasets"]:
        splits = ", ".join(f"{k} {v}" for k, v in dataset["splits"].items())
        Console().print(
            f"{escape(dataset['name'])}: {dataset['images']} images ({splits}), hash {dataset['hash'][:12]}"
        )
