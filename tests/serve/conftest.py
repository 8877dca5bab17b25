"""Service fixtures: an in-process app on the tiny shipped ``cifake`` model, and real uvicorn processes."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from deeptrust.serve.app import create_app
from deeptrust.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def jpeg_bytes(size: int = 64, *, seed: int = 0, quality: int = 90) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def make_settings(**overrides) -> Settings:
    base = {"model": "cifake", "max_wait_ms": 1.0, "runner_threads": 1, "decode_threads": 2}
    # TestClient's Host is "testserver"; the service answers only to the names it is told (SiteGuard).
    base["allowed_hosts"] = ["testserver", "localhost", "127.0.0.1", "::1"]
    return Settings(**(base | overrides))


@pytest.fixture
def client() -> Iterator[TestClient]:
    """Loopback defaults: auth optional, no rate limit."""
    with TestClient(create_app(make_settings())) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``deeptrust serve`` in a child process, as an operator would run it."""

    def __init__(self, home: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = os.environ | {"DEEPTRUST_HOME": str(home), "DEEPTRUST_MODEL": "cifake"} | (env or {})
        self.log = home / f"server-{self.port}.log"
        cmd = [sys.executable, "-m", "deeptrust.cli", "serve", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=environ, stdout=self.log.open("w"), stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server not ready in {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def server_factory(isolated_home) -> Iterator:
    servers: list[ServerProcess] = []

    def start(**kwargs) -> ServerProcess:
        server = ServerProcess(isolated_home, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class Traffic:
    """Clients posting small JPEGs to ``/v1/predict`` in background threads until stopped; keeps every
    status and, in order, the model that answered. ``new_connections`` opens one per request (so that
    every worker process behind the port gets some), else each client keeps its connection."""

    def __init__(self, url: str, *, clients: int = 3, new_connections: bool = False):
        self.url, self.new_connections = url, new_connections
        self.statuses: list[int] = []
        self.models: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        client = None
        while not self._stop.is_set():
            if client is None or self.new_connections:
                if client is not None:
                    client.close()
                client = httpx.Client(base_url=self.url, timeout=30)
            r = client.post("/v1/predict", content=jpeg_bytes(200), headers={"content-type": "image/jpeg"})
            self.statuses.append(r.status_code)
            if r.status_code == 200:
                self.models.append(r.json()["model"]["name"])
        if client is not None:
            client.close()

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
