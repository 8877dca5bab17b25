"""Parquet output: atomically written part files in ``OUT.parquet.parts/``, merged by one rename.

States on disk and what a resumed run makes of them:

* only parts: a run was killed; its parts are the rows so far.
* only ``OUT.parquet``: a finished scan being extended; it is moved into the folder as the first
  part when the first new chunk is written (so a resume that writes nothing leaves it in place).
* both: a run was killed after the merge's rename but before the folder was removed; the file
  already holds every part, so the folder is dropped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deeptrust.scan.errors import ScanError
from deeptrust.scan.results import INT_COLUMNS, Row, is_float_column
from deeptrust.scan.writers import ScanWriter, coerce, fsync_dir, parts_dir

PART_GLOB = "part-*.parquet"


def _import_pyarrow() -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ScanError(
            "Parquet output needs pyarrow: pip install 'deeptrust[ray]' (or use a .csv/.jsonl --out)"
        ) from exc
    return pa, pq


class ParquetWriter(ScanWriter):
    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        super().__init__(path, columns)
        self.pa, self.pq = _import_pyarrow()
        self.parts = parts_dir(path)
        self.schema = self.pa.schema([(c, self._type(c)) for c in self.columns])
        if path.exists() and self.parts.exists():
            shutil.rmtree(self.parts)
        self.parts.mkdir(parents=True, exist_ok=True)
        for stale in self.parts.glob(".*.tmp"):  # a part whose write was cut short
            stale.unlink()
        self._finished_file = path.exists()  # to extend: becomes part 0 at the first write
        if self._finished_file:
            self._check_columns(self.pq.read_schema(path).names)
        names = sorted(self.parts.glob(PART_GLOB))
        self._next = int(names[-1].stem.split("-")[1]) + 1 if names else int(self._finished_file)

    def _type(self, column: str) -> Any:
        if column in INT_COLUMNS:
            return self.pa.int64()
        return self.pa.float64() if is_float_column(column) else self.pa.string()

    def existing(self) -> Iterator[Row]:
        files = [self.path] if self._finished_file else []
        for part in [*files, *sorted(self.parts.glob(PART_GLOB))]:
            table = self.pq.read_table(part)
            self._check_columns(table.column_names)
            for raw in table.to_pylist():
                yield {c: coerce(c, raw[c]) for c in self.columns}

    def write_chunk(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        table = self.pa.Table.from_pylist([{c: row[c] for c in self.columns} for row in rows], self.schema)
        self._adopt_finished_file()
        final = self.parts / f"part-{self._next:06d}.parquet"
        self._write_atomically(table, final)
        self._next += 1

    def finish(self) -> None:
        """Merge the parts in order into the output, atomically, then drop the folder."""
        self._adopt_finished_file()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with self.pq.ParquetWriter(tmp, self.schema) as merged:
            for part in sorted(self.parts.glob(PART_GLOB)):
                merged.write_table(self.pq.read_table(part, schema=self.schema))
        _fsync_file(tmp)
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)
        shutil.rmtree(self.parts)

    def close(self) -> None:
        if self._finished_file and not any(self.parts.iterdir()):
            self.parts.rmdir()  # nothing new: leave the finished file as it was

    def _adopt_finished_file(self) -> None:
        if self._finished_file:
            os.replace(self.path, self.parts / "part-000000.parquet")
            fsync_dir(self.parts)
            self._finished_file = False

    def _write_atomically(self, table: Any, final: Path) -> None:
        tmp = final.with_name(f".{final.name}.tmp")
        self.pq.write_table(table, tmp)
        _fsync_file(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
