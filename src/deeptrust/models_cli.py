"""``deeptrust models``: registered versions and their cards (the registry commands live in
``deeptrust.registry.cli``); ``annotate`` attaches evaluation results to a model directory's card."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from deeptrust.card import HEADLINE_METRICS, load_card
from deeptrust.registry import resolve_model
from deeptrust.registry.cli import diff_models, list_models, promote_model, rollback_model, show_model

app = typer.Typer(no_args_is_help=True)


app.command("list")(list_models)
app.command("show")(show_model)
app.command("promote")(promote_model)
app.command("rollback")(rollback_model)
app.command("diff")(diff_models)


@app.command("annotate")
def annotate_model(
    name: str = typer.Argument(..., help="Model name or directory."),
    evaluation: Path | None = typer.Option(
        None,
        "--evaluation",
        help="JSON from `deeptrust evaluate --json`, stored as the card's test metrics.",
    ),
    validation: Path | None = typer.Option(
        None,
        "--validation",
        help="JSON of `deeptrust evaluate --split val --json`: per-source, per-generator"
        " and robustness figures on validation, stored beside the card's validation metrics.",
    ),
    protocol: Path | None = typer.Option(
        None,
        "--protocol",
        help="JSON of `deeptrust evaluate --protocol leave-one-out --json`, stored whole.",
    ),
    description: str | None = typer.Option(None, help="Replace the card's description."),
    limitation: list[str] = typer.Option([], "--limitation", help="A known limitation (repeatable)."),
    limitations_file: Path | None = typer.Option(
        None, "--limitations-file", help="Known limitations, one per line (replaces the card's)."
    ),
) -> None:
    """Attach test results and findings to a model card (card.json and the ONNX metadata)."""
    from deeptrust.card import ONNX_FILE, save_card
    from deeptrust.export.onnx import embed_card

    directory = resolve_model(name)
    card = load_card(directory)
    changes: dict[str, object] = {}
    metrics = _annotated_metrics(card.metrics, evaluation, validation, protocol)
    if metrics != card.metrics:
        changes["metrics"] = metrics
    if description is not None:
        changes["description"] = description
    if limitations_file is not None:
        lines = limitations_file.read_text().splitlines()
        limitation = [*limitation, *(x.strip() for x in lines if x.strip())]
    if limitation:
        changes["limitations"] = tuple(limitation)
    card = card.replace(**changes)
    embed_card(directory / ONNX_FILE, card)
    save_card(card, directory)
    typer.echo(f"card of {directory.name} updated: {', '.join(changes) or 'nothing'}")


HEADLINE = HEADLINE_METRICS


def _annotated_metrics(
    metrics: dict, evaluation: Path | None, validation: Path | None, protocol: Path | None
) -> dict:
    """The card's metrics plus test results, validation breakdowns and a protocol table."""
    out = dict(metrics)
    if evaluation is not None:
        out["test"] = summarise_evaluation(json.loads(evaluation.read_text()))
    if validation is not None:
        out["validation_breakdown"] = summarise_evaluation(json.loads(validation.read_text()))
    if protocol is not None:
        body = json.loads(protocol.read_text())
        out[f"{body['protocol']}_by_{body['by']}"] = {"summary": body["summary"], "groups": body["groups"]}
    return out


def summarise_evaluation(result: dict) -> dict:
    """The headline metrics, subsets and robustness table of an evaluation, for a model card."""
    out: dict = {k: result.get(k) for k in HEADLINE}
    out["split"] = result.get("data", {}).get("split")
    for key in ("by_source", "by_generator"):
        if result.get(key):
            out[key] = result[key]
    for key in ("subsets", "per_source"):
        if result.get(key):
            out[key] = {n: {k: m.get(k) for k in HEADLINE} for n, m in result[key].items()}
    if result.get("robustness"):
        out["robustness"] = {
            n: {k: row.get(k) for k in ("n", "accuracy", "roc_auc", "tpr_at_fpr_5pct", "false_positive_rate")}
            for n, row in result["robustness"].items()
        }
    return out
