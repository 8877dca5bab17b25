"""Shortcut check: does any property other than the pixels predict the label on its own?

If REAL images are PNG and FAKE ones JPEG, a detector learns the container, not generation
traces, and fails on the first re-encoded image. Each property gets a score, warned about above a
threshold. Categorical properties use the leave-one-out accuracy of "the majority label of that
value" (so unique values such as odd sizes don't score perfectly by memorisation), compared with
always guessing the majority class; numeric ones use ROC-AUC of each label against the rest.
Leave-one-out can score below the baseline (a value shared evenly by two labels votes against
each held-out row); that reads as "no signal", never as a warning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ACCURACY_LIFT_WARN = 0.10  # warn when a categorical property beats the majority baseline by this
AUC_WARN = 0.80  # warn when a numeric property reaches this ROC-AUC (either direction)
CATEGORICAL_PROPERTIES = ("format", "dimensions", "mode", "exif", "jpeg_quality", "qtable_hash")
NUMERIC_PROPERTIES = ("bytes", "pixels")
SHOWN_VALUES = 4


def property_values(manifest: pd.DataFrame) -> dict[str, pd.Series]:
    """Each checked property of every manifest row, as one Series per property."""
    return {
        "format": manifest["format"],
        "dimensions": manifest["width"].astype(str) + "x" + manifest["height"].astype(str),
        "mode": manifest["mode"],
        "exif": manifest["exif"],
        "jpeg_quality": manifest["jpeg_quality"],
        "qtable_hash": manifest["qtable_hash"],
        "bytes": manifest["bytes"],
        "pixels": manifest["width"] * manifest["height"],
    }


def score_shortcuts(manifest: pd.DataFrame) -> dict:
    """Scores of every property, the warnings among them, and the thresholds used."""
    labels = manifest["label"].astype(str)
    counts = labels.value_counts().sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    order = counts.index.tolist()  # most frequent first: ties go to the majority label
    result: dict = {
        "thresholds": {"accuracy_lift": ACCURACY_LIFT_WARN, "auc": AUC_WARN},
        "rows": len(manifest),
        "baseline": round(float(counts.iloc[0] / len(labels)), 4) if len(labels) else 0.0,
        "properties": [],
        "warnings": [],
    }
    if len(order) < 2:
        result["note"] = "fewer than two labels: there is nothing to separate"
        return result
    for name, values in property_values(manifest).items():
        score = _categorical if name in CATEGORICAL_PROPERTIES else _numeric
        entry = {
            "property": name,
            **score(values.reset_index(drop=True), labels.reset_index(drop=True), order),
        }
        if values.nunique() <= 1:  # one value carries no information, whatever the score says
            entry.update(constant=True, warn=False, score=entry["baseline"])
        result["properties"].append(entry)
        if entry["warn"]:
            result["warnings"].append(_warning(entry, result["baseline"]))
    return result


def _categorical(values: pd.Series, labels: pd.Series, order: list[str]) -> dict:
    table = pd.crosstab(values.astype(str), labels).reindex(columns=order, fill_value=0)
    counts = table.to_numpy()
    correct = 0
    for j in range(len(order)):
        held_out = counts.copy()
        held_out[:, j] -= 1  # leave the row itself out of its value's vote
        correct += counts[held_out.argmax(axis=1) == j, j].sum()
    accuracy = float(correct / len(values))
    baseline = float(counts.sum(axis=0).max() / len(values))
    lift = accuracy - baseline
    top = table.loc[table.sum(axis=1).sort_values(ascending=False, kind="stable").index[:SHOWN_VALUES]]
    return {
        "metric": "accuracy",
        "score": round(accuracy, 4),
        "baseline": round(baseline, 4),
        "lift": round(lift, 4),
        "distinct": len(table),
        "constant": False,
        "warn": round(lift, 6) >= ACCURACY_LIFT_WARN,
        "detail": "; ".join(
            f"{value or '(empty)'}: " + ", ".join(f"{label} {row[label]:,}" for label in order if row[label])
            for value, row in top.iterrows()
        ),
    }


def _numeric(values: pd.Series, labels: pd.Series, order: list[str]) -> dict:
    values = values.astype("float64")
    ranks = values.rank(method="average").to_numpy()
    best_auc, best_label = 0.5, order[0]
    for label in order:
        positive = (labels == label).to_numpy()
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        auc = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        if max(auc, 1 - auc) > best_auc:
            best_auc, best_label = max(auc, 1 - auc), label
    medians = values.groupby(labels).median()
    return {
        "metric": "auc",
        "score": round(float(best_auc), 4),
        "baseline": 0.5,
        "best_label": best_label,
        "medians": {str(label): float(medians[label]) for label in order},
        "distinct": int(values.nunique()),
        "constant": False,
        "warn": bool(np.round(best_auc, 6) >= AUC_WARN),
        "detail": "median " + ", ".join(f"{label} {medians[label]:,.0f}" for label in order),
    }


def _warning(entry: dict, baseline: float) -> str:
    name = entry["property"]
    if entry["metric"] == "accuracy":
        strength = f"accuracy {entry['score']:.2f} vs {baseline:.2f} for always guessing the majority"
    else:
        strength = f"ROC-AUC {entry['score']:.2f} for {entry['best_label']} vs the rest"
    return (
        f"{name} alone predicts the label ({strength}; {entry['detail']}). A model can learn it "
        "instead of the pixels: make the classes match on it (re-encode, resize, strip EXIF) "
        "or evaluate on data where it does not separate them."
    )
