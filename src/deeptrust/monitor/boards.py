# ruff: noqa: E501  (one panel per line reads as a table; the queries are checked by tests/monitor)
"""The panels of the four dashboards (service, model behaviour, drift, rollout), one table each.

Every query reads metrics the service exports (``serve/metrics.py``, ``monitor/windows.py``,
``rollout/metrics.py``) or recording rules of ``deploy/prometheus/rules/``; ``tests/monitor`` checks both
against a real process and promtool. ``$job`` and ``$__rate_interval`` are Grafana variables.
"""

from __future__ import annotations

from deeptrust.monitor.dashboards import Dashboard, Panel

J = 'job="$job"'
RATE = "$__rate_interval"


def q(expr: str, legend: str = "") -> tuple[str, str]:
    return (" ".join(expr.split()), legend)


def quantile(p: float, metric: str, selector: str = "", by: str = "") -> str:
    inner = f"{J}, {selector}" if selector else J
    return f"histogram_quantile({p}, sum by (le{', ' + by if by else ''}) (rate({metric}_bucket{{{inner}}}[{RATE}])))"


def ratio(num: str, den: str, by: str = "") -> str:
    """sum(rate(num)) / sum(rate(den)), both by ``by``."""
    agg = f"sum by ({by})" if by else "sum"
    return f"{agg} (rate({num}[{RATE}])) / {agg} (rate({den}[{RATE}]))"


# fmt: off
SERVICE = Dashboard(
    "deeptrust-service", "deeptrust / service",
    "Traffic, latency and errors against the SLOs, saturation, CPU, process health.",
    (
        ("SLOs", (
            Panel("p95 latency of /v1/predict (SLO 150 ms)", (
                q(f"job:deeptrust_predict_latency_seconds:p95_5m{{{J}}}", "p95 (5m)"),
                q(quantile(0.5, "deeptrust_http_request_duration_seconds", 'route="/v1/predict"'), "p50"),
            ), unit="s", threshold=0.15),
            Panel("failed API requests (SLO 1 %)", (
                q(f"job:deeptrust_api_errors:ratio_rate5m{{{J}}}", "5xx share (5m)"),
                q(f"job:deeptrust_api_errors:ratio_rate1h{{{J}}}", "5xx share (1h)"),
            ), unit="percentunit", threshold=0.01),
            Panel("CPU used of its limit (SLO 75 % per hour)", (
                q(f"instance:deeptrust_cpu_usage:ratio_rate1h{{{J}}}", "{{instance}} 1h"),
                q(f"instance:deeptrust_cpu_usage:ratio_rate5m{{{J}}}", "{{instance}} 5m"),
            ), unit="percentunit", threshold=0.75),
        )),
        ("Traffic", (
            Panel("requests by route and status", (
                q(f"sum by (route, status) (rate(deeptrust_http_requests_total{{{J}}}[{RATE}]))",
                  "{{route}} {{status}}"),
            ), unit="reqps"),
            Panel("latency by route (p95)", (
                q(quantile(0.95, "deeptrust_http_request_duration_seconds", 'status="200"', "route"), "{{route}}"),
            ), unit="s"),
            Panel("slow /v1/predict answers (over 150 ms)", (
                q(f"job:deeptrust_predict_slow:ratio_rate5m{{{J}}}", "5m"),
                q(f"job:deeptrust_predict_slow:ratio_rate1h{{{J}}}", "1h"),
            ), unit="percentunit", threshold=0.05),
        )),
        ("Saturation", (
            Panel("admitted images against the limit", (
                q(f"sum(deeptrust_admitted_images{{{J}}})", "admitted"),
                q(f"sum(deeptrust_admission_limit{{{J}}})", "limit"),
                q(f"sum(deeptrust_batch_queue_depth{{{J}}})", "waiting for the model"),
                q(f"sum(deeptrust_http_requests_in_flight{{{J}}})", "HTTP in flight"),
            )),
            Panel("refused: shed, rate-limited, limit store down", (
                q(f"sum(rate(deeptrust_load_shed_total{{{J}}}[{RATE}]))", "shed (503)"),
                q(f"sum(rate(deeptrust_rate_limited_total{{{J}}}[{RATE}]))", "rate-limited (429)"),
                q(f"sum(rate(deeptrust_rate_limit_unavailable_total{{{J}}}[{RATE}]))", "Redis unreachable"),
            ), unit="reqps"),
            Panel("where the time goes (p95)", (
                q(quantile(0.95, "deeptrust_decode_seconds"), "decode"),
                q(quantile(0.95, "deeptrust_batch_wait_seconds"), "batch wait"),
                q(quantile(0.95, "deeptrust_inference_seconds"), "model call"),
            ), unit="s"),
        )),
        ("Process", (
            Panel("up, ready, registry", (
                q(f"min(up{{{J}}})", "up"),
                q(f"min(deeptrust_ready{{{J}}})", "ready"),
                q(f"changes(deeptrust_process_start_time_seconds{{{J}}}[15m])", "restarts (15m)"),
                q(f"min(deeptrust_registry_reachable{{{J}}})", "registry reachable"),
            )),
            Panel("images per model call", (
                q(ratio(f"deeptrust_batch_size_sum{{{J}}}", f"deeptrust_batch_size_count{{{J}}}"), "mean batch"),
            )),
            Panel("refused uploads and dropped reviews", (
                q(f"sum by (reason) (rate(deeptrust_image_errors_total{{{J}}}[{RATE}]))", "image: {{reason}}"),
                q(f"sum by (reason) (rate(deeptrust_review_dropped_total{{{J}}}[{RATE}]))", "review: {{reason}}"),
            ), unit="reqps"),
            Panel("feedback store disk free", (
                q(f"min(deeptrust_feedback_disk_free_bytes{{{J}}} / deeptrust_feedback_disk_size_bytes{{{J}}})",
                  "free"),
            ), unit="percentunit", threshold=0.1),
        )),
    ),
)

MODEL = Dashboard(
    "deeptrust-model", "deeptrust / model behaviour",
    "What the served models say (label rate, score distribution) and how right they are by reviewed feedback.",
    (
        ("Answers", (
            Panel("share labelled AI", (
                q(ratio(f'deeptrust_prediction_p_ai_count{{{J}, label!="REAL"}}',
                        f"deeptrust_prediction_p_ai_count{{{J}}}"), "now"),
                q(f"job:deeptrust_predicted_ai:ratio_rate1h{{{J}}}", "1h"),
                q(f"job:deeptrust_predicted_ai:ratio_rate1d{{{J}}}", "1d"),
                q(f"max by (version) (deeptrust_predicted_ai_ratio{{{J}}})", "{{version}} (service window)"),
            ), unit="percentunit"),
            Panel("predictions by label", (
                q(f"sum by (label) (rate(deeptrust_prediction_p_ai_count{{{J}}}[{RATE}]))", "{{label}}"),
            ), unit="reqps"),
            Panel("mean p_ai by label", (
                q(ratio(f"deeptrust_prediction_p_ai_sum{{{J}}}", f"deeptrust_prediction_p_ai_count{{{J}}}",
                        "label"), "{{label}}"),
            ), unit="percentunit"),
        )),
        ("Scores", (
            Panel("p_ai distribution", (
                q(f"sum by (le) (rate(deeptrust_prediction_p_ai_bucket{{{J}}}[{RATE}]))", "{{le}}"),
            ), kind="heatmap", width=16),
            Panel("served model", (
                q(f"max by (name, version) (deeptrust_model_info{{{J}}}) == 1", "{{name}} {{version}}"),
                q(f"sum(increase(deeptrust_model_reloads_total{{{J}}}[1h]))", "reloads (1h)"),
            ), kind="stat"),
        )),
        ("Live quality from reviewed feedback", (
            Panel("precision and recall (AI class)", (
                q(f"max by (version) (deeptrust_feedback_precision{{{J}}})", "precision {{version}}"),
                q(f"max by (version) (deeptrust_feedback_recall{{{J}}})", "recall {{version}}"),
            ), unit="percentunit"),
            Panel("false positive rate (real photos called AI)", (
                q(f"max by (version) (deeptrust_feedback_false_positive_rate{{{J}}})", "{{version}}"),
            ), unit="percentunit"),
            Panel("reviewed items in the window", (
                q(f"max by (version, outcome) (deeptrust_feedback_reviewed_items{{{J}}})", "{{version}} {{outcome}}"),
            )),
        )),
    ),
)

DRIFT = Dashboard(
    "deeptrust-drift", "deeptrust / drift",
    "Live windows against the card's reference profile: each signal's statistic, its permutation-calibrated "
    "threshold, and whether it drifts.",
    (
        ("Drift", (
            Panel("statistic over threshold, by signal (drift above 1)", (
                q(f"max by (model, version, signal) (deeptrust_drift_statistic{{{J}}} / "
                  f"deeptrust_drift_threshold{{{J}}})", "{{signal}} {{version}}"),
            ), threshold=1.0, width=16, log_scale=True),
            Panel("signals drifting", (
                q(f"sum by (model, version) (max by (model, version, signal) (deeptrust_drift_detected{{{J}}}))",
                  "{{model}} {{version}}"),
            ), kind="stat"),
            Panel("score and embedding statistics", (
                q(f'max by (signal) (deeptrust_drift_statistic{{{J}, signal=~"score|embedding"}})', "{{signal}}"),
                q(f'max by (signal) (deeptrust_drift_threshold{{{J}, signal=~"score|embedding"}})',
                  "{{signal}} threshold"),
            )),
            Panel("window size", (
                q(f"max by (model, version) (deeptrust_drift_window_size{{{J}}})", "{{model}} {{version}}"),
            )),
            Panel("reference profile present", (
                q(f"min by (model, version) (deeptrust_drift_reference_present{{{J}}})", "{{model}} {{version}}"),
            ), kind="stat"),
        )),
    ),
)

ROLLOUT = Dashboard(
    "deeptrust-rollout", "deeptrust / rollout",
    "The challenger beside the champion, per model version and role (champion, canary, shadow): latency, "
    "errors, scores, label rate, disagreement, what the automatic abort judges, and the shadow lane.",
    (
        ("Versions", (
            Panel("challenger running (share)", (
                q(f"max by (model, version, mode) (deeptrust_rollout_share{{{J}}}) "
                  f"and max by (model, version, mode) (deeptrust_rollout_active{{{J}}}) == 1",
                  "{{mode}} {{model}} {{version}}"),
            ), kind="stat", unit="percentunit"),
            Panel("p95 latency by version and role", (
                q(quantile(0.95, "deeptrust_model_latency_seconds", by="version, role"), "{{version}} {{role}}"),
            ), unit="s", threshold=0.15),
            Panel("images scored by version and role", (
                q(f"sum by (version, role) (rate(deeptrust_model_predictions_total{{{J}}}[{RATE}]))",
                  "{{version}} {{role}}"),
                q(f"sum by (version, role) (rate(deeptrust_model_errors_total{{{J}}}[{RATE}]))",
                  "errors {{version}} {{role}}"),
            ), unit="reqps"),
        )),
        ("Agreement", (
            Panel("disagreement with the champion", (
                q(ratio(f"deeptrust_rollout_disagreements_total{{{J}}}", f"deeptrust_rollout_compared_total{{{J}}}",
                        "version"), "{{version}}"),
                q(f"max by (version) (deeptrust_rollout_window_disagreement{{{J}}})", "{{version}} abort window"),
            ), unit="percentunit", threshold=0.2),
            Panel("label rate by version and role", (
                q(ratio(f'deeptrust_model_predictions_total{{{J}, label!="REAL"}}',
                        f"deeptrust_model_predictions_total{{{J}}}", "version, role"), "{{version}} {{role}}"),
            ), unit="percentunit"),
            Panel("mean p_ai by version and role", (
                q(ratio(f"deeptrust_model_p_ai_sum{{{J}}}", f"deeptrust_model_p_ai_count{{{J}}}", "version, role"),
                  "{{version}} {{role}}"),
            ), unit="percentunit"),
        )),
        ("Automatic abort", (
            Panel("canary error rate over the abort window", (
                q(f"max by (version) (deeptrust_rollout_window_error_rate{{{J}}})", "{{version}}"),
            ), unit="percentunit", threshold=0.02),
            Panel("p95 over the abort window", (
                q(f"max by (version, role) (deeptrust_rollout_window_p95_seconds{{{J}}})", "{{version}} {{role}}"),
            ), unit="s"),
            Panel("aborts and promotions (1h)", (
                q(f"sum by (version, reason) (increase(deeptrust_rollout_aborts_total{{{J}}}[1h]))",
                  "abort {{version}} {{reason}}"),
                q(f"sum by (version) (increase(deeptrust_rollout_promotions_total{{{J}}}[1h]))", "promoted {{version}}"),
            )),
        )),
        # The lane's series carry the challenger's model and version in both modes (in canary mode it runs the
        # champion); its gauge stays at 0 after a rollout ends, hence the join on deeptrust_rollout_active.
        ("Shadow lane", (
            Panel("shadow lane up, by instance (min over its workers)", (
                q(f"min by (instance, model, version) (deeptrust_shadow_lane_up{{{J}}}) "
                  f"and on (instance, model, version) max by (instance, model, version) (deeptrust_rollout_active{{{J}}}) == 1",
                  "{{instance}} {{model}} {{version}}"),
            ), description="1 while the lane process of every worker of the instance runs its model; 0 while one "
               "restarts. DeeptrustShadowLaneDown: 0 for 10 m during a rollout."),
            Panel("shadow lane restarts (15m)", (
                q(f"sum by (instance, model, version) (increase(deeptrust_shadow_lane_restarts_total{{{J}}}[15m]))",
                  "{{instance}} {{model}} {{version}}"),
            ), threshold=5, description="Restarts of an instance's lanes over the last 15 m. "
               "DeeptrustShadowLaneRestarting: 5 or more."),
            Panel("shadow lane: scored and skipped by reason", (
                q(f'sum(rate(deeptrust_model_predictions_total{{{J}, role="shadow"}}[{RATE}]))', "scored"),
                q(f"sum by (version, reason) (rate(deeptrust_shadow_skipped_total{{{J}}}[{RATE}]))",
                  "skipped {{version}} {{reason}}"),
            ), unit="reqps", description="Sampled images the lane scored, and those it skipped: cpu_budget "
               "(its CPU share spent), queue_full, lane_down (its process restarting)."),
        )),
    ),
)
# fmt: on

DASHBOARDS = (SERVICE, MODEL, DRIFT, ROLLOUT)
