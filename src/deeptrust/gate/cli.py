"""``deeptrust gate CANDIDATE [--against champion] [--suite NAME]``: exit 0 passed, 1 failed, 2 error.

Examples::

    deeptrust gate photos/4                       # suite configs/gate/photos.yaml, against @champion
    deeptrust gate photos@challenger --suite photos --out reports/gate
    deeptrust gate models/cifake --against none   # a directory: floors only, nothing recorded
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

EXIT_FAILED = 1
EXIT_USAGE = 2


def gate(
    candidate: str = typer.Argument(..., help="NAME/VERSION, NAME@ALIAS, a model directory or .onnx file."),
    against: str = typer.Option(
        "champion", "--against", help="Alias of the candidate's model, a reference, or 'none' (floors only)."
    ),
    suite: str | None = typer.Option(
        None, "--suite", help="Suite name (configs/gate/NAME.yaml) or YAML path; default: the model's name."
    ),
    out: Path | None = typer.Option(None, "--out", help="Folder for gate.json and gate.html."),
    record: bool = typer.Option(True, "--record/--no-record", help="Record pass/fail on the version."),
    freeze: bool = typer.Option(False, "--freeze", help="Write missing data hashes into the suite file."),
) -> None:
    """Quality gate: floors and per-slice non-regression against the champion on a fixed suite."""
    from deeptrust.gate.run import GateError, run_gate
    from deeptrust.gate.suite import SuiteError
    from deeptrust.registry import RegistryError

    console = Console()
    try:
        result = run_gate(candidate, against=against, suite=suite, out_dir=out, record=record, freeze=freeze)
    except (GateError, SuiteError, RegistryError, FileNotFoundError, ConnectionError, ValueError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc
    table = Table(title=f"gate {candidate} · suite {result.suite}", title_justify="left")
    for column in ("rule", "slice", "metric", "candidate", "bound", "champion", ""):
        table.add_column(column)
    for c in result.checks:
        mark = "ok" if c.passed else ("[red]FAIL[/]" if c.gating else "[dim]info[/]")
        table.add_row(c.kind, c.slice, c.metric, _num(c.value), _num(c.bound), _num(c.champion), mark)
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    verdict = "[bold green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    recorded = " (recorded on the version)" if result.recorded else ""
    console.print(f"{verdict}{recorded} · report {result.report['html']}", highlight=False)
    if not result.passed:
        raise typer.Exit(EXIT_FAILED)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"
