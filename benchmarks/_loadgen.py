"""A small open-loop HTTP/1.1 load generator on asyncio streams (no client library on the hot path).

Open loop: request i is due at ``start + i / rate`` whether or not earlier ones have answered, and its
latency counts from when it was due, so a slow server cannot hide its queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Result:
    rate: float  # offered requests/s (0: closed loop)
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # transport errors and non-200 answers
    transport_errors: int = 0  # of which: no HTTP answer at all (connection refused, reset, closed)

    def summary(self) -> dict[str, float]:
        lat = np.asarray(self.latencies) * 1e3 if self.latencies else np.zeros(1)
        return {
            "offered_rps": self.rate,
            "achieved_rps": len(self.latencies) / self.seconds,
            "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99)),
            "requests": len(self.latencies) + self.errors,
            "errors": self.errors,
            "transport_errors": self.transport_errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


def build_request(host: str, port: int, path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def _open(host: str, port: int) -> Connection:
    return Connection(*await asyncio.open_connection(host, port))


# uvicorn closes a keep-alive connection after 5 s idle; like httpx (keepalive_expiry), a client does not
# reuse one that has idled that long, or its next request races the server's close.
KEEPALIVE_EXPIRY_S = 4.0


async def run_open_loop(
    host: str, port: int, requests: list[bytes], *, rate: float, seconds: float, max_connections: int = 512
) -> Result:
    result = Result(rate, seconds)
    idle: list[tuple[Connection, float]] = []
    tasks: set[asyncio.Task[None]] = set()
    n = int(rate * seconds)
    start = time.perf_counter() + 0.05
    sem = asyncio.Semaphore(max_connections)

    async def one(i: int, due: float) -> None:
        async with sem:
            conn = None
            while idle and conn is None:
                conn, last_used = idle.pop()
                if time.perf_counter() - last_used > KEEPALIVE_EXPIRY_S:
                    conn.writer.close()
                    conn = None
            try:
                conn = conn or await _open(host, port)
                status = await conn.send(requests[i % len(requests)])
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                result.errors += 1
                result.transport_errors += 1
                return
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.latencies.append(time.perf_counter() - due)
            else:
                result.errors += 1
            idle.append((conn, time.perf_counter()))

    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    result.seconds = max(seconds, time.perf_counter() - start)
    for conn, _ in idle:
        conn.writer.close()
    return result


async def run_closed_loop(
    host: str, port: int, requests: list[bytes], *, concurrency: int, seconds: float
) -> Result:
    """``concurrency`` clients back to back: the server's saturation throughput."""
    result = Result(0.0, seconds)
    stop = time.perf_counter() + seconds
    counter = iter(range(1 << 62))

    async def client() -> None:
        conn = await _open(host, port)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                status = await conn.send(requests[next(counter) % len(requests)])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                result.transport_errors += 1
                conn = await _open(host, port)
                continue
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.latencies.append(time.perf_counter() - t)
            else:
                result.errors += 1
        conn.writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result
