"""The ``deeptrust`` command. Each concern registers its own commands; heavy imports stay inside them."""

from __future__ import annotations

import typer

from deeptrust.data.cli import app as data_app
from deeptrust.evaluate.cli import evaluate
from deeptrust.evidence.cli import evidence
from deeptrust.export.cli import export
from deeptrust.feedback.cli import app as feedback_app
from deeptrust.gate.cli import gate
from deeptrust.hashes.cli import app as hashes_app
from deeptrust.jobs.cli import app as jobs_app
from deeptrust.models_cli import app as models_app
from deeptrust.monitor.cli import app as monitor_app
from deeptrust.pipeline.cli import app as pipeline_app
from deeptrust.retrain.cli import retrain_command
from deeptrust.rollout.cli import app as rollout_app
from deeptrust.scan.cli import scan
from deeptrust.serve.cli import keys_app, serve
from deeptrust.simulate.cli import simulate
from deeptrust.train.cli import train

app = typer.Typer(
    name="deeptrust",
    help="Detect AI-generated images: import data, train, evaluate, export and serve models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data_app, name="data", help="Import and validate datasets.")
app.add_typer(
    models_app, name="models", help="Registered model versions: list, show, promote, rollback, diff."
)
app.add_typer(feedback_app, name="feedback", help="List, export and purge the review queue.")
app.add_typer(hashes_app, name="hashes", help="Import, export and match the known-image (PDQ) hash lists.")
app.add_typer(jobs_app, name="jobs", help="List and show background jobs (retraining).")
app.add_typer(pipeline_app, name="pipeline", help="The DVC pipeline's own stages (dvc.yaml).")
app.command(help="Train a model from a YAML config.")(train)
app.command(help="Evaluate a model on a dataset.")(evaluate)
app.command(help="Export a training checkpoint to ONNX with its model card.")(export)
app.command(help="Serve predictions over HTTP.")(serve)
app.command("retrain", help="Retrain a model from reviewed corrections (now, or --queue for the service).")(
    retrain_command
)
app.command(help="Quality gate: may a model version ship? Exit 0 passed, 1 failed, 2 error.")(gate)
app.command(help="Scan stored images into a CSV, JSONL or Parquet file, locally or on Ray.")(scan)
app.command(help="What files say about themselves: C2PA, IPTC, generator metadata (--model: the verdict).")(
    evidence
)
app.add_typer(keys_app, name="keys", help="Manage API keys.")
app.add_typer(monitor_app, name="monitor", help="Drift: reference profiles and offline drift reports.")
app.command(help="Replay images against a running service, open loop, and summarise what it said.")(simulate)
app.add_typer(rollout_app, name="rollout", help="Shadow or canary a challenger model on the running service.")


if __name__ == "__main__":
    app()
