"""Durable, resumable scan outputs: CSV, JSON Lines and Parquet, written one chunk at a time.

A chunk is on disk when :meth:`ScanWriter.write_chunk` returns, so ``kill -9`` loses at most the
chunk being written and never leaves a file that does not parse:

* CSV and JSONL are appended, flushed and fsynced per chunk. An append cut short leaves a partial
  last record; opening with ``resume=True`` truncates the file back to its last complete record.
* Parquet cannot be appended to, so each chunk is an atomically renamed part file in a sidecar folder
  ``OUT.parquet.parts/``; :meth:`finish` merges the parts into ``OUT.parquet`` with one atomic rename
  and then removes the folder. Resuming a finished file moves it back into the folder as a part.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deeptrust.scan.errors import ScanError
from deeptrust.scan.results import INT_COLUMNS, Row, is_float_column

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# File names need not be valid UTF-8: undecodable bytes travel as surrogates and are written as they were.
UTF8, SURROGATES = "utf-8", "surrogateescape"


class ScanWriter:
    """Base: one output file with fixed columns. Subclasses write chunks and read back what is there."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = tuple(columns)

    def existing(self) -> Iterator[Row]:
        """Rows already in the output (after repairing a cut-off end), for --resume."""
        return iter(())

    def write_chunk(self, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Close the output; after this it is complete and in its final place."""
        self.close()

    def close(self) -> None:
        """Stop writing without finishing (the scan stopped early); what was written stays resumable."""

    def _check_columns(self, found: Sequence[str]) -> None:
        if tuple(found) != self.columns:
            raise ScanError(
                f"{self.path} has columns {', '.join(found)}, but this model writes "
                f"{', '.join(self.columns)}; resume with the model that wrote it, or use another --out"
            )


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ScanError(f"--out {path.name!r}: expected a .csv, .jsonl or .parquet file name")
    return fmt


def parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


def open_writer(path: Path, columns: Sequence[str], *, resume: bool, overwrite: bool) -> ScanWriter:
    """The writer for ``path``'s suffix; refuses to clobber an existing output unless told how."""
    fmt = output_format(path)
    exists = path.exists() or parts_dir(path).exists()
    if exists and not (resume or overwrite):
        raise ScanError(f"{path} exists; pass --resume to continue that scan or --overwrite to replace it")
    if overwrite and not resume:
        path.unlink(missing_ok=True)
        shutil.rmtree(parts_dir(path), ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        from deeptrust.scan._parquet import ParquetWriter

        return ParquetWriter(path, columns)
    return (CsvWriter if fmt == "csv" else JsonlWriter)(path, columns)


def coerce(column: str, value: Any) -> Any:
    """A stored value (CSV text, JSON, Parquet) → the row's type: int, float, None or str."""
    if value is None or value == "":
        return None if column in INT_COLUMNS or is_float_column(column) else ""
    if column in INT_COLUMNS:
        return int(value)
    return float(value) if is_float_column(column) else value


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _AppendWriter(ScanWriter):
    """Shared by CSV and JSONL: repair the end on open, append + flush + fsync per chunk."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        super().__init__(path, columns)
        if path.exists() and path.stat().st_size > 0:
            end = self._complete_end()
            if end < path.stat().st_size:
                os.truncate(path, end)
        fresh = not path.exists() or path.stat().st_size == 0
        self._handle = open(path, "a", newline="", encoding=UTF8, errors=SURROGATES)  # noqa: SIM115 - closed by finish()
        if fresh:
            self._append(self._header())

    def write_chunk(self, rows: Sequence[Row]) -> None:
        if rows:
            self._append(self._encode(rows))

    def close(self) -> None:
        self._handle.close()

    def _append(self, text: str) -> None:
        if not text:
            return
        self._handle.write(text)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def _header(self) -> str:
        return ""

    def _complete_end(self) -> int:
        raise NotImplementedError

    def _encode(self, rows: Sequence[Row]) -> str:
        raise NotImplementedError


class _CountingLines:
    """Iterates a text file's lines, remembering how many bytes were consumed and whether the
    last line was terminated, so a csv reader's records can be mapped back to byte offsets."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.consumed = 0
        self.terminated = True

    def __iter__(self) -> Iterator[str]:
        for line in self.handle:
            self.consumed += len(line.encode(UTF8, SURROGATES))
            self.terminated = line.endswith("\n")
            yield line


class CsvWriter(_AppendWriter):
    def existing(self) -> Iterator[Row]:
        with open(self.path, newline="", encoding=UTF8, errors=SURROGATES) as handle:
            reader = csv.reader(handle, strict=True)
            next(reader, None)
            for record in reader:
                yield {c: coerce(c, v) for c, v in zip(self.columns, record, strict=True)}

    def _header(self) -> str:
        return self._format([list(self.columns)])

    def _encode(self, rows: Sequence[Row]) -> str:
        return self._format([[_csv_value(row[c]) for c in self.columns] for row in rows])

    @staticmethod
    def _format(records: list[list[Any]]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(records)
        return buffer.getvalue()

    def _complete_end(self) -> int:
        """Byte offset just past the last complete record: terminated, well quoted, every column."""
        with open(self.path, newline="", encoding=UTF8, errors=SURROGATES) as handle:
            lines = _CountingLines(handle)
            reader = csv.reader(lines, strict=True)
            try:
                header = next(reader)
            except (StopIteration, csv.Error) as exc:
                raise ScanError(f"{self.path} is not a scan output: its header does not parse") from exc
            if not lines.terminated:
                return 0  # killed while writing the header: start afresh
            self._check_columns(header)
            end = lines.consumed
            while True:
                try:
                    record = next(reader)
                except (StopIteration, csv.Error):
                    return end
                if not lines.terminated or len(record) != len(self.columns):
                    return end
                end = lines.consumed


def _csv_value(value: Any) -> Any:
    return "" if value is None else repr(value) if isinstance(value, float) else value


class JsonlWriter(_AppendWriter):
    def existing(self) -> Iterator[Row]:
        with open(self.path, encoding=UTF8, errors=SURROGATES) as handle:
            for line in handle:
                raw = json.loads(line)
                yield {c: coerce(c, raw.get(c)) for c in self.columns}

    def _encode(self, rows: Sequence[Row]) -> str:
        return "".join(json.dumps({c: row[c] for c in self.columns}) + "\n" for row in rows)

    def _complete_end(self) -> int:
        """Byte offset past the last line that is terminated and parses; a bad line before that
        is not a cut-off append but damage, and is refused."""
        end = 0
        with open(self.path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.endswith(b"\n"):
                    break
                try:
                    keys = list(json.loads(line))
                except ValueError:
                    if handle.read(1):
                        raise ScanError(
                            f"{self.path} line {number} is not JSON; not a scan output?"
                        ) from None
                    break
                if end == 0:
                    self._check_columns(keys)
                end += len(line)
        return end
