"""``deeptrust data import`` and ``deeptrust data show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True)


def _fail(console: Console, exc: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@app.command("import")
def import_command(
    src: Annotated[
        str,
        typer.Argument(
            help="Folder or .tar/.tar.gz/.tgz in \\[split/]label/*.jpg layout or with a manifest.csv, "
            "or a CSV (path,label\\[,split]\\[,source]\\[,generator])."
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Dataset name under .deeptrust/datasets/.")],
    val_fraction: Annotated[
        float | None,
        typer.Option(
            help="Share of train carved out as val when the source has no val "
            "(default: 0.15 for a source with no split at all, else 0.1)."
        ),
    ] = None,
    test_fraction: Annotated[
        float | None,
        typer.Option(
            help="Share of train carved out as test when the source has no test "
            "(default: 0.2 for a source with no split at all, else 0)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the train/val split.")] = 0,
    keep_duplicates: Annotated[
        bool, typer.Option("--keep-duplicates", help="Keep repeated content and label conflicts.")
    ] = False,
    keep_leaks: Annotated[
        bool, typer.Option("--keep-leaks", help="Keep content that also occurs in another split.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: one per CPU core).")
    ] = None,
) -> None:
    """Import a dataset: scan every image, drop what is broken or repeated, report shortcuts."""
    from deeptrust.data.errors import DataError
    from deeptrust.data.importer import import_dataset
    from deeptrust.data.render import print_report

    console = Console()
    try:
        result = import_dataset(
            src,
            name=name,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
            keep_duplicates=keep_duplicates,
            keep_leaks=keep_leaks,
            workers=workers,
        )
    except DataError as exc:
        raise _fail(Console(stderr=True), exc) from None
    print_report(result.report, console)
    files = "manifest.parquet, excluded.parquet, report.json and report.txt"
    console.print(f"Wrote {files} to {escape(str(result.directory))}", soft_wrap=True)


@app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Name of an imported dataset, or its folder.")],
) -> None:
    """Print the validation report saved by an earlier import."""
    from deeptrust.data.errors import DataError
    from deeptrust.data.importer import load_report
    from deeptrust.data.render import print_report

    try:
        report = load_report(Path(name) if Path(name).exists() else name)
    except DataError as exc:
        raise _fail(Console(stderr=True), exc) from None
    print_report(report)
