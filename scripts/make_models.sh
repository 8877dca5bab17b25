#!/usr/bin/env bash
# Rebuild the shipped models from ../shared/datasets with the project's own pipeline.
#   bash scripts/make_models.sh photos     # ~20 min on 2 CPU cores: photos + its thumbnail control
#   bash scripts/make_models.sh cifake     # ≤ 60 min on 2 CPU cores
set -euo pipefail
cd "$(dirname "$0")/.."
DT=${DT:-.venv/bin/deeptrust}
DATA=${DATA:-../shared/datasets}

photos() {
  $DT train --config configs/photos.yaml
  $DT export --run .deeptrust/runs/photos --out models/photos --int8 \
    --description "$(cat models/photos.description 2>/dev/null || true)"
  $DT evaluate --model photos --split test --json models/photos/evaluation.json --report models/photos/report.html
  # Control: the same recipe on whole images shrunk to 128 px (content and style only, traces erased).
  $DT train --config configs/photos-thumbnail.yaml
  $DT export --run .deeptrust/runs/photos-thumbnail --out .deeptrust/models/photos-thumbnail
  $DT evaluate --model .deeptrust/models/photos-thumbnail --data "$DATA/sd-vs-photos.tar.gz" --split test \
    --json models/photos/control-thumbnail-evaluation.json
}

cifake() {
  $DT train --config configs/cifake.yaml
  $DT export --run .deeptrust/runs/cifake --out models/cifake --int8
  $DT evaluate --model cifake --data "$DATA/cifake.tar.gz" --split test \
    --json models/cifake/evaluation.json --report models/cifake/report.html
}

for target in "$@"; do "$target"; done
