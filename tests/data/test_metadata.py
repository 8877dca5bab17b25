"""Every piece of metadata the scan records, on crafted files, and the shortcut check over it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from deeptrust.data import import_dataset
from deeptrust.data._metadata import METADATA_DEFAULTS
from deeptrust.data.scan import SCAN_COLUMNS, scan_file
from deeptrust.imageio import open_image_array

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def _pixels(seed: int = 0, size: int = 32) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def _exif(**tags: str) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[{"make": 0x010F, "model": 0x0110, "software": 0x0131}[tag]] = value
    return exif.tobytes()


def _srgb() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _png_text(**text: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    return info


def _facts(path: Path, fmt: str = "JPEG", seed: int = 0, **save) -> dict:
    options = {"quality": 90, **save} if fmt == "JPEG" else save
    _pixels(seed).save(path, fmt, **options)
    facts = dict(zip(SCAN_COLUMNS, scan_file(str(path)), strict=True))
    assert facts["error"] == ""
    return facts


def test_a_plain_jpeg_carries_only_its_jfif_header(tmp_path: Path) -> None:
    facts = _facts(tmp_path / "plain.jpg")
    assert facts["app_segments"] == "APP0:JFIF" and facts["subsampling"] == "4:2:0"
    assert (facts["exif_tags"], facts["xmp"], facts["icc"], facts["comment"]) == (0, False, "", "")
    assert (facts["progressive"], facts["png_text"], facts["trailer_bytes"]) == (False, "", 0)


@pytest.mark.parametrize(
    ("save", "expected"),
    [
        ({"exif": _exif(software="Adobe Photoshop 25.0")}, {"exif_software": "Adobe Photoshop 25.0"}),
        ({"exif": _exif(make="Canon", model="EOS R5")}, {"exif_make": "Canon", "exif_model": "EOS R5"}),
        (
            {"exif": _exif(make="Canon", software="x")},
            {"exif_tags": 2, "exif_make": "Canon", "exif_software": "x"},
        ),
        ({"xmp": XMP}, {"xmp": True, "app_segments": "APP0:JFIF APP1:XMP"}),
        ({"icc_profile": _srgb()}, {"icc": "sRGB built-in", "app_segments": "APP0:JFIF APP2:ICC_PROFILE"}),
        ({"comment": b"made by a generator"}, {"comment": "made by a generator"}),
        ({"progressive": True}, {"progressive": True}),
        ({"subsampling": 0}, {"subsampling": "4:4:4"}),
        ({"subsampling": 1}, {"subsampling": "4:2:2"}),
        ({"subsampling": 2}, {"subsampling": "4:2:0"}),
        ({"dpi": (300, 300)}, {"dpi": "300x300"}),
    ],
    ids=[
        "software",
        "make-model",
        "tag-count",
        "xmp",
        "icc",
        "comment",
        "progressive",
        "444",
        "422",
        "420",
        "dpi",
    ],
)
def test_jpeg_metadata_is_detected(tmp_path: Path, save: dict, expected: dict) -> None:
    facts = _facts(tmp_path / "m.jpg", **save)
    assert {key: facts[key] for key in expected} == expected
    untouched = set(METADATA_DEFAULTS) - set(expected) - {"app_segments", "info_keys", "subsampling"}
    if "exif" in save:  # Pillow reads the density from EXIF (72 dpi when it has no resolution tags)
        untouched -= {"exif_tags", "dpi"}
    assert {key: facts[key] for key in untouched} == {key: METADATA_DEFAULTS[key] for key in untouched}


def test_comment_and_app_segments_are_listed_in_file_order(tmp_path: Path) -> None:
    facts = _facts(tmp_path / "m.jpg", exif=_exif(make="Nikon"), icc_profile=_srgb(), comment=b"hi")
    assert facts["app_segments"] == "APP0:JFIF APP1:Exif APP2:ICC_PROFILE COM"
    assert set(facts["info_keys"].split()) >= {"comment", "exif", "icc_profile", "jfif"}


def test_png_text_chunks_icc_and_trailing_bytes(tmp_path: Path) -> None:
    facts = _facts(tmp_path / "t.png", "PNG", pnginfo=_png_text(parameters="a cat, Steps: 20", Software="x"))
    assert facts["png_text"] == "Software parameters"
    assert (facts["subsampling"], facts["app_segments"]) == ("", "")
    icc = _facts(tmp_path / "icc.png", "PNG", icc_profile=_srgb())
    assert icc["icc"] == "sRGB built-in" and icc["png_text"] == ""
    path = tmp_path / "tail.jpg"
    _pixels().save(path, quality=90)
    path.write_bytes(path.read_bytes() + b"trailing data")
    assert dict(zip(SCAN_COLUMNS, scan_file(str(path)), strict=True))["trailer_bytes"] == 13


def test_unknown_icc_profiles_are_told_apart_by_hash() -> None:
    from deeptrust.data._metadata import _icc

    assert _icc(b"not a profile").startswith("icc:") and _icc(b"not a profile") != _icc(b"other bytes")
    assert _icc(None) == ""


def test_the_decoder_hands_training_pixels_only(tmp_path: Path) -> None:
    """Same pixels with and without metadata decode to the same array: nothing else reaches the model."""
    plain, rich = tmp_path / "plain.jpg", tmp_path / "rich.jpg"
    img = _pixels(3, 48)
    img.save(plain, quality=90)
    img.save(
        rich,
        quality=90,
        exif=_exif(make="Canon", software="Midjourney"),
        xmp=XMP,
        icc_profile=_srgb(),
        comment=b"generated",
        dpi=(300, 300),
    )
    assert plain.read_bytes() != rich.read_bytes()
    assert np.array_equal(open_image_array(plain), open_image_array(rich))
    png_plain, png_rich = io.BytesIO(), io.BytesIO()
    img.save(png_plain, "PNG")
    img.save(png_rich, "PNG", pnginfo=_png_text(parameters="steps 20"), icc_profile=_srgb())
    assert np.array_equal(open_image_array(png_plain.getvalue()), open_image_array(png_rich.getvalue()))


def _write_set(root: Path, label: str, count: int, offset: int, **save) -> None:
    for i in range(count):
        path = root / label / f"{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        _pixels(offset + i, 16).save(path, quality=90, **save)


def test_a_metadata_feature_that_separates_the_classes_is_flagged(tmp_path: Path) -> None:
    _write_set(tmp_path / "ds", "FAKE", 12, 0, exif=_exif(software="Stable Diffusion"))
    _write_set(tmp_path / "ds", "REAL", 12, 100, progressive=True)

    report = import_dataset(tmp_path / "ds", name="ds", val_fraction=0, progress=False).report

    scores = {entry["property"]: entry for entry in report["shortcuts"]["properties"]}
    for name in ("exif_software", "progressive", "exif_tags"):
        assert scores[name]["warn"], name
    assert scores["exif_software"]["score"] == 1.0 and scores["exif_software"]["auc"] == 1.0
    assert scores["exif_tags"]["best_label"] in ("FAKE", "REAL") and scores["exif_tags"]["score"] == 1.0
    for name in ("icc", "xmp", "png_text", "subsampling", "comment", "format"):
        assert scores[name]["constant"] and not scores[name]["warn"], name
    assert any(
        w.startswith("exif_software alone predicts the label") for w in report["shortcuts"]["warnings"]
    )
    assert "exif_software" in (tmp_path / "home" / "datasets" / "ds" / "report.txt").read_text()


def test_a_tell_on_part_of_one_class_is_reported_as_partial(tmp_path: Path) -> None:
    _write_set(tmp_path / "ds", "FAKE", 40, 0)
    _write_set(tmp_path / "ds", "REAL", 34, 100)
    for i in range(6):  # 6 of 40 REAL photos keep their camera's EXIF
        path = tmp_path / "ds" / "REAL" / f"cam{i}.jpg"
        _pixels(500 + i, 16).save(path, quality=90, exif=_exif(make="Canon"))

    shortcuts = import_dataset(tmp_path / "ds", name="ds", val_fraction=0, progress=False).report["shortcuts"]

    make = next(entry for entry in shortcuts["properties"] if entry["property"] == "exif_make")
    assert not make["warn"] and make["tells"] == [
        {"value": "Canon", "label": "REAL", "rows": 6, "share": 0.15}
    ]
    assert 0.5 < make["auc"] < 0.8
    assert any(w.startswith("exif_make partly gives the label away") for w in shortcuts["warnings"])
