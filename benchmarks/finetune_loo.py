"""Leave one source out for the fine-tuned candidate (``configs/photos-finetune.yaml``).

The probe's leave-one-out protocol (``deeptrust evaluate --protocol leave-one-out``) refits a head on
cached features, which takes seconds a fold; a fine-tune takes minutes, so this script runs the folds
one chooses for the fine-tuned recipe — by default every real source, the part the issue calls the hard
one (unseen real photo collections). For each held-out group (source R's images of ``--label``), it
fine-tunes on the train split without them (validation without them picks the best epoch and the
threshold), then scores all of the group's train + val images against the other class's images of the
fold's validation. Output per fold: ROC-AUC; the share called AI (FPR for a real group, TPR for a
generated one) at the thresholds of ``--target-fpr`` (chosen on the fold's validation reals, pooled;
``source_FPR``: raised until every real source of ``--min-source`` validation images is at or under it too)
and where the fold's validation TPR is ``--match-tpr``; minutes.

    PYTHONPATH=$PWD/src flock /tmp/deeptrust-heavy.lock .venv/bin/python benchmarks/finetune_loo.py \
        configs/photos-finetune.yaml --epochs 4 --json benchmarks/results/finetune-loo-real.json
    ... --label FAKE --sources portraits-mu4dian nano-banana-picotrex --json ...-fake.json
    ... configs/photos.yaml --by dataset --sources photos-1.0-data --json ...   # one dataset of several

``--reuse`` scores the folds already trained in ``--workdir`` again (other thresholds, ``--match-tpr``).
Compare with the probe on the same folds: ``deeptrust evaluate --protocol leave-one-out --config
configs/photos-multigen.yaml`` (the probe recipe on the same multigen data).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import yaml
from sklearn.metrics import roc_auc_score

from deeptrust.evaluate.metrics import choose_threshold
from deeptrust.probe.protocol import Recipe, group_threshold
from deeptrust.settings import get_settings
from deeptrust.train import loop
from deeptrust.train.config import load_config
from deeptrust.train.data import fixed_crops, load_split, source_groups, to_tensor


def group(manifest, held: str, label: str, by: str = "source"):
    """The held-out group: the images of ``held`` (a source, or a dataset of a combined config: ``by``)
    with ``label`` (its others, if any, stay in)."""
    return (manifest[by] == held) & (manifest["label"] == label)


def fold_data(dataset, manifest, held: str, label: str, by: str, settings) -> dict:
    """``loop.prepare_data``'s result for the fold: the dataset's train and val without group ``held``."""
    kept = manifest[~group(manifest, held, label, by)]
    class_names = sorted(manifest["label"].unique())
    cache = settings.cache_dir / "pixels"
    train = load_split(kept, "train", class_names, cache_dir=cache, show=False)
    val = load_split(kept, "val", class_names, cache_dir=cache, show=False)
    hashed = f"{dataset.dataset_hash}-{held}"
    fold = SimpleNamespace(name=f"{dataset.name}-without-{held}", dataset_hash=hashed)
    if hasattr(dataset, "parts"):  # a combined dataset: the run records its parts (before the fold)
        fold.parts = dataset.parts
    return {"dataset": fold, "class_names": class_names, "train": train, "val": val}


def score(model, manifest, class_names, config, settings) -> np.ndarray:
    """p_ai of every image of ``manifest`` (split column ignored), on the card's fixed crops."""
    rows = manifest.assign(split="held")
    px = load_split(rows, "held", class_names, cache_dir=settings.cache_dir / "pixels", show=False)
    crops, owner = fixed_crops(px, loop.preprocessing_of(config))
    probs = loop.predict_probs(model, to_tensor(crops, config.input), owner, bf16=False)
    return 1.0 - probs[:, class_names.index(config.data.real_class)]


def run_fold(config, dataset, manifest, held: str, args, settings) -> dict:
    started = time.time()
    is_real = args.label == config.data.real_class
    out = args.workdir / (held if is_real else f"{held}-{args.label}")
    cfg = config.model_copy(
        update={
            "name": f"{config.name}-loo-{held}",
            "out_dir": str(out),
            "optim": config.optim.model_copy(update={"epochs": args.epochs}),
        }
    )
    data = fold_data(dataset, manifest, held, args.label, args.by, settings)
    if not (args.reuse and (out / "summary.json").exists()):  # --reuse: score the fold's trained model again
        original = loop.prepare_data
        loop.prepare_data = lambda *_a, **_k: data  # the fold's data instead of the whole dataset
        try:
            loop.train(cfg, show=False, settings=settings)
        finally:
            loop.prepare_data = original
    class_names = data["class_names"]
    real = class_names.index(cfg.data.real_class)
    model = loop.build_model(cfg, len(class_names), pretrained=False)
    model.load_state_dict(torch.load(out / "best.pt", map_location="cpu", weights_only=False)["model"])
    val_p = 1.0 - np.load(out / "val_probs.npy")[:, real]
    val_fake = data["val"].labels != real
    in_split = manifest["split"].isin(["train", "val"])
    held_rows = manifest[group(manifest, held, args.label, args.by) & in_split]
    held_p = score(model, held_rows, class_names, cfg, settings)
    np.savez(out / "scores.npz", held_p=held_p, val_p=val_p, val_fake=val_fake)
    # Against the other class's validation images: held-out reals vs fakes, held-out fakes vs reals.
    other = val_p[val_fake] if is_real else val_p[~val_fake]
    y = np.r_[np.full(len(held_p), 0 if is_real else 1), np.full(len(other), 1 if is_real else 0)]
    rate = "fpr" if is_real else "tpr"  # the share of the held-out images called AI
    row = {
        "held_out": held,
        "label": args.label,
        "n": len(held_p),
        "roc_auc": float(roc_auc_score(y, np.r_[held_p, other])),
        "val_roc_auc": float(roc_auc_score(val_fake.astype(int), val_p)),
        "minutes": round((time.time() - started) / 60, 1),
        "train_minutes": json.loads((out / "summary.json").read_text())["train_minutes"],
    }
    for fpr in args.target_fpr:
        t = choose_threshold(val_fake.astype(int), val_p, target_fpr=fpr)
        row[f"{rate}_at_{fpr:g}"] = float((held_p >= t).mean())
        row[f"val_tpr_at_{fpr:g}"] = float((val_p[val_fake] >= t).mean())
    val_groups = source_groups(data["val"].rows).to_numpy()
    for fpr in args.target_fpr:  # also at or under fpr on every real source of --min-source val images
        rule = Recipe(
            np.empty(0, np.int64), target_fpr=fpr, threshold_by="source", min_source=args.min_source
        )
        t = group_threshold(val_fake.astype(int), val_p, val_groups, rule)
        row[f"{rate}_at_source_{fpr:g}"] = float((held_p >= t).mean())
        row[f"val_tpr_at_source_{fpr:g}"] = float((val_p[val_fake] >= t).mean())
    for tpr in args.match_tpr:  # the threshold at which the fold's validation catches this share of fakes
        t = float(np.quantile(val_p[val_fake], 1.0 - tpr))
        row[f"{rate}_at_val_tpr_{tpr:g}"] = float((held_p >= t).mean())
        row[f"val_fpr_at_val_tpr_{tpr:g}"] = float((val_p[~val_fake] >= t).mean())
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--sources", nargs="*", help="sources to hold out (default: every one with --label)")
    ap.add_argument("--label", default="REAL", help="which images of a source are held out (REAL or FAKE)")
    ap.add_argument(
        "--by",
        choices=["source", "dataset"],
        default="source",
        help="hold out a source, or one dataset of a config with data.sources",
    )
    ap.add_argument("--target-fpr", type=float, nargs="+", default=[0.02, 0.05])
    ap.add_argument(
        "--match-tpr",
        type=float,
        nargs="*",
        default=[],
        help="also: held-out FPR where validation TPR is this",
    )
    ap.add_argument(
        "--min-source",
        type=int,
        default=30,
        help="the source_FPR rule: the target FPR also on every real source of this many val images",
    )
    ap.add_argument("--reuse", action="store_true", help="folds already trained in --workdir are only scored")
    ap.add_argument("--workdir", type=Path, default=Path(".deeptrust/finetune-loo"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--set", nargs="*", default=[], help="config overrides KEY=VALUE (YAML values)")
    args = ap.parse_args()
    settings = get_settings()
    overrides = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    config = load_config(args.config, **overrides)
    d = config.data
    dataset = loop.open_dataset(config, show=False)  # one source or several (``data.sources``)
    manifest = dataset.manifest
    if args.by not in manifest.columns:
        raise SystemExit(f"--by {args.by}: the config's data has no {args.by!r} column (use data.sources)")
    # every named group with --label; images without a source (a dataset of a combined config that has
    # none) form no group of their own: hold their dataset out with --by dataset
    named = manifest.loc[manifest["label"] == args.label, args.by]
    groups = sorted(g for g in named.unique() if isinstance(g, str) and g)
    rows = [run_fold(config, dataset, manifest, held, args, settings) for held in (args.sources or groups)]
    rate, worst = ("fpr", np.max) if args.label == d.real_class else ("tpr", np.min)
    keys = [f"{rate}_at_{f:g}" for f in args.target_fpr] + [
        f"{rate}_at_val_tpr_{t:g}" for t in args.match_tpr
    ]
    summary = {
        "config": str(args.config),
        "epochs": args.epochs,
        "label": args.label,
        "by": args.by,
        "folds": rows,
        "mean_roc_auc": float(np.mean([r["roc_auc"] for r in rows])),
        "min_roc_auc": float(np.min([r["roc_auc"] for r in rows])),
        **{f"mean_{k}": float(np.mean([r[k] for r in rows])) for k in keys},
        **{f"worst_{k}": float(worst([r[k] for r in rows])) for k in keys},
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "folds"}, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
