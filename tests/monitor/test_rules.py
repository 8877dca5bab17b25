"""The alert and recording rules of ``deploy/prometheus/``: valid for promtool, and each one unit-tested by
``promtool test rules`` (the test files are in ``deploy/prometheus/tests/``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.monitor._prom import PROMETHEUS_DIR, RULE_FILES, RULE_TESTS, require, rules

# The list: service down, readiness, latency SLO burn, error rate, load shedding, rate-limiting
# spikes, queue saturation, drift on scores, drift on embeddings, label-rate shift, canary unhealthy,
# feedback-measured accuracy drop, worker restarts, disk of the feedback store (+ the CPU SLO).
REQUIRED_ALERTS = {
    "DeeptrustDown",
    "DeeptrustNotReady",
    "DeeptrustLatencyBudgetBurnFast",
    "DeeptrustErrorBudgetBurnFast",
    "DeeptrustCPUOverBudget",
    "DeeptrustLoadShedding",
    "DeeptrustRateLimitingSpike",
    "DeeptrustQueueSaturated",
    "DeeptrustScoreDrift",
    "DeeptrustEmbeddingDrift",
    "DeeptrustLabelRateShift",
    "DeeptrustCanaryUnhealthy",
    "DeeptrustLiveAccuracyDrop",
    "DeeptrustWorkerRestarts",
    "DeeptrustFeedbackDiskLow",
    # issue 15: the shadow lane down during a rollout, and its process in a crash loop
    "DeeptrustShadowLaneDown",
    "DeeptrustShadowLaneRestarting",
}


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rule_files_are_valid():
    done = promtool("check", "rules", *map(str, RULE_FILES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_pass():
    done = promtool("test", "rules", *map(str, RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_has_a_firing_test_and_every_record_is_checked():
    alerts, records = rules("alert"), rules("record")
    assert set(alerts) >= REQUIRED_ALERTS, REQUIRED_ALERTS - set(alerts)
    fired: set[str] = set()
    checked_exprs: list[str] = []
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            fired |= {t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
            checked_exprs += [t["expr"] for t in case.get("promql_expr_test", [])]
    assert set(alerts) - fired == set(), "alerts without a test in which they fire"
    # a record is checked directly, or through an alert that reads it and has a firing test
    used = " ".join(checked_exprs + [alerts[name] for name in fired])
    unchecked = {name for name in records if not re.search(rf"{re.escape(name)}\b", used)}
    assert unchecked == set()


@pytest.mark.parametrize(
    ("rule", "before", "after", "suite"),
    [
        ("alerts.rules.yml", "> 0.8", "> 0.95", "service"),  # queue saturation threshold
        ("alerts.rules.yml", 'signal="score"', 'signal="scores"', "model"),  # names no series
        ("slo.rules.yml", 'le="0.15"}[5m]', 'le="0.1"}[5m]', "slo"),  # the 150 ms objective
        ("rollout.rules.yml", "[15m])) >= 5", "[15m])) >= 4", "rollout"),  # shadow lane crash loop
        ("rollout.rules.yml", "for: 10m", "for: 5m", "rollout"),  # shadow lane down (a restart is no alert)
    ],
)
def test_the_unit_tests_catch_a_broken_rule(tmp_path, rule, before, after, suite):
    """The unit tests can fail: a copy of the rules with one threshold or selector changed fails them."""
    shutil.copytree(PROMETHEUS_DIR / "rules", tmp_path / "rules")
    shutil.copytree(PROMETHEUS_DIR / "tests", tmp_path / "tests")
    target = tmp_path / "rules" / rule
    assert before in target.read_text()
    target.write_text(target.read_text().replace(before, after, 1))
    done = promtool("test", "rules", f"{suite}.test.yml", cwd=tmp_path / "tests")
    assert done.returncode != 0 and "FAILED" in done.stdout + done.stderr
