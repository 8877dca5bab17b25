"""``register_model``: a model directory → a new version in the registry (ONNX and card as artifacts).

The version's tags say what it is without downloading it: the sha256 of each artifact (checked on every
download), the card's fields, the dataset hash and the git commit. All of them are written in the one
call that creates the version, and the artifacts are uploaded before it: a failure on the way leaves no
version behind (the run holding a partial upload is deleted), so nothing is half-registered.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from deeptrust.card import CARD_FILE, ONNX_FILE, ModelCard, load_card
from deeptrust.registry.errors import RegistrationError
from deeptrust.registry.reference import REFERENCE
from deeptrust.registry.store import CHAMPION_HISTORY, SHA_TAG, TAG, Store

log = logging.getLogger("deeptrust.registry")
ARTIFACT_DIR = "model"  # inside the run: model/model.onnx, model/card.json
ARTIFACTS = (ONNX_FILE, CARD_FILE)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def register_model(
    model_dir: Path | str,
    *,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    alias: str | None = None,
    store: Store | None = None,
) -> int:
    """Register ``model_dir`` (model.onnx + card.json) as a new version of ``name`` (default: the card's
    name) and return the version number; ``alias`` (e.g. ``challenger``) is pointed at it afterwards."""
    store = store or Store()
    directory = Path(model_dir)
    card = _checked_card(directory)
    name = name or card.name
    if not REFERENCE.fullmatch(name) or "@" in name or "/" in name:
        raise RegistrationError(f"model name {name!r} is not a registry name (letters, digits, . _ -)")
    version_tags = {**card_tags(card, directory), **(tags or {})}
    client = store.client
    experiment = store.experiment_id()
    with store.errors(f"model {name!r}"):
        run = client.create_run(experiment, run_name=f"register-{name}", tags={TAG + "model": name})
    run_id, created_model = run.info.run_id, False
    try:
        with store.errors(f"model {name!r}"), tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / ARTIFACT_DIR  # only the two files, whatever else the directory holds
            staged.mkdir()
            for file in ARTIFACTS:
                (staged / file).write_bytes((directory / file).read_bytes())
            client.log_artifacts(run_id, str(staged), ARTIFACT_DIR)
            if not store.has_model(name):
                client.create_registered_model(name, description=card.description[:1000] or None)
                created_model = True
            mv = client.create_model_version(
                name, source=f"{run.info.artifact_uri}/{ARTIFACT_DIR}", run_id=run_id, tags=version_tags
            )
    except BaseException:
        _undo(store, run_id, name if created_model else None)
        raise
    # The version is complete; a still-open run is cosmetic. MLflow prints the run's UI link to stdout
    # when a run ends on a tracking server: stderr keeps `deeptrust models list --json` parseable.
    with contextlib.suppress(Exception), contextlib.redirect_stdout(sys.stderr):
        client.set_terminated(run_id)
    version = int(mv.version)
    log.info("registered %s version %d from %s", name, version, directory)
    if alias:
        store.set_alias(name, alias, version)
        if alias == "champion":
            store.set_model_tag(name, CHAMPION_HISTORY, str(version))
    return version


def _undo(store: Store, run_id: str, created_model: str | None) -> None:
    """Remove what a failed registration wrote: its run (and artifacts' record), a model it created."""
    with contextlib.suppress(Exception):
        store.client.delete_run(run_id)
    if created_model is not None:
        with contextlib.suppress(Exception):
            store.client.delete_registered_model(created_model)


def _checked_card(directory: Path) -> ModelCard:
    missing = [f for f in ARTIFACTS if not (directory / f).is_file()]
    if missing:
        raise RegistrationError(
            f"{directory} is not a model directory: missing {', '.join(missing)} "
            "(export one with `deeptrust export`)"
        )
    try:
        return load_card(directory)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise RegistrationError(f"unreadable model card in {directory}: {exc}") from exc


def card_tags(card: ModelCard, directory: Path) -> dict[str, str]:
    """What a version records about itself: hashes, card fields, data and code provenance."""
    test = card.metrics.get("test") or {}
    tags = {SHA_TAG + f: file_sha256(directory / f) for f in ARTIFACTS}
    tags |= {
        TAG + "card.name": card.name,
        TAG + "card.version": card.version,
        TAG + "card.family": card.family,
        TAG + "card.classes": ",".join(card.class_names),
        TAG + "card.threshold": f"{card.threshold:.6g}",
        TAG + "card.target_fpr": "" if card.target_fpr is None else f"{card.target_fpr:g}",
        TAG + "card.created": card.created,
        TAG + "dataset.name": str(card.dataset.get("name") or ""),
        TAG + "dataset.hash": str(card.dataset.get("hash") or ""),
        TAG + "training.mlflow_run_id": str(card.training.get("mlflow_run_id") or ""),
        TAG + "git.commit": git_commit(directory),
        TAG + "source": str(directory.resolve()),
    }
    if test:
        tags[TAG + "card.test"] = json.dumps({k: test.get(k) for k in ("accuracy", "f1", "n")})
    return tags


def git_commit(directory: Path) -> str:
    """The commit of the code that made the model: the source tree's, else the model directory's."""
    for where in (Path(__file__).resolve().parent, directory.resolve()):
        try:
            out = subprocess.run(
                ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return "unknown"
