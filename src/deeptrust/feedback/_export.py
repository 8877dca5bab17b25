"""Write reviewed items as an ImageFolder (``<final_label>/<sha256>.<ext>``), as files or a tar.gz.

The output imports with ``deeptrust data import OUT --name NAME``. An image reviewed more than once
with different final labels goes out once, under the latest decision, and is counted as a conflict.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from deeptrust.feedback._images import ImageFiles
from deeptrust.feedback.errors import FeedbackError
from deeptrust.feedback.models import FeedbackItem


@dataclass(frozen=True)
class ExportResult:
    counts: dict[str, int] = field(default_factory=dict)  # images written per final label
    missing: int = 0  # reviewed items whose image file is gone (purged or deleted by hand)
    conflicts: int = 0  # images with different final labels; the latest review was used

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def latest_decisions(items: Iterable[FeedbackItem]) -> tuple[list[FeedbackItem], int]:
    """One item per image: the last reviewed. Also how many images had conflicting final labels."""
    latest: dict[str, FeedbackItem] = {}
    labels: dict[str, set[str]] = {}
    for item in items:  # ordered by review time, so later items overwrite earlier ones
        latest[item.sha256] = item
        labels.setdefault(item.sha256, set()).add(item.final_label or "")
    conflicts = sum(len(found) > 1 for found in labels.values())
    return sorted(latest.values(), key=lambda i: (i.final_label or "", i.sha256)), conflicts


def _member_name(item: FeedbackItem) -> str:
    return f"{item.final_label}/{Path(item.image_path).name}"


def _present(items: list[FeedbackItem], files: ImageFiles) -> Iterator[tuple[FeedbackItem, Path]]:
    for item in items:
        source = files.path(item.image_path)
        if source.is_file():
            yield item, source


def write_folder(items: list[FeedbackItem], files: ImageFiles, out_dir: Path, conflicts: int) -> ExportResult:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FeedbackError(
            f"export folder {out_dir} exists and is not empty; choose a new folder so that "
            "no stale images get imported with the export"
        )
    counts: Counter[str] = Counter()
    for item, source in _present(items, files):
        target = out_dir / _member_name(item)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        counts[str(item.final_label)] += 1
    out_dir.mkdir(parents=True, exist_ok=True)  # an empty export is still a folder
    return ExportResult(dict(sorted(counts.items())), len(items) - counts.total(), conflicts)


def write_tar_gz(
    items: list[FeedbackItem], files: ImageFiles, target: str | Path | BinaryIO, conflicts: int
) -> ExportResult:
    """Write to a path (atomically: a temporary file renamed into place) or into an open binary file."""
    if not isinstance(target, (str, Path)):
        return _write_tar(items, files, target, conflicts)
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".tar.gz")
    try:
        with os.fdopen(fd, "wb") as out:
            result = _write_tar(items, files, out, conflicts)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def _write_tar(items: list[FeedbackItem], files: ImageFiles, out: BinaryIO, conflicts: int) -> ExportResult:
    counts: Counter[str] = Counter()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for item, source in _present(items, files):
            info = tarfile.TarInfo(_member_name(item))
            info.size = source.stat().st_size
            info.mode = 0o644
            info.mtime = int(item.reviewed_at.timestamp()) if item.reviewed_at else 0
            with source.open("rb") as handle:
                tar.addfile(info, handle)
            counts[str(item.final_label)] += 1
    return ExportResult(dict(sorted(counts.items())), len(items) - counts.total(), conflicts)
