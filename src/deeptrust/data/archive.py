"""Safe, one-time extraction of ``.tar``/``.tar.gz``/``.tgz`` dataset archives into the cache.

An archive is extracted once into ``cache_dir/extracted/<short content hash>`` and reused after.
Members with absolute paths, ``..`` components, links or device files make the whole archive
refused: a dataset never needs them and they are how archives escape their folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from deeptrust._progress import create_progress
from deeptrust.data.errors import DataError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def file_sha256(path: Path, *, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def extract_archive(archive: Path, cache_dir: Path, *, progress: bool = True) -> Path:
    """Folder holding the archive's contents, extracting it first unless a previous run did."""
    dest = cache_dir / "extracted" / file_sha256(archive)[:16]
    if dest.is_dir():
        return dest
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        _extract_members(archive, partial, progress=progress)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise DataError(f"could not read archive {archive}: {exc}") from exc
    except DataError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        partial.rename(dest)  # atomic: a folder at dest is always a complete extraction
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # another process finished first
        if not dest.is_dir():
            raise
    return dest


def _safe_target(dest: Path, member: tarfile.TarInfo) -> Path:
    name = PurePosixPath(member.name)
    if member.issym() or member.islnk():
        raise DataError(f"archive member {member.name!r} is a link; links are refused for safety")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"archive member {member.name!r} is not a regular file or folder; refused")
    if name.is_absolute() or ".." in name.parts or "\\" in member.name:
        raise DataError(f"archive member {member.name!r} points outside the archive; refused")
    return dest.joinpath(*[part for part in name.parts if part not in ("", ".")])


def _extract_members(archive: Path, dest: Path, *, progress: bool) -> None:
    made: set[Path] = {dest}
    with (
        archive.open("rb") as raw,
        tarfile.open(fileobj=raw, mode="r:*") as tar,
        create_progress(enabled=progress, in_bytes=True) as bar,
    ):
        task = bar.add_task(f"Extracting {archive.name}", total=archive.stat().st_size)
        for member in tar:
            target = _safe_target(dest, member)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                made.add(target)
                continue
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            source = tar.extractfile(member)
            if source is None:  # pragma: no cover - isfile() members always have data
                continue
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            bar.update(task, completed=raw.tell())
        bar.update(task, completed=archive.stat().st_size)
