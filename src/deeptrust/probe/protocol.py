"""Leave one group out: for every real and every generated group, fit without it and score it.

A *group* is a source (``by="source"``) or, on the generated side, a generator within a source
(``by="generator"``; generators with fewer than ``min_group`` images stay together as
``<source>/other``). For each held-out group the probe is fitted on the training split of all other
groups, calibrated and thresholded (pooled FPR target over real images) on their validation split, and
the group's own train + validation images are scored — the test split is never read.

- a generated group: ROC-AUC of its images against the other groups' real validation images, and TPR
  at the threshold (how many of an unseen generator's images are caught);
- a real group: ROC-AUC of the other groups' generated validation images against it, and FPR at the
  threshold (how many of an unseen collection's photos are flagged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from deeptrust.detector import aggregate
from deeptrust.evaluate.metrics import choose_threshold
from deeptrust.probe.fit import GroupStats, Probe, calibrate, fit, group_stats

FAKE_INDEX, REAL_INDEX = 0, 1  # class_names ("FAKE", "REAL")


@dataclass(frozen=True)
class Recipe:
    """What the protocol compares and what the shipped probe is: feature columns, ridge, aggregation."""

    columns: np.ndarray  # indices into the cached feature rows
    alpha: float = 0.1
    aggregate: str = "mean"
    top_k: int = 2
    target_fpr: float = 0.05
    # "pooled": the target FPR over all validation reals; "source": also on every real group with at
    # least ``min_source`` validation images (the strictest of those thresholds)
    threshold_by: str = "pooled"
    min_source: int = 30


def assign_groups(images: pd.DataFrame, *, by: str = "source", min_group: int = 20) -> pd.Series:
    """``<source>/<label>`` per image; ``by="generator"``: ``<source>/<generator>`` for generated ones."""
    if by not in ("source", "generator"):
        raise ValueError(f"by must be 'source' or 'generator', got {by!r}")
    group = images["source"].astype(str) + "/" + images["label"].astype(str)
    if by == "generator":
        fake = images["label"] != "REAL"
        gen = images["generator"].fillna("").astype(str)
        counts = gen[fake].groupby([images["source"][fake], gen[fake]]).transform("size")
        named = (
            images["source"][fake] + "/" + gen[fake].where((counts >= min_group) & (gen[fake] != ""), "other")
        )
        group = group.where(~fake, named)
    return group


def image_p_ai(
    probe: Probe, feats: np.ndarray, owner: np.ndarray, n_images: int, recipe: Recipe
) -> np.ndarray:
    """Each image's p_ai from its patches, aggregated as the deployed Detector does."""
    p = probe.p_ai(feats)
    probs = np.stack([p, 1 - p], axis=1)  # FAKE, REAL
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n_images + 1))
    out = np.full(n_images, np.nan)
    for i in range(n_images):
        rows = order[bounds[i] : bounds[i + 1]]
        if len(rows):
            out[i] = 1 - aggregate(probs[rows], recipe.aggregate, recipe.top_k, REAL_INDEX)[REAL_INDEX]
    return out


class PatchTable:
    """Cached patch features with, per image, its label, split and group (train rows may add views)."""

    def __init__(self, images: pd.DataFrame, views: dict[str, tuple[np.ndarray, np.ndarray]], recipe: Recipe):
        self.images = images.reset_index(drop=True)
        self.recipe = recipe
        self.views = {name: (f[:, recipe.columns], o) for name, (f, o) in views.items()}
        self.y = (self.images["label"] != "REAL").to_numpy(int)

    def rows(self, mask: np.ndarray, view: str) -> tuple[np.ndarray, np.ndarray]:
        feats, owner = self.views[view]
        keep = mask[owner]
        return feats[keep], owner[keep]

    def stats(self, train_views: tuple[str, ...]) -> dict[str, GroupStats]:
        """Per-group sums over the training split's patches of ``train_views``."""
        out = {}
        train = (self.images["split"] == "train").to_numpy()
        for name, idx in self.images[train].groupby("group").groups.items():
            mask = np.zeros(len(self.images), bool)
            mask[np.asarray(idx)] = True
            feats = np.concatenate([self.rows(mask, v)[0] for v in train_views])
            out[str(name)] = group_stats(feats, int(self.y[idx[0]]))
        return out

    def p_ai(self, probe: Probe, mask: np.ndarray, view: str = "clean") -> np.ndarray:
        feats, owner = self.rows(mask, view)
        p = image_p_ai(probe, feats, owner, len(self.images), self.recipe)
        return p


def fit_calibrated(
    table: PatchTable, stats: dict[str, GroupStats], keep: list[str]
) -> tuple[Probe, float, np.ndarray]:
    """Fit on the ``keep`` groups' training stats; calibrate and threshold on their validation images."""
    r = table.recipe
    probe = fit([stats[g] for g in keep], alpha=r.alpha)
    val = (table.images["split"] == "val").to_numpy() & table.images["group"].isin(keep).to_numpy()
    raw = table.p_ai(probe, val)  # uncalibrated: calibration is monotone, fit it on scores
    probe = calibrate(probe, _logit(raw[val]), table.y[val])
    p = table.p_ai(probe, val)
    groups = table.images["group"].to_numpy()[val]
    threshold = group_threshold(table.y[val], p[val], groups, r)
    return probe, float(threshold), p


def group_threshold(y: np.ndarray, p: np.ndarray, groups: np.ndarray, recipe: Recipe) -> float:
    """The pooled threshold for ``recipe.target_fpr``; by "source", raised until every real group of
    ``min_source`` images or more is at or under the target too."""
    if recipe.threshold_by not in ("pooled", "source"):
        raise ValueError(f"threshold_by must be 'pooled' or 'source', got {recipe.threshold_by!r}")
    threshold = choose_threshold(y, p, target_fpr=recipe.target_fpr)
    if recipe.threshold_by == "source":
        for g in np.unique(groups[y == 0]):
            own = groups == g
            if own.sum() >= recipe.min_source:
                threshold = max(threshold, choose_threshold(y[own], p[own], target_fpr=recipe.target_fpr))
    return float(threshold)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def leave_one_out(table: PatchTable, *, train_views: tuple[str, ...] = ("clean",)) -> pd.DataFrame:
    """One row per held-out group: n, ROC-AUC, TPR (generated) or FPR (real) at the fold's threshold."""
    from sklearn.metrics import roc_auc_score

    stats = table.stats(train_views)
    images, rows = table.images, []
    seen = images["split"].isin(["train", "val"]).to_numpy()
    for group in sorted(stats):
        keep = [g for g in stats if g != group]
        probe, threshold, _ = fit_calibrated(table, stats, keep)
        held = seen & (images["group"] == group).to_numpy()
        label = int(table.y[held][0])
        other = (images["split"] == "val").to_numpy() & images["group"].isin(keep).to_numpy()
        other &= table.y == (1 - label)
        p = table.p_ai(probe, held | other)
        y = np.concatenate([np.full(held.sum(), label), np.full(other.sum(), 1 - label)])
        scores = np.concatenate([p[held], p[other]])
        flagged = float((p[held] >= threshold).mean())
        rows.append(
            {
                "group": group,
                "label": "FAKE" if label else "REAL",
                "n": int(held.sum()),
                "roc_auc": float(roc_auc_score(y, scores)),
                "tpr_at_threshold": flagged if label else None,
                "fpr_at_threshold": None if label else flagged,
                "threshold": threshold,
            }
        )
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> dict[str, float]:
    fake, real = table[table["label"] == "FAKE"], table[table["label"] == "REAL"]
    return {
        "fake_mean_auc": float(fake["roc_auc"].mean()),
        "fake_min_auc": float(fake["roc_auc"].min()),
        "fake_mean_tpr": float(fake["tpr_at_threshold"].mean()),
        "real_mean_auc": float(real["roc_auc"].mean()),
        "real_max_fpr": float(real["fpr_at_threshold"].max()),
        "real_mean_fpr": float(real["fpr_at_threshold"].mean()),
    }
