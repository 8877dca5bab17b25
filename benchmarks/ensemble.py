"""Would averaging models help? Each model's and each combination's accuracy and ROC-AUC on a split.

    .venv/bin/python benchmarks/ensemble.py --data cifake --split val --models cifake /tmp/old/model.onnx

Scores an imported dataset's split (``deeptrust data import``) with every model through
:class:`deeptrust.Detector` (each with its own card's preprocessing), then reports for each model and
for every combination of two or more the accuracy at p_ai ≥ 0.5 and the ROC-AUC of the averaged p_ai,
and how many of each model's errors the others share. Averaging helps only where models err on different
images; when most errors are shared, more models (or more of the same training) will not close a gap.
Use a validation split to decide; a test split only to report.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from sklearn.metrics import roc_auc_score

from deeptrust.data.importer import load_manifest
from deeptrust.detector import Detector
from deeptrust.evaluate._scoring import score_paths


def score(detector: Detector, paths: list[str]) -> np.ndarray:
    """p_ai of every path, decoded in threads as `deeptrust evaluate` does; unreadable files stop it."""
    scores = score_paths(detector, paths, transforms={"clean": None}, batch_size=512)
    if scores.errors:
        raise SystemExit(f"{len(scores.errors)} files could not be scored, first: {scores.errors[0]}")
    return detector.p_ai(scores.probs["clean"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="an imported dataset's name or manifest path")
    parser.add_argument("--split", default="val")
    parser.add_argument("--models", nargs="+", required=True, help="names, model folders or .onnx files")
    args = parser.parse_args()
    if len(args.models) < 2:
        parser.error("--models needs at least two models to combine")

    rows = load_manifest(args.data)
    rows = rows[rows["split"] == args.split].sort_values("relpath")
    if rows.empty:
        parser.error(f"{args.data} has no {args.split!r} split")
    detectors = [Detector.load(m) for m in args.models]
    real = {d.card.real_class for d in detectors}
    if len(real) != 1:
        parser.error(f"the models disagree on the real class: {sorted(real)}")
    y = (rows["label"] != real.pop()).to_numpy(int)
    paths = rows["path"].tolist()
    p_ai = {m: score(d, paths) for m, d in zip(args.models, detectors, strict=True)}
    wrong = {m: (p >= 0.5) != y for m, p in p_ai.items()}

    print(f"{args.data} {args.split}: n = {len(y)}, {int(y.sum())} not real")
    print(f"{'models':60s} {'acc@0.5':>8s} {'ROC-AUC':>8s} {'errors':>7s}")
    for r in range(1, len(args.models) + 1):
        for combo in itertools.combinations(args.models, r):
            p = np.mean([p_ai[m] for m in combo], axis=0)
            errors = int(((p >= 0.5) != y).sum())
            name = " + ".join(combo)[-60:]
            print(f"{name:60s} {1 - errors / len(y):8.5f} {roc_auc_score(y, p):8.5f} {errors:7d}")
    for m in args.models:
        others = np.any([wrong[o] for o in args.models if o != m], axis=0)
        shared = int((wrong[m] & others).sum())
        print(f"{m[-60:]}: {int(wrong[m].sum())} errors, {shared} of them also made by another model")


if __name__ == "__main__":
    main()
