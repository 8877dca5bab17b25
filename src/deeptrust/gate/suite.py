"""Evaluation suites: which images a gate scores, fixed by hash so a verdict can be repeated.

A suite is a small YAML file (``configs/gate/NAME.yaml``, or any path)::

    name: cifake
    version: 1                      # bump when the data or the rules change
    data:                           # one or more datasets, as `deeptrust evaluate --data` takes them
      - dataset: ../shared/datasets/cifake.tar.gz
        options: {val_fraction: 0.1, test_fraction: 0.0, seed: 0}   # the import's split options
        split: test
        limit: 2000                 # a seeded stratified sample (optional)
        sha256: 3f1c…               # over the sorted (image sha256, label) rows: refused if it differs
    robustness: {enabled: true, limit: 300}            # perturbation cases on a seeded sample
    floors: {accuracy: 0.85, f1: 0.80, fpr_margin: 0.02}
    tolerances: {accuracy: 0.02, false_positive_rate: 0.02, min_slice_n: 30}

Slices are the overall set, each source (``per_source``) and each robustness case. ``freeze_suite``
writes the hashes into a suite that has none yet (``deeptrust gate … --freeze``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeptrust.settings import BUNDLED_MODELS

SUITES_DIR = BUNDLED_MODELS.parent / "configs" / "gate"
DEFAULT_FLOORS = {"accuracy": 0.85, "f1": 0.80, "fpr_margin": 0.02}
DEFAULT_TOLERANCES = {"accuracy": 0.02, "false_positive_rate": 0.02, "min_slice_n": 30}


class SuiteError(ValueError):
    """A suite that cannot be used as written: missing, malformed, or its data changed."""


@dataclass(frozen=True)
class SuiteData:
    dataset: str
    split: str | None = "test"
    options: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    seed: int = 0
    sha256: str = ""


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    data: tuple[SuiteData, ...]
    path: Path
    robustness: bool = True
    robustness_limit: int = 300
    floors: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FLOORS))
    tolerances: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))

    @property
    def identity(self) -> str:
        """``name@vN:hash``: what a gate result names as its suite (the hash covers every entry's data)."""
        digest = hashlib.sha256("".join(d.sha256 for d in self.data).encode()).hexdigest()[:12]
        return f"{self.name}@v{self.version}:{digest}"


def find_suite(name_or_path: str | Path) -> Path:
    """A suite by path, or by name under ``configs/gate/``."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise SuiteError(f"no suite file at {candidate}")
        return candidate
    path = SUITES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))) or "none"
        raise SuiteError(
            f"no evaluation suite named {str(name_or_path)!r} (suites: {known}); pass --suite PATH"
        )
    return path


def load_suite(name_or_path: str | Path) -> Suite:
    import yaml

    path = find_suite(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        entries = raw.get("data") or []
        if not entries:
            raise SuiteError(f"suite {path} lists no data")
        robustness = raw.get("robustness") or {}
        return Suite(
            name=str(raw.get("name") or path.stem),
            version=int(raw.get("version", 1)),
            data=tuple(_entry(e, path) for e in entries),
            path=path,
            robustness=bool(robustness.get("enabled", True)),
            robustness_limit=int(robustness.get("limit", 300)),
            floors={**DEFAULT_FLOORS, **(raw.get("floors") or {})},
            tolerances={**DEFAULT_TOLERANCES, **(raw.get("tolerances") or {})},
        )
    except (yaml.YAMLError, TypeError, AttributeError, KeyError) as exc:
        raise SuiteError(f"suite {path} is malformed: {exc}") from exc


def _entry(raw: dict[str, Any], path: Path) -> SuiteData:
    dataset = str(raw["dataset"])
    if not Path(dataset).is_absolute() and (path.parent / dataset).exists():
        dataset = str((path.parent / dataset).resolve())  # relative to the suite file
    elif not Path(dataset).is_absolute() and (SUITES_DIR.parents[1] / dataset).exists():
        dataset = str((SUITES_DIR.parents[1] / dataset).resolve())  # relative to the repository
    return SuiteData(
        dataset=dataset,
        split=raw.get("split", "test"),
        options=dict(raw.get("options") or {}),
        limit=raw.get("limit"),
        seed=int(raw.get("seed", 0)),
        sha256=str(raw.get("sha256") or ""),
    )


def rows_sha256(rows: Any) -> str:
    """sha256 over the sorted (image sha256, label) pairs of the rows a suite entry selects."""
    digest = hashlib.sha256()
    for sha, label in sorted(zip(rows["sha256"].astype(str), rows["label"].astype(str), strict=True)):
        digest.update(f"{sha}\t{label}\n".encode())
    return digest.hexdigest()


def freeze_suite(path: Path, hashes: list[str]) -> None:
    """Write the measured hashes into the entries of ``path`` that have none (others are left alone)."""
    import yaml

    raw = yaml.safe_load(path.read_text())
    for entry, digest in zip(raw["data"], hashes, strict=True):
        entry.setdefault("sha256", digest)
        if not entry["sha256"]:
            entry["sha256"] = digest
    text = path.read_text()
    header = "".join(line for line in text.splitlines(keepends=True)[:50] if line.startswith("#"))
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False))  # the file's opening comment is kept
