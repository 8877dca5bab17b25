"""Per model version metrics: what each version answered or scored, how fast, how often it failed, and how
often the challenger disagreed with the champion; the rollout's own state; live quality from feedback.

Every series carries ``model`` and ``version`` (the card's name and version). ``role`` says how a score was
made: ``champion`` (answered), ``canary`` (answered by the challenger), ``shadow`` (scored off the request
path, never answered: the challenger in shadow mode, or the champion re-scoring canary images so that
the two can be compared). The names are listed in the README's metrics section; alert rules and dashboards
read them from there.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from deeptrust.serve.metrics import LATENCY_BUCKETS

P_AI_BUCKETS = tuple(i / 20 for i in range(1, 21))
MV = ("model", "version")


class RolloutMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.predictions = Counter(
            "deeptrust_model_predictions_total",
            "Images scored, by model version, role (champion, canary, shadow) and predicted label.",
            [*MV, "role", "label"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "deeptrust_model_latency_seconds",
            "Decode + queue + model time of one image, by model version and role.",
            [*MV, "role"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.p_ai = Histogram(
            "deeptrust_model_p_ai", "Score distribution (p_ai) by model version and role.",
            [*MV, "role"], buckets=P_AI_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "deeptrust_model_errors_total",
            "Images a model version failed to score (a canary's failure falls back to the champion).",
            [*MV, "role"], registry=r,
        )  # fmt: skip
        self.compared = Counter(
            "deeptrust_rollout_compared_total",
            "Images scored by both the challenger (model, version) and the champion.", MV, registry=r,
        )  # fmt: skip
        self.disagreements = Counter(
            "deeptrust_rollout_disagreements_total",
            "Compared images whose label differed between the challenger (model, version) and the champion.",
            MV, registry=r,
        )  # fmt: skip
        self.active = Gauge(
            "deeptrust_rollout_active", "1 while this challenger runs, by mode (shadow or canary).",
            [*MV, "mode"], multiprocess_mode="livemax", registry=r,
        )  # fmt: skip
        self.share = Gauge(
            "deeptrust_rollout_share",
            "The share of requests the challenger scores (shadow) or answers (canary).",
            [*MV, "mode"], multiprocess_mode="livemax", registry=r,
        )  # fmt: skip
        self.aborts = Counter(
            "deeptrust_rollout_aborts_total",
            "Rollouts stopped, by reason: manual, error_rate, p95, disagreement or drift.",
            [*MV, "reason"], registry=r,
        )  # fmt: skip
        self.promotions = Counter(
            "deeptrust_rollout_promotions_total", "Challengers promoted to champion.", MV, registry=r
        )
        self.shadow_skipped = Counter(
            "deeptrust_shadow_skipped_total",
            "Sampled images the shadow lane did not score, by reason (cpu_budget, queue_full, lane_down).",
            [*MV, "reason"], registry=r,
        )  # fmt: skip
        self.lane_up = Gauge(
            "deeptrust_shadow_lane_up",
            "1 while the shadow lane's process runs its model (in every worker); 0 while it restarts.",
            MV, multiprocess_mode="livemin", registry=r,
        )  # fmt: skip
        self.lane_restarts = Counter(
            "deeptrust_shadow_lane_restarts_total",
            "Times the shadow lane's process ended unasked and was started again.", MV, registry=r,
        )  # fmt: skip
        # What the abort policy judges, over its window (absent before the first judgement).
        self.window_error_rate = Gauge(
            "deeptrust_rollout_window_error_rate", "The canary's error rate over the abort window.",
            MV, multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
        self.window_p95 = Gauge(
            "deeptrust_rollout_window_p95_seconds", "p95 latency over the abort window, by version and role.",
            [*MV, "role"], multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
        self.window_disagreement = Gauge(
            "deeptrust_rollout_window_disagreement",
            "Share of compared images labelled differently from the champion, over the abort window.",
            MV, multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
        self.ai_ratio = Gauge(
            "deeptrust_predicted_ai_ratio",
            "Share of answered images predicted AI over the last DEEPTRUST_AI_RATIO_WINDOW_S, by version.",
            MV, multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
        # Live quality: reviewed feedback joined to what the model answered (rollout/quality.py).
        self.precision = Gauge(
            "deeptrust_feedback_precision", "Precision (AI class) of reviewed feedback items, by version.",
            MV, multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
        self.recall = Gauge(
            "deeptrust_feedback_recall", "Recall (AI class) of reviewed feedback items, by version.",
            MV, multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
        self.fpr = Gauge(
            "deeptrust_feedback_false_positive_rate",
            "Real photos predicted AI among reviewed real photos, by version.",
            MV, multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
        self.reviewed = Gauge(
            "deeptrust_feedback_reviewed_items",
            "Reviewed feedback items in the quality window, by version and outcome (tp, fp, tn, fn).",
            [*MV, "outcome"], multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
