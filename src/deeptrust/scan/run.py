"""``scan_images``: sources → engine → chunked, resumable output, with progress, summary and report.

Usable without the CLI::

    from deeptrust.scan import ScanOptions, scan_images
    summary = scan_images(["/data/uploads"], Path("scan.parquet"), ScanOptions(model="photos", resume=True))
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console

from deeptrust._progress import create_progress
from deeptrust.detector import Detector
from deeptrust.scan.errors import ScanError
from deeptrust.scan.results import Resolver, Row, RowMaker
from deeptrust.scan.sources import Source, count_inputs, iter_inputs, resolve_sources
from deeptrust.scan.summary import Summary
from deeptrust.scan.writers import ScanWriter, open_writer, parts_dir
from deeptrust.settings import get_settings


@dataclass(frozen=True)
class ScanOptions:
    model: str = "photos"  # name, model directory or .onnx file
    engine: Literal["local", "ray"] = "local"
    workers: int = 0  # local: decode+score workers; 0: one per core
    threads: int = 1  # ONNX Runtime threads per worker (local) or per actor (ray)
    decoder: Literal["threads", "processes"] = "threads"  # local workers' kind
    batch_size: int = 32  # images per model call
    chunk_size: int = 256  # rows per durable write: what a kill -9 can lose at most
    resume: bool = False
    overwrite: bool = False
    max_bytes: int = 64 * 1024 * 1024  # larger files become error rows without being read
    address: str | None = None  # ray: None starts a local Ray, "auto" or "ray://host:port" joins one
    actors: int = 0  # ray: scoring actors, each with one ONNX Runtime session; 0: one per `threads` CPUs
    progress: bool = True
    report: Path | None = None  # self-contained HTML report


def scan_images(
    specs: Sequence[str], out: Path, options: ScanOptions, *, console: Console | None = None
) -> Summary:
    """Scan ``specs`` (folders, globs, archives, list files) into ``out``; return what was found."""
    console = console or Console(stderr=True)
    detector = _load_detector(options)
    rows = RowMaker(detector)
    # Sources first: a mistyped one must not leave a fresh, empty output behind.
    sources = resolve_sources(specs, exclude={str(out.absolute()), str(parts_dir(out).absolute())})
    writer = open_writer(out, rows.columns, resume=options.resume, overwrite=options.overwrite)
    resolver = Resolver(rows)
    card = detector.card
    summary = Summary(
        model=f"{card.name} {card.version}", threshold=card.threshold, real_class=card.real_class
    )
    try:
        done = _load_existing(writer, resolver, summary, detector)
        with (
            _ChunkSink(writer, options.chunk_size, summary) as sink,
            create_progress(enabled=options.progress, unit="img", decimals=1, console=console) as bar,
        ):
            task = bar.add_task("Scanning", total=count_inputs(sources), completed=len(done))
            sink.on_rows = lambda n: bar.advance(task, n)
            start = sink.start = time.perf_counter()
            _run_engine(sources, done, detector, resolver, sink.add, options)
            summary.seconds = time.perf_counter() - start
    except BaseException:
        writer.close()  # what was written stays, for --resume; Parquet parts are not merged
        raise
    summary.duplicates = resolver.duplicates
    summary.unscored = resolver.unresolved()
    writer.finish()
    if options.report is not None:
        from deeptrust.scan.report import write_report

        write_report(summary, options.report, detector=detector, max_bytes=options.max_bytes)
    return summary


def _load_detector(options: ScanOptions) -> Detector:
    settings = get_settings()
    try:
        return Detector.load(options.model, threads=options.threads, max_pixels=settings.max_image_pixels)
    except (OSError, ValueError) as exc:
        raise ScanError(f"cannot load model {options.model!r}: {exc}") from exc


def _load_existing(writer: ScanWriter, resolver: Resolver, summary: Summary, detector: Detector) -> set[str]:
    """Paths already in the output; their contents' outcomes are remembered for later copies."""
    card, done = detector.card, set()
    for row in writer.existing():
        if (row["model"], row["model_version"]) != (card.name, card.version):
            raise ScanError(
                f"{writer.path} was written by model {row['model']} {row['model_version']}, not "
                f"{card.name} {card.version}; resume with that model, or scan into another --out"
            )
        resolver.remember(row)
        summary.add(row, resumed=True)
        done.add(row["path"])
    return done


def _run_engine(
    sources: list[Source],
    done: set[str],
    detector: Detector,
    resolver: Resolver,
    emit: Callable[[list[Row]], None],
    options: ScanOptions,
) -> None:
    if options.engine == "ray":
        from deeptrust.scan.engine_ray import scan_ray

        scan_ray(
            sources,
            skip=done,
            detector=detector,
            resolver=resolver,
            emit=emit,
            address=options.address,
            actors=options.actors,
            threads=options.threads,
            batch_size=options.batch_size,
            max_bytes=options.max_bytes,
        )
        return
    from deeptrust.scan.engine_local import scan_local

    scan_local(
        iter_inputs(sources, skip=done, max_bytes=options.max_bytes),
        detector=detector,
        resolver=resolver,
        emit=emit,
        workers=options.workers or os.cpu_count() or 1,
        batch_size=options.batch_size,
        max_bytes=options.max_bytes,
        decoder=options.decoder,
        threads=options.threads,
    )


class _ChunkSink:
    """Buffers rows and writes them ``chunk_size`` at a time; the summary sees every written row."""

    def __init__(self, writer: ScanWriter, chunk_size: int, summary: Summary) -> None:
        self.writer, self.chunk_size, self.summary = writer, chunk_size, summary
        self.buffer: list[Row] = []
        self.on_rows: Callable[[int], object] = lambda n: None
        self.start = time.perf_counter()

    def add(self, rows: list[Row]) -> None:
        if rows and not self.summary.first_rows:
            self.summary.first_rows_s = time.perf_counter() - self.start
            self.summary.first_rows = len(rows)
        self.buffer.extend(rows)
        while len(self.buffer) >= self.chunk_size:
            self._write(self.buffer[: self.chunk_size])
            del self.buffer[: self.chunk_size]
        self.on_rows(len(rows))

    def _write(self, rows: list[Row]) -> None:
        self.writer.write_chunk(rows)
        for row in rows:
            self.summary.add(row)

    def __enter__(self) -> _ChunkSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        # Rows in the buffer are complete: keep them when the scan ends or is interrupted (Ctrl-C),
        # but do not try again after the writer itself failed.
        if self.buffer and (exc_type is None or issubclass(exc_type, KeyboardInterrupt)):
            self._write(self.buffer)
            self.buffer = []
