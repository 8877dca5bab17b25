#!/usr/bin/env bash
# Rebuild the shipped models from ../shared/datasets with the project's own pipeline.
#   bash scripts/make_models.sh photos     # photos 2.1, its protocol tables and test figures (~25 min)
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
  # photos 2.1: the probe recipe on multigen + sd-vs-photos (~5 min on 2 CPU cores, features cached).
  $DT train --config configs/photos.yaml
  $DT export --run .deeptrust/runs/photos --out models/photos --version 2.1.0 --int8 --no-register \
    --description "$(cat models/photos.description)"
  $DT evaluate --model models/photos --data "$DATA/multigen.tar.gz" --split val --json .deeptrust/photos-val.json
  $DT evaluate --protocol leave-one-out --config configs/photos.yaml --json .deeptrust/photos-loo.json \
    --markdown models/photos/leave-one-out.md
  $DT evaluate --protocol leave-one-out --config configs/photos.yaml --by generator \
    --json .deeptrust/photos-loo-generator.json --markdown models/photos/leave-one-out-generator.md
  # the test splits, once, at the end
  $DT evaluate --model models/photos --data "$DATA/multigen.tar.gz" --split test \
    --json models/photos/evaluation.json --report models/photos/report.html
  $DT evaluate --model models/photos --data "$DATA/sd-vs-photos.tar.gz" --split test --json models/photos/evaluation-sd-vs-photos.json
  $DT models annotate models/photos --evaluation models/photos/evaluation.json --validation .deeptrust/photos-val.json \
    --protocol .deeptrust/photos-loo.json
  $DT models annotate models/photos --protocol .deeptrust/photos-loo-generator.json --limitations-file models/photos.limitations
  # cross-dataset: the same recipe without sd-vs-photos, scored on all 809 of its images
  $DT train --config configs/photos-multigen.yaml
  $DT export --run .deeptrust/runs/photos-multigen --out .deeptrust/models/photos-multigen --no-register
  $DT evaluate --model .deeptrust/models/photos-multigen --data "$DATA/sd-vs-photos.tar.gz" --split all \
    --no-robustness --json models/photos/cross-dataset-sd-vs-photos.json
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
