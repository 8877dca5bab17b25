"""What a simulation replays: a seeded sample of a folder or archive, labelled by folder name."""

import tarfile

import pytest

from deeptrust.simulate import SimulateError, load_samples
from deeptrust.simulate.sources import label_of
from tests.conftest import make_image_folder


def test_folder_samples_carry_their_folder_as_label(tmp_path):
    root = make_image_folder(tmp_path / "data", per_class=5, size=16)
    samples = load_samples(str(root), limit=100)
    assert len(samples) == 10
    assert sorted(s.label for s in samples) == ["FAKE"] * 5 + ["REAL"] * 5
    assert all(s.content_type == "image/jpeg" and s.data[:2] == b"\xff\xd8" for s in samples)


def test_archive_is_sampled_without_extracting(tmp_path):
    root = make_image_folder(tmp_path / "data", per_class=6, size=16)
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="pack")
    first = load_samples(str(archive), limit=4, seed=1)
    assert len(first) == 4 and all("::pack/" in s.name for s in first)
    assert [s.name for s in load_samples(str(archive), limit=4, seed=1)] == [s.name for s in first]
    assert [s.name for s in load_samples(str(archive), limit=4, seed=2)] != [s.name for s in first]


def test_label_of_nested_sources():
    assert label_of("/x/multigen.tar.gz::multigen/midjourney/fake/a.jpg") == "FAKE"
    assert label_of("/data/sd-vs-photos/REAL/b.jpg") == "REAL"


def test_empty_or_missing_sources_say_so(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SimulateError, match="no images in"):
        load_samples(str(tmp_path / "empty"), limit=10)
    with pytest.raises(SimulateError, match="no imported dataset 'nosuchset'"):
        load_samples("nosuchset", limit=10)
    with pytest.raises(SimulateError, match="--limit"):
        load_samples(str(tmp_path), limit=0)
