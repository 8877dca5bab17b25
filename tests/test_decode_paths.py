"""The paths that read image bytes outside the service refuse what the service refuses (issue 17, finding 4).

The service's routes and the feedback store are tested in tests/web/test_review_bounds.py and
tests/feedback/test_bounds.py with the same two files: a 144 MP PNG (over the 50 MP cap, under Pillow's
own bomb limit, so a header-only check lets it through) and a PNG whose pixel data is an HTML page.
``deeptrust scan`` decodes with the detector (deeptrust.imageio, with the cap); ``deeptrust data
import`` scans each file with its own full decode and the same DEEPTRUST_MAX_IMAGE_PIXELS cap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deeptrust import Detector
from deeptrust.data import import_dataset
from deeptrust.data.scan import scan_file
from deeptrust.scan.scoring import decode_one

from ._bad_images import bomb_png, html_png
from .conftest import make_image_folder

CASES = [(bomb_png, "too_many_pixels", "too_large"), (html_png, "corrupt_image", "corrupt")]
IDS = ["144-megapixel-png", "png-of-html"]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load("cifake", threads=1)


@pytest.mark.parametrize(("make", "scan_reason", "_"), CASES, ids=IDS)
def test_scan_refuses_it(detector: Detector, make, scan_reason: str, _: str) -> None:
    crops, outcome = decode_one(detector, make())
    assert crops is None and outcome.probs is None
    assert outcome.error.startswith(f"{scan_reason}:")


@pytest.mark.parametrize(("make", "_", "import_reason"), CASES, ids=IDS)
def test_the_importers_scan_refuses_it(tmp_path: Path, make, _: str, import_reason: str) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(make())
    row = scan_file(str(path))
    assert row[-1].startswith(f"{import_reason}:")


def test_an_import_excludes_both_and_keeps_the_rest(tmp_path: Path, isolated_home: Path) -> None:
    folder = make_image_folder(tmp_path / "src", per_class=4)
    (folder / "REAL" / "bomb.png").write_bytes(bomb_png())
    (folder / "FAKE" / "page.png").write_bytes(html_png())
    result = import_dataset(folder, name="bad-inputs", val_fraction=0.0, workers=1, progress=False)
    excluded = dict(zip(result.excluded["relpath"], result.excluded["error"], strict=True))
    assert set(excluded) == {"REAL/bomb.png", "FAKE/page.png"}
    assert excluded["REAL/bomb.png"].startswith("too_large:")
    assert excluded["FAKE/page.png"].startswith("corrupt:")
    assert len(result.manifest) == 8
