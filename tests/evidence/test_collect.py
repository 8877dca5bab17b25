"""collect(): the registry, the guard around each reader, hostile metadata, and the no-metadata fast path."""

from __future__ import annotations

import sys
import time

import pytest

from deeptrust.evidence import collect as collect_module
from deeptrust.evidence._containers import MAX_TEXT_CHUNKS, read_metadata
from deeptrust.evidence.collect import READERS, Source, collect
from deeptrust.evidence.types import Evidence
from deeptrust.settings import Settings
from tests._bad_images import hostile_metadata
from tests.evidence._builders import encode, picture, png_with_text

# the metadata readers only: the pixel readers (watermark, PDQ) always cost milliseconds (measured in
# docs/evidence-reliability.md) and are tested in tests/hashes/test_integration.py
SETTINGS = Settings(watermark_decode=False, hash_lists=False)


def exploding(source: Source, settings: Settings) -> list[Evidence]:
    raise RuntimeError("boom")


def pixels_reader(source: Source, settings: Settings) -> list[Evidence]:
    assert source.pixels is not None
    return [Evidence("watermark", "none", "weak", f"saw {source.pixels.shape}")]


def test_a_failing_reader_becomes_an_entry_and_the_others_still_run():
    readers = [("broken", f"{__name__}:exploding"), ("watermark", f"{__name__}:pixels_reader")]
    import numpy as np

    entries = collect(b"not an image", np.zeros((4, 5, 3), np.uint8), settings=SETTINGS, readers=readers)
    assert [(e.kind, e.signal, e.detail) for e in entries] == [
        ("broken", "none", "broken reader failed: RuntimeError: boom"),
        ("watermark", "none", "saw (4, 5, 3)"),
    ]


def test_the_registry_names_every_reader_by_module_and_function():
    kinds = [kind for kind, _ in READERS]
    assert kinds[:4] == ["c2pa", "iptc", "generator_metadata", "exif"]
    for _, target in READERS:
        assert callable(collect_module.load_reader(target))


@pytest.mark.parametrize("name", list(hostile_metadata()))
def test_hostile_metadata_gives_an_entry_quickly(name):
    data = hostile_metadata()[name]
    started = time.perf_counter()
    entries = collect(data, settings=SETTINGS)
    assert time.perf_counter() - started < 2.0  # bounded work (the depth cap stops the parser early)
    assert entries and all(e.signal in ("none", "tampered") for e in entries), entries
    assert all(len(e.detail) <= 400 for e in entries)


def test_text_chunk_caps():
    meta = read_metadata(hostile_metadata()["5000-text-chunks"])
    assert len(meta.text) == MAX_TEXT_CHUNKS and "5000 PNG text chunks" in meta.notes[0]
    assert "inflates beyond" in read_metadata(hostile_metadata()["ztxt-bomb"]).notes[0]


def test_truncated_containers_keep_what_was_found():
    png = png_with_text({"parameters": "cat\nSteps: 20, Seed: 1"})
    cut = png[: png.index(b"IDAT") + 20]
    meta = read_metadata(cut)
    assert "parameters" in meta.text and "truncated" in meta.notes[0]
    jpeg = encode(picture(), "JPEG")
    assert "truncated" in read_metadata(jpeg[:4] + b"\xff\xff" + jpeg[6:20]).notes[0]
    assert read_metadata(b"GIF89a").empty and read_metadata(b"").empty


def test_no_metadata_touches_no_sdk_and_costs_little(monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # importing the SDK would now fail
    monkeypatch.setitem(sys.modules, "defusedxml", None)
    for fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        data = encode(picture(256, 256), fmt)
        collect(data, settings=SETTINGS)
        best = min(_timed(data) for _ in range(20))
        assert collect(data, settings=SETTINGS) == [] and best < 1e-3, (fmt, best)


def _timed(data: bytes) -> float:
    started = time.perf_counter()
    collect(data, settings=SETTINGS)
    return time.perf_counter() - started
