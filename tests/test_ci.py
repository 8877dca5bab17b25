"""The CI entry point and the CI rule for services: ``.ci/run`` starts PostgreSQL and Redis when they are
down, and under CI (``CI=true``) a test whose server is missing fails instead of skipping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Stand-ins for the system commands .ci/run calls; each logs its arguments. pg_isready and redis-cli
# report the server down until pg_ctlcluster / redis-server has been called, as a stopped server would.
STUB = """#!/bin/bash
echo "$(basename "$0") $*" >> "$STUBS/calls"
case "$(basename "$0")" in
  pg_ctlcluster) touch "$STUBS/pg.up" ;;
  redis-server) touch "$STUBS/redis.up" ;;
  pg_isready) [ -f "$STUBS/pg.up" ] ;;
  redis-cli) [ -f "$STUBS/redis.up" ] && echo PONG ;;
  psql) echo 1 ;;
esac
"""
COMMANDS = (  # every command .ci/run looks for, so the test does not depend on what this machine has
    "apt-get",
    "chromium",
    "make",
    "pg_ctlcluster",
    "pg_isready",
    "promtool",
    "psql",
    "redis-cli",
    "redis-server",
)


def run_ci(tmp_path: Path, *, up: bool) -> list[str]:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in COMMANDS:
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(0o755)
    (stubs / "make").write_text('#!/bin/bash\necho "make $* CI=$CI" >> "$STUBS/calls"\n')
    if up:
        (stubs / "pg.up").touch()
        (stubs / "redis.up").touch()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {"PATH": f"{stubs}:{os.environ['PATH']}", "STUBS": str(stubs)}
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return (stubs / "calls").read_text().splitlines()


def test_ci_run_starts_postgresql_and_redis_when_they_are_down(tmp_path: Path) -> None:
    calls = run_ci(tmp_path, up=False)
    version = " ".join(sorted(os.listdir("/etc/postgresql"))) if Path("/etc/postgresql").is_dir() else ""
    assert f"pg_ctlcluster --skip-systemctl-redirect {version} main start" in calls
    started = [c for c in calls if c.startswith("redis-server")]
    assert started == [
        "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save  --appendonly no "
        "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ]
    assert calls.index(started[0]) < calls.index("make test CI=true")  # servers first, under CI=true
    assert calls[-1] == "make test CI=true" and not any(c.startswith("apt-get") for c in calls)


def test_ci_run_leaves_running_servers_alone(tmp_path: Path) -> None:
    calls = run_ci(tmp_path, up=True)
    assert not any(c.startswith(("pg_ctlcluster", "redis-server")) for c in calls)
    assert calls[-1] == "make test CI=true"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("ci", "outcome", "code"), [("true", "1 error", 1), ("", "1 skipped", 0)], ids=["ci", "laptop"]
)
def test_a_missing_postgresql_fails_under_ci_and_skips_elsewhere(ci: str, outcome: str, code: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
    env["DEEPTRUST_TEST_POSTGRES_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"
    test = "tests/feedback/test_store.py::test_postgres_tables_live_in_the_test_schema"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov", test],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert outcome in result.stdout and result.returncode == code, result.stdout + result.stderr
    assert "is unreachable" in result.stdout
