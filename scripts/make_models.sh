#!/usr/bin/env bash
# Rebuild the shipped models from ../shared/datasets with the project's own pipeline.
#   bash scripts/make_models.sh photos     # photos 2.2, its leave-one-out (~7 h) and test figures
#   bash scripts/make_models.sh photos_2_1 # the 2.1 probe, kept for comparison (~25 min)
#   bash scripts/make_models.sh photos_1_0 # the 1.0 baseline + its thumbnail control (~20 min)
#   bash scripts/make_models.sh cifake     # ≤ 60 min on 2 CPU cores
# The bundled models are files in models/, not registry versions: exports use --no-register and every
# later step names the directory (a name would resolve through the registry, whose first use makes the
# bundled directory version 1; an export registered before that would take the name without an alias).
set -euo pipefail
cd "$(dirname "$0")/.."
DT=${DT:-.venv/bin/deeptrust}
DATA=${DATA:-../shared/datasets}

photos() {
  # photos 2.2: Lite0 fine-tuned on native crops of multigen + sd-vs-photos (~30-45 min on 2 CPU cores).
  $DT train --config configs/photos.yaml
  $DT export --run .deeptrust/runs/photos --out models/photos --version 2.2.0 --int8 --no-register \
    --description "$(cat models/photos.description)"
  $DT evaluate --model models/photos --data "$DATA/multigen.tar.gz" --split val --json .deeptrust/photos-val.json
  # leave one source out: 21 fine-tunes of 4 epochs on multigen (~3 h on 2 cores), then one table at the
  # shipped threshold rule (1 % pooled validation FPR)
  PYTHONPATH=src .venv/bin/python benchmarks/finetune_loo.py configs/photos-finetune.yaml --epochs 4 \
    --target-fpr 0.005 0.01 0.02 0.05 --match-tpr 0.4 0.5 --json .deeptrust/finetune-loo-real.json
  PYTHONPATH=src .venv/bin/python benchmarks/finetune_loo.py configs/photos-finetune.yaml --epochs 4 --label FAKE \
    --target-fpr 0.005 0.01 0.02 0.05 --match-tpr 0.4 0.5 --json .deeptrust/finetune-loo-fake.json
  PYTHONPATH=src .venv/bin/python benchmarks/finetune_loo_table.py .deeptrust/finetune-loo-real.json \
    .deeptrust/finetune-loo-fake.json --rule 0.01 --json .deeptrust/photos-loo.json --markdown models/photos/leave-one-out.md
  # sd-vs-photos' two groups held out of the shipped data itself (~8 min each)
  for label in REAL FAKE; do
    PYTHONPATH=src .venv/bin/python benchmarks/finetune_loo.py configs/photos.yaml --epochs 4 --by dataset \
      --sources photos-1.0-data --label $label --target-fpr 0.005 0.01 0.02 0.05 --match-tpr 0.4 0.5 \
      --workdir .deeptrust/finetune-loo-shipped --json .deeptrust/finetune-loo-shipped-sd-vs-photos-$label.json
  done
  # and multigen's 21 groups held out of the shipped data (~7 min each), then the shipped data's table
  for label in REAL FAKE; do
    PYTHONPATH=src .venv/bin/python benchmarks/finetune_loo.py configs/photos.yaml --epochs 4 --label $label \
      --target-fpr 0.005 0.01 0.02 0.05 --match-tpr 0.4 0.5 \
      --workdir .deeptrust/finetune-loo-shipped --json .deeptrust/finetune-loo-shipped-multigen-$label.json
  done
  PYTHONPATH=src .venv/bin/python benchmarks/finetune_loo_table.py .deeptrust/finetune-loo-shipped-*.json \
    --rule 0.01 --protocol leave-one-out-shipped --json .deeptrust/photos-loo-shipped.json
  # the test splits, once, at the end
  $DT evaluate --model models/photos --data "$DATA/multigen.tar.gz" --split test \
    --json models/photos/evaluation.json --report models/photos/report.html
  $DT evaluate --model models/photos --data "$DATA/sd-vs-photos.tar.gz" --split test --json models/photos/evaluation-sd-vs-photos.json
  $DT models annotate models/photos --evaluation models/photos/evaluation.json --validation .deeptrust/photos-val.json \
    --protocol .deeptrust/photos-loo.json --limitations-file models/photos.limitations
  $DT models annotate models/photos --protocol .deeptrust/photos-loo-shipped.json
  # cross-dataset: the same recipe without sd-vs-photos, scored on all 809 of its images
  $DT train --config configs/photos-finetune.yaml
  $DT export --run .deeptrust/runs/photos-finetune --out .deeptrust/models/photos-finetune --int8 --no-register
  $DT evaluate --model .deeptrust/models/photos-finetune --data "$DATA/sd-vs-photos.tar.gz" --split all \
    --no-robustness --json models/photos/cross-dataset-sd-vs-photos.json
}

photos_2_1() {
  # photos 2.1, the default before 2.2: the probe recipe on multigen + sd-vs-photos (~25 min, features
  # cached). Its model goes to .deeptrust/models/photos-2.1, its card and figures to benchmarks/results/photos-2.1.
  local M=.deeptrust/models/photos-2.1 R=benchmarks/results/photos-2.1
  $DT train --config configs/photos-probe.yaml
  $DT export --run .deeptrust/runs/photos-probe --out $M --version 2.1.0 --int8 --no-register \
    --description "$(cat $R/photos-2.1.description)"
  $DT evaluate --model $M --data "$DATA/multigen.tar.gz" --split val --json .deeptrust/photos-2.1-val.json
  $DT evaluate --protocol leave-one-out --config configs/photos-probe.yaml --json .deeptrust/photos-2.1-loo.json \
    --markdown $R/leave-one-out.md
  $DT evaluate --protocol leave-one-out --config configs/photos-probe.yaml --by generator \
    --json .deeptrust/photos-2.1-loo-generator.json --markdown $R/leave-one-out-generator.md
  $DT evaluate --model $M --data "$DATA/multigen.tar.gz" --split test --json $R/evaluation.json --report $M/report.html
  $DT evaluate --model $M --data "$DATA/sd-vs-photos.tar.gz" --split test --json $R/evaluation-sd-vs-photos.json
  $DT models annotate $M --evaluation $R/evaluation.json --validation .deeptrust/photos-2.1-val.json \
    --protocol .deeptrust/photos-2.1-loo.json
  $DT models annotate $M --protocol .deeptrust/photos-2.1-loo-generator.json --limitations-file $R/photos-2.1.limitations
  cp $M/card.json $R/card.json
  $DT train --config configs/photos-multigen.yaml
  $DT export --run .deeptrust/runs/photos-multigen --out .deeptrust/models/photos-multigen --no-register
  $DT evaluate --model .deeptrust/models/photos-multigen --data "$DATA/sd-vs-photos.tar.gz" --split all \
    --no-robustness --json $R/cross-dataset-sd-vs-photos.json
}

photos_1_0() {
  # photos 1.0 (the baseline, kept in models/photos-1.0): fine-tuned Lite0 on sd-vs-photos only.
  $DT train --config configs/photos-1.0.yaml
  $DT export --run .deeptrust/runs/photos --out models/photos-1.0 --int8 --no-register
  $DT evaluate --model models/photos-1.0 --split test --json models/photos-1.0/evaluation.json --report models/photos-1.0/report.html
  $DT train --config configs/photos-thumbnail.yaml
  $DT export --run .deeptrust/runs/photos-thumbnail --out .deeptrust/models/photos-thumbnail --no-register
  $DT evaluate --model .deeptrust/models/photos-thumbnail --data "$DATA/sd-vs-photos.tar.gz" --split test \
    --json models/photos-1.0/control-thumbnail-evaluation.json
}

cifake() {
  $DT train --config configs/cifake.yaml
  $DT export --run .deeptrust/runs/cifake --out models/cifake --int8 --no-register
  $DT evaluate --model models/cifake --data "$DATA/cifake.tar.gz" --split test \
    --json models/cifake/evaluation.json --report models/cifake/report.html
}

for target in "$@"; do "$target"; done
