"""The local copy of registered versions: ``<home>/registry-cache/<registry>/<name>/<version>/``.

A version is downloaded once into a temporary folder, checked file by file against the sha256 recorded
at registration, and only then renamed into place, so the cache never holds a partial or unverified
copy. It is checked again every time it is used (a file changed on disk is refused and fetched anew).
The last aliases seen are remembered beside it, which is what lets a server whose registry is down keep
serving ``photos@champion`` from here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from deeptrust.registry.errors import ArtifactIntegrityError
from deeptrust.registry.register import ARTIFACTS, file_sha256
from deeptrust.registry.store import Store, VersionInfo

log = logging.getLogger("deeptrust.registry")
MANIFEST = ".registry.json"  # in each cached version: name, version, the sha256 it was checked against
ALIASES = "aliases.json"  # in each model's folder: alias → version, as last seen in the registry


class Cache:
    def __init__(self, store: Store):
        self.store = store
        self.root = store.settings.registry_cache_dir / store.key

    def version_dir(self, name: str, version: int) -> Path:
        return self.root / name / str(version)

    def fetch(self, info: VersionInfo) -> Path:
        """A verified local copy of ``info``: the cached one when intact, else a fresh download."""
        target = self.version_dir(info.name, info.version)
        if target.exists():
            try:
                verify(target, info.sha256, what=f"cached {info.name}/{info.version}")
                return target
            except ArtifactIntegrityError as exc:
                log.warning("%s; downloading it again", exc)
                shutil.rmtree(target, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".download-") as tmp:
            with self.store.errors(f"artifacts of {info.name}/{info.version}"):
                from mlflow.artifacts import download_artifacts

                local = Path(
                    download_artifacts(
                        artifact_uri=info.source,
                        dst_path=tmp,
                        tracking_uri=self.store.uri,
                        registry_uri=self.store.uri,
                    )
                )
            verify(local, info.sha256, what=f"{info.name}/{info.version} from the registry")
            (local / MANIFEST).write_text(
                json.dumps({"name": info.name, "version": info.version, "sha256": info.sha256}, indent=2)
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError, OSError):  # another process won the race: keep it
                os.replace(local, target)
        verify(target, info.sha256, what=f"cached {info.name}/{info.version}")
        return target

    def remember_aliases(self, name: str, aliases: dict[str, int]) -> None:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{ALIASES}.{os.getpid()}"
        tmp.write_text(json.dumps(aliases, indent=2, sort_keys=True))
        os.replace(tmp, folder / ALIASES)

    def remembered_aliases(self, name: str) -> dict[str, int]:
        try:
            return {k: int(v) for k, v in json.loads((self.root / name / ALIASES).read_text()).items()}
        except (OSError, ValueError):
            return {}

    def cached(self, name: str, version: int) -> Path | None:
        """The cached copy of ``name/version``, verified against its manifest; None when absent."""
        target = self.version_dir(name, version)
        try:
            recorded = json.loads((target / MANIFEST).read_text())["sha256"]
        except (OSError, ValueError, KeyError):
            return None
        verify(target, recorded, what=f"cached {name}/{version}")
        return target


def verify(directory: Path, expected: dict[str, str], *, what: str) -> None:
    """Every artifact present and matching its recorded sha256, or ``ArtifactIntegrityError``."""
    if not all(f in expected for f in ARTIFACTS):
        raise ArtifactIntegrityError(
            f"{what}: the registry records no sha256 for "
            f"{', '.join(f for f in ARTIFACTS if f not in expected)}"
            " (was it registered by `deeptrust`?); refusing to use it"
        )
    for file in ARTIFACTS:
        path = directory / file
        if not path.is_file():
            raise ArtifactIntegrityError(f"{what}: {file} is missing")
        actual = file_sha256(path)
        if actual != expected[file]:
            raise ArtifactIntegrityError(
                f"{what}: {file} has sha256 {actual[:12]}…, the registry recorded {expected[file][:12]}… "
                "(corrupt or tampered); refusing to load it"
            )
