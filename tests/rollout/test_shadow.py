"""The shadow lane: a process of its own at the lowest priority that never blocks its caller, stays within
its CPU budget, dies with the server, comes back when it dies alone, and scores the champion's crops as it
would have scored the bytes. Its model is cifake (600 KB, 32² crops): each lane starts in about a second."""

from __future__ import annotations

import fcntl
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deeptrust.detector import Detector
from deeptrust.rollout.shadow import CpuBudget, LaneStartError, ShadowLane, widen_pipe
from deeptrust.settings import BUNDLED_MODELS

MODEL = BUNDLED_MODELS / "cifake"


def jpeg(seed: int, size: int = 48) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


class Collect:
    """on_done callbacks that keep what the lane said."""

    def __init__(self) -> None:
        self.results: list[tuple[str, dict | None, str]] = []

    def __call__(self, tag: str):
        return lambda result, error, elapsed: self.results.append((tag, result, error))


def new_lane(**kwargs) -> tuple[ShadowLane, list[str], list[str]]:
    skipped: list[str] = []
    events: list[str] = []
    options = {"cpu_share": 1.0, "max_queue": 8} | kwargs
    lane = ShadowLane(
        MODEL, on_skip=skipped.append, name="t", on_up=lambda up: events.append(f"up={up}"),
        on_restart=lambda: events.append("restart"), **options,
    )  # fmt: skip
    return lane.start(timeout=60), skipped, events


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def lane():
    lane, _, _ = new_lane(max_queue=32)
    yield lane
    lane.close()


def test_the_budget_refills_at_its_share():
    now = [0.0]
    budget = CpuBudget(0.25, burst_s=1.0, clock=lambda: now[0])
    assert budget.available()
    budget.spend(0.5)  # 0.25 - 0.5 = -0.25 CPU s
    assert not budget.available()
    now[0] = 0.9  # +0.225: still short
    assert not budget.available()
    now[0] = 1.1  # +0.275 in all: above zero again
    assert budget.available()
    now[0] = 100.0
    budget.available()
    assert budget.tokens == budget.capacity  # capped at the burst


def test_crops_from_the_champion_score_as_the_bytes_would(lane):
    detector = Detector.load(MODEL, threads=1)
    images = [jpeg(seed) for seed in range(6)]
    said = Collect()
    for i, data in enumerate(images):
        assert lane.offer(data, said(f"bytes{i}"))
        assert lane.offer(detector.preprocess(detector.decode_array(data)), said(f"crops{i}"))
    wait_for(lambda: len(said.results) == 12)
    by_tag = {tag: result for tag, result, _ in said.results}
    direct = detector.predict_proba(images)
    for i in range(len(images)):
        from_bytes, from_crops = by_tag[f"bytes{i}"], by_tag[f"crops{i}"]
        assert from_bytes is not None and from_crops is not None
        assert from_crops["label"] == from_bytes["label"]
        assert from_crops["p_ai"] == pytest.approx(from_bytes["p_ai"], abs=1e-5)
        assert from_crops["p_ai"] == pytest.approx(1.0 - direct[i, detector.card.real_index], abs=1e-5)
        assert from_crops["model"] == {"name": "cifake", "version": detector.card.version}


def test_a_bad_image_is_an_error_and_the_lane_goes_on(lane):
    said = Collect()
    assert lane.offer(b"not an image", said("bad"))
    assert lane.offer(jpeg(7), said("good"))
    wait_for(lambda: len(said.results) == 2)
    outcome = {tag: (result, error) for tag, result, error in said.results}
    assert outcome["bad"][0] is None and outcome["bad"][1]
    assert outcome["good"][0] is not None and outcome["good"][1] == ""


def test_the_lane_process_runs_at_idle_priority(lane):
    fields = Path(f"/proc/{lane.pid}/stat").read_text().rsplit(")", 1)[1].split()
    nice, policy = int(fields[16]), int(fields[38])  # fields 19 and 41, counted from 1
    assert nice == 19
    assert lane.priority == "SCHED_IDLE" and policy == os.SCHED_IDLE  # type: ignore[attr-defined]


def test_the_jobs_pipe_holds_a_whole_job_of_crops(lane):
    # photos-1.0's crops are 983 KB a job: in a 64 KiB pipe the feeder woke (and took the GIL) 15 times a job
    assert fcntl.fcntl(lane._process.jobs.fileno(), fcntl.F_GETPIPE_SZ) >= 1 << 20


def test_a_pipe_size_linux_refuses_leaves_the_pipe_as_it_was():
    r, w = os.pipe()
    try:
        before = fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
        assert widen_pipe(w, sizes=(1 << 30,)) == before == fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)  # EPERM
        assert widen_pipe(w, sizes=(1 << 30, 1 << 18)) == 1 << 18 == fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(r)
        os.close(w)


def test_a_full_queue_drops_without_blocking():
    lane, skipped, _ = new_lane(max_queue=2)
    crops = np.zeros((64, 3, 32, 32), np.float32)  # 768 KiB: more than a pipe holds
    try:
        os.kill(lane.pid, signal.SIGSTOP)  # the lane takes nothing more: its pipe fills, then the queue
        slowest = 0.0
        for _ in range(12):
            started = time.perf_counter()
            lane.offer(crops, lambda *_: None)
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.05, slowest
        assert skipped.count("queue_full") >= 8, skipped
    finally:
        os.kill(lane.pid, signal.SIGCONT)
        started = time.perf_counter()
        lane.close()
    assert time.perf_counter() - started < 5


def test_jobs_are_skipped_once_the_lane_spent_its_cpu_budget():
    lane, skipped, _ = new_lane(cpu_share=0.05, max_queue=64)  # 0.05 CPU s of burst, +0.05 per second
    big = np.zeros((512, 3, 32, 32), np.float32)  # tens of ms of CPU per job
    try:
        for _ in range(40):
            lane.offer(big, lambda *_: None)
            time.sleep(0.02)
        wait_for(lambda: lane.waiting == 0)
    finally:
        lane.close()
    assert "cpu_budget" in skipped and lane.done < 40, (lane.done, skipped)


def test_a_lane_that_dies_is_counted_and_started_again():
    lane, _, events = new_lane()
    try:
        first = lane.pid
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: lane.up and lane.pid != first)
        assert events == ["up=True", "up=False", "restart", "up=True"] and lane.restarts == 1
        assert not alive(first)  # reaped, not a zombie
        said = Collect()
        assert lane.offer(jpeg(1), said("after"))
        wait_for(lambda: len(said.results) == 1)
        assert said.results[0][1] is not None
    finally:
        lane.close()
    assert not alive(lane.pid) and events[-1] == "up=False"  # close ends the process and both threads
    assert not lane._supervisor.is_alive() and not lane._feeder.is_alive()


def test_offers_while_the_lane_is_down_are_skipped(lane):
    skipped: list[str] = []
    lane.on_skip, lane.up = skipped.append, False  # as between a death and the restart
    try:
        assert not lane.offer(jpeg(1), lambda *_: None)
    finally:
        lane.on_skip, lane.up = (lambda _: None), True
    assert skipped == ["lane_down"]


def test_a_model_that_does_not_load_is_a_clear_start_error(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "card.json").write_text((MODEL / "card.json").read_text())
    (broken / "model.onnx").write_bytes(b"not an onnx file")
    lane = ShadowLane(broken, cpu_share=1.0, max_queue=2, on_skip=lambda _: None, name="broken")
    with pytest.raises(LaneStartError, match=r"model\.onnx|INVALID_PROTOBUF|Load model"):
        lane.start(timeout=60)
    assert not lane.up
    assert lane._supervisor.is_alive() is False  # nothing keeps trying


LANE_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from deeptrust.rollout.shadow import ShadowLane
    lane = ShadowLane(Path(sys.argv[1]), cpu_share=1.0, max_queue=2, on_skip=print, name="t").start(60)
    print(lane.pid, flush=True)
    time.sleep(600)
    """
)


def test_the_lane_dies_with_a_server_killed_outright():
    holder = subprocess.Popen(
        [sys.executable, "-c", LANE_HOLDER, str(MODEL)], stdout=subprocess.PIPE, text=True
    )
    try:
        pid = int(holder.stdout.readline())  # type: ignore[union-attr]
        assert alive(pid)
        holder.kill()  # SIGKILL: no shutdown code runs
        holder.wait(10)
        wait_for(lambda: not alive(pid), 10)
    finally:
        if holder.poll() is None:
            holder.kill()
