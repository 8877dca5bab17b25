"""``deeptrust evidence``: what files say about themselves, and, with ``--model``, the fused verdict.

Examples::

    deeptrust evidence ../shared/fixtures/provenance/c2pa/ocsp.jpg
    deeptrust evidence shots/*.png --model photos            # plus p_ai and the verdict fusion gives
    deeptrust evidence upload.jpg --json                     # one JSON object per file, with ``data``

Reads the same readers as the service and the scanner (``collect``), offline. Exit codes: 0 done (a file
that is not an image is reported, not a failure), 2 a path that cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deeptrust.settings import get_settings

EXIT_USAGE = 2


def evidence(
    paths: list[Path] = typer.Argument(..., help="Image files."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Also score with this model and print the fused verdict."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file (entries with their data)."),
) -> None:
    from deeptrust.evidence.collect import collect, warm_up

    settings = get_settings()
    console = Console(highlight=False)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        console.print(f"[red]error:[/] not a readable file: {escape(str(missing[0]))}")
        raise typer.Exit(EXIT_USAGE)
    try:
        warm_up(settings)
    except ValueError as exc:  # an unreadable DEEPTRUST_C2PA_TRUST_ANCHORS
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    detector = _detector(model, settings.max_image_pixels) if model else None
    for path in paths:
        data = path.read_bytes()
        report: dict[str, Any] = {"path": str(path)}
        pixels = None
        if detector is not None:
            pixels = _score(detector, data, report)
        entries = collect(data, pixels, settings=settings)
        report["evidence"] = [e.to_dict() for e in entries]
        if "p_ai" in report:
            from deeptrust.evidence.fusion import fuse

            report["verdict"] = fuse(report["p_ai"], report["threshold"], entries).to_dict()
        if as_json:
            print(json.dumps(report, ensure_ascii=False))
        else:
            console.print(_table(report))


def _detector(model: str, max_pixels: int) -> Any:
    from deeptrust.detector import Detector

    return Detector.load(model, threads=1, max_pixels=max_pixels)


def _score(detector: Any, data: bytes, report: dict[str, Any]) -> Any:
    """Decode and score one file for the verdict; an image error is reported in ``report``."""
    import numpy as np

    from deeptrust.imageio import ImageError

    try:
        pixels = detector.decode_array(data)
    except ImageError as exc:
        report["error"] = f"{exc.reason}: {exc}"
        return None
    probs = detector.predict_crops([detector.preprocess(pixels)])[0]
    report["label"] = detector.label_for(np.asarray(probs))
    report["p_ai"] = float(1.0 - probs[detector.card.real_index])
    report["threshold"] = detector.card.threshold
    return pixels


def _table(report: dict[str, Any]) -> Table:
    title = escape(report["path"])
    if "verdict" in report:
        v = report["verdict"]
        title += (
            f" · verdict [bold]{v['label']}[/] ({v['rule']}) · p_ai {report['p_ai']:.3f} ({report['label']})"
        )
    elif "error" in report:
        title += f" · [red]{escape(report['error'])}[/]"
    table = Table(title=title, title_justify="left")
    for column in ("kind", "signal", "strength", "detail"):
        table.add_column(column, overflow="fold")
    for entry in report["evidence"]:
        table.add_row(*(escape(str(entry[c])) for c in ("kind", "signal", "strength", "detail")))
    if not report["evidence"]:
        table.add_row("—", "none", "", "no evidence beyond the pixels")
    return table
