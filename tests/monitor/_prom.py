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


PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "inf", "nan", "le",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric (or recording rule) names an expression reads: identifiers that are not functions,
    keywords, label names in ``{…}`` / ``by (…)`` lists, strings or durations."""
    import re

    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\boffset\s+\w+", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        if match.group(2) is None and match.group(1) not in PROMQL_WORDS:
            names.add(match.group(1))
    return names


def exported_names(exposition: str) -> set[str]:
    """Every series name a /metrics text can carry: sample names, and for each ``# TYPE`` line the names
    of its samples even when it has none yet (a labelled counter nobody incremented)."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("_sum", "_count", "_created"), "gauge": ("",), "untyped": ("",)}  # fmt: skip
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            base = name.removesuffix("_total") if kind == "counter" else name
            names |= {base + s for s in suffixes.get(kind, ("",))}
        elif line and not line.startswith("#"):
            names.add(line.split("{")[0].split()[0])
    return names
