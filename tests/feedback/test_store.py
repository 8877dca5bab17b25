"""FeedbackStore on SQLite and PostgreSQL: adding, deduplicating, listing, reviewing, purging."""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, update

from deeptrust.feedback import (
    FeedbackError,
    FeedbackItem,
    FeedbackStore,
    ItemNotFoundError,
    Origin,
    ReviewError,
    Status,
    is_borderline,
)
from deeptrust.feedback.models import Base
from deeptrust.settings import Settings

from .conftest import image_bytes

FLAG = {"predicted_label": "FAKE", "corrected_label": "REAL", "p_ai": 0.81, "model_version": "1.0"}
BORDER = {"predicted_label": "FAKE", "threshold": 0.5, "model_name": "photos", "model_version": "1.0"}


def flag(store: FeedbackStore, seed: int, **overrides: object) -> FeedbackItem:
    return store.add_feedback(image_bytes(seed), **{**FLAG, **overrides})  # type: ignore[arg-type]


def borderline(store: FeedbackStore, seed: int, p_ai: float, **overrides: object) -> FeedbackItem:
    return store.add_borderline(image_bytes(seed), p_ai=p_ai, **{**BORDER, **overrides})  # type: ignore[arg-type]


def backdate(store: FeedbackStore, item_id: int, days: float) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            update(FeedbackItem)
            .where(FeedbackItem.id == item_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=days))
        )


def test_add_feedback_stores_the_image_once_under_its_hash(store: FeedbackStore, tmp_path: Path) -> None:
    data = image_bytes(1, fmt="PNG", size=(20, 10))
    first = store.add_feedback(data, **FLAG, model_name="photos", threshold=0.6, who="alice", comment="a cat")
    second = store.add_feedback(data, **FLAG, who="bob")

    sha = hashlib.sha256(data).hexdigest()
    stored = tmp_path / "images" / sha[:2] / f"{sha}.png"
    assert stored.read_bytes() == data
    assert [p.name for p in (tmp_path / "images").rglob("*") if p.is_file()] == [stored.name]
    assert first.id != second.id and first.image_path == second.image_path == f"{sha[:2]}/{sha}.png"
    assert store.image_file(first) == stored

    item = store.get(first.id)
    assert (item.sha256, item.image_format, item.width, item.height) == (sha, "PNG", 20, 10)
    assert item.image_bytes == len(data)
    assert (item.origin, item.status, item.final_label) == (Origin.FLAG, Status.PENDING, None)
    assert (item.predicted_label, item.corrected_label, item.who, item.comment) == (
        "FAKE",
        "REAL",
        "alice",
        "a cat",
    )
    assert (item.model_name, item.model_version, item.p_ai, item.threshold) == ("photos", "1.0", 0.81, 0.6)
    assert item.created_at.tzinfo is not None and item.created_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - item.created_at) < timedelta(minutes=1)
    wire = item.to_dict()
    assert wire["origin"] == "flag" and wire["status"] == "pending" and wire["created_at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("image", "overrides", "message"),
    [
        (b"%PDF-1.4 not an image", {}, "not a recognised image"),
        (b"", {}, "got 0 bytes"),
        (None, {"p_ai": 1.5}, "p_ai must be in [0, 1]"),
        (None, {"p_ai": math.nan}, "p_ai must be in [0, 1]"),
        (None, {"p_ai": "high"}, "p_ai must be a number"),
        (None, {"threshold": -0.1}, "threshold must be in [0, 1]"),
        (None, {"corrected_label": "FAKE"}, "corrected_label equals predicted_label"),
        (None, {"corrected_label": "../../etc"}, "not usable as a class folder"),
        (None, {"corrected_label": "train"}, "not usable as a class folder"),
        (None, {"corrected_label": ""}, "corrected_label is required"),
        (None, {"corrected_label": "CAT", "class_names": ["REAL", "FAKE"]}, "must be one of REAL, FAKE"),
        (None, {"model_version": " "}, "model_version is required"),
        (None, {"comment": "x" * 2001}, "at most 2,000"),
    ],
)
def test_add_feedback_refuses_bad_input(
    store: FeedbackStore, tmp_path: Path, image: bytes | None, overrides: dict, message: str
) -> None:
    with pytest.raises(FeedbackError, match=message.replace("[", r"\[").replace("]", r"\]")):
        store.add_feedback(image_bytes(0) if image is None else image, **{**FLAG, **overrides})
    assert store.count(status=None) == 0
    assert not (tmp_path / "images").exists() or not any((tmp_path / "images").rglob("*.*"))


def test_add_borderline_keeps_one_pending_item_per_image_and_model_version(store: FeedbackStore) -> None:
    first = borderline(store, 1, 0.55)
    again = borderline(store, 1, 0.56)
    other_version = borderline(store, 1, 0.55, model_version="2.0")
    other_image = borderline(store, 2, 0.55)
    flagged = flag(store, 1)  # a user flag of the same image is a separate item

    assert again.id == first.id and again.p_ai == 0.55
    assert len({first.id, other_version.id, other_image.id, flagged.id}) == 4
    assert store.count(origin="borderline") == 3

    store.review(first.id, "approve", reviewer="mod")
    requeued = borderline(store, 1, 0.57)  # reviewed items no longer block the queue
    assert requeued.id != first.id and requeued.status == Status.PENDING
    assert store.get(first.id).final_label == "FAKE"


def test_concurrent_borderline_adds_of_one_image_make_one_item(store: FeedbackStore) -> None:
    data = image_bytes(7)
    with ThreadPoolExecutor(max_workers=6) as pool:
        items = list(pool.map(lambda _: store.add_borderline(data, p_ai=0.52, **BORDER), range(12)))
    assert len({item.id for item in items}) == 1
    assert store.count() == 1


def test_concurrent_flags_from_many_threads_all_land(store: FeedbackStore) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(lambda seed: flag(store, seed % 5, who=f"user{seed}").id, range(20)))
    assert len(set(ids)) == 20 and store.count() == 20


def test_list_review_puts_flags_first_then_borderline_by_closeness(store: FeedbackStore) -> None:
    far = borderline(store, 1, 0.58)  # 0.08 from the threshold
    flag_old = flag(store, 2)
    closest = borderline(store, 3, 0.49)  # 0.01
    middle = borderline(store, 4, 0.45)  # 0.05
    flag_new = flag(store, 5)
    backdate(store, flag_old.id, 1)

    order = [item.id for item in store.list_review()]
    assert order == [flag_old.id, flag_new.id, closest.id, middle.id, far.id]
    assert [i.id for i in store.list_review(limit=2, offset=2)] == [closest.id, middle.id]
    assert [i.id for i in store.list_review(origin="borderline")] == [closest.id, middle.id, far.id]
    assert [i.id for i in store.list_review(origin="flag")] == [flag_old.id, flag_new.id]

    store.review(middle.id, "relabel", label="REAL", reviewer="mod")
    assert middle.id not in [i.id for i in store.list_review()]
    assert [i.id for i in store.list_review("relabelled")] == [middle.id]
    assert len(store.list_review(None)) == 5 and store.count("approved") == 0
    for bad in ({"status": "done"}, {"origin": "robot"}, {"limit": 0}, {"offset": -1}):
        with pytest.raises(FeedbackError):
            store.list_review(**bad)  # type: ignore[arg-type]


def test_get_unknown_id_raises(store: FeedbackStore) -> None:
    with pytest.raises(ItemNotFoundError, match="no review item with id 999"):
        store.get(999)


def test_review_approve_takes_the_users_label_or_the_models(store: FeedbackStore) -> None:
    flagged, border = flag(store, 1), borderline(store, 2, 0.45, predicted_label="REAL")

    approved = store.review(flagged.id, "approve", reviewer="mod")
    assert (approved.status, approved.final_label, approved.reviewed_by) == (Status.APPROVED, "REAL", "mod")
    assert approved.reviewed_at is not None and approved.reviewed_at.utcoffset() == timedelta(0)
    assert store.review(border.id, "approve", reviewer="mod").final_label == "REAL"

    relabelled = store.review(
        flagged.id, "relabel", label="FAKE", reviewer="mod2", class_names=["REAL", "FAKE"]
    )
    assert (relabelled.status, relabelled.final_label, relabelled.reviewed_by) == (
        Status.RELABELLED,
        "FAKE",
        "mod2",
    )
    assert store.get(flagged.id).final_label == "FAKE"  # a later review replaces the earlier one


@pytest.mark.parametrize(
    ("action", "kwargs", "error", "message"),
    [
        ("delete", {}, ReviewError, "must be 'approve' or 'relabel'"),
        ("relabel", {}, ReviewError, "relabel label is required"),
        ("relabel", {"label": "../x"}, ReviewError, "not usable as a class folder"),
        ("relabel", {"label": "CAT", "class_names": ["REAL", "FAKE"]}, ReviewError, "one of REAL, FAKE"),
        ("approve", {"label": "REAL"}, ReviewError, "approve takes no label"),
        ("approve", {"reviewer": ""}, FeedbackError, "reviewer is required"),
    ],
)
def test_invalid_review_actions_change_nothing(
    store: FeedbackStore, action: str, kwargs: dict, error: type[Exception], message: str
) -> None:
    item = flag(store, 1)
    with pytest.raises(error, match=message):
        store.review(item.id, action, **{"reviewer": "mod", **kwargs})  # type: ignore[arg-type]
    unchanged = store.get(item.id)
    assert (unchanged.status, unchanged.final_label, unchanged.reviewed_at) == (Status.PENDING, None, None)


def test_review_of_unknown_id_raises(store: FeedbackStore) -> None:
    with pytest.raises(ItemNotFoundError):
        store.review(12345, "approve", reviewer="mod")


def test_purge_deletes_old_items_and_images_no_one_else_uses(store: FeedbackStore, tmp_path: Path) -> None:
    shared_old, shared_new = flag(store, 1), borderline(store, 1, 0.55)  # same image
    alone_old, alone_new = flag(store, 2), flag(store, 3)
    for item in (shared_old, alone_old):
        backdate(store, item.id, 40)

    assert store.purge(0) == (0, 0)  # 0 days: keep forever
    assert store.purge(60) == (0, 0)
    result = store.purge(30)

    assert (result.items, result.images) == (2, 1)
    assert {i.id for i in store.list_review(None)} == {shared_new.id, alone_new.id}
    assert store.image_file(shared_new).is_file()  # still used by the newer item
    assert not store.image_file(alone_old).exists()
    assert store.image_file(alone_new).is_file()
    with pytest.raises(FeedbackError, match="must be >= 0"):
        store.purge(-1)
    later = datetime.now(UTC) + timedelta(days=31)
    assert store.purge(30, now=later) == (2, 2)
    assert not any((tmp_path / "images").rglob("*.*"))


def test_create_schema_is_idempotent_and_has_the_indices(store: FeedbackStore) -> None:
    store.create_schema()
    flag(store, 1)
    store.create_schema()
    assert store.count() == 1
    indexed = {tuple(ix["column_names"]) for ix in inspect(store.engine).get_indexes("feedback_items")}
    assert {("status",), ("sha256",), ("created_at",), ("sha256", "model_version")} <= indexed


def test_postgres_tables_live_in_the_test_schema(postgres_schema: tuple[str, str], tmp_path: Path) -> None:
    url, schema = postgres_schema
    with FeedbackStore(url, tmp_path / "images") as store:
        store.create_schema()
        try:
            assert "feedback_items" in inspect(store.engine).get_table_names(schema=schema)
            assert "feedback_items" not in inspect(store.engine).get_table_names(schema="public")
        finally:
            Base.metadata.drop_all(store.engine)


def test_in_memory_sqlite_and_settings_defaults(tmp_path: Path) -> None:
    with FeedbackStore("sqlite://", tmp_path / "img") as memory:
        memory.create_schema()
        assert flag(memory, 1).id == 1 and memory.count() == 1

    settings = Settings(home=tmp_path / "home")
    with FeedbackStore.from_settings(settings) as default:
        default.create_schema()
        item = flag(default, 2)
        assert default.url == f"sqlite:///{(tmp_path / 'home' / 'deeptrust.db').resolve()}"
        assert default.image_file(item).is_relative_to(tmp_path / "home" / "feedback" / "images")


def test_is_borderline() -> None:
    assert is_borderline(0.55, 0.5, 0.1) and is_borderline(0.41, 0.5, 0.1)
    assert not is_borderline(0.7, 0.5, 0.1) and not is_borderline(0.5, 0.5, 0.0)


def _create_schema_at(url: str, images: str, barrier) -> None:
    store = FeedbackStore(url, Path(images))
    barrier.wait()  # every process reaches create_all together, as replicas starting at once do
    store.create_schema()
    store.close()


def test_processes_starting_on_one_fresh_database_all_succeed(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    barrier = ctx.Barrier(6)
    procs = [
        ctx.Process(target=_create_schema_at, args=(url, str(tmp_path / "images"), barrier)) for _ in range(6)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    with FeedbackStore(url, tmp_path / "images") as store:
        assert "feedback_items" in inspect(store.engine).get_table_names()


def test_create_schema_looks_again_when_another_process_won_the_race(tmp_path: Path, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    real = Base.metadata.create_all
    calls = []

    def racing(engine, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the other process created the table between our check and our CREATE
            real(engine)
            raise OperationalError("CREATE TABLE feedback_items", {}, Exception("table already exists"))
        return real(engine, *args, **kwargs)

    monkeypatch.setattr(Base.metadata, "create_all", racing)
    with FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}", tmp_path / "images") as store:
        store.create_schema()
        assert len(calls) == 2
        assert "feedback_items" in inspect(store.engine).get_table_names()
