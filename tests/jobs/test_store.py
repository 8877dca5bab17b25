"""The queue's guarantees on SQLite and PostgreSQL: one active job per model, one running job, a job
whose worker died is failed (not resumed), a late worker cannot finish a reaped job."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from deeptrust.jobs import JobConflictError, JobNotFoundError, JobStatus, JobStore
from deeptrust.jobs.store import worker_id


def test_two_requests_for_one_model_make_one_job(jobs: JobStore) -> None:
    first = jobs.submit("retrain", "cifake", params={"min_new_reviewed": 1}, trigger="http")
    with pytest.raises(JobConflictError, match=f"already queued \\(job {first.id}\\)") as caught:
        jobs.submit("retrain", "cifake")
    assert caught.value.job_id == first.id
    other = jobs.submit("retrain", "photos")  # another model queues behind it
    assert [j.id for j in jobs.list_jobs()] == [other.id, first.id]
    assert jobs.get(first.id).params == {"min_new_reviewed": 1}


def test_concurrent_submits_from_threads_make_one_job(jobs: JobStore) -> None:
    outcomes: list[object] = []

    def submit() -> None:
        try:
            outcomes.append(jobs.submit("retrain", "cifake").id)
        except JobConflictError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [o for o in outcomes if isinstance(o, int)]
    conflicts = [o for o in outcomes if isinstance(o, JobConflictError)]
    assert len(ids) == 1 and len(conflicts) == 5
    assert {c.job_id for c in conflicts} == set(ids)


def test_one_job_runs_at_a_time_oldest_first(jobs: JobStore) -> None:
    a = jobs.submit("retrain", "a")
    b = jobs.submit("retrain", "b")
    claimed = jobs.claim_next("w1")
    assert claimed is not None and claimed.id == a.id and claimed.status is JobStatus.RUNNING
    assert jobs.claim_next("w2") is None  # a runs: b waits
    assert jobs.finish(a.id, "w1", JobStatus.SUCCEEDED, result={"version": 2})
    assert jobs.get(a.id).result == {"version": 2} and jobs.get(a.id).seconds is not None
    assert jobs.claim_next("w2").id == b.id  # type: ignore[union-attr]
    with pytest.raises(JobConflictError, match="one job runs at a time"):
        jobs.start_inline("retrain", "c")  # a terminal's retrain waits its turn too


def test_a_job_whose_worker_died_is_failed_not_rerun(jobs: JobStore) -> None:
    job = jobs.submit("retrain", "cifake")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(dead.stdout)  # a process that has exited: as after kill -9 or a reboot
    host = worker_id().split(":")[0]
    assert jobs.claim_next(f"{host}:{pid}:0123abcd") is not None
    assert jobs.claim_next(worker_id()) is None  # reaped now, and not claimed again
    failed = jobs.get(job.id)
    assert failed.status is JobStatus.FAILED and "interrupted" in (failed.error or "")
    assert not jobs.finish(job.id, f"{host}:{pid}:0123abcd", JobStatus.SUCCEEDED)  # the late worker
    assert jobs.get(job.id).status is JobStatus.FAILED
    assert jobs.submit("retrain", "cifake").id > job.id  # a new request makes a new job


def test_stale_heartbeat_from_another_host_is_reaped(jobs: JobStore) -> None:
    job = jobs.submit("retrain", "cifake")
    assert jobs.claim_next("elsewhere:1:abcd") is not None
    assert jobs.reap(stale_after_s=3600) == []  # another host, recent heartbeat: left alone
    assert jobs.heartbeat(job.id, "elsewhere:1:abcd")
    assert not jobs.heartbeat(job.id, "someone-else:2:ef01")
    assert jobs.reap(stale_after_s=0) == [job.id]
    assert not jobs.heartbeat(job.id, "elsewhere:1:abcd")  # its worker learns it lost the job


def test_errors_and_log_tail(jobs: JobStore) -> None:
    with pytest.raises(JobNotFoundError, match="no job with id 99"):
        jobs.get(99)
    job = jobs.submit("retrain", "cifake")
    assert jobs.log_tail(job) == ""
    assert job.log_path is not None
    jobs.log_dir.mkdir(parents=True, exist_ok=True)
    with open(job.log_path, "w") as log:
        log.writelines(f"line {i}\n" for i in range(2000))
    tail = jobs.log_tail(job, max_bytes=100)
    assert tail.endswith("line 1999\n") and tail.startswith("line ") and len(tail) <= 100
