"""Probe variants under the leave-one-source-out protocol, on the features a config caches.

    .venv/bin/python benchmarks/probe_search.py configs/photos-multigen.yaml \
        '[{"views": ["clean"]}, {"alpha": 1.0}, {"squares": false, "views": ["clean"]}]'

An optional third argument overrides the config (dotted keys as ``deeptrust train --set``), e.g.
``'{"model.inputs": ["rgb", "npr"]}'`` or ``'{"probe.history_views": 1}'`` (features computed and
cached for what the candidates then select). Each candidate is JSON: ``taps`` (default all),
``squares`` (true), ``alpha`` (0.1), ``agg`` (mean|geomean|top_k) and ``k``, ``inputs`` (of the
config's ``model.inputs``: rgb, npr), ``target_fpr`` and ``threshold_by`` (pooled|source: every real
source of 30+ validation images held to the target too), ``by`` (source|generator), ``views``
(training views, default clean + aug1, + hist1 with history views), ``show`` (print the per-group
table). Prints the protocol's summary per candidate.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from deeptrust.probe.features import ALL_TAPS, feature_columns
from deeptrust.probe.protocol import PatchTable, Recipe, assign_groups, leave_one_out, summarize
from deeptrust.probe.run import build_table
from deeptrust.settings import get_settings
from deeptrust.train.config import load_config


def columns(
    taps: tuple[str, ...], squares: bool, inputs: tuple[str, ...], table_inputs: tuple[str, ...]
) -> np.ndarray:
    names = feature_columns(ALL_TAPS, inputs=table_inputs)
    keep = []
    for i, c in enumerate(names):
        source, _, name = c.rpartition(":")
        if (source or "rgb") in inputs and name.split(".")[0] in taps and (squares or ".mean." in name):
            keep.append(i)
    return np.asarray(keep)


def main() -> None:
    config = load_config(sys.argv[1], **(json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}))
    table, _ = build_table(config, get_settings(), show=False)
    for c in json.loads(sys.argv[2]):
        started = time.perf_counter()
        recipe = Recipe(
            columns=columns(
                tuple(c.get("taps", ALL_TAPS)),
                c.get("squares", True),
                tuple(c.get("inputs", config.model.inputs)),
                config.model.inputs,
            ),
            alpha=c.get("alpha", 0.1),
            aggregate=c.get("agg", "mean"),
            top_k=c.get("k", 2),
            target_fpr=c.get("target_fpr", config.target_fpr),
            threshold_by=c.get("threshold_by", config.probe.threshold_by),
            min_source=config.probe.min_source,
        )
        images = table.images.assign(group=assign_groups(table.images, by=c.get("by", "source")))
        result = leave_one_out(
            PatchTable(images, table.views, recipe), train_views=tuple(c.get("views", ["clean", "aug1"]))
        )
        summary = {k: round(v, 4) for k, v in summarize(result).items()}
        print(json.dumps(c), summary, f"{time.perf_counter() - started:.0f}s", flush=True)
        if c.get("show"):
            print(result[["group", "n", "roc_auc", "tpr_at_threshold", "fpr_at_threshold"]].to_string())


if __name__ == "__main__":
    main()
