"""What the store refuses or folds together: undecodable images, pixel duplicates, callers over their cap;
and the bounded writer and the retention loop the service runs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deeptrust.feedback import FeedbackImageError, FeedbackLimitError, FeedbackStore
from deeptrust.feedback.background import BoundedWriter, RetentionLoop

from .._bad_images import bomb_png, html_png
from .conftest import image_bytes
from .test_integrity import files_on_disk, image_rows
from .test_store import BORDER, FLAG, backdate, flag

# -- every image is decoded, under the cap, before it is stored --


@pytest.mark.parametrize(
    ("make", "reason"),
    [(bomb_png, "too_many_pixels"), (html_png, "corrupt_image")],
    ids=["144-megapixel-png", "png-of-html"],
)
@pytest.mark.parametrize("origin", ["flag", "borderline"])
def test_images_that_do_not_decode_under_the_cap_are_never_stored(
    store: FeedbackStore, tmp_path: Path, make, reason: str, origin: str
) -> None:
    data = make()
    with pytest.raises(FeedbackImageError) as caught:
        if origin == "flag":
            store.add_feedback(data, **FLAG)  # type: ignore[arg-type]
        else:
            store.add_borderline(data, p_ai=0.5, **BORDER)  # type: ignore[arg-type]
    assert caught.value.reason == reason
    assert store.count(None) == 0 and image_rows(store) == 0
    assert files_on_disk(tmp_path / "images") == []


def test_the_cap_is_the_stores_setting(tmp_path: Path) -> None:
    data = image_bytes(1, size=(100, 100))
    with FeedbackStore(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "a", max_pixels=9_999) as small:
        small.create_schema()
        with pytest.raises(FeedbackImageError, match="over the cap of 9,999"):
            small.add_feedback(data, **FLAG)  # type: ignore[arg-type]
    with FeedbackStore(f"sqlite:///{tmp_path / 'b.db'}", tmp_path / "b", max_pixels=10_000) as exact:
        exact.create_schema()
        assert exact.add_feedback(data, **FLAG).width == 100  # type: ignore[arg-type]


# -- the same picture is one review item --


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_the_same_picture_with_trailing_bytes_is_queued_once(
    store: FeedbackStore, tmp_path: Path, fmt: str
) -> None:
    data = image_bytes(5, fmt=fmt)
    first = store.add_borderline(data, p_ai=0.52, **BORDER)  # type: ignore[arg-type]
    for n in range(5):
        padded = data + bytes([n]) * (n + 1) + b"random trailing bytes"
        again = store.add_borderline(padded, p_ai=0.53, **BORDER)  # type: ignore[arg-type]
        assert again.id == first.id
    assert store.count(None) == 1 and len(files_on_disk(tmp_path / "images")) == 1
    assert first.pixels_sha256 and first.pixels_sha256 != first.sha256


def test_a_caller_flagging_the_same_picture_again_gets_the_same_item(store: FeedbackStore) -> None:
    data = image_bytes(6)
    first = store.add_feedback(data, **FLAG, who="alice")  # type: ignore[arg-type]
    assert store.add_feedback(data + b"\0junk", **FLAG, who="alice").id == first.id  # type: ignore[arg-type]
    other_user = store.add_feedback(data, **FLAG, who="bob")  # type: ignore[arg-type]
    other_label = store.add_feedback(  # type: ignore[arg-type]
        data, **{**FLAG, "predicted_label": "REAL", "corrected_label": "FAKE"}, who="alice"
    )
    assert len({first.id, other_user.id, other_label.id}) == 3


# -- per-caller cap --


def test_each_caller_may_add_a_capped_number_of_items_a_day(db_url: str, tmp_path: Path) -> None:
    with FeedbackStore(db_url, tmp_path / "images", max_per_caller_per_day=2) as store:
        store.create_schema()
        alice = [
            flag(store, 1, who="alice"),
            store.add_borderline(image_bytes(2), p_ai=0.5, who="alice", **BORDER),
        ]
        with pytest.raises(FeedbackLimitError, match="alice has sent 2 review items in the last 24 hours"):
            flag(store, 3, who="alice")
        with pytest.raises(FeedbackLimitError):
            store.add_borderline(image_bytes(4), p_ai=0.5, who="alice", **BORDER)  # type: ignore[arg-type]
        assert flag(store, 3, who="bob").who == "bob"  # others are not affected
        again = store.add_borderline(image_bytes(2), p_ai=0.5, who="alice", **BORDER)  # type: ignore[arg-type]
        assert again.id == alice[1].id  # a duplicate is not a new item, so it does not count
        for item in alice:
            backdate(store, item.id, 1.01)
        assert flag(store, 5, who="alice").who == "alice"  # a day later alice may again
        assert store.count(None) == 4


def test_the_cap_holds_for_concurrent_requests_of_one_caller(db_url: str, tmp_path: Path) -> None:
    with FeedbackStore(db_url, tmp_path / "images", max_per_caller_per_day=3) as store:
        store.create_schema()

        def attempt(seed: int) -> str:
            try:
                flag(store, seed, who="mallory")
            except FeedbackLimitError:
                return "refused"
            return "stored"

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = sorted(pool.map(attempt, range(16)))
        assert outcomes == ["refused"] * 13 + ["stored"] * 3
        assert store.count(None) == 3


# -- the bounded writer --


def test_the_writer_drops_what_exceeds_its_bounds_and_says_why() -> None:
    dropped: list[str] = []
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    def slow(n: int) -> None:
        started.set()
        assert release.wait(10)
        done.append(n)

    writer = BoundedWriter(max_items=2, max_bytes=100, on_drop=dropped.append)
    assert writer.offer(lambda: slow(0), 10)
    assert started.wait(10)  # job 0 runs: the queue itself is empty again
    assert writer.offer(lambda: done.append(1), 10) and writer.offer(lambda: done.append(2), 10)
    assert not writer.offer(lambda: done.append(3), 10)  # a third waiting job: over max_items
    assert writer.depth == 2 and dropped == ["queue_full"]
    release.set()
    assert writer.join(10) and done == [0, 1, 2]
    assert not writer.offer(lambda: done.append(4), 101)  # one job over max_bytes
    assert writer.offer(lambda: done.append(5), 100)
    writer.close()
    assert done == [0, 1, 2, 5] and dropped == ["queue_full", "queue_full"]


def test_the_writer_survives_a_failing_job_and_restarts_after_close() -> None:
    writer = BoundedWriter(max_items=4, max_bytes=10)
    done: list[str] = []
    writer.offer(lambda: 1 / 0, 1)
    writer.offer(lambda: done.append("after"), 1)
    writer.close()
    assert done == ["after"]
    writer.offer(lambda: done.append("again"), 1)
    assert writer.join(10) and done == ["after", "again"]
    writer.close()


# -- retention runs by itself --


def test_the_retention_loop_purges_periodically(store: FeedbackStore) -> None:
    old = flag(store, 1)
    loop = RetentionLoop(store, days=30, interval_s=0.05)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while loop.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop.runs >= 1 and store.count(None) == 1  # the first run, at start, had nothing to do
        backdate(store, old.id, 40)  # so only a later round can find it
        while store.count(None) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        loop.close()
    assert store.count(None) == 0 and loop.runs >= 2
