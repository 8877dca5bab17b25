"""The store's files and rows agree, whatever fails and whoever runs at the same time.

Two ``FeedbackStore`` objects on one database and image folder stand for two processes (the service
and ``deeptrust feedback purge``): they share no Python lock, only the database, exactly as processes
do. Each interleaving is forced with events inside the image writes and deletes, on SQLite and on the
real PostgreSQL server.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from deeptrust.feedback import FeedbackError, FeedbackStore
from deeptrust.feedback import _images as images_module
from deeptrust.feedback.models import FeedbackImage, FeedbackItem

from .conftest import image_bytes
from .test_store import FLAG, backdate, flag

WAIT = 20.0  # seconds any step may take before the test calls it stuck


def files_on_disk(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def image_rows(store: FeedbackStore) -> int:
    with Session(store.engine) as session:
        return int(session.scalar(select(func.count()).select_from(FeedbackImage)) or 0)


def run_in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def body() -> None:
        try:
            outcome["value"] = target(*args, **kwargs)
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


@pytest.fixture
def second(db_url: str, tmp_path: Path, store: FeedbackStore):
    """Another store on the same database and folder: the other process."""
    with FeedbackStore(db_url, tmp_path / "images") as other:
        yield other


# -- failures leave nothing behind --


def test_an_insert_that_fails_leaves_no_file(store: FeedbackStore, tmp_path: Path) -> None:
    def refuse(session, _context, _instances) -> None:
        if any(isinstance(obj, FeedbackItem) for obj in session.new):
            raise RuntimeError("the database refused the row")

    event.listen(Session, "before_flush", refuse)
    try:
        with pytest.raises(RuntimeError, match="refused the row"):
            flag(store, 1)
    finally:
        event.remove(Session, "before_flush", refuse)
    assert files_on_disk(tmp_path / "images") == []
    assert store.count(None) == 0 and image_rows(store) == 0


def test_a_write_that_fails_after_the_rename_removes_the_file(
    store: FeedbackStore, tmp_path: Path, monkeypatch
) -> None:
    real = store.images.write

    def write_then_fail(facts, data):
        real(facts, data)
        raise OSError("the disk went away after the rename")

    monkeypatch.setattr(store.images, "write", write_then_fail)
    with pytest.raises(OSError, match="went away"):
        flag(store, 1)
    assert files_on_disk(tmp_path / "images") == []
    assert store.count(None) == 0 and image_rows(store) == 0


def test_a_failure_does_not_delete_a_file_other_items_use(
    store: FeedbackStore, tmp_path: Path, monkeypatch
) -> None:
    kept = flag(store, 1, who="alice")
    monkeypatch.setattr(store.images, "write", lambda facts, data: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(OSError, match="full"):
        flag(store, 1, who="bob")  # same image, so the file is shared
    assert store.image_file(kept).is_file() and store.count(None) == 1


def test_purge_removes_files_left_by_a_crashed_writer(store: FeedbackStore, tmp_path: Path) -> None:
    kept = flag(store, 1)
    orphan = image_bytes(2)
    facts = images_module.read_facts(orphan)
    store.images.write(facts, orphan)  # as if the process died before its commit
    stale_tmp = tmp_path / "images" / facts.sha256[:2] / ".tmp-crashed.jpg"
    stale_tmp.write_bytes(b"half an image")
    old = time.time() - 2 * images_module.TMP_GRACE_S
    os.utime(stale_tmp, (old, old))
    fresh_tmp = stale_tmp.with_name(".tmp-writing-now.jpg")
    fresh_tmp.write_bytes(b"a live writer's")

    assert store.purge(0) == (0, 1)  # 0 days keeps every item, not files no item uses
    assert files_on_disk(tmp_path / "images") == sorted([store.image_file(kept), fresh_tmp])


# -- two processes at once --


def test_a_purge_waits_for_an_insert_in_flight(
    store: FeedbackStore, second: FeedbackStore, tmp_path: Path, monkeypatch
) -> None:
    """The server writes an image an old item also uses; the CLI purges that old item meanwhile."""
    old = flag(store, 1, who="old")
    backdate(store, old.id, 40)
    written, release = threading.Event(), threading.Event()
    real = store.images.write

    def write_and_pause(facts, data):
        path = real(facts, data)
        written.set()
        assert release.wait(WAIT)
        return path

    monkeypatch.setattr(store.images, "write", write_and_pause)
    inserting, added = run_in_thread(flag, store, 1, who="new")
    assert written.wait(WAIT)
    purging, purged = run_in_thread(second.purge, 30)
    time.sleep(0.5)
    release.set()
    inserting.join(WAIT)
    purging.join(WAIT)
    assert "error" not in added and "error" not in purged, (added, purged)
    assert purged["value"].items == 1  # the old item went, its image did not: the new item uses it
    new = store.get(added["value"].id)
    assert store.image_file(new).read_bytes() == image_bytes(1)
    assert image_rows(store) == 1


def test_an_insert_waits_for_a_purge_deleting_its_image(
    store: FeedbackStore, second: FeedbackStore, tmp_path: Path, monkeypatch
) -> None:
    """The CLI is deleting an unused image when the server receives the same image again."""
    old = flag(second, 1, who="old")
    backdate(second, old.id, 40)
    deleting, release = threading.Event(), threading.Event()
    real = second.images.delete

    def pause_then_delete(relpath):
        deleting.set()
        assert release.wait(WAIT)
        return real(relpath)

    monkeypatch.setattr(second.images, "delete", pause_then_delete)
    purging, purged = run_in_thread(second.purge, 30)
    assert deleting.wait(WAIT)
    inserting, added = run_in_thread(flag, store, 1, who="new")
    time.sleep(0.5)
    release.set()
    purging.join(WAIT)
    inserting.join(WAIT)
    assert "error" not in added and "error" not in purged, (added, purged)
    assert purged["value"] == (1, 1)
    new = store.get(added["value"].id)
    assert store.image_file(new).read_bytes() == image_bytes(1)  # written again after the delete
    assert image_rows(store) == 1
    assert second.purge(30) == (0, 0)  # and the next purge leaves it alone


def test_concurrent_inserts_and_purges_never_lose_a_used_file(
    store: FeedbackStore, second: FeedbackStore, tmp_path: Path
) -> None:
    """Items of three images arrive while another process purges; every other one is made old at once."""
    stop = threading.Event()
    purged: list[int] = []
    errors: list[BaseException] = []

    def purge_forever() -> None:
        while not stop.is_set():
            try:
                purged.append(second.purge(30).items)
            except BaseException as exc:
                errors.append(exc)
                return

    purger = threading.Thread(target=purge_forever, daemon=True)
    purger.start()
    try:
        for n in range(40):
            item = flag(store, n % 3, who=f"user{n}")
            if n % 2:
                backdate(store, item.id, 40)
    finally:
        stop.set()
        purger.join(WAIT)
    second.purge(30)
    assert errors == [] and sum(purged) + store.count(None) >= 20
    with Session(store.engine) as session:
        used = set(session.scalars(select(FeedbackItem.image_path)))
    assert store.count(None) == 20 and len(used) >= 2
    assert all(store.images.path(path).is_file() for path in used)
    assert len(files_on_disk(tmp_path / "images")) == len(used) == image_rows(store)


def _purge_until_stopped(url: str, images: str, started, stop, purged) -> None:
    with FeedbackStore(url, Path(images)) as other:
        while True:
            purged.value += other.purge(30).items
            started.set()
            if stop.is_set():
                return


def test_a_purging_process_and_an_inserting_one_agree(
    db_url: str, store: FeedbackStore, tmp_path: Path
) -> None:
    """The same, with the purge in a real second process (as ``deeptrust feedback purge`` runs)."""
    ctx = multiprocessing.get_context("spawn")
    started, stop, purged = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
    args = (db_url, str(tmp_path / "images"), started, stop, purged)
    process = ctx.Process(target=_purge_until_stopped, args=args)
    process.start()
    try:
        assert started.wait(60)
        for n in range(40):
            item = flag(store, n % 3, who=f"user{n}")
            if n % 2:
                backdate(store, item.id, 40)
    finally:
        stop.set()
        process.join(60)
    assert process.exitcode == 0
    assert purged.value + store.purge(30).items == 20 and store.count(None) == 20
    with Session(store.engine) as session:
        used = set(session.scalars(select(FeedbackItem.image_path)))
    assert all(store.images.path(path).is_file() for path in used)
    assert len(files_on_disk(tmp_path / "images")) == len(used) == image_rows(store)


# -- ids and durability --


def test_ids_are_never_reused_after_a_purge(store: FeedbackStore) -> None:
    first, last = flag(store, 1, who="a"), flag(store, 2, who="b")
    backdate(store, last.id, 40)
    assert store.purge(30).items == 1
    after = flag(store, 3, who="c")
    assert after.id > last.id > first.id
    with pytest.raises(FeedbackError, match=f"no review item with id {last.id}"):
        store.get(last.id)


def test_a_rename_is_followed_by_an_fsync_of_its_folder(store: FeedbackStore, monkeypatch) -> None:
    synced: list[tuple[bool, int]] = []
    real_fsync = os.fsync

    def record(fd: int) -> None:
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), os.fstat(fd).st_ino))
        real_fsync(fd)

    monkeypatch.setattr(images_module.os, "fsync", record)
    item = flag(store, 1)
    folder = store.image_file(item).parent
    assert synced[-1] == (True, folder.stat().st_ino)  # the last flush is the folder's, after the rename
    assert any(not is_dir for is_dir, _ in synced)  # and the file's own data before it


def test_a_writer_finds_its_folder_while_a_purge_empties_it(store: FeedbackStore, monkeypatch) -> None:
    """On PostgreSQL, a purge of image X and a write of image Y run at once when X and Y share their
    two-hex folder; a purge that removed the folder it emptied made Y's write fail (FileNotFoundError)."""
    first = image_bytes(1)
    facts = images_module.read_facts(first)
    checked = threading.Event()
    real_is_dir = Path.is_dir

    def is_dir_then_purge(path: Path) -> bool:
        found = real_is_dir(path)
        if path.name == facts.sha256[:2] and not checked.is_set():
            checked.set()  # the writer saw its folder; now the purge deletes the folder's last file
            store.images.delete(facts.relpath)
        return found

    store.images.write(facts, first)
    same_folder = images_module.ImageFacts(facts.sha256[:2] + "0" * 62, "p", "JPEG", 1, 1, 3)
    monkeypatch.setattr(Path, "is_dir", is_dir_then_purge)
    assert store.images.write(same_folder, b"abc").read_bytes() == b"abc"
    assert checked.is_set()


def test_sqlite_tables_use_autoincrement(tmp_path: Path) -> None:
    with FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}", tmp_path / "images") as store:
        store.create_schema()
        with store.engine.connect() as connection:
            sql = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'feedback_items'"))
            assert "AUTOINCREMENT" in sql.scalar_one()


def test_store_kwargs_reach_the_checks(tmp_path: Path) -> None:
    with FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}", tmp_path / "images", max_pixels=100) as store:
        store.create_schema()
        with pytest.raises(FeedbackError, match="over the cap of 100"):
            store.add_feedback(image_bytes(1, size=(16, 12)), **FLAG)  # type: ignore[arg-type]
