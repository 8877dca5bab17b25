"""Done-when, end to end against real processes, on SQLite and on PostgreSQL:

a version registered → feedback sent to a running server → reviewed by a moderator → retrain triggered
over HTTP → the job's child process trains, exports and gates → ``challenger`` registered → promoted by
``deeptrust models promote`` → the running service reloads the new champion without dropping a request.
Along the way: a second retrain request while the first is queued is a 409, and one with no new
corrections a 422 that queues nothing.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from .._postgres import PostgresUnreachableError, fresh_schema, server_missing
from ..conftest import make_image_folder, synthetic_image
from ..serve.conftest import REPO, Traffic
from .conftest import bearer

pytestmark = pytest.mark.slow
RECIPE = {
    "name": "tiny",
    "model": {"family": "cnn_small", "pretrained": False},
    "input": {"size": 32, "crop": "resize", "num_crops": 1, "mean": [0.5] * 3, "std": [0.25] * 3},
    "optim": {"epochs": 4, "batch_size": 16, "lr": 0.003, "patience": 5, "bf16": False,
              "samples_per_epoch": 160, "threads": 1},
}  # fmt: skip
SPLIT = {"val_fraction": 0.25, "test_fraction": 0.25, "seed": 0}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[dict[str, Path]]:
    """Tiny data, its recipe and frozen gate suite, and the first model trained and exported from them."""
    import deeptrust.settings
    from deeptrust.export.run import export_run
    from deeptrust.gate import run_gate
    from deeptrust.train.config import load_config
    from deeptrust.train.loop import train

    root = tmp_path_factory.mktemp("e2e-base")
    data = make_image_folder(root / "data", per_class=40, size=32)
    recipes = root / "recipes"
    (recipes / "gate").mkdir(parents=True)
    recipe = RECIPE | {"data": {"source": str(data), "val_fraction": 0.25, "test_fraction": 0.25}}
    (recipes / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    suite = {
        "name": "tiny",
        "version": 1,
        "data": [{"dataset": str(data), "options": SPLIT, "split": "test"}],
        "robustness": {"enabled": False},
        "floors": {"accuracy": 0.7, "f1": 0.6, "fpr_margin": 0.5},  # 20 test images of a 4-epoch CNN
    }
    (recipes / "gate" / "tiny.yaml").write_text(yaml.safe_dump(suite))
    mp = pytest.MonkeyPatch()
    mp.setenv("DEEPTRUST_HOME", str(root / "home"))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'home' / 'mlflow.db'}")
    deeptrust.settings.get_settings.cache_clear()
    try:
        run = train(load_config(recipes / "tiny.yaml", out_dir=str(root / "run")), show=False)
        export_run(run, root / "model", name="tiny", version="0.0.1", show=False)
        first = run_gate(str(root / "model"), against="none", suite=recipes / "gate" / "tiny.yaml",
                         out_dir=root / "gate", record=False, freeze=True)  # fmt: skip
        assert first.passed, first.to_dict()
    finally:
        mp.undo()
        deeptrust.settings.get_settings.cache_clear()
    yield {"data": data, "recipes": recipes, "model": root / "model"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    try:
        with fresh_schema("deeptrust_e2e") as (url, _schema):
            yield {"DEEPTRUST_DATABASE_URL": url}
    except PostgresUnreachableError as exc:
        server_missing(f"PostgreSQL is unreachable ({exc})")


def jpeg(label: str, seed: int) -> bytes:
    buf = io.BytesIO()
    synthetic_image(label, np.random.default_rng(10_000 + seed), 32).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def wait_job(client: httpx.Client, url: str, admin: dict[str, str], timeout: float = 900.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(url, headers=admin).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(1.0)
    raise TimeoutError(f"job {url} not done in {timeout}s: {job}")


def test_feedback_to_promoted_champion_reloaded_without_dropping_requests(
    base, database_env, keys, server_factory, isolated_home: Path
) -> None:
    from deeptrust.registry import Store, register_model

    assert register_model(base["model"], name="tiny", alias="champion") == 1
    env = database_env | {
        "DEEPTRUST_MODEL": "tiny",
        "DEEPTRUST_REVIEW_BAND": "0",
        "DEEPTRUST_RETRAIN_CONFIG_DIR": str(base["recipes"]),
        "DEEPTRUST_JOBS_POLL_S": "0.5",
        "DEEPTRUST_JOBS_HEARTBEAT_S": "1",
    }
    server = server_factory(env=env).wait_ready(120)
    admin, moderator = bearer(keys["admin"]), bearer(keys["moderator"])
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post("/v1/admin/retrain", json={"model": "tiny"}, headers=admin).status_code == 422

        # users flag six images; a moderator approves each correction
        for i, label in enumerate(["REAL", "FAKE"] * 3):
            wrong = "FAKE" if label == "REAL" else "REAL"
            form = {
                "predicted_label": wrong,
                "corrected_label": label,
                "p_ai": "0.5",
                "model_version": "0.0.1",
            }
            r = client.post(
                "/v1/feedback", data=form, files={"file": (f"{i}.jpg", jpeg(label, i), "image/jpeg")}
            )
            assert r.status_code == 201, r.text
        queue = client.get("/v1/review", headers=moderator).json()["items"]
        assert len(queue) == 6
        for item in queue:
            assert client.post(
                f"/v1/review/{item['id']}", json={"action": "approve"}, headers=moderator
            ).is_success

        # retrain over HTTP; a second request while it is queued or running is refused
        queued = client.post(
            "/v1/admin/retrain", json={"model": "tiny", "min_new_reviewed": 6}, headers=admin
        )
        assert queued.status_code == 202, queued.text
        again = client.post("/v1/admin/retrain", json={"model": "tiny"}, headers=admin)
        assert again.status_code == 409 and again.json()["job_id"] == queued.json()["id"]
        job = wait_job(client, queued.headers["location"], admin)
        assert job["status"] == "succeeded", json.dumps(job, indent=1)
        result = job["result"]
        assert (
            result["outcome"] == "registered" and result["version"] == 2 and result["alias"] == "challenger"
        )
        assert result["feedback"]["items"] == 6 and result["gate"]["passed"] is True
        assert Path(result["gate"]["report"]).is_file() and "feedback: 6 reviewed images" in job["log_tail"]
        store = Store()
        assert store.aliases("tiny") == {"champion": 1, "challenger": 2}
        assert store.version("tiny", 2).gate is True
        nothing_new = client.post("/v1/admin/retrain", json={"model": "tiny"}, headers=admin)
        assert nothing_new.status_code == 422 and "since the last retrain" in nothing_new.json()["detail"]

        # promote with the CLI, then reload the champion under traffic
        promoted = subprocess.run(
            [sys.executable, "-m", "deeptrust.cli", "models", "promote", "tiny", "2"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        with Traffic(server.url, clients=2) as traffic:
            time.sleep(1.0)
            reload = client.post("/v1/models/reload", json={"model": "tiny@champion"}, headers=admin)
            assert reload.status_code == 200, reload.text
            time.sleep(1.5)
        assert traffic.statuses and set(traffic.statuses) == {200}, set(traffic.statuses)
        served = client.post("/v1/predict", content=jpeg("REAL", 99), headers={"content-type": "image/jpeg"})
        assert served.json()["model"]["version"] == "0.0.1+retrain.1"
