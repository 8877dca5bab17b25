"""What ``deeptrust scan`` reads: folders (recursive), globs, tarballs and list files → inputs.

An input is one stored file, or one member of a ``.tar``/``.tar.gz``/``.tgz`` archive, named by a key
that is also its ``path`` column: the absolute file path, or ``ARCHIVE::MEMBER``. Listing reads names
only (a compressed archive is decompressed once to list it); bytes are read later, in order, so an
archive is streamed once more and never extracted to disk.

Every file is taken, not only those with image extensions: stored objects often have none, and a
file that is not an image becomes an error row rather than disappearing. Hidden files and folders
(``.name``) are skipped. Non-goals: object stores (mount them), zip archives, nested archives.
"""

from __future__ import annotations

import glob
import os
import tarfile
import zlib
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass

from deeptrust.scan.errors import ScanError

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
LIST_SUFFIXES = (".txt", ".lst", ".list")
MEMBER_SEP = "::"
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


@dataclass(frozen=True)
class Source:
    """Plain files (``archive`` None, ``names`` absolute paths) or the members of one archive."""

    names: tuple[str, ...]
    archive: str | None = None
    error: str = ""  # the archive could not be listed: it becomes one error row

    def iter_keys(self) -> Iterator[str]:
        if self.error:
            yield str(self.archive)
        elif self.archive is None:
            yield from self.names
        else:
            yield from (f"{self.archive}{MEMBER_SEP}{name}" for name in self.names)


@dataclass(frozen=True)
class Input:
    """One thing to scan. ``data`` is set when the bytes were already read (archive members)."""

    path: str
    data: bytes | None = None
    error: str = ""


def is_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def resolve_sources(specs: Iterable[str], *, exclude: Container[str] = ()) -> list[Source]:
    """SRC arguments → sources, each file or member once (first mention wins), in a stable order."""
    found: list[Source] = []
    for spec in specs:
        found.extend(_resolve_spec(spec, exclude=exclude, from_list=False))
    return _unique(found)


def count_inputs(sources: Iterable[Source], *, skip: Container[str] = ()) -> int:
    return sum(1 for source in sources for key in source.iter_keys() if key not in skip)


def iter_inputs(sources: Iterable[Source], *, skip: Container[str], max_bytes: int) -> Iterator[Input]:
    """Inputs not in ``skip``, in listing order; archive members come with their bytes."""
    for source in sources:
        if source.error:
            if source.archive not in skip:
                yield Input(str(source.archive), error=source.error)
        elif source.archive is None:
            yield from (Input(name) for name in source.names if name not in skip)
        else:
            yield from _iter_members(source, skip=skip, max_bytes=max_bytes)


def read_input(item: Input, *, max_bytes: int) -> tuple[bytes | None, str]:
    """The bytes of an input, or None and an error ``reason: message``; never raises for bad files."""
    if item.error or item.data is not None:
        return item.data, item.error
    try:
        size = os.stat(item.path).st_size
        if size > max_bytes:
            return None, _too_large(size, max_bytes)
        with open(item.path, "rb") as handle:
            return handle.read(), ""
    except FileNotFoundError:
        return None, f"missing: no such file {item.path!r}"
    except IsADirectoryError:
        return None, f"unreadable: {item.path!r} is a folder, not a file"
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"


def read_keys(keys: Iterable[str], *, max_bytes: int) -> dict[str, bytes]:
    """Bytes of the given keys (files or archive members) that can still be read; others left out."""
    wanted = set(keys)
    found: dict[str, bytes] = {}
    archives: dict[str, set[str]] = {}
    for key in wanted:
        archive, sep, member = key.partition(MEMBER_SEP)
        if sep and not os.path.isfile(key):
            archives.setdefault(archive, set()).add(member)
            continue
        data, error = read_input(Input(key), max_bytes=max_bytes)
        if data is not None and not error:
            found[key] = data
    for archive, members in archives.items():
        source = Source(tuple(sorted(members)), archive=archive)
        found.update((m.path, m.data) for m in _iter_members(source, skip=(), max_bytes=max_bytes) if m.data)
    return found


def _resolve_spec(spec: str, *, exclude: Container[str], from_list: bool) -> list[Source]:
    path = os.path.abspath(os.path.expanduser(spec))
    if os.path.isdir(path):
        return _group(_walk(path, exclude=exclude))
    if os.path.isfile(path):
        if is_archive(path):
            return [_list_archive(path)]
        if path.lower().endswith(LIST_SUFFIXES) and not from_list:
            return _read_list(path, exclude=exclude)
        return [Source((path,))]
    if glob.has_magic(spec):
        matches = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
        if not matches and not from_list:
            raise ScanError(f"no files match {spec!r}; check the pattern (use ** for subfolders)")
        kept = [m for m in matches if os.path.abspath(m) not in exclude]
        return [s for m in kept for s in _resolve_spec(m, exclude=exclude, from_list=True)]
    if from_list:  # a dangling entry in a list of stored images: an error row, not an abort
        return [Source((path,))]
    raise ScanError(
        f"{spec!r} does not exist; expected a folder, a glob, a .tar/.tar.gz archive, "
        f"a file, or a list of paths ({'/'.join(LIST_SUFFIXES)}, one per line)"
    )


def _read_list(path: str, *, exclude: Container[str]) -> list[Source]:
    """One path, folder, glob or archive per line, relative to the list's folder; # starts a comment."""
    base = os.path.dirname(path)
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except (OSError, UnicodeDecodeError) as exc:
        raise ScanError(f"cannot read the list file {path}: {exc}") from exc
    found: list[Source] = []
    for line in lines:
        if line and not line.startswith("#"):
            found.extend(_resolve_spec(os.path.join(base, line), exclude=exclude, from_list=True))
    return found


def _walk(root: str, *, exclude: Container[str]) -> list[Source]:
    """Files under ``root`` sorted by path; hidden entries and symlinked folders are not followed."""
    files: list[str] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # an unreadable folder has no listable files; its siblings still count
        for entry in entries:
            if entry.name.startswith(".") or entry.path in exclude:
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif entry.is_file():
                files.append(entry.path)
    files.sort()
    return [_list_archive(f) if is_archive(f) else Source((f,)) for f in files]


def _group(sources: list[Source]) -> list[Source]:
    """Merge runs of single plain files into one source (archives stay their own)."""
    grouped: list[Source] = []
    run: list[str] = []
    for source in sources:
        if source.archive is None and not source.error:
            run.extend(source.names)
            continue
        if run:
            grouped.append(Source(tuple(run)))
            run = []
        grouped.append(source)
    if run:
        grouped.append(Source(tuple(run)))
    return grouped


def _unique(sources: list[Source]) -> list[Source]:
    seen: set[str] = set()
    unique: list[Source] = []
    for source in _group(sources):
        if source.archive is None:
            names = tuple(dict.fromkeys(n for n in source.names if n not in seen))
            seen.update(names)
            if names:
                unique.append(Source(names))
        elif source.archive not in seen:
            seen.add(source.archive)
            unique.append(source)
    return unique


def _list_archive(path: str) -> Source:
    try:
        with tarfile.open(path, mode="r|*") as tar:
            names = tuple(member.name for member in tar if member.isfile())
    except _READ_ERRORS as exc:
        return Source((), archive=path, error=f"unreadable_archive: cannot list {path}: {exc}")
    return Source(names, archive=path)


def _iter_members(source: Source, *, skip: Container[str], max_bytes: int) -> Iterator[Input]:
    """Stream an archive once, yielding the wanted members; if it breaks, the rest become errors."""
    wanted = {key for key in source.iter_keys() if key not in skip}
    try:
        with tarfile.open(str(source.archive), mode="r|*") as tar:
            for member in tar:
                key = f"{source.archive}{MEMBER_SEP}{member.name}"
                if not member.isfile() or key not in wanted:
                    continue
                wanted.discard(key)
                if member.size > max_bytes:
                    yield Input(key, error=_too_large(member.size, max_bytes))
                    continue
                handle = tar.extractfile(member)
                yield Input(key, data=handle.read() if handle else b"")
    except _READ_ERRORS as exc:
        error = f"unreadable_archive: {source.archive} broke off while reading: {exc}"
        yield from (Input(key, error=error) for key in sorted(wanted))
        return
    yield from (Input(key, error="missing: no longer in the archive") for key in sorted(wanted))


def _too_large(size: int, max_bytes: int) -> str:
    return f"file_too_large: {size:,} bytes, over the limit of {max_bytes:,} (raise --max-bytes to accept it)"


__all__ = [
    "MEMBER_SEP",
    "Input",
    "Source",
    "count_inputs",
    "is_archive",
    "iter_inputs",
    "read_input",
    "read_keys",
    "resolve_sources",
]
