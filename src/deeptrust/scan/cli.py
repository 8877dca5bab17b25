"""``deeptrust scan``: score stored images into a CSV, JSONL or Parquet file, locally or on Ray.

Examples::

    deeptrust scan /data/uploads --out scan.parquet                     # default model (settings.model)
    deeptrust scan 'shots/**/*.jpg' archive.tar.gz list.txt -m cifake -o scan.csv --report scan.html
    deeptrust scan /data/uploads -o scan.parquet --resume               # after a crash or Ctrl-C
    deeptrust scan /mnt/shared/uploads -o scan.parquet --engine ray --address auto --actors 8

Exit codes: 0 done (error rows are results, not failures), 2 bad arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from deeptrust.settings import get_settings

EXIT_USAGE = 2


def scan(
    sources: list[str] = typer.Argument(
        ..., help="Folders (recursive), globs, .tar/.tar.gz archives, files, or .txt lists of paths."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .csv, .jsonl or .parquet."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model name, directory or .onnx file (default: DEEPTRUST_MODEL)."
    ),
    engine: str = typer.Option("local", "--engine", help="local, or ray (pip install 'deeptrust[ray]')."),
    address: str | None = typer.Option(
        None, "--address", help="Ray: 'auto' or ray://HOST:PORT to join a cluster; default starts one here."
    ),
    workers: int = typer.Option(0, "--workers", min=0, help="Local decode+score workers (0: one per core)."),
    threads: int = typer.Option(1, "--threads", min=0, help="ONNX Runtime threads per worker or Ray actor."),
    decoder: str = typer.Option("threads", "--decoder", help="Local workers: threads or processes."),
    actors: int = typer.Option(
        0, "--actors", min=0, help="Ray: scoring actors, one model session each (0: fill the cluster's CPUs)."
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images per model call."),
    chunk_size: int = typer.Option(256, "--chunk-size", min=1, help="Rows per durable write."),
    resume: bool = typer.Option(False, "--resume", help="Skip inputs already in --out and append."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    max_bytes: int = typer.Option(
        64 * 1024 * 1024, "--max-bytes", min=1, help="Larger files become error rows unread."
    ),
    report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Score every image under SOURCES; one row per file, error rows for files that cannot be read."""
    from deeptrust.scan import ScanError, ScanOptions, scan_images
    from deeptrust.scan.summary import summary_table

    if engine not in ("local", "ray"):
        _fail(f"--engine must be local or ray, got {engine!r}")
    if decoder not in ("threads", "processes"):
        _fail(f"--decoder must be threads or processes, got {decoder!r}")
    options = ScanOptions(
        model=model or get_settings().model,
        engine=engine,  # type: ignore[arg-type]
        workers=workers,
        threads=threads,
        decoder=decoder,  # type: ignore[arg-type]
        batch_size=batch_size,
        chunk_size=chunk_size,
        resume=resume,
        overwrite=overwrite,
        max_bytes=max_bytes,
        address=address,
        actors=actors,
        progress=progress,
        report=report,
    )
    console = Console()
    try:
        summary = scan_images(sources, out, options)
    except ScanError as exc:
        _fail(str(exc))
    console.print(summary_table(summary))
    console.print(f"wrote [bold]{out}[/]" + (f" and [bold]{report}[/]" if report else ""), highlight=False)
    if summary.unscored:
        console.print(f"[yellow]{len(summary.unscored):,} inputs were not scored; run again with --resume[/]")


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)
