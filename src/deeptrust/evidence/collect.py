"""``collect``: every evidence reader over one image, each guarded, into one list of ``Evidence``.

The service (decode thread), the scanner (``scan/scoring.py``) and the library call only this. A reader
is a function ``reader(source: Source, settings: Settings) -> list[Evidence]``:

* ``source.data`` — the uploaded bytes, untouched;
* ``source.pixels`` — the decoded image, an (H, W, 3) uint8 RGB array with EXIF orientation applied (the
  array the model saw), or None where the caller has not decoded it;
* ``source.metadata`` — the container's metadata blocks found by one structure walk
  (``_containers.Metadata``: EXIF, XMP packets, PNG text chunks, whether a C2PA store is embedded);
* ``source.cache`` — a dict readers share parsed things through (``xmp_fields``, ``exif_fields``).

**Adding a reader**: write it in its own module and add one line ``("kind", "deeptrust.evidence.mod:func")``
to ``READERS`` below. Readers are imported on first use, so a reader's dependencies (pdqhash, PyWavelets)
load only when it first runs, and the serving path stays torch-free as long as the reader is. A reader
must be cheap when its evidence is absent (return ``[]`` fast: the whole ``collect`` costs ≤ 1 ms on an
image without metadata, ``benchmarks/evidence.py``), must bound its own work on hostile input, and must
choose its entries' strength from measurement (the README's "Evidence" section). Anything it raises
becomes one ``signal="none"`` entry of its kind naming the error — a failing reader never fails the image.

Strength is what fusion acts on (``fusion.py``): ``conclusive`` and ``strong`` entries override the pixel
model, ``moderate`` ones decide only when the pixel score is near the threshold, ``weak`` ones are shown
and counted but never change the verdict. For the readers of issue 16 items 4 and 5: a ``hash_match``
entry for a hash moderators confirmed as AI is ``signal="ai"``, ``conclusive`` (and one confirmed real is
``signal="real"``, ``conclusive``); a ``watermark`` entry is ``signal="ai"`` at the strength its measured
false-positive rate on real photos and survival under JPEG/resize allow.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from deeptrust.evidence._containers import Metadata, read_metadata
from deeptrust.evidence.types import Evidence

if TYPE_CHECKING:
    import numpy as np

    from deeptrust.settings import Settings

log = logging.getLogger("deeptrust.evidence")

# (kind, "module:function"), in the order their entries are listed.
READERS: list[tuple[str, str]] = [
    ("c2pa", "deeptrust.evidence.c2pa_reader:read_c2pa"),
    ("iptc", "deeptrust.evidence.xmp:read_iptc"),
    ("generator_metadata", "deeptrust.evidence.generator:read_generator"),
    ("exif", "deeptrust.evidence.exif:read_exif"),
    ("watermark", "deeptrust.evidence.watermark:read_watermark"),  # pixels: ~10 ms/MP, see its docstring
    ("hash_match", "deeptrust.hashes.reader:read_hashes"),  # PDQ of every image + the hash lists
]
MAX_ENTRIES = 32  # per image, whatever the readers return

Reader = Callable[["Source", "Settings"], list[Evidence]]
_loaded: dict[str, Reader] = {}


@dataclass
class Source:
    """One image as readers see it (see the module docstring)."""

    data: bytes
    pixels: np.ndarray | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def metadata(self) -> Metadata:
        return read_metadata(self.data)


def load_reader(target: str) -> Reader:
    reader = _loaded.get(target)
    if reader is None:
        module, _, name = target.partition(":")
        reader = _loaded[target] = getattr(importlib.import_module(module), name)
    return reader


def warm_up(settings: Settings) -> None:
    """Import every reader and let it prepare (``warm_up(settings)`` in its module, when it has one), so
    that the first upload is not slow and a bad setting (an unreadable trust bundle) stops the start."""
    if not settings.evidence:
        return
    for _, target in READERS:
        module = importlib.import_module(target.partition(":")[0])
        prepare = getattr(module, "warm_up", None)
        if prepare is not None:
            prepare(settings)


def collect(
    data: bytes,
    pixels: np.ndarray | None = None,
    *,
    settings: Settings | None = None,
    readers: list[tuple[str, str]] | None = None,
) -> list[Evidence]:
    """Every reader's evidence about one image; never raises (a failing reader becomes an entry)."""
    if settings is None:
        from deeptrust.settings import get_settings

        settings = get_settings()
    if not settings.evidence:
        return []
    source = Source(data, pixels)
    out: list[Evidence] = []
    for kind, target in READERS if readers is None else readers:
        try:
            out.extend(load_reader(target)(source, settings))
        except Exception as exc:  # see the docstring: one reader's bug must not fail the upload
            log.warning("evidence reader failed", extra={"kind": kind, "error": repr(exc)[:300]})
            detail = f"{kind} reader failed: {type(exc).__name__}: {exc}"[:300]
            out.append(Evidence(kind, "none", "weak", detail, {"error": type(exc).__name__}))
    out.extend(_notes(source))
    return out[:MAX_ENTRIES]


def _notes(source: Source) -> list[Evidence]:
    """What the container walk found malformed or capped: shown, so nothing is silently skipped."""
    meta = source.__dict__.get("metadata")  # only when some reader looked at the metadata
    if meta is None:
        return []
    return [Evidence("metadata", "none", "weak", note, {"problem": note}) for note in meta.notes[:4]]
