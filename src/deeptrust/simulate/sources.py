"""The images a simulation replays: a sample of a folder, archive or imported dataset, with true labels.

A label is the name of the folder an image sits in (the ImageFolder layout of every dataset here:
``sd-vs-photos/FAKE/x.jpg``, ``multigen/<source>/REAL/y.jpg``), or the ``label`` column of an imported
dataset's manifest. Images are held in memory (``limit`` of them, a seeded sample), so that reading them
never competes with sending. Archives are read by ``deeptrust.scan.sources``: never extracted to disk.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from deeptrust.scan.sources import MEMBER_SEP, count_inputs, read_keys, resolve_sources
from deeptrust.simulate.errors import SimulateError

MAX_BYTES = 32 * 1024 * 1024
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"RIFF", "image/webp"))


@dataclass(frozen=True)
class Sample:
    name: str  # file path or ARCHIVE::MEMBER
    data: bytes
    label: str  # the true label ("" when the layout does not say)

    @property
    def content_type(self) -> str:
        return next(
            (kind for magic, kind in _MAGIC if self.data.startswith(magic)), "application/octet-stream"
        )


def load_samples(spec: str, *, limit: int, seed: int = 0, split: str | None = None) -> list[Sample]:
    """Up to ``limit`` images of ``spec`` (folder, glob, archive, list file or imported dataset name)."""
    if limit < 1:
        raise SimulateError(f"--limit must be at least 1, got {limit}")
    keys_labels = _manifest_keys(spec, split) if _is_dataset(spec) else _listed_keys(spec)
    if not keys_labels:
        raise SimulateError(f"no images in {spec!r}: expected a folder, .tar/.tar.gz archive or dataset name")
    chosen = random.Random(seed).sample(sorted(keys_labels), min(limit, len(keys_labels)))
    data = read_keys(chosen, max_bytes=MAX_BYTES)
    samples = [Sample(key, data[key], keys_labels[key]) for key in chosen if data.get(key)]
    if not samples:
        raise SimulateError(f"none of the {len(chosen)} files chosen from {spec!r} could be read")
    return samples


def label_of(key: str) -> str:
    """The folder an image sits in, upper-cased (REAL, FAKE, AI…), as ImageFolder names classes."""
    member = key.partition(MEMBER_SEP)[2] if MEMBER_SEP in key else key
    parent = PurePosixPath(member.replace("\\", "/")).parent.name
    return parent.upper()


def _listed_keys(spec: str) -> dict[str, str]:
    sources = resolve_sources([spec])
    if count_inputs(sources) == 0:
        return {}
    keys = (key for source in sources if not source.error for key in source.iter_keys())
    return {key: label_of(key) for key in keys if not PurePosixPath(key).name.lower().endswith(".csv")}


def _is_dataset(spec: str) -> bool:
    path = Path(spec).expanduser()
    return (path / "manifest.parquet").is_file() or (not path.exists() and "/" not in spec)


def _manifest_keys(spec: str, split: str | None) -> dict[str, str]:
    try:
        from deeptrust.data.errors import DataError
        from deeptrust.data.importer import load_manifest
    except ImportError as exc:  # pandas and pyarrow come with the training extra
        raise SimulateError(
            f"reading the imported dataset {spec!r} needs pip install 'deeptrust[train]' ({exc})"
        ) from exc
    try:
        manifest = load_manifest(spec)
    except DataError as exc:
        raise SimulateError(str(exc)) from exc
    if split is not None:
        manifest = manifest[manifest["split"] == split]
    return dict(zip(manifest["path"].astype(str), manifest["label"].astype(str).str.upper(), strict=True))
