"""``deeptrust evaluate``: measure a model on a dataset; print tables, write JSON and HTML.

Examples::

    deeptrust evaluate --model cifake --data cifake --json out/cifake.json --report out/cifake.html
    deeptrust evaluate -m runs/x/model -d photos.csv --split val --limit 500 --no-robustness

Heavy imports (pandas, scikit-learn, matplotlib) happen inside the command, not at CLI start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table

EXIT_USAGE = 2
# (key, heading); the console shows the essentials, the JSON and HTML report show everything.
OVERALL_METRICS = (
    ("n", "images"),
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall (TPR)"),
    ("f1", "F1"),
    ("false_positive_rate", "false-positive rate"),
    ("roc_auc", "ROC-AUC"),
    ("average_precision", "average precision"),
    ("tpr_at_fpr_1pct", "TPR at 1% FPR"),
    ("tpr_at_fpr_5pct", "TPR at 5% FPR"),
    ("ece", "ECE"),
    ("multiclass_accuracy", "multi-class accuracy"),
)
SOURCE_METRICS = (
    ("n", "n"),
    ("accuracy", "acc"),
    ("recall", "TPR"),
    ("false_positive_rate", "FPR"),
    ("roc_auc", "AUC"),
    ("tpr_at_fpr_1pct", "TPR@1%"),
    ("tpr_at_fpr_5pct", "TPR@5%"),
    ("ece", "ECE"),
)
GROUP_METRICS = (
    ("label", "label"),
    ("n", "n"),
    ("recall", "TPR"),
    ("false_positive_rate", "FPR"),
    ("mean_p_ai", "mean p_ai"),
    ("roc_auc", "AUC"),
)
TABLE_STYLE: dict[str, Any] = {"box": box.SIMPLE_HEAD, "collapse_padding": True, "pad_edge": False}
ROBUSTNESS_METRICS = (
    ("n", "n"),
    ("accuracy", "acc"),
    ("recall", "TPR"),
    ("false_positive_rate", "FPR"),
    ("roc_auc", "AUC"),
    ("tpr_at_fpr_5pct", "TPR@5%"),
)


def evaluate(
    model: str = typer.Option("photos", "--model", "-m", help="Model name, directory or .onnx file."),
    data: str | None = typer.Option(
        None,
        "--data",
        "-d",
        help="Dataset: a name, manifest, folder, .tar.gz or CSV (default: the model's own dataset, "
        "split as in training).",
    ),
    split: str = typer.Option(
        "test", "--split", help="Which split of the dataset to evaluate ('all': every image)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the metrics as JSON here."),
    report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report."),
    robustness: bool = typer.Option(
        True, "--robustness/--no-robustness", help="Re-score a sample after JPEG, downscale, crop."
    ),
    robustness_limit: int = typer.Option(
        2000, "--robustness-limit", min=1, help="Images in the robustness sample."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Evaluate a seeded sample of N images (quick checks)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the --limit and robustness samples."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Images per ONNX Runtime call."),
    protocol: str | None = typer.Option(
        None,
        "--protocol",
        help="'leave-one-out': refit the --config recipe without each source (or generator) and score it.",
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="Training config of the protocol."),
    by: str | None = typer.Option(None, "--by", help="Protocol groups: 'source' or 'generator'."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Protocol: write its table as Markdown."),
) -> None:
    """Evaluate a model on a dataset split: metrics, per-source, leak-free subset, robustness.

    With ``--protocol leave-one-out --config C`` it evaluates the recipe of C instead: for every real
    and every generated group, C refitted without that group scores it (train and val splits only).
    """
    from deeptrust.detector import Detector

    if protocol is not None:
        from deeptrust.probe.cli import run_protocol

        run_protocol(protocol, config, by=by, json_out=json_out, markdown=markdown)
        return

    try:
        from deeptrust.evaluate.run import DataError, evaluate_model, write_json
    except ImportError as exc:  # pandas, scikit-learn and matplotlib come with the train extra
        _fail(f"evaluation needs {exc.name or exc}: pip install 'deeptrust[train]'")
    console = Console()
    try:
        detector = Detector.load(model)
    except (OSError, ValueError) as exc:
        _fail(f"cannot load model {model!r}: {exc}")
    source, options = _dataset_args(data, detector.card.dataset)
    manifest = _load_manifest(source, options)
    try:
        result = evaluate_model(
            detector,
            manifest,
            split=None if split == "all" else split,
            robustness=robustness,
            robustness_limit=robustness_limit,
            batch_size=batch_size,
            seed=seed,
            limit=limit,
        )
    except DataError as exc:
        _fail(f"cannot evaluate {data!r}: {exc}")
    result["data"]["dataset"] = source
    print_result(result, console)
    if json_out is not None:
        console.print(f"wrote [bold]{write_json(result, json_out)}[/]")
    if report is not None:
        from deeptrust.evaluate.report import write_report

        console.print(f"wrote [bold]{write_report(result, report)}[/]")


def _dataset_args(data: str | None, dataset: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The source to load, and import options: the model's own split when it is the model's data.

    A model card records its dataset's source and split options, so evaluating on that source
    re-creates exactly the training/validation/test split (e.g. a carved test split).
    """
    source = dataset.get("source")
    own = {"name": dataset.get("name"), **dataset.get("options", {})} if source else {}
    for part in dataset.get("parts", ()):  # trained on combined datasets: each part keeps its own split
        same_path = data is not None and _same_path(data, part.get("source"))
        if data == part.get("name") or same_path:
            options = {k: v for k, v in part.get("options", {}).items() if k in SPLIT_OPTIONS}
            return str(part["source"]), {"name": part["name"], **options}
    if data is None:
        if not source:
            _fail("--data is required: the model card names no dataset of its own")
        return str(source), own
    if source and _same_path(data, source):
        return data, own
    return data, {}


SPLIT_OPTIONS = ("val_fraction", "test_fraction", "seed")


def _same_path(a: str, b: str | None) -> bool:
    return b is not None and Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _load_manifest(data: str, options: dict[str, Any] | None = None) -> Any:
    """Every image file of the dataset: the kept rows plus the rows its import excluded.

    The import's own choices (dropping duplicate copies, label conflicts, leaked copies, unreadable
    files) are undone here so that a split is evaluated whole, e.g. all 20 000 CIFAKE test images;
    the ``leak`` flag then yields the leak-free subset. The dataset is loaded with the import's
    default options rather than ``keep_duplicates/keep_leaks=True``: for a path, other options
    would re-import it and replace the import that training uses under the same name.
    """
    try:
        from deeptrust.data import ensure_dataset
    except ImportError as exc:
        _fail(f"deeptrust.data.ensure_dataset is unavailable ({exc}); is deeptrust installed fully?")
    import pandas as pd

    try:
        imported = ensure_dataset(data, **(options or {}))
    except (OSError, ValueError) as exc:
        _fail(f"cannot load data {data!r}: {exc}")
    excluded = getattr(imported, "excluded", None)
    if excluded is None or excluded.empty:
        return imported.manifest.assign(excluded_reason="")
    excluded = excluded.rename(columns={"reason": "excluded_reason"}).drop(columns="error", errors="ignore")
    return pd.concat([imported.manifest.assign(excluded_reason=""), excluded], ignore_index=True)


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


def print_result(result: dict[str, Any], console: Console) -> None:
    """The result as rich tables: overall and subsets, per source, robustness, then caveats."""
    model, data = result["model"], result["data"]
    console.print(
        f"[bold]{model['name']}[/] {model['version']} · threshold {model['threshold']:.4f} · "
        f"split [bold]{data['split'] or 'all'}[/] · {result['n']:,} images"
        + (f" · [red]{len(result['errors']):,} unreadable[/]" if result["errors"] else "")
    )
    groups = {"all": result, **result.get("subsets", {})}
    console.print(_overall_table(groups))
    if "per_source" in result:
        console.print(_rows_table("Per source", "source", result["per_source"], SOURCE_METRICS))
    for key, first in (("by_source", "source"), ("by_generator", "generator")):
        if key in result:
            title = f"By {first} (TPR/FPR at the threshold; AUC against every image of the other class)"
            console.print(_rows_table(title, first, result[key], GROUP_METRICS))
    if "robustness" in result:
        console.print(_robustness_table(result["robustness"]))
    for reason, n in data.get("import_excluded", {}).items():
        console.print(f"note: includes {n:,} images the import had excluded as {reason}")
    for note in result.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")
    for error in result["errors"][:5]:
        console.print(f"[red]unreadable:[/] {error['path']}: {error['error']}", highlight=False)


def _overall_table(groups: dict[str, dict[str, Any]]) -> Table:
    """Metrics down, subsets across: narrow enough for any terminal."""
    table = Table(title="Overall", title_justify="left", **TABLE_STYLE)
    table.add_column("metric")
    for name in groups:
        table.add_column(name, justify="right")
    for key, label in OVERALL_METRICS:
        if any(key in m for m in groups.values()):
            table.add_row(label, *(_cell(m.get(key)) for m in groups.values()))
    return table


def _rows_table(
    title: str, first: str, groups: dict[str, dict[str, Any]], columns: tuple[tuple[str, str], ...]
) -> Table:
    table = Table(title=title, title_justify="left", **TABLE_STYLE)
    table.add_column(first, overflow="fold")
    for _, label in columns:
        table.add_column(label, justify="right", no_wrap=True)
    for name, m in groups.items():
        table.add_row(name, *(_cell(m.get(key)) for key, _ in columns))
    return table


def _robustness_table(robustness: dict[str, dict[str, Any]]) -> Table:
    """One stated sample under each perturbation, with the mean p_ai of each true label."""
    labels = sorted({label for m in robustness.values() for label in m.get("mean_p_ai", {})})
    rows = {
        name: {**m, **{f"mean_p_ai:{label}": p for label, p in m.get("mean_p_ai", {}).items()}}
        for name, m in robustness.items()
    }
    columns = (*ROBUSTNESS_METRICS, *((f"mean_p_ai:{label}", label) for label in labels))
    title = f"Robustness (the same sample each time; {', '.join(labels)}: mean p_ai of that label)"
    table = _rows_table(title, "perturbation", rows, columns)
    table.columns[0].no_wrap = True
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
