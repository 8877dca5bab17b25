"""Combine several imported datasets into one training set, de-duplicated across them.

Usage::

    from deeptrust.data import combine_manifests, ensure_combined
    combined = combine_manifests({"multigen": load_manifest("multigen"), "photos": load_manifest("photos")})
    combined = ensure_combined([{"source": "../shared/datasets/multigen.tar.gz", "name": "multigen"},
                                {"source": "../shared/datasets/sd-vs-photos.tar.gz", "name": "photos"}])
    combined.manifest["dataset"]  # which dataset each kept image came from

Each dataset keeps the split its own import gave it. Content found in several datasets (same
sha256, or a near copy: dHash at most 20 of 256 bits apart, :mod:`deeptrust.data._near`) is kept once: in
the most trusted split (test > val > train, so no copy sits in train while another is evaluated),
then in the dataset listed first. Content with different labels in different datasets is dropped
everywhere, as the importer does within one dataset. Every dropped row is returned with why, whether
the match was exact or near, and which copy stayed. Near copies are linked across datasets only:
within one dataset its import's decisions stand. Non-goal: crops or heavy edits of the same photo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from deeptrust.data._near import near_duplicate_groups
from deeptrust.data.errors import DataError
from deeptrust.data.importer import ADDED_COLUMNS, MANIFEST_COLUMNS, ensure_dataset, hash_manifest
from deeptrust.data.validate import SPLIT_PRIORITY

DROPPED_COLUMNS = [*MANIFEST_COLUMNS, "dataset", "reason", "match", "kept_dataset", "kept_relpath"]
_EXAMPLES = 10


@dataclass(frozen=True, eq=False)
class CombinedDataset:
    """What training needs of a dataset (``name``, ``manifest``, ``dataset_hash``), plus provenance."""

    name: str
    manifest: pd.DataFrame  # MANIFEST_COLUMNS + "dataset"
    dropped: pd.DataFrame  # DROPPED_COLUMNS: the rows removed, why, and the copy kept instead
    report: dict
    dataset_hash: str
    parts: list[dict]  # per dataset: name, source, hash, options, rows, kept


def combine_manifests(
    manifests: Mapping[str, pd.DataFrame], *, name: str = "combined", near_duplicates: bool = True
) -> CombinedDataset:
    """One manifest from ``{dataset name: manifest}``, de-duplicated by content across datasets.

    Content is the sha256, and with ``near_duplicates`` also a near copy in another dataset (dHash at
    most 20 of 256 bits apart: the same picture re-encoded or resized). Order matters only for ties: the
    first dataset listed keeps a copy found in the same split of two.
    """
    if not manifests:
        raise DataError("nothing to combine: give at least one dataset")
    table = _stack(manifests)
    table["_group"] = _content_groups(table, near=near_duplicates)
    table["reason"] = ""
    conflicts = table.groupby("_group")["label"].transform("nunique") > 1
    table.loc[conflicts, "reason"] = "label_conflict"
    keeper, losers = _choose_copies(table[table["reason"] == ""], order=list(manifests))
    kept_split = table.loc[losers, "_group"].map(keeper["split"])
    table.loc[losers, "reason"] = (table.loc[losers, "split"] == kept_split).map(
        {True: "duplicate", False: "leak"}
    )
    dropped_rows = table["reason"] != ""
    for column in ("dataset", "relpath", "sha256"):  # label conflicts keep no copy: ""
        kept = table["_group"].map(keeper[column]).where(dropped_rows, "")
        table[f"kept_{column}"] = kept.fillna("")
    table["match"] = (table["kept_sha256"] == table["sha256"]).map({True: "exact", False: "near"})
    table.loc[table["kept_sha256"] == "", "match"] = ""
    manifest = table.loc[~dropped_rows, [*MANIFEST_COLUMNS, "dataset"]].reset_index(drop=True)
    dropped = table.loc[dropped_rows, DROPPED_COLUMNS].reset_index(drop=True)
    dataset_hash = hash_manifest(manifest)
    report = _report(name, manifests, manifest, dropped, dataset_hash)
    parts = [{"name": dataset, **report["datasets"][dataset]} for dataset in manifests]
    return CombinedDataset(name, manifest, dropped, report, dataset_hash, parts)


def _content_groups(table: pd.DataFrame, *, near: bool) -> pd.Series:
    if not near or not (table["dhash"].fillna("") != "").any():
        return table["sha256"]
    return near_duplicate_groups(table["dhash"].fillna(""), exact=table["sha256"], across=table["dataset"])


def _choose_copies(live: pd.DataFrame, *, order: list[str]) -> tuple[pd.DataFrame, pd.Index]:
    """The copy each content group keeps (by group) and the index of the rows it replaces."""
    ranked = live.assign(
        _split=live["split"].map(SPLIT_PRIORITY).fillna(len(SPLIT_PRIORITY)),
        _dataset=live["dataset"].map({dataset: i for i, dataset in enumerate(order)}),
    ).sort_values(["_group", "_split", "_dataset", "relpath"], kind="stable")
    keeper = ranked.groupby("_group", sort=False).head(1).set_index("_group")
    return keeper, ranked.index[ranked.duplicated("_group", keep="first")]


def ensure_combined(
    sources: Sequence[Mapping[str, object]], *, name: str = "combined", progress: bool = True
) -> CombinedDataset:
    """Import (or reuse the import of) each source, then :func:`combine_manifests` them.

    Each source is a mapping with ``source`` and optionally ``name``, ``val_fraction``,
    ``test_fraction`` (None: the importer's default for that source) and ``split_seed``.
    """
    manifests: dict[str, pd.DataFrame] = {}
    described: dict[str, dict] = {}
    for spec in sources:
        imported = ensure_dataset(
            str(spec["source"]),
            name=spec.get("name"),
            val_fraction=spec.get("val_fraction"),
            test_fraction=spec.get("test_fraction"),
            seed=int(spec.get("split_seed") or 0),
            progress=progress,
        )
        if imported.name in manifests:
            raise DataError(f"dataset {imported.name!r} is listed twice; give each source once")
        manifests[imported.name] = imported.manifest
        described[imported.name] = {
            "source": str(spec["source"]),
            "hash": imported.dataset_hash,
            "options": imported.report.get("options", {}),
        }
    combined = combine_manifests(manifests, name=name)
    for part in combined.parts:
        part.update(described[part["name"]])
    return combined


def _stack(manifests: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    frames = []
    for dataset, manifest in manifests.items():
        if "dataset" in manifest and (manifest["dataset"] != dataset).any():
            raise DataError(f"manifest {dataset!r} already has a dataset column: combine the originals")
        missing = {"sha256", "label", "split", "relpath"} - set(manifest.columns)
        if missing:
            raise DataError(f"manifest {dataset!r} lacks column(s) {', '.join(sorted(missing))}")
        older = {column: default for column, default in ADDED_COLUMNS.items() if column not in manifest}
        frame = manifest.assign(**older).reindex(columns=MANIFEST_COLUMNS)
        frames.append(frame.assign(dataset=dataset))
    return pd.concat(frames, ignore_index=True)


def _report(
    name: str,
    manifests: Mapping[str, pd.DataFrame],
    manifest: pd.DataFrame,
    dropped: pd.DataFrame,
    dataset_hash: str,
) -> dict:
    kept = manifest["dataset"].value_counts()
    pairs = dropped[dropped["kept_dataset"] != ""]
    by_pair = (pairs["dataset"] + " -> " + pairs["kept_dataset"]).value_counts().sort_index()
    return {
        "name": name,
        "datasets": {
            dataset: {"rows": len(rows), "kept": int(kept.get(dataset, 0))}
            for dataset, rows in manifests.items()
        },
        "kept": len(manifest),
        "dropped": {
            reason: int((dropped["reason"] == reason).sum())
            for reason in ("label_conflict", "leak", "duplicate")
        },
        "dropped_by_pair": {str(key): int(value) for key, value in by_pair.items()},
        "near_matches": int((dropped["match"] == "near").sum()),
        "examples": [
            {
                "dataset": row.dataset,
                "relpath": row.relpath,
                "split": row.split,
                "reason": row.reason,
                "match": row.match,
                "kept": f"{row.kept_dataset}:{row.kept_relpath}" if row.kept_dataset else "",
            }
            for row in dropped.head(_EXAMPLES).itertuples(index=False)
        ],
        "dataset_hash": dataset_hash,
    }


def describe_combined(combined: CombinedDataset) -> str:
    """One line for logs: what was kept and dropped."""
    report = combined.report
    parts = ", ".join(f"{d} {v['kept']:,}/{v['rows']:,}" for d, v in report["datasets"].items())
    dropped = ", ".join(f"{reason} {n:,}" for reason, n in report["dropped"].items() if n) or "nothing"
    return f"combined {report['kept']:,} images from {parts}; dropped across datasets: {dropped}"
