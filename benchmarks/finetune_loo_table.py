"""The fine-tune's leave-one-out folds as one protocol table, at one threshold rule.

``benchmarks/finetune_loo.py`` writes one JSON per batch of folds (real sources, generated sources), each
fold scored at several thresholds. This joins them into the JSON that ``deeptrust evaluate --protocol
leave-one-out --json`` writes (``protocol``, ``by``, ``summary``, ``groups``), so ``deeptrust models
annotate --protocol`` stores it in the card, and into the same markdown table:

    .venv/bin/python benchmarks/finetune_loo_table.py benchmarks/results/finetune-loo-*.json --rule 0.01 \
        --json .deeptrust/photos-loo.json --markdown models/photos/leave-one-out.md

``--protocol`` names the table in the card (another name keeps a second table beside the first: the
folds of the shipped data, say). ``--rule`` names the threshold every fold was scored at: a pooled
validation FPR (``0.01``) or ``val_tpr_0.4`` (where the fold's validation catches 40 % of fakes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from deeptrust.probe.cli import to_markdown
from deeptrust.probe.protocol import summarize


def groups(results: list[dict], rule: str) -> pd.DataFrame:
    """One row per held-out group: ROC-AUC and the share called AI at ``rule``'s threshold."""
    rows = []
    for result in results:
        for fold in result["folds"]:
            fold = {"label": result.get("label", "REAL"), **fold}  # the first runs wrote no label: REAL
            real, name = fold["label"] == "REAL", f"{fold['held_out']}/{fold['label']}"
            key = f"{'fpr' if real else 'tpr'}_at_{rule}"
            if key not in fold:
                raise SystemExit(f"fold {name} was not scored at {rule!r} (no {key})")
            rows.append(
                {
                    "group": name,
                    "label": fold["label"],
                    "n": fold["n"],
                    "roc_auc": fold["roc_auc"],
                    "tpr_at_threshold": float("nan") if real else fold[key],
                    "fpr_at_threshold": fold[key] if real else float("nan"),
                }
            )
    table = pd.DataFrame(rows).sort_values("group", kind="stable").reset_index(drop=True)
    duplicated = table["group"][table["group"].duplicated()].tolist()
    if duplicated:
        raise SystemExit(f"groups held out in more than one file: {', '.join(duplicated)}")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, nargs="+", help="JSON files of benchmarks/finetune_loo.py")
    ap.add_argument("--rule", default="0.01", help="threshold: a pooled val FPR (0.01) or val_tpr_0.4")
    ap.add_argument(
        "--protocol",
        default="leave-one-out",
        help="its name in the card (`models annotate` keys it NAME_by_BY): e.g. leave-one-out-shipped",
    )
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    results = [json.loads(p.read_text()) for p in args.results]
    by = sorted({r.get("by", "source") for r in results})
    table = groups(results, args.rule)
    summary = summarize(table)
    print(to_markdown(table))
    print(json.dumps({k: round(v, 4) for k, v in summary.items()}))
    body = {
        "protocol": args.protocol,
        "config": sorted({r["config"] for r in results}),
        "recipe": "fine-tune (benchmarks/finetune_loo.py)",
        "epochs": sorted({r["epochs"] for r in results}),
        "rule": args.rule,
        "by": by[0] if len(by) == 1 else "group",  # folds of sources and of whole datasets: "group"
        "summary": summary,
        "groups": table.to_dict(orient="records"),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(body, indent=2, default=float) + "\n")
    if args.markdown:
        args.markdown.write_text(to_markdown(table) + "\n")


if __name__ == "__main__":
    main()
