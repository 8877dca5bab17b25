"""The worker: a thread that claims one queued job at a time and runs it as a child process.

A job runs in a child process (``command_for(job, result_path)`` gives its argv) so that training's memory and
threads never share the service's process, the service stays torch-free, and the child's output is the
job's log (``<home>/jobs/job-<id>.log``, whose tail ``GET /v1/admin/jobs/{id}`` shows). The child writes
its result JSON to ``result_path``; exit code 0 is success, 3 a refusal (the job's result says why: e.g.
the quality gate said no), anything else a failure (the result's ``error``, if any, says which).

The child dies with its worker (``PR_SET_PDEATHSIG`` on Linux), so a job interrupted by a restart stops
and is marked failed by the next worker (see ``JobStore.reap``), never finished by an orphan.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from deeptrust.jobs.models import Job, JobStatus
from deeptrust.jobs.store import JobStore, worker_id

log = logging.getLogger("deeptrust.jobs")
EXIT_REJECTED = 3  # the child ran to the end and refused (its result says why)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()


class JobWorker:
    def __init__(
        self,
        store: JobStore,
        command_for: Callable[[Job, Path], list[str]],
        *,
        poll_s: float = 2.0,
        heartbeat_s: float = 5.0,
        stale_after_s: float = 60.0,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        self.store, self.command_for = store, command_for
        self.poll_s, self.heartbeat_s, self.stale_after_s = poll_s, heartbeat_s, stale_after_s
        self.env, self.cwd = env, cwd
        self.worker = worker_id()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():  # first start, or again after close()
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="deeptrust-jobs", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Look for a queued job now rather than at the next poll."""
        self._wake.set()

    def close(self, timeout: float = 30.0) -> None:
        """Stop: a running child is terminated and its job marked failed (it is not resumed later)."""
        self._stop.set()
        self._wake.set()
        child = self._child
        if child is not None and child.poll() is None:
            _terminate(child)
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        # The first look waits one interval: at start the service's event loop is busy accepting its first
        # connections, and the first claim (connection pool, statement compilation) would take the GIL.
        self._wake.wait(self.poll_s)
        self._wake.clear()
        while not self._stop.is_set():
            try:
                job = self.store.claim_next(self.worker, stale_after_s=self.stale_after_s)
            except Exception:  # the database is away: try again later, the service keeps serving
                log.exception("could not look for queued jobs")
                job = None
            if job is not None:
                self.run(job)
                continue
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def run(self, job: Job) -> None:
        """Run one claimed job to its end and record how it ended."""
        log_path = Path(job.log_path or self.store.log_dir / f"job-{job.id}.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        result_path = log_path.with_suffix(".result.json")
        result_path.unlink(missing_ok=True)
        env = (self.env or dict(os.environ)) | {"PYTHONUNBUFFERED": "1"}
        log.info("job %s (%s %s) started", job.id, job.kind, job.model)
        try:
            argv = self.command_for(job, result_path)
            with log_path.open("ab") as out:
                self._child = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    cwd=self.cwd, preexec_fn=_die_with_parent,
                )  # fmt: skip
                code = self._wait(job, self._child)
        except Exception as exc:
            log.exception("job %s could not run", job.id)
            self.store.finish(job.id, self.worker, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._child = None
        self._record(job, code, result_path)

    def _wait(self, job: Job, child: subprocess.Popen[bytes]) -> int:
        while True:
            try:
                return child.wait(self.heartbeat_s)
            except subprocess.TimeoutExpired:
                if self._stop.is_set():
                    _terminate(child)
                    continue
                try:
                    still_ours = self.store.heartbeat(job.id, self.worker)
                except Exception:
                    log.exception("heartbeat of job %s failed", job.id)
                    continue
                if not still_ours:  # reaped or finished elsewhere: stop working on it
                    log.warning("job %s is no longer this worker's: stopping its process", job.id)
                    _terminate(child)

    def _record(self, job: Job, code: int, result_path: Path) -> None:
        result = None
        if result_path.is_file():
            try:
                result = json.loads(result_path.read_text())
            except ValueError:
                result = None
        if self._stop.is_set() and code not in (0, EXIT_REJECTED):
            error = "interrupted: the service stopped while the job ran; it is not resumed: submit a new job"
            status = JobStatus.FAILED
        elif code == 0:
            status, error = JobStatus.SUCCEEDED, None
        elif code == EXIT_REJECTED:
            status, error = JobStatus.REJECTED, (result or {}).get("reason")
        else:
            status = JobStatus.FAILED
            error = (result or {}).get("error") or f"the job's process exited with {code}: see its log"
        self.store.finish(job.id, self.worker, status, error=error, result=result)
        log.info("job %s %s", job.id, status.value)


def _terminate(child: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(grace_s)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            return


def python_command(*args: str) -> list[str]:
    """``python -m deeptrust.cli ARGS``, with this interpreter (the service's environment)."""
    return [sys.executable, "-m", "deeptrust.cli", *args]
