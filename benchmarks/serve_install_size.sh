#!/bin/bash
# The serving install's size (issue 14): a fresh venv with deeptrust's core + `serve` dependencies,
# measured before and after the model registry's client (mlflow-skinny + alembic), then a check that
# it resolves a registry reference with neither torch nor pandas importable.
#   bash benchmarks/serve_install_size.sh [VENV_DIR]   → benchmarks/results/serve-install-size.json
set -euo pipefail
cd "$(dirname "$0")/.."
V=${1:-/tmp/deeptrust-serve-size}
rm -rf "$V" && python3.11 -m venv "$V"
SP=$("$V/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
mb() { du -sm "$SP" | cut -f1; }
empty=$(mb)
# the serve extra without the registry client, as pyproject lists it
mapfile -t deps < <(python3.11 -c "
import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']
for d in p['dependencies'] + p['optional-dependencies']['serve']:
    if not d.startswith(('mlflow-skinny', 'alembic')): print(d)")
"$V/bin/pip" install -q "${deps[@]}"
without=$(mb)
mapfile -t client < <(python3.11 -c "
import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']
print('\n'.join(d for d in p['optional-dependencies']['serve'] if d.startswith(('mlflow-skinny', 'alembic'))))")
"$V/bin/pip" install -q "${client[@]}"
with_client=$(mb)
"$V/bin/pip" install -q --no-deps .
total=$(mb)
home=$(mktemp -d)
check=$(DEEPTRUST_HOME=$home MLFLOW_TRACKING_URI= DEEPTRUST_MODEL_PATHS="[\"$PWD/models\"]" "$V/bin/python" -c "
import sys
from deeptrust.registry import resolve_reference
r = resolve_reference('cifake@champion')
print(r.source, r.version, 'torch' in sys.modules or 'pandas' in sys.modules)" 2>/dev/null)
rm -rf "$home"
cat > benchmarks/results/serve-install-size.json <<JSON
{"python": "$("$V/bin/python" -V)", "site_packages_mb": {"empty_venv": $empty,
 "core_and_serve_without_registry_client": $without, "with_mlflow_skinny_and_alembic": $with_client,
 "with_deeptrust": $total}, "resolve_cifake_at_champion": "$check",
 "packages": "$("$V/bin/pip" list --format=freeze 2>/dev/null | grep -ciE '^(torch|pandas|scikit-learn|mlflow)=' || true) of torch/pandas/scikit-learn/mlflow (full) installed"}
JSON
cat benchmarks/results/serve-install-size.json
