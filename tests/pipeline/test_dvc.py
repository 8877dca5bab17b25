"""The repository's dvc.yaml, run by DVC itself in a temporary git repository on a tiny model.

One test, in steps that build on each other: a fresh clone pulls the data from the DVC remote and runs
the whole pipeline (import → train → export → evaluate → gate → register into the clone's own MLflow
registry); changing one parameter re-runs exactly the stages that depend on it; undoing the change
restores the first model from DVC's run cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import make_image_folder
from ..serve.conftest import REPO

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
VENV_BIN = Path(sys.executable).parent
ALL_STAGES = ["import", "train", "export", "evaluate", "gate", "register"]
SPLIT = {"val_fraction": 0.25, "test_fraction": 0.25, "seed": 0}  # as configs/tiny.yaml says


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def ran(output: str) -> list[str]:
    """The stages ``dvc repro`` ran (not those it skipped or restored), without the ``@model`` suffix."""
    return [name.split("@")[0] for name in re.findall(r"Running stage '([^']+)'", output)]


def make_repo(root: Path, remote: Path) -> Path:
    repo = root / "work"
    (repo / "configs").mkdir(parents=True)
    shutil.copy(REPO / "dvc.yaml", repo / "dvc.yaml")
    shutil.copy(REPO / ".dvcignore", repo / ".dvcignore")
    shutil.copy(HERE / "params-tiny.yaml", repo / "params.yaml")
    shutil.copy(HERE / "tiny.yaml", repo / "configs" / "tiny.yaml")
    (repo / ".gitignore").write_text("/.deeptrust/\n")
    make_image_folder(repo / "data" / "tiny", per_class=24, size=32)
    write_suite(repo)
    return repo


def write_suite(repo: Path) -> None:
    """The tiny model's gate suite (its test split), with the data's hash fixed as a suite must have it."""
    from deeptrust.data import ensure_dataset
    from deeptrust.evaluate.run import select_rows
    from deeptrust.gate.suite import rows_sha256

    imported = ensure_dataset(repo / "data" / "tiny", progress=False, **SPLIT)
    digest = rows_sha256(select_rows(imported.manifest, split="test"))
    suite = {
        "name": "tiny",
        "version": 1,
        "data": [{"dataset": "data/tiny", "options": SPLIT, "split": "test", "sha256": digest}],
        "robustness": {"enabled": False},
        "floors": {"accuracy": 0.7, "f1": 0.6, "fpr_margin": 0.5},  # 12 test images of a 4-epoch CNN
    }
    (repo / "configs" / "gate").mkdir()
    (repo / "configs" / "gate" / "tiny.yaml").write_text(yaml.safe_dump(suite))


@pytest.fixture
def dvc_env(tmp_path: Path, isolated_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # `deeptrust` and `dvc` of this venv
    env["PYTHONPATH"] = str(REPO / "src")
    for key in ("DEEPTRUST_HOME", "MLFLOW_TRACKING_URI"):  # each clone keeps its own .deeptrust/
        env.pop(key, None)
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def test_a_fresh_clone_reproduces_and_one_parameter_reruns_only_its_stages(tmp_path, dvc_env) -> None:
    remote = tmp_path / "remote"
    repo = make_repo(tmp_path, remote)
    dvc = [str(VENV_BIN / "dvc")]
    run(["git", "init", "-q"], repo, dvc_env)
    run([*dvc, "init", "-q"], repo, dvc_env)
    shutil.copy(REPO / ".dvc" / "config", repo / ".dvc" / "config")  # the project's config: a local remote
    run([*dvc, "remote", "modify", "local", "url", str(remote)], repo, dvc_env)
    run([*dvc, "add", "-q", "data/tiny"], repo, dvc_env)
    run([*dvc, "push", "-q"], repo, dvc_env)  # the data, by hash, into the remote
    run(["git", "add", "-A"], repo, dvc_env)
    run(["git", "commit", "-qm", "pipeline and data"], repo, dvc_env)

    # a fresh clone: the data comes from the DVC remote, then every stage runs
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, dvc_env)
    assert not (clone / "data/tiny").exists()
    run([*dvc, "pull", "-q", "data/tiny.dvc"], clone, dvc_env)
    assert ran(run([*dvc, "repro"], clone, dvc_env)) == ALL_STAGES
    out = clone / ".deeptrust/pipeline/tiny"
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["n"] == 12 and evaluation["accuracy"] >= 0.85  # a quarter of 48 images is test
    record = json.loads((out / "data/datasets.json").read_text())
    card = json.loads((out / "model/card.json").read_text())
    assert card["name"] == "tiny" and card["dataset"]["hash"] == record["datasets"][0]["hash"]
    assert json.loads((out / "gate/gate.json").read_text())["passed"] is True
    registered = json.loads((out / "registered.json").read_text())
    assert (registered["name"], registered["version"], registered["alias"]) == ("tiny", 1, "challenger")
    assert "up to date" in run([*dvc, "status"], clone, dvc_env)

    # one evaluation parameter: only evaluate runs again
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["models"]["tiny"]["evaluate"]["args"] = "--split val --no-robustness"
    (clone / "params.yaml").write_text(yaml.safe_dump(params))
    assert ran(run([*dvc, "repro"], clone, dvc_env)) == ["evaluate"]

    # one training parameter (the config is the train stage's params file; import reads only `data`)
    config_path = clone / "configs/tiny.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["optim"]["patience"] = 6  # a real change of the recipe that leaves the (seeded) model as good
    config_path.write_text(yaml.safe_dump(config))
    rerun = ran(run([*dvc, "repro"], clone, dvc_env))
    assert rerun[0] == "train" and sorted(rerun) == sorted(ALL_STAGES[1:])
    registered = json.loads((out / "registered.json").read_text())
    assert registered["version"] == 2  # a new candidate, gated and registered again

    # and back: DVC's run cache restores the first model instead of training it again
    config_path.write_text(original)
    (clone / "params.yaml").write_text((repo / "params.yaml").read_text())
    back = run([*dvc, "repro"], clone, dvc_env)
    # (registration is not cached: a version is a fact in the registry, so only it may run again)
    assert set(ran(back)) <= {"register"} and "is cached - skipping run" in back
    assert json.loads((out / "model/card.json").read_text())["threshold"] == card["threshold"]

    # a gate that refuses stops the pipeline before registration: nothing new is registered
    last = json.loads((out / "registered.json").read_text())["version"]
    suite_path = clone / "configs/gate/tiny.yaml"
    suite = yaml.safe_load(suite_path.read_text())
    suite["floors"]["accuracy"] = 1.01
    suite_path.write_text(yaml.safe_dump(suite))
    refused = subprocess.run(
        [*dvc, "repro"], cwd=clone, env=dvc_env, capture_output=True, text=True, timeout=600
    )
    assert refused.returncode != 0 and "failed to reproduce 'gate@tiny'" in refused.stdout + refused.stderr
    assert ran(refused.stdout) == ["gate"]
    assert json.loads((out / "registered.json").read_text())["version"] == last
