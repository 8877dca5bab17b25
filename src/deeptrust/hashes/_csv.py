"""Parse a hash list CSV (``hash,label,note``) completely before anything is written.

Accepted: UTF-8 (a BOM is fine), an optional header row starting with ``hash``, blank lines and lines
starting with ``#`` ignored, the note optional and quoted as CSV quotes. Every bad row is reported with its
line number, so a moderator fixes the file in one pass; one bad row rejects the whole file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from deeptrust.evidence.pdq import normalise_hex
from deeptrust.hashes.errors import HashImportError
from deeptrust.hashes.models import LABELS, MAX_NOTE

MAX_ROWS = 5_000_000
MAX_PROBLEMS = 1000  # stop collecting (the file is rejected anyway)


@dataclass(frozen=True)
class Row:
    line: int
    pdq: str
    label: str
    note: str | None


def parse_csv(data: bytes, source: str) -> list[Row]:
    """The rows of ``data``, or :class:`HashImportError` listing every bad line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HashImportError(source, [(line, f"not UTF-8 text (byte {exc.start})")]) from None
    problems: list[tuple[int, str]] = []
    rows: dict[str, Row] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    first = True
    while len(problems) < MAX_PROBLEMS:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((reader.line_num, f"not valid CSV: {exc}"))
            break  # the reader cannot resynchronise after a broken quote
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if first and cells[0].strip().lower() == "hash":
            first = False
            continue
        first = False
        if not _add_row(rows, _parse_row(cells, line, problems), problems):
            break
    if problems:
        raise HashImportError(source, problems)
    return list(rows.values())


def _add_row(rows: dict[str, Row], row: Row | None, problems: list[tuple[int, str]]) -> bool:
    """Keep ``row`` (the last of a hash's rows wins); False once the file is over the row cap."""
    if row is None:
        return True
    earlier = rows.get(row.pdq)
    if earlier is not None and earlier.label != row.label:
        problems.append((row.line, f"hash {row.pdq[:16]}… is {earlier.label!r} on line {earlier.line}"))
    rows[row.pdq] = row
    if len(rows) > MAX_ROWS:
        problems.append((row.line, f"more than {MAX_ROWS:,} rows; split the file"))
        return False
    return True


def _parse_row(cells: list[str], line: int, problems: list[tuple[int, str]]) -> Row | None:
    if len(cells) not in (2, 3):
        problems.append((line, f"expected 2 or 3 columns (hash,label[,note]), got {len(cells)}"))
        return None
    try:
        pdq = normalise_hex(cells[0])
    except ValueError as exc:
        problems.append((line, str(exc)))
        return None
    label = cells[1].strip().lower()
    if label not in LABELS:
        problems.append((line, f"label must be one of {', '.join(LABELS)}, got {cells[1][:40]!r}"))
        return None
    note = cells[2].strip() if len(cells) == 3 and cells[2].strip() else None
    if note is not None and len(note) > MAX_NOTE:
        problems.append((line, f"note is {len(note)} characters, the limit is {MAX_NOTE}"))
        return None
    return Row(line, pdq, label, note)
