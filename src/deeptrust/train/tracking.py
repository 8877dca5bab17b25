"""MLflow tracking. Embedded default: a SQLite store under the deeptrust home; a tracking server when
``MLFLOW_TRACKING_URI`` (or ``DEEPTRUST_MLFLOW_TRACKING_URI``) is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deeptrust.settings import Settings


def tracking_uri(settings: Settings) -> str:
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    settings.home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(settings.home / 'mlflow.db').resolve()}"


class Tracker:
    """A thin wrapper so the training loop reads as ``tracker.log_metrics(...)``."""

    def __init__(self, settings: Settings, experiment: str, run_id: str | None = None):
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri(settings))
        if mlflow.get_experiment_by_name(experiment) is None:
            artifacts = (settings.home / "mlartifacts").resolve().as_uri()
            mlflow.create_experiment(experiment, artifact_location=artifacts)
        mlflow.set_experiment(experiment)
        self.run = mlflow.start_run(run_id=run_id)
        self.run_id = self.run.info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        existing = self.mlflow.get_run(self.run_id).data.params
        self.mlflow.log_params({k: v for k, v in params.items() if k not in existing})

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and v == v}
        self.mlflow.log_metrics(clean, step=step)

    def log_artifact(self, path: Path) -> None:
        self.mlflow.log_artifact(str(path))

    def close(self) -> None:
        self.mlflow.end_run()
