"""Where the Prometheus rules live, and the rule for the Debian ``prometheus`` package's binaries: under CI
a missing ``promtool`` or ``prometheus`` fails the test (``.ci/run`` installs them); elsewhere it skips."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests._postgres import server_missing

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.rules.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        server_missing(f"{binary} is not installed (Debian package prometheus)")
    return path


def rules(kind: str) -> dict[str, str]:
    """Every ``alert`` or ``record`` rule of the rule files: name → expression."""
    found: dict[str, str] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if kind in rule:
                    found[rule[kind]] = rule["expr"]
    return found
