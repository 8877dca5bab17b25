"""The Ray engine on a real local Ray cluster (2 CPUs) gives the same rows as the local engine."""

from __future__ import annotations

import pandas as pd
import pytest

from deeptrust.scan import ScanOptions, scan_images
from deeptrust.scan.engine_ray import ClaimRegistry, plan_units
from deeptrust.scan.sources import resolve_sources
from tests.scan.conftest import MODEL, make_tarball

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def scan(specs, out, **changes):
    options = {"model": MODEL, "progress": False, "batch_size": 4, "workers": 2} | changes
    summary = scan_images(specs, out, ScanOptions(**options))
    table = pd.read_csv(out, keep_default_na=False).sort_values("path", ignore_index=True)
    return summary, table


def test_ray_engine_gives_the_same_rows_as_the_local_engine(ray_cluster, store, tmp_path):
    """One Ray run (each starts its actors, which is slow) that also resumes a partial scan: the
    contents scored before are claimed already, so their copies are filled in, not rescored."""
    archive = make_tarball(store, tmp_path / "store.tar.gz")
    specs = [str(store), str(archive)]
    local_summary, local = scan(specs, tmp_path / "local.csv")
    some = tmp_path / "some.txt"
    some.write_text(
        "".join(f"{store}/{label}/{label.lower()}_00{i}.jpg\n" for label in ("REAL", "FAKE") for i in (0, 1))
    )
    out = tmp_path / "ray.csv"
    first, _ = scan([str(some)], out)
    ray_summary, on_ray = scan(specs, out, engine="ray", resume=True)
    assert first.rows == 4 and ray_summary.resumed == 4 and ray_summary.scanned == len(local) - 4
    pd.testing.assert_frame_equal(on_ray, local)
    assert (
        ray_summary.duplicates == local_summary.duplicates > len(local) // 3
    )  # the tarball repeats the folder
    assert ray.is_initialized()  # a cluster it did not start is left running


def test_plan_units_and_claims_need_no_cluster(store, tmp_path):
    archive = make_tarball(store, tmp_path / "store.tar")
    sources = resolve_sources([str(store), str(archive)])
    units = plan_units(sources, skip={str(store / "REAL" / "notes.txt")})
    assert [bool(u["archive"]) for u in units] == [False, True]
    assert str(store / "REAL" / "notes.txt") not in units[0]["names"]
    claims = ClaimRegistry()
    claims.seed(["known"])
    assert claims.claim([("s", "a"), ("s", "b"), ("known", "c"), ("s", "a")]) == ["a", "a", "", "a"]
