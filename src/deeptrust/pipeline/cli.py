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


@app.command("register")
def register_command(
    model_dir: Annotated[Path, typer.Option("--model", "-m", help="Exported model directory.")],
    gate_report: Annotated[Path, typer.Option("--gate", help="Its gate.json (deeptrust gate --out).")],
    name: Annotated[str, typer.Option("--name", help="Registered model name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write what was registered (JSON).")],
    alias: Annotated[str, typer.Option("--alias", help="Alias for the new version.")] = "challenger",
) -> None:
    """Register a model that passed its gate as a new version, with the gate recorded and an alias."""
    import json

    from deeptrust.pipeline.register import outcome_of, register_challenger
    from deeptrust.registry import RegistryError

    try:
        outcome = outcome_of(json.loads(gate_report.read_text()))
        version = register_challenger(
            model_dir, name, outcome, alias=alias, tags={"deeptrust.pipeline": "dvc"}
        )
    except (OSError, ValueError, RegistryError) as exc:
        raise _fail(exc) from None
    record = {"name": name, "version": version, "alias": alias, "gate": outcome}
    out.write_text(json.dumps(record, indent=2) + "\n")
    Console().print(f"registered {escape(name)} version {version} as {escape(alias)}")
