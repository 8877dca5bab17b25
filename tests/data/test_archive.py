from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from deeptrust.data.archive import extract_archive
from deeptrust.data.errors import DataError

from .conftest import write_labelled


def _pack(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def _archive_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(member, io.BytesIO(data) if data else None)
    return archive


def test_extracts_once_and_reuses(tmp_path: Path) -> None:
    write_labelled(tmp_path / "ds", {"REAL": 2, "FAKE": 1})
    archive = _pack(tmp_path / "ds", tmp_path / "ds.tar.gz")

    first = extract_archive(archive, tmp_path / "cache", progress=False)
    marker = first / "marker"
    marker.write_text("still here")
    second = extract_archive(archive, tmp_path / "cache", progress=False)

    assert first == second
    assert first.parent == tmp_path / "cache" / "extracted"
    assert sorted(p.name for p in (first / "ds" / "REAL").iterdir()) == ["000.jpg", "001.jpg"]
    assert marker.read_text() == "still here"  # not extracted a second time
    assert not list(first.parent.glob("*.partial-*"))


def _member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    return info


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_member("../escape.jpg"), "points outside"),
        (_member("/abs/escape.jpg"), "points outside"),
        (_member("ds/REAL/link.jpg", tarfile.SYMTYPE), "is a link"),
        (_member("ds/REAL/hard.jpg", tarfile.LNKTYPE), "is a link"),
        (_member("ds/REAL/fifo", tarfile.FIFOTYPE), "not a regular file"),
    ],
)
def test_unsafe_members_refuse_the_archive(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    archive = _archive_with(tmp_path, member, b"x" if member.isfile() else b"")
    with pytest.raises(DataError, match=message):
        extract_archive(archive, tmp_path / "cache", progress=False)
    assert not (tmp_path / "escape.jpg").exists()
    assert list((tmp_path / "cache" / "extracted").iterdir()) == []


def test_corrupt_archive_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    with pytest.raises(DataError, match="could not read archive"):
        extract_archive(archive, tmp_path / "cache", progress=False)
