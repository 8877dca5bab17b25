"""Service fixtures: an in-process app on the tiny shipped ``cifake`` model, and real uvicorn processes."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
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
