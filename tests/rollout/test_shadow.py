"""The shadow lane never blocks its caller, stays within its CPU budget and runs at the lowest priority."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from deeptrust.rollout.shadow import CpuBudget, ShadowLane


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


def test_a_full_queue_drops_without_blocking():
    skipped: list[str] = []
    gate = threading.Event()
    lane = ShadowLane(cpu_share=1.0, max_queue=2, on_skip=skipped.append, name="t")
    try:
        assert lane.offer(gate.wait)  # taken by the thread, which now waits
        time.sleep(0.1)
        assert lane.offer(lambda: None) and lane.offer(lambda: None)  # the queue holds two
        started = time.perf_counter()
        assert not lane.offer(lambda: None)
        assert time.perf_counter() - started < 1.0  # the lane is stuck on the gate: waiting would hang
        assert skipped == ["queue_full"]
    finally:
        gate.set()
        lane.close()


def test_cpu_heavy_jobs_are_skipped_once_the_budget_is_spent():
    skipped: list[str] = []
    lane = ShadowLane(cpu_share=0.1, max_queue=100, on_skip=skipped.append, name="t")

    def burn() -> None:  # 50 ms of CPU
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass

    try:
        started = time.monotonic()
        while time.monotonic() - started < 1.5:
            lane.offer(burn)
            time.sleep(0.01)
    finally:
        lane.close()
    elapsed = time.monotonic() - started
    # Budget: 0.1 CPU s of burst plus 0.1 per second -> at most ~(0.1 + 0.1 * 1.5) / 0.05 + 1 = 6 jobs.
    assert 1 <= lane.done <= 7, lane.done
    assert "cpu_budget" in skipped
    assert lane.done * 0.05 <= 0.1 + 0.1 * elapsed + 0.05


def test_the_lane_thread_runs_at_nice_19():
    seen: list[int] = []
    done = threading.Event()

    def nice_of_this_thread() -> None:
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/stat").read_text()
        seen.append(int(stat.rsplit(")", 1)[1].split()[16]))  # field 19 (nice), counted from 1
        done.set()

    lane = ShadowLane(cpu_share=1.0, max_queue=1, on_skip=lambda _: None, name="t")
    try:
        lane.offer(nice_of_this_thread)
        assert done.wait(5)
    finally:
        lane.close()
    assert seen == [19]
