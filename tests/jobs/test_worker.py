"""The worker with real child processes: exit codes become statuses, the log is the child's output, and
a worker killed mid-job (kill -9, as in a crash or a reboot) takes its child with it; the next worker
marks that job failed and runs the one queued behind it, which was not lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deeptrust.jobs import Job, JobStatus, JobStore
from deeptrust.jobs.store import worker_id
from deeptrust.jobs.worker import JobWorker

CHILD = """
import json, sys
print("hello from job", {job_id})
json.dump({{"reason": "gate said no", "n": {job_id}}}, open(sys.argv[1], "w"))
sys.exit({code})
"""


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"{what} not reached in {timeout}s")


@pytest.mark.parametrize(("code", "status"), [(0, "succeeded"), (3, "rejected"), (1, "failed")])
def test_exit_codes_become_statuses_with_result_and_log(jobs: JobStore, code: int, status: str) -> None:
    def command_for(job: Job, result: Path) -> list[str]:
        return [sys.executable, "-c", CHILD.format(job_id=job.id, code=code), str(result)]

    job = jobs.submit("retrain", "cifake")
    worker = JobWorker(jobs, command_for, poll_s=0.1)
    worker.start()
    try:
        done = wait_for(lambda: jobs.get(job.id).status.done and jobs.get(job.id), what="job done")
    finally:
        worker.close()
    assert done.status.value == status
    assert done.result == {"reason": "gate said no", "n": job.id}
    assert f"hello from job {job.id}" in jobs.log_tail(done)
    if status == "rejected":
        assert done.error == "gate said no"
    if status == "failed":
        assert "exited with 1" in (done.error or "")


def test_a_killed_worker_takes_its_child_and_the_next_worker_fails_that_job(
    database_url: str, jobs: JobStore, tmp_path: Path
) -> None:
    first = jobs.submit("retrain", "a")
    second = jobs.submit("retrain", "b")  # queued behind: must survive the crash
    script = textwrap.dedent(
        f"""
        import sys, time
        from deeptrust.jobs import JobStore
        from deeptrust.jobs.worker import JobWorker
        store = JobStore({database_url!r}, {str(tmp_path / "logs")!r})
        child = "import os, time; print('child', os.getpid(), flush=True); time.sleep(300)"
        argv = [sys.executable, "-c", child]
        worker = JobWorker(store, lambda job, result: argv, poll_s=0.1, heartbeat_s=0.5)
        worker.start()
        time.sleep(300)
        """
    )
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        running = wait_for(lambda: jobs.get(first.id).status is JobStatus.RUNNING, what="job running")
        assert running
        line = wait_for(
            lambda: "child" in jobs.log_tail(jobs.get(first.id)) and jobs.log_tail(jobs.get(first.id))
        )
        child_pid = int(line.split()[1])
        os.kill(proc.pid, signal.SIGKILL)  # the worker's process dies mid-job
        proc.wait(10)
        wait_for(lambda: not _alive(child_pid), timeout=10, what="child gone")  # PR_SET_PDEATHSIG
    finally:
        if proc.poll() is None:
            proc.kill()
    claimed = jobs.claim_next(worker_id())  # the restarted service's worker
    failed = jobs.get(first.id)
    assert failed.status is JobStatus.FAILED and "interrupted" in (failed.error or "")
    assert claimed is not None and claimed.id == second.id  # not lost, and the dead one not run again


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False
