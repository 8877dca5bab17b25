"""``deeptrust simulate`` against a real ``deeptrust serve`` process, and its usage errors."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from typer.testing import CliRunner

from deeptrust.cli import app
from tests.conftest import make_image_folder

runner = CliRunner()


@pytest.mark.slow
def test_simulate_against_a_real_server(server_factory, tmp_path):
    server = server_factory().wait_ready()
    before = make_image_folder(tmp_path / "before", per_class=6, size=32, seed=1)
    after = make_image_folder(tmp_path / "after", labels=("REAL", "AI"), per_class=6, size=48, seed=2)
    out = tmp_path / "run.json"
    args = ["simulate", "--url", server.url, "--data", str(before), "--rate", "20", "--duration", "2s",
            "--drift-after", "1s", "--drift-data", str(after), "--feedback-rate", "1", "--json", str(out),
            "--no-progress"]  # fmt: skip
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "by source" in done.output and "latency ms (from due time)" in done.output
    summary = json.loads(out.read_text())
    assert summary["requests"] == 40 and summary["statuses"] == {"200": 40}
    assert [p["requests"] for p in summary["phases"].values()] == [20, 20]
    assert list(summary["phases"]) == ["before", "after"]
    assert summary["phases"]["before"]["versions"] == ["1.0.0"]
    fb = summary["feedback"]
    assert fb["checked"] == 40 and fb["confirmed"] + fb["corrections_sent"] == 40
    assert fb["statuses"] == ({"201": fb["corrections_sent"]} if fb["corrections_sent"] else {})
    metrics = httpx.get(server.url + "/metrics").text
    served = re.search(
        r'deeptrust_http_requests_total\{method="POST",route="/v1/predict",status="200"\} (\S+)', metrics
    )
    assert served and float(served.group(1)) == 40
    flagged = re.search(
        r'deeptrust_http_requests_total\{method="POST",route="/v1/feedback",status="201"\} (\S+)', metrics
    )
    assert float(flagged.group(1) if flagged else 0) == fb["corrections_sent"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--feedback-rate", "1.5"], "--feedback-rate must be between 0 and 1"),
        (["--rate", "0"], "--rate and --duration must be positive"),
        (["--duration", "soon"], "--duration must be seconds"),
        (["--drift-after", "5s"], "--drift-after and --drift-data go together"),
        (["--drift-after", "2m", "--drift-data", "x"], "must be shorter than --duration"),
        (["--pattern", "weekly"], "weekly"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(extra, message, tmp_path):
    done = runner.invoke(app, ["simulate", "--url", "http://127.0.0.1:1", "--data", str(tmp_path), *extra])
    assert done.exit_code == 2
    assert message in " ".join(done.output.split())


def test_unreachable_service_is_named(tmp_path):
    done = runner.invoke(app, ["simulate", "--url", "http://127.0.0.1:1", "--data", str(tmp_path)])
    assert done.exit_code == 2 and "cannot reach http://127.0.0.1:1" in done.output
