"""The shadow lane's process: one model, one ONNX Runtime thread, at the lowest CPU priority.

    python -m deeptrust.rollout.lane --model DIR_OR_ONNX --jobs-fd R --results-fd W [--busy-fd B]

Started by ``shadow.ShadowLane`` (never by hand): it reads jobs from the ``--jobs-fd`` pipe, scores them in
micro-batches of what is waiting (up to ``--max-batch``) and writes the results to ``--results-fd``. A job
is either the champion's crops (float32, when both cards preprocess alike: nothing is decoded again) or the
upload's bytes (decoded here). It runs as ``SCHED_IDLE`` (and ``nice 19``): Linux gives it a core only when
no normal thread wants one, and a waking normal thread preempts it at once, so it takes idle CPU from the
champion, not latency; being another process it never holds the server's GIL. With ``--busy-fd`` (the
server's images in flight, ``gate.py``) it scores one image at a time, each once the server has none.

It ends when the server does: end of file on the jobs pipe (the server closed it, or died), or at once by
``PR_SET_PDEATHSIG`` when the server's lane thread goes. Non-goals: it answers nobody and keeps no metrics;
the server counts what it reports.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from deeptrust.rollout.gate import BusyReader

log = logging.getLogger("deeptrust.rollout.lane")
PR_SET_PDEATHSIG = 1


def lower_priority() -> str:
    """SCHED_IDLE where Linux offers it, else nice 19, for every thread the process has so far (numpy's
    BLAS threads start at import; threads started later inherit it) → what it got (the server logs it)."""
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    got = "SCHED_IDLE"
    for tid in threads:
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, tid, 19)  # shown by ps/top; the fallback without SCHED_IDLE
        try:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined]
        except (OSError, AttributeError):
            got = "nice 19"
    return got


def die_with_parent(parent: int) -> None:
    """SIGKILL when the thread that started this process exits (the server's lane thread, or the server)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(0)


def receive(jobs: Connection, max_batch: int) -> list[tuple[int, str, Any]]:
    """The next job (waiting for it), then whatever else is already waiting, up to ``max_batch``."""
    batch = [read_job(jobs)]
    while len(batch) < max_batch and jobs.poll(0):
        batch.append(read_job(jobs))
    return batch


def read_job(jobs: Connection) -> tuple[int, str, Any]:
    job_id, kind, shape = jobs.recv()
    if kind == "crops":
        crops = np.empty(shape, np.float32)
        jobs.recv_bytes_into(crops.data.cast("B"))
        return job_id, kind, crops
    return job_id, kind, jobs.recv_bytes()


def score(detector: Any, batch: list[tuple[int, str, Any]]) -> list[tuple[int, dict[str, Any] | None, str]]:
    """(job id, result or None, error) per job: one ONNX call for every crop of the batch."""
    from deeptrust.serve.runtime import result_of

    out: list[tuple[int, dict[str, Any] | None, str]] = []
    ready: list[tuple[int, np.ndarray]] = []
    for job_id, kind, payload in batch:
        if kind == "crops":
            ready.append((job_id, payload))
            continue
        try:
            ready.append((job_id, detector.preprocess(detector.decode_array(payload))))
        except Exception as exc:  # a bad image: the champion answered it; here it is an error
            out.append((job_id, None, f"{type(exc).__name__}: {exc}"))
    if ready:
        try:
            probs = detector.predict_crops([c for _, c in ready], batch_size=1 << 30)
            out += [(job_id, result_of(detector, p), "") for (job_id, _), p in zip(ready, probs, strict=True)]
        except Exception as exc:
            log.exception("the shadow model failed on a batch")
            out += [(job_id, None, f"{type(exc).__name__}: {exc}") for job_id, _ in ready]
    return out


def serve(
    detector: Any, jobs: Connection, results: Connection, max_batch: int, gate: BusyReader | None = None
) -> None:
    """Score what waits until the pipe ends. With ``gate``, one image at a time, each started only once the
    server has no image in flight (the time waited is not the lane's latency)."""
    while True:
        try:
            batch = receive(jobs, max_batch)
        except (EOFError, OSError):
            return  # the server closed the pipe or died
        started, cpu, waited = time.perf_counter(), time.process_time(), 0.0
        if gate is None:
            scored = score(detector, batch)
        else:
            scored = []
            for job in batch:
                waited += gate.wait_idle()
                scored += score(detector, [job])
        elapsed = time.perf_counter() - started - waited
        results.send(("scored", scored, elapsed, time.process_time() - cpu))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="The shadow lane's process (started by the server).")
    ap.add_argument("--model", required=True, help="model directory or .onnx file (already resolved)")
    ap.add_argument("--jobs-fd", type=int, required=True)
    ap.add_argument("--results-fd", type=int, required=True)
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--max-batch", type=int, default=4)
    ap.add_argument("--busy-fd", type=int, help="the server's images in flight (deeptrust.rollout.gate)")
    ap.add_argument("--max-pixels", type=int, default=50_000_000)
    ap.add_argument("--log-level", default="info")
    args = ap.parse_args(argv)
    die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the server ends it, in order
    priority = lower_priority()
    from deeptrust.serve.logs import configure_logging

    configure_logging(args.log_level)
    jobs = Connection(args.jobs_fd, writable=False)
    results = Connection(args.results_fd, readable=False)
    try:
        from deeptrust.detector import Detector

        detector = Detector.load(args.model, threads=1, max_pixels=args.max_pixels, spin=False)
        size = detector.card.preprocessing.input_size
        detector.run(np.zeros((1, 3, size, size), np.float32))  # warm: the first call allocates
    except Exception as exc:
        log.exception("the shadow lane could not load its model", extra={"model": args.model})
        results.send(("error", f"{type(exc).__name__}: {exc}"))
        return 1
    info = {"name": detector.card.name, "version": detector.card.version}
    results.send(("ready", {"model": info, "pid": os.getpid(), "priority": priority}))
    gate = BusyReader(args.busy_fd) if args.busy_fd is not None else None
    serve(detector, jobs, results, args.max_batch, gate)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        sys.exit(main())
