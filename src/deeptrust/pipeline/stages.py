"""``import_for_config``: import (or reuse) every dataset a training config names, and record them.

The import is the one ``deeptrust train`` itself would do (same names, fractions and seeds), so the
train stage reuses it instead of importing again. Into ``out_dir`` go each dataset's manifest and report
(small files that DVC tracks by hash and pushes to its remote) and ``datasets.json``: the name, hash and
split sizes of each. The images stay where the source is (archives extracted once into the cache).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from deeptrust.train.config import TrainConfig, load_config

DATASETS_FILE = "datasets.json"


def _specs(config: TrainConfig) -> list[dict[str, Any]]:
    """The config's datasets as ``ensure_dataset`` keyword sets, as ``train.loop.prepare_data`` makes them."""
    d = config.data
    if d.sources:
        return [
            {
                "src": s.source,
                "name": s.name,
                "val_fraction": s.val_fraction,
                "test_fraction": s.test_fraction,
                "seed": s.split_seed,
            }
            for s in d.sources
        ]
    return [
        {
            "src": d.source,
            "name": config.name,
            "val_fraction": d.val_fraction,
            "test_fraction": d.test_fraction,
            "seed": d.split_seed,
        }
    ]


def import_for_config(config_path: str | Path, out_dir: str | Path, *, progress: bool = True) -> dict:
    """Import each dataset of the config at ``config_path``; write their record to ``out_dir``."""
    from deeptrust.data.importer import MANIFEST_FILE, REPORT_JSON, ensure_dataset

    config = load_config(config_path)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    record: dict[str, Any] = {"config": str(config_path), "model": config.name, "datasets": []}
    for spec in _specs(config):
        src = spec.pop("src")
        imported = ensure_dataset(src, progress=progress, **spec)
        target = out / imported.name
        target.mkdir()
        for name in (MANIFEST_FILE, REPORT_JSON):
            shutil.copy2(imported.directory / name, target / name)
        splits = imported.manifest["split"].value_counts().sort_index()
        record["datasets"].append(
            {
                "name": imported.name,
                "source": str(src),
                "hash": imported.dataset_hash,
                "images": len(imported.manifest),
                "splits": {str(k): int(v) for k, v in splits.items()},
            }
        )
    (out / DATASETS_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record
