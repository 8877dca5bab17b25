"""The shadow lane: scoring off the request path, in a process of its own at the lowest CPU priority.

A request hands the lane a job and returns at once: a bounded queue (a full queue drops the job, it never
waits), a CPU budget (``cpu_share`` of one core, a token bucket in the lane's CPU seconds; while it is
empty, sampled images are skipped and counted, not queued) and the lane being up (``lane_down`` while its
process restarts). A feeder thread writes the jobs down a pipe to the lane's process (``lane.py``): the
champion's crops when both cards preprocess alike, so nothing is decoded twice, else the upload's bytes.
The process runs one ONNX Runtime thread at ``SCHED_IDLE``, scores what waits in micro-batches and writes
the results back; the supervisor thread here reads them and hands each to its job's callback.

Why a process: a thread in the server shares its GIL (decode glue, numpy, the batcher): measured, the
champion's p95 at 50 RPS rose 26 % with such a thread (README). A process shares only the cores, and at
``SCHED_IDLE`` the kernel gives it a core only when nothing else wants one.

It dies with the server (end of file on its pipe, and ``PR_SET_PDEATHSIG``). If it dies or fails to load
later on, the supervisor logs it, counts it (``on_restart``) and starts it again after a back-off; if it
cannot load at the start, ``start`` raises ``LaneStartError`` with its message and nothing keeps running.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from deeptrust.rollout.gate import BusySignal

log = logging.getLogger("deeptrust.rollout")
_STOP = object()
RESTART_BACKOFF_S = (1.0, 30.0)  # first wait before a restart, doubling up to the second
# A lane that ran this long before it died starts again after the first back-off, not a longer one.
STABLE_AFTER_S = 60.0
# Images per ONNX call in the lane, from what is waiting: 4 x 5 crops ran 13.1 ms per image on one
# thread against 15.9 alone (photos-1.0, 512² JPEGs; 8 ran 14.1).
LANE_MAX_BATCH = 4
# The jobs pipe's size. Linux's default, 64 KiB, holds 1/15 of one job of photos-1.0's crops (5 × 3 × 128²
# float32, 983 KB), so the feeder woke up and took the server's GIL again per 64 KiB; a pipe that holds
# whole jobs takes each in one write. Unprivileged processes get at most /proc/sys/fs/pipe-max-size (1 MiB).
JOBS_PIPE_BYTES = (4 << 20, 1 << 20)

# result (None when the lane failed on the image), error text, seconds the lane spent on its batch
OnDone = Callable[[dict[str, Any] | None, str, float], None]


class LaneStartError(RuntimeError):
    """The lane's process did not come up (its model does not load, or it exited): its own words."""


class CpuBudget:
    """CPU seconds the lane may spend: refilled at ``share`` per wall second, up to ``burst_s``."""

    def __init__(self, share: float, *, burst_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.share, self.capacity = share, max(burst_s * share, 0.05)
        self.tokens, self._clock = self.capacity, clock
        self._at = clock()
        self._lock = threading.Lock()

    def available(self) -> bool:
        with self._lock:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.share)
            self._at = now
            return self.tokens > 0

    def spend(self, cpu_s: float) -> None:
        with self._lock:
            self.tokens -= cpu_s


@dataclass
class Job:
    payload: np.ndarray | bytes  # float32 crops (N, 3, H, W) for the lane's model, or the upload
    on_done: OnDone


@dataclass
class LaneProcess:
    """One start of the lane's process and the two pipe ends the server holds."""

    proc: subprocess.Popen[bytes]
    jobs: Connection  # server → lane
    results: Connection  # lane → server

    @classmethod
    def spawn(
        cls, model: Path, *, max_batch: int, max_pixels: int, log_level: str, busy: BusySignal | None = None
    ) -> LaneProcess:
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        widen_pipe(jobs_w)
        cmd = [
            sys.executable, "-m", "deeptrust.rollout.lane", "--model", str(model),
            "--jobs-fd", str(jobs_r), "--results-fd", str(results_w), "--parent", str(os.getpid()),
            "--max-batch", str(max_batch), "--max-pixels", str(max_pixels), "--log-level", log_level,
        ]  # fmt: skip
        fds: tuple[int, ...] = (jobs_r, results_w)
        if busy is not None:  # it waits for the server's images in flight to be 0 before each image
            cmd += ["--busy-fd", str(busy.fd)]
            fds += (busy.fd,)
        try:  # its stdout/stderr are the server's: its log lines land in the server's log
            proc = subprocess.Popen(cmd, pass_fds=fds, stdin=subprocess.DEVNULL)
        except BaseException:
            for fd in (jobs_r, jobs_w, results_r, results_w):
                os.close(fd)
            raise
        os.close(jobs_r)  # the child holds these; once it dies, writes fail and reads see end of file
        os.close(results_w)
        return cls(proc, Connection(jobs_w, readable=False), Connection(results_r, writable=False))

    def kill(self) -> None:
        """It holds nothing worth saving: SIGKILL (its pipe then reads as ended)."""
        if self.proc.poll() is None:
            self.proc.kill()

    def end(self, timeout: float = 5.0) -> int | None:
        """Kill and reap it, close the results pipe (only its reader may: see ShadowLane._bury)."""
        self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        self.results.close()
        return self.proc.returncode


class ShadowLane:
    def __init__(
        self,
        model: Path,
        *,
        cpu_share: float,
        max_queue: int,
        on_skip: Callable[[str], None],
        name: str,
        on_up: Callable[[bool], None] = lambda up: None,
        on_restart: Callable[[], None] = lambda: None,
        busy: BusySignal | None = None,
        max_batch: int = LANE_MAX_BATCH,
        max_pixels: int = 50_000_000,
        log_level: str = "info",
    ):
        self.model, self.name = model, name
        self.budget = CpuBudget(cpu_share)
        self.on_skip, self.on_up, self.on_restart = on_skip, on_up, on_restart
        self._spawn_args = {
            "max_batch": max_batch, "max_pixels": max_pixels, "log_level": log_level, "busy": busy
        }  # fmt: skip
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._pending: dict[int, Job] = {}  # written to the lane, not yet answered
        self._ids = itertools.count()
        self._lock = threading.Lock()  # _pending
        self._send_lock = threading.Lock()  # the jobs pipe: one writer; closed only under it
        self._process: LaneProcess | None = None
        self._closing = threading.Event()
        self._first = threading.Event()  # the first start's outcome is known
        self._start_error: str | None = None
        self.up = False
        self.done = 0  # images the lane answered for (tests, status and the benchmark read it)
        self.restarts = 0
        self.pid: int | None = None
        self.priority = ""
        self._supervisor = threading.Thread(target=self._supervise, name=f"shadow-{name}", daemon=True)
        self._feeder = threading.Thread(target=self._feed, name=f"shadow-feed-{name}", daemon=True)

    def start(self, timeout: float = 120.0) -> ShadowLane:
        """Start the process and wait until its model is loaded; ``LaneStartError`` if it is not."""
        self._supervisor.start()
        self._feeder.start()
        if not self._first.wait(timeout):
            self.close()
            raise LaneStartError(f"the shadow lane did not load its model within {timeout:.0f} s")
        if self._start_error is not None:
            self.close()
            raise LaneStartError(self._start_error)
        return self

    def offer(self, payload: np.ndarray | bytes, on_done: OnDone) -> bool:
        """Queue one image unless the lane is down, its budget spent or the queue full; never blocks."""
        if not self.up:
            self.on_skip("lane_down")
            return False
        if not self.budget.available():
            self.on_skip("cpu_budget")
            return False
        try:
            self._queue.put_nowait(Job(payload, on_done))
        except queue.Full:
            self.on_skip("queue_full")
            return False
        return True

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    # -- the feeder thread: queue → pipe --
    def _feed(self) -> None:
        while (job := self._queue.get()) is not _STOP:
            assert isinstance(job, Job)
            if not self.budget.available():  # spent while this job waited
                self.on_skip("cpu_budget")
                continue
            with self._send_lock:
                process = self._process
                if process is None or not self.up:
                    self.on_skip("lane_down")
                    continue
                job_id = next(self._ids)
                with self._lock:
                    self._pending[job_id] = job
                try:
                    send(process.jobs, job_id, job.payload)  # blocks while the lane is busy (GIL released)
                except (OSError, ValueError):  # the lane died meanwhile; the supervisor restarts it
                    with self._lock:
                        lost = self._pending.pop(job_id, None)
                    if lost is not None:
                        self.on_skip("lane_down")

    # -- the supervisor thread: start, read results, restart --
    def _supervise(self) -> None:
        backoff = RESTART_BACKOFF_S[0]
        while not self._closing.is_set():
            started = time.monotonic()
            error = self._run_once()
            first = not self._first.is_set()
            if first:  # the first start failed: start() reports it, nothing restarts
                self._start_error = error or "the shadow lane exited before it was ready"
                self._first.set()
                return
            if self._closing.is_set():
                return
            backoff = RESTART_BACKOFF_S[0] if time.monotonic() - started > STABLE_AFTER_S else backoff
            log.error(
                f"shadow lane process ended ({error}); restarting in {backoff:.0f} s",
                extra={"lane": self.name},
            )
            self.restarts += 1
            self.on_restart()
            if self._closing.wait(backoff):
                return
            backoff = min(backoff * 2, RESTART_BACKOFF_S[1])

    def _run_once(self) -> str | None:
        """One life of the process: spawn, wait for ready, read results until it ends; → why it ended."""
        try:
            process = LaneProcess.spawn(self.model, **self._spawn_args)  # type: ignore[arg-type]
        except OSError as exc:
            return f"could not start: {exc}"
        with self._send_lock:
            self._process = process  # close() kills it from here on; the feeder waits for `up`
        try:
            if self._closing.is_set():
                return None
            kind, body = process.results.recv()
            if kind != "ready":
                return str(body)
            self.pid, self.priority = body["pid"], body["priority"]
            self.up = True
            self.on_up(True)
            self._first.set()
            log.info(
                "shadow lane ready", extra={"lane": self.name, "pid": self.pid, "priority": self.priority}
            )
            self._read(process.results)
            return None if self._closing.is_set() else "it exited"
        except (EOFError, OSError):
            return None if self._closing.is_set() else "it exited"
        finally:
            self._bury(process)

    def _read(self, results: Connection) -> None:
        while True:
            _, scored, elapsed, cpu = results.recv()
            self.budget.spend(cpu)
            for job_id, result, error in scored:
                with self._lock:
                    job = self._pending.pop(job_id, None)
                if job is None:
                    continue
                self.done += 1
                try:
                    job.on_done(result, error, elapsed)
                except Exception:  # a callback's bug must not stop the lane
                    log.exception("shadow result handler failed")

    def _bury(self, process: LaneProcess) -> None:
        was_up = self.up
        self.up = False
        code = process.end()  # dead first: a write blocked on its pipe then fails, freeing the send lock
        with self._send_lock:
            self._process = None
            process.jobs.close()
        with self._lock:
            lost, self._pending = len(self._pending), {}
        for _ in range(0 if self._closing.is_set() else lost):  # an ended rollout drops them uncounted
            self.on_skip("lane_down")
        if was_up:
            self.on_up(False)
        if code not in (0, None, -9) and not self._closing.is_set():
            log.warning("shadow lane process exit code", extra={"lane": self.name, "code": code})

    def close(self, timeout: float = 5.0) -> None:
        """Drop what waits, end the process and both threads."""
        self._closing.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        process = self._process
        if process is not None:
            process.kill()  # the supervisor, reading its results, sees the end, reaps it and closes up
        for thread in (self._supervisor, self._feeder):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout)


def widen_pipe(fd: int, sizes: tuple[int, ...] = JOBS_PIPE_BYTES) -> int:
    """Grow a pipe to the first of ``sizes`` Linux allows (``F_SETPIPE_SZ``) → its size in bytes (unchanged
    where none is allowed, or on a system without pipe sizes: 0)."""
    for size in sizes:
        with contextlib.suppress(OSError, AttributeError):
            return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    try:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    except (OSError, AttributeError):
        return 0


def send(jobs: Connection, job_id: int, payload: np.ndarray | bytes) -> None:
    """One job down the pipe: a small header, then the crops' or the upload's bytes (no copy)."""
    if isinstance(payload, np.ndarray):
        crops = np.ascontiguousarray(payload, dtype=np.float32)
        jobs.send((job_id, "crops", crops.shape))
        jobs.send_bytes(crops.data.cast("B"))
    else:
        jobs.send((job_id, "bytes", len(payload)))
        jobs.send_bytes(payload)
