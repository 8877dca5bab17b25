"""The readers registered in ``collect``: a PDQ hash for every image (the answer's ``pdq`` field, the scan's
``pdq`` column), a ``hash_match`` entry and an AI verdict for a listed image, a ``watermark`` entry for a
marked PNG; a moderator's decision on the page lists the image at once."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from deeptrust.evidence.collect import collect
from deeptrust.evidence.fusion import evidence_fields
from deeptrust.evidence.pdq import hash_image, join_pdq, split_pdq
from deeptrust.hashes.reader import matcher_for
from deeptrust.settings import Settings

from ..evidence.conftest import read_photos


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", hash_refresh_s=3600)


def test_listed_image_is_matched_through_collect(settings: Settings) -> None:
    photo = read_photos(1)["FAKE"][0]
    matcher = matcher_for(settings)
    assert matcher.store is not None
    matcher.store.add(hash_image(photo).hex, "ai", list_name="review", note="confirmed")
    matcher.refresh(wait=True)
    upload = encode(photo.resize((384, 384)), "JPEG", quality=80)
    entries = collect(upload, settings=settings)
    kinds = [e.kind for e in entries]
    assert kinds == ["pdq", "hash_match"], kinds
    fields = evidence_fields(0.1, 0.5, entries)  # the pixels say real; the confirmed match decides
    assert fields["pdq"] == hash_image(np.asarray(Image.open(io.BytesIO(upload)).convert("RGB"))).hex
    assert [e["kind"] for e in fields["evidence"]] == ["hash_match"]
    assert fields["verdict"]["label"] == "ai" and fields["evidence"][0]["strength"] == "conclusive"


def test_marked_png_gives_a_watermark_entry_and_420_jpegs_are_skipped(settings: Settings) -> None:
    imwatermark = pytest.importorskip("imwatermark")
    photo = read_photos(2)["FAKE"][1]
    encoder = imwatermark.WatermarkEncoder()
    encoder.set_watermark("bytes", b"SDV2")
    marked = encoder.encode(np.ascontiguousarray(np.asarray(photo)[:, :, ::-1]), "dwtDct")[:, :, ::-1]
    png = encode(Image.fromarray(np.ascontiguousarray(marked)), "PNG")
    [mark] = [e for e in collect(png, settings=settings) if e.kind == "watermark"]
    assert mark.signal == "ai" and mark.data["payload"] == "sd2"
    q95_444 = encode(Image.fromarray(np.ascontiguousarray(marked)), "JPEG", quality=95, subsampling=0)
    assert [e.kind for e in collect(q95_444, settings=settings) if e.kind == "watermark"] == ["watermark"]
    q95_420 = encode(Image.fromarray(np.ascontiguousarray(marked)), "JPEG", quality=95, subsampling=2)
    assert [e for e in collect(q95_420, settings=settings) if e.kind == "watermark"] == []
    off = settings.model_copy(update={"watermark_decode": False, "hash_lists": False})
    assert collect(png, settings=off) == []


def test_scan_column_round_trip() -> None:
    entry = {"kind": "pdq", "signal": "none", "strength": "weak", "detail": f"PDQ {'ab' * 32} (quality 90)"}
    text = json.dumps([entry])
    assert split_pdq(text) == ("", "ab" * 32)
    shown, pdq = split_pdq(join_pdq('[{"kind": "iptc"}]', "cd" * 32))
    assert (shown, pdq) == ('[{"kind": "iptc"}]', "cd" * 32)
    assert split_pdq("not json") == ("not json", "")


def test_unreachable_database_hashes_without_matching(tmp_path) -> None:
    from deeptrust.hashes import reader

    down = Settings(home=tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(img), "PNG")
    assert [e.kind for e in collect(data, img, settings=down)] == ["pdq"]  # no failed-reader entry
    assert [e.kind for e in collect(data, img, settings=down)] == ["pdq"]  # and no retry per image
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        reader.warm_up(down)  # the service's start reports it
