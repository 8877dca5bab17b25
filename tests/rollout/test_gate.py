"""The busy signal: the server's images in flight, read by the shadow lane's process, which starts an image
only while there are none."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from deeptrust.rollout.gate import BusyReader, BusySignal
from tests.rollout.test_shadow import Collect, jpeg, new_lane, wait_for

pytestmark = pytest.mark.skipif(not BusySignal.available(), reason="needs os.memfd_create (Linux)")


@pytest.fixture
def signal():
    s = BusySignal()
    yield s
    s.close()


def test_another_process_reads_what_the_server_sets(signal):
    signal.set(3)
    code = "import sys; from deeptrust.rollout.gate import BusyReader as R; print(R(int(sys.argv[1])).busy())"
    out = subprocess.run(
        [sys.executable, "-c", code, str(signal.fd)], pass_fds=(signal.fd,), capture_output=True, text=True
    )
    assert out.stdout.strip() == "3", out.stderr
    signal.set(0)
    assert BusyReader(signal.fd).busy() == 0


def test_wait_idle_returns_at_once_when_idle_and_waits_while_busy(signal):
    reader = BusyReader(signal.fd)
    assert reader.wait_idle() < 0.05
    signal.set(2)
    threading.Timer(0.3, signal.set, args=(0,)).start()
    started = time.perf_counter()
    waited = reader.wait_idle()
    assert 0.25 <= waited <= time.perf_counter() - started < 5


def test_the_lane_scores_nothing_while_the_server_is_busy_and_catches_up_after(signal):
    signal.set(1)
    lane, skipped, _ = new_lane(busy=signal)
    collect = Collect()
    try:
        for k in range(3):
            assert lane.offer(jpeg(k), collect(str(k)))
        time.sleep(1.0)
        assert lane.done == 0 and not collect.results  # held back: one image in flight at the server
        signal.set(0)
        wait_for(lambda: lane.done == 3)
    finally:
        lane.close()
    assert sorted(tag for tag, result, _ in collect.results if result is not None) == ["0", "1", "2"]
    assert not skipped
