"""Shortcut check: does any property other than the pixels predict the label on its own?

If REAL images are PNG and FAKE ones JPEG, a detector learns the container, not generation
traces, and fails on the first re-encoded image. The properties are the container's (format, size,
mode, JPEG tables) and every piece of metadata the scan records (EXIF and its Make/Model/Software,
XMP, ICC profile, comments, APPn segments, PNG text chunks, chroma subsampling, progressive scans,
density, trailing bytes). Each gets a score, warned about above a threshold. Categorical properties
use the leave-one-out accuracy of "the majority label of that value" (so unique values such as odd
sizes don't score perfectly by memorisation), compared with always guessing the majority class, and
the ROC-AUC of the one-feature rule "share of a label among rows with that value" (values of at
least ``TELL_MIN_ROWS`` rows only);
numeric ones use ROC-AUC of each label against the rest. A value of at least ``TELL_MIN_ROWS`` rows
that occurs in one label only and covers ``TELL_MIN_SHARE`` of it is a *tell*: a partial shortcut
(e.g. a camera Make on a fifth of the REAL photos) that the scores can miss, reported as such.
Leave-one-out can score below the baseline (a value shared evenly by two labels votes against
each held-out row); that reads as "no signal", never as a warning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ACCURACY_LIFT_WARN = 0.10  # warn when a categorical property beats the majority baseline by this
AUC_WARN = 0.80  # warn when a numeric property reaches this ROC-AUC (either direction)
TELL_MIN_ROWS = 5  # a value this frequent, in one label only, ...
TELL_MIN_SHARE = 0.05  # ... and carried by this share of that label's rows is a partial shortcut
METADATA_PROPERTIES = (
    "exif_make", "exif_model", "exif_software", "xmp", "icc", "comment", "app_segments",
    "png_text", "subsampling", "progressive", "dpi", "info_keys",
)  # fmt: skip
CATEGORICAL_PROPERTIES = (
    "format", "dimensions", "mode", "exif", "jpeg_quality", "qtable_hash", *METADATA_PROPERTIES,
)  # fmt: skip
NUMERIC_PROPERTIES = ("bytes", "pixels", "exif_tags", "trailer_bytes")
SHOWN_VALUES = 4


def property_values(manifest: pd.DataFrame) -> dict[str, pd.Series]:
    """Each checked property of every manifest row, as one Series per property.

    Properties whose column the manifest lacks (an import made before it was recorded) are left out.
    """
    values = {
        "format": manifest["format"],
        "dimensions": manifest["width"].astype(str) + "x" + manifest["height"].astype(str),
        "mode": manifest["mode"],
        "exif": manifest["exif"],
        "jpeg_quality": manifest["jpeg_quality"],
        "qtable_hash": manifest["qtable_hash"],
        "bytes": manifest["bytes"],
        "pixels": manifest["width"] * manifest["height"],
    }
    for name in (*METADATA_PROPERTIES, *NUMERIC_PROPERTIES):
        if name not in values and name in manifest:
            values[name] = manifest[name]
    return values


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
            entry.update(constant=True, warn=False, score=entry["baseline"], tells=[])
            entry["auc"] = 0.5 if "auc" in entry else entry["score"]
        result["properties"].append(entry)
        if entry["warn"]:
            result["warnings"].append(_warning(entry, result["baseline"]))
        elif entry.get("tells"):
            result["warnings"].append(_tell_warning(entry))
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
    auc, auc_label = _categorical_auc(values.astype(str), labels, table, order)
    top = table.loc[table.sum(axis=1).sort_values(ascending=False, kind="stable").index[:SHOWN_VALUES]]
    return {
        "metric": "accuracy",
        "score": round(accuracy, 4),
        "baseline": round(baseline, 4),
        "lift": round(lift, 4),
        "auc": round(auc, 4),
        "best_label": auc_label,
        "tells": _tells(table, order),
        "distinct": len(table),
        "constant": False,
        "warn": round(lift, 6) >= ACCURACY_LIFT_WARN or round(auc, 6) >= AUC_WARN,
        "detail": "; ".join(
            f"{value or '(empty)'}: " + ", ".join(f"{label} {row[label]:,}" for label in order if row[label])
            for value, row in top.iterrows()
        ),
    }


def _categorical_auc(
    values: pd.Series, labels: pd.Series, table: pd.DataFrame, order: list[str]
) -> tuple[float, str]:
    """Best one-vs-rest ROC-AUC of scoring each row by its value's share of the label.

    Only values of at least ``TELL_MIN_ROWS`` rows vote; rarer ones score the label's overall share,
    so unique values cannot separate by memorisation. (Leave-one-out shares would not do here: they
    rank the rows of one shared value against their own label.)
    """
    size = table.sum(axis=1)
    frequent = (size >= TELL_MIN_ROWS).reindex(values).to_numpy()
    best_auc, best_label = 0.5, order[0]
    for label in order:
        positive = (labels == label).to_numpy()
        share = (table[label] / size).reindex(values).to_numpy()
        auc = _auc(pd.Series(np.where(frequent, share, positive.mean())), positive)
        if auc > best_auc:  # one direction only: a low share already means "another label"
            best_auc, best_label = auc, label
    return float(best_auc), best_label


def _tells(table: pd.DataFrame, order: list[str]) -> list[dict]:
    """Values found in one label only, frequent enough to be learnt: partial shortcuts."""
    totals = table.sum(axis=0)
    found = []
    for value, row in table.iterrows():
        present = [label for label in order if row[label]]
        if len(present) != 1:
            continue
        label, rows = present[0], int(row[present[0]])
        share = rows / totals[label]
        if rows >= TELL_MIN_ROWS and share >= TELL_MIN_SHARE:
            found.append({"value": str(value), "label": label, "rows": rows, "share": round(float(share), 4)})
    return sorted(found, key=lambda tell: -tell["rows"])[:SHOWN_VALUES]


def _auc(scores: pd.Series, positive: np.ndarray) -> float:
    """ROC-AUC of ``scores`` for ``positive`` rows (ties count half), 0.5 when a side is empty."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return 0.5
    ranks = scores.rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _numeric(values: pd.Series, labels: pd.Series, order: list[str]) -> dict:
    values = values.astype("float64")
    best_auc, best_label = 0.5, order[0]
    for label in order:
        auc = _auc(values, (labels == label).to_numpy())
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


def _tell_warning(entry: dict) -> str:
    tells = "; ".join(
        f"{tell['value'] or '(empty)'!r} on {tell['share']:.0%} of {tell['label']} ({tell['rows']:,} rows)"
        for tell in entry["tells"]
    )
    return (
        f"{entry['property']} partly gives the label away: values found in one label only — {tells}. "
        "Those images carry their label outside the pixels; training sees pixels only, but check that "
        "evaluation does not lean on them (e.g. score them apart)."
    )
