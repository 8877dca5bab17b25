"""Evaluate a detector on a dataset manifest: overall, per source, without leaks, robustness.

``evaluate_model`` returns one JSON-safe dict (see its docstring) plus the per-image scores under
the private key ``_scores``, which :func:`write_json` drops and
:func:`deeptrust.evaluate.report.write_report` plots. The decision threshold is the card's;
choosing it belongs to training (:func:`deeptrust.evaluate.metrics.choose_threshold` on
validation data).

Non-goals: training-time validation loops (they call ``compute_metrics`` directly), image caching.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress

from deeptrust._progress import create_progress
from deeptrust.detector import Detector
from deeptrust.evaluate._scoring import score_paths
from deeptrust.evaluate.metrics import compute_metrics, predicted_labels
from deeptrust.evaluate.robustness import PERTURBATIONS

WORST_ERRORS = 16
UNNAMED_SOURCE = "(unnamed)"


class DataError(ValueError):
    """The manifest cannot be evaluated as asked (missing columns or split, mismatched labels)."""


def evaluate_model(
    detector: Detector,
    manifest: pd.DataFrame,
    *,
    split: str | None = "test",
    robustness: bool = True,
    robustness_limit: int | None = 2000,
    batch_size: int = 256,
    progress: bool = True,
    seed: int = 0,
    limit: int | None = None,
) -> dict[str, Any]:
    """Score every image of ``split`` (all rows when ``None``) and measure the model.

    Returns the overall metrics at top level (``compute_metrics`` keys) and ``model``, ``data``,
    ``per_source`` (when ≥ 2 sources are named), ``subsets.without_leaks`` (when any row is a leak),
    ``robustness`` (perturbation → summary on a seeded stratified sample of at most
    ``robustness_limit`` images, ``clean`` being the same sample unperturbed), ``worst_errors``,
    ``errors`` (unreadable images) and ``_scores`` (per-image arrays). ``limit`` evaluates a seeded
    stratified sample of that many images, for quick checks.
    """
    rows = select_rows(manifest, split=split, limit=limit, seed=seed)
    card = detector.card
    check_labels(rows["label"], card.class_names)
    measure = functools.partial(
        compute_metrics,
        class_names=card.class_names,
        real_class=card.real_class,
        threshold=card.threshold,
    )
    with create_progress(enabled=progress, unit="img") as bar:
        scores = score_paths(
            detector,
            rows["path"].tolist(),
            transforms={"clean": None},
            batch_size=batch_size,
            progress=bar,
            description=f"scoring {split or 'all'}",
        )
        scored = rows[scores.ok].reset_index(drop=True)
        probs = scores.probs["clean"]
        result = measure(scored["label"].tolist(), probs)
        result["model"] = _model_info(detector)
        result["data"] = _data_info(rows, split=split, limit=limit, seed=seed, errors=scores.errors)
        result |= _breakdowns(scored, probs, measure)
        if robustness and len(scored):
            result["robustness"] = measure_robustness(
                detector,
                scored,
                probs,
                limit=robustness_limit,
                seed=seed,
                batch_size=batch_size,
                progress=bar,
            )
    result["worst_errors"] = worst_errors(scored, probs, detector)
    result["errors"] = scores.errors
    p_ai = detector.p_ai(probs) if len(probs) else np.zeros(0)
    result["_scores"] = {
        "paths": scored["path"].tolist(),
        "labels": scored["label"].tolist(),
        "y_ai": (scored["label"] != card.real_class).to_numpy(dtype=bool),
        "p_ai": np.asarray(p_ai, dtype=np.float64),
        "probs": probs,
    }
    return result


def select_rows(
    manifest: pd.DataFrame, *, split: str | None, limit: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """The rows to evaluate, with ``source`` and ``leak`` filled in when the manifest lacks them."""
    missing = {"path", "label"} - set(manifest.columns)
    if missing:
        raise DataError(f"the manifest lacks the columns {sorted(missing)}; it has {list(manifest.columns)}")
    rows = manifest
    if split is not None:
        available = sorted(manifest["split"].astype(str).unique()) if "split" in manifest else []
        if split not in available:
            raise DataError(
                f"the dataset has no split {split!r}; "
                f"available splits: {', '.join(available) or 'none'} (choose one with --split)"
            )
        rows = manifest[manifest["split"].astype(str) == split]
    if rows.empty:
        raise DataError("no images to evaluate: the manifest is empty")
    rows = rows.assign(
        path=rows["path"].astype(str),
        label=rows["label"].astype(str),
        source=rows["source"].fillna("").astype(str) if "source" in rows else "",
        leak=rows["leak"].fillna(False).astype(bool) if "leak" in rows else False,
    )
    if limit is not None and limit < len(rows):
        rows = rows.iloc[stratified_sample(rows["label"], limit, seed=seed)]
    return rows.reset_index(drop=True)


def check_labels(labels: pd.Series, class_names: tuple[str, ...]) -> None:
    found = sorted(labels.unique())
    if not set(found) & set(class_names):
        raise DataError(
            f"the dataset's labels {found} share no name with the model's classes "
            f"{list(class_names)}; is this the right model for this dataset?"
        )


def stratified_sample(labels: pd.Series, n: int | None, *, seed: int = 0) -> np.ndarray:
    """Positions of a seeded sample of ``n`` rows with each label in proportion, in original order.

    Rows are shuffled, ranked within their label and spread over [0, 1) by rank / label count; the
    ``n`` smallest keys take every label in turn, so any prefix is stratified.
    """
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    shuffled = pd.Series(labels.to_numpy()[order])
    rank = shuffled.groupby(shuffled).cumcount().to_numpy()
    count = shuffled.map(shuffled.value_counts()).to_numpy()
    keys = (rank + rng.random(len(labels))) / count
    return np.sort(order[np.argsort(keys, kind="stable")[:n]])


def measure_robustness(
    detector: Detector,
    scored: pd.DataFrame,
    probs: np.ndarray,
    *,
    limit: int | None,
    seed: int,
    batch_size: int,
    progress: Progress | None,
) -> dict[str, dict[str, Any]]:
    """Re-score a sample under each of :data:`PERTURBATIONS`; ``clean`` is that sample as is."""
    picked = stratified_sample(scored["label"], limit, seed=seed)
    sample = scored.iloc[picked]
    perturbed = score_paths(
        detector,
        sample["path"].tolist(),
        transforms=dict(PERTURBATIONS),
        batch_size=batch_size,
        progress=progress,
        description="robustness",
    )
    labels = sample["label"][perturbed.ok].tolist()
    out = {"clean": _robust_summary(labels, probs[picked][perturbed.ok], detector)}
    for name, variant in perturbed.probs.items():
        out[name] = _robust_summary(labels, variant, detector)
    return out


def _robust_summary(labels: list[str], probs: np.ndarray, detector: Detector) -> dict[str, Any]:
    card = detector.card
    m = compute_metrics(
        labels,
        probs,
        class_names=card.class_names,
        real_class=card.real_class,
        threshold=card.threshold,
    )
    keys = ("n", "accuracy", "recall", "false_positive_rate", "roc_auc", "tpr_at_fpr_5pct")
    p_ai = pd.Series(1.0 - probs[:, card.real_index] if len(probs) else [], dtype=float)
    mean_p_ai = p_ai.groupby(pd.Series(labels, dtype=str)).mean()
    return {k: m[k] for k in keys} | {"mean_p_ai": {k: float(v) for k, v in mean_p_ai.items()}}


def _breakdowns(scored: pd.DataFrame, probs: np.ndarray, measure: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    named = sorted(s for s in scored["source"].unique() if s)
    if len(named) >= 2:
        source = scored["source"].replace("", UNNAMED_SOURCE).to_numpy()
        out["per_source"] = {
            s: measure(scored["label"][source == s].tolist(), probs[source == s]) for s in sorted(set(source))
        }
    for key, column in (("by_source", "source"), ("by_generator", "generator")):
        if column in scored and scored[column].fillna("").astype(str).str.len().gt(0).any():
            out[key] = group_metrics(scored, probs, column, measure)
    leak = scored["leak"].to_numpy(dtype=bool)
    if leak.any():
        out["subsets"] = {"without_leaks": measure(scored["label"][~leak].tolist(), probs[~leak])}
    return out


def group_metrics(scored: pd.DataFrame, probs: np.ndarray, column: str, measure: Any) -> dict[str, Any]:
    """Per value of ``column`` (and label): n, the share called AI at the card's threshold (TPR for
    generated images, FPR for real ones), mean p_ai, and ROC-AUC of the group against every image
    of the other class in the split — how well that one source or generator is told apart."""
    from sklearn.metrics import roc_auc_score

    threshold = measure.keywords["threshold"]
    real_class = measure.keywords["real_class"]
    real_index = list(measure.keywords["class_names"]).index(real_class)
    p_ai = 1.0 - probs[:, real_index] if len(probs) else np.zeros(0)
    is_real = (scored["label"] == real_class).to_numpy()
    names = scored[column].fillna("").astype(str).replace("", UNNAMED_SOURCE).to_numpy()
    out: dict[str, Any] = {}
    for name in sorted(set(names)):
        for real in (False, True):
            mask = (names == name) & (is_real == real)
            if not mask.any():
                continue
            other = is_real != real
            row: dict[str, Any] = {
                "label": real_class if real else "AI",
                "n": int(mask.sum()),
                "mean_p_ai": float(p_ai[mask].mean()),
                ("false_positive_rate" if real else "recall"): float((p_ai[mask] >= threshold).mean()),
            }
            if other.any():
                y = np.concatenate([np.zeros(mask.sum()) if real else np.ones(mask.sum()), (~is_real[other])])
                row["roc_auc"] = float(roc_auc_score(y, np.concatenate([p_ai[mask], p_ai[other]])))
            out[f"{name} ({row['label']})" if len(set(is_real[names == name])) > 1 else name] = row
    return out


def worst_errors(
    scored: pd.DataFrame, probs: np.ndarray, detector: Detector, *, k: int = WORST_ERRORS
) -> list[dict[str, Any]]:
    """The ``k`` misclassified images (AI vs real) the model was surest about."""
    if not len(scored):
        return []
    card = detector.card
    p_ai = detector.p_ai(probs).astype(np.float64)
    y = (scored["label"] != card.real_class).to_numpy()
    said_ai = p_ai >= card.threshold
    confidence = np.where(said_ai, p_ai, 1.0 - p_ai)
    wrong = np.flatnonzero(said_ai != y)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:k]
    predicted = predicted_labels(
        probs[wrong],
        class_names=card.class_names,
        real_class=card.real_class,
        threshold=card.threshold,
    )
    return [
        {
            "path": scored["path"].iat[i],
            "label": scored["label"].iat[i],
            "predicted": str(pred),
            "p_ai": float(p_ai[i]),
            "source": scored["source"].iat[i],
        }
        for i, pred in zip(wrong, predicted, strict=True)
    ]


def _model_info(detector: Detector) -> dict[str, Any]:
    card = detector.card
    return {
        "name": card.name,
        "version": card.version,
        "family": card.family,
        "threshold": card.threshold,
        "target_fpr": card.target_fpr,
        "class_names": list(card.class_names),
        "real_class": card.real_class,
        "path": str(detector.path),
    }


def _data_info(
    rows: pd.DataFrame, *, split: str | None, limit: int | None, seed: int, errors: list[Any]
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "split": split,
        "rows": len(rows),
        "unreadable": len(errors),
        "labels": {str(k): int(v) for k, v in rows["label"].value_counts().sort_index().items()},
        "sources": sorted(s for s in rows["source"].unique() if s),
        "leaks": int(rows["leak"].sum()),
        "limit": limit,
        "seed": seed,
    }
    if "sha256" in rows:
        info["duplicates"] = int(len(rows) - rows["sha256"].nunique())
    if "excluded_reason" in rows:  # rows the import had set aside, evaluated all the same
        reasons = rows["excluded_reason"].fillna("").astype(str)
        info["import_excluded"] = {str(k): int(v) for k, v in reasons[reasons != ""].value_counts().items()}
    return info


def public_result(result: dict[str, Any]) -> dict[str, Any]:
    """The result without private keys (``_scores``): what JSON output and callers persist."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def write_json(result: dict[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(public_result(result), indent=2, allow_nan=False, default=_json_default))
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
