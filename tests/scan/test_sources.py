"""Sources: folders, globs, tarballs and list files resolve to one key per file or member."""

from __future__ import annotations

import tarfile

import pytest

from deeptrust.scan.errors import ScanError
from deeptrust.scan.sources import (
    MEMBER_SEP,
    Input,
    count_inputs,
    iter_inputs,
    read_input,
    read_keys,
    resolve_sources,
)
from tests.scan.conftest import make_tarball, visible_files


def keys(sources):
    return [key for source in sources for key in source.iter_keys()]


def test_folder_is_walked_recursively_skipping_hidden_files(store):
    found = keys(resolve_sources([str(store)]))
    assert found == [str(p) for p in visible_files(store)]
    assert str(store / "FAKE" / "nested" / "copy_of_real_000.jpg") in found
    assert not any(".hidden" in key for key in found)


def test_glob_and_overlapping_sources_give_each_file_once(store):
    pattern = str(store / "**" / "*.jpg")
    found = keys(resolve_sources([pattern, str(store)]))
    assert len(found) == len(set(found)) == len(visible_files(store))
    assert found[0].endswith(".jpg")  # the glob's matches come first, in the order given


def test_tarball_members_are_read_in_place(store, tmp_path):
    archive = make_tarball(store, tmp_path / "store.tar.gz")
    sources = resolve_sources([str(archive)])
    found = keys(sources)
    assert len(found) == len(visible_files(store)) + 1  # the archive holds the hidden file too
    assert all(key.startswith(f"{archive}{MEMBER_SEP}store/") for key in found)
    items = list(iter_inputs(sources, skip={found[0]}, max_bytes=10**6))
    assert [i.path for i in items] == found[1:]
    real = f"{archive}{MEMBER_SEP}store/REAL/real_000.jpg"
    assert next(i for i in items if i.path == real).data == (store / "REAL" / "real_000.jpg").read_bytes()


def test_list_file_paths_are_relative_to_it_and_missing_entries_become_errors(store, tmp_path):
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"# stored images\n{store.name}/REAL/real_001.jpg\n\n{store / 'FAKE'}\ngone.jpg\n")
    found = keys(resolve_sources([str(listing)]))
    assert found[0] == str(store / "REAL" / "real_001.jpg")
    assert str(store / "FAKE" / "fake_000.jpg") in found
    assert found[-1] == str(tmp_path / "gone.jpg")
    data, error = read_input(Input(found[-1]), max_bytes=100)
    assert data is None and error.startswith("missing:")


def test_oversized_files_and_members_are_errors_without_being_read(store, tmp_path):
    archive = make_tarball(store, tmp_path / "store.tar")
    big = max(p.stat().st_size for p in visible_files(store))
    items = list(iter_inputs(resolve_sources([str(archive)]), skip=(), max_bytes=big - 1))
    assert sum(i.error.startswith("file_too_large:") for i in items) >= 1
    data, error = read_input(Input(str(store / "REAL" / "real_000.jpg")), max_bytes=10)
    assert data is None and error.startswith("file_too_large:")


def test_a_broken_archive_is_one_error_row_not_an_abort(tmp_path, store):
    archive = make_tarball(store, tmp_path / "store.tar.gz")
    archive.write_bytes(archive.read_bytes()[:200])
    sources = resolve_sources([str(archive)])
    [item] = list(iter_inputs(sources, skip=(), max_bytes=10**6))
    assert item.path == str(archive) and item.error.startswith("unreadable_archive:")


def test_archive_members_that_vanish_become_errors(tmp_path, store):
    archive = make_tarball(store, tmp_path / "store.tar")
    sources = resolve_sources([str(archive)])
    with tarfile.open(archive, "w") as tar:  # rewritten after listing, with one file only
        tar.add(store / "REAL" / "real_000.jpg", arcname="store/REAL/real_000.jpg")
    items = list(iter_inputs(sources, skip=(), max_bytes=10**6))
    assert len(items) == count_inputs(sources)
    assert sum(not i.error for i in items) == 1
    assert all(i.error == "missing: no longer in the archive" for i in items if i.data is None)


def test_unknown_sources_fail_before_scanning(tmp_path):
    with pytest.raises(ScanError, match="does not exist"):
        resolve_sources([str(tmp_path / "nope")])
    with pytest.raises(ScanError, match="no files match"):
        resolve_sources([str(tmp_path / "*.jpg")])


def test_the_output_itself_is_excluded(store):
    out = store / "REAL" / "scan.csv"
    out.write_text("path\n")
    assert str(out) not in keys(resolve_sources([str(store)], exclude={str(out)}))


def test_read_keys_fetches_files_and_members(store, tmp_path):
    archive = make_tarball(store, tmp_path / "store.tar.gz")
    member = f"{archive}{MEMBER_SEP}store/FAKE/fake_001.jpg"
    plain = str(store / "REAL" / "real_002.jpg")
    found = read_keys([member, plain, str(tmp_path / "gone.jpg")], max_bytes=10**6)
    assert set(found) == {member, plain}
    assert found[member] == (store / "FAKE" / "fake_001.jpg").read_bytes()
