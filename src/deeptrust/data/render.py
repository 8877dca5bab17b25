"""Human-readable views of an import report: rich tables for the terminal and ``report.txt``."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text


def render_report(report: dict) -> list[RenderableType]:
    """The report as rich renderables, in reading order."""
    parts: list[RenderableType] = [_summary(report), _balance(report)]
    if report.get("sources"):
        parts.append(_sources(report))
    parts.append(_checks(report))
    if report["unreadable"]["examples"]:
        parts.append(_unreadable(report))
    parts.append(_shortcuts(report))
    parts.extend(Text(f"WARN {message}", style="bold yellow") for message in _warnings(report))
    return parts


def print_report(report: dict, console: Console | None = None) -> None:
    console = console or Console()
    for part in render_report(report):
        console.print(part)


def format_report(report: dict, *, width: int = 110) -> str:
    """Plain text of the rendered report, for ``report.txt``."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_report(report, console)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def _by(counts: dict[str, int]) -> str:
    """``a 1, b 2`` with markup escaped: keys come from file names, labels and error messages."""
    return escape(", ".join(f"{key}: {value:,}" for key, value in counts.items() if value) or "none")


def _summary(report: dict) -> Table:
    counts, source, split = report["counts"], report["source"], report["split"]
    table = Table(title=f"Dataset {report['name']!r}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Source", escape(f"{source['path']} ({source['kind']}, {source['layout']} layout)"))
    table.add_row("Image files found", f"{counts['found']:,}")
    table.add_row("Other files skipped", f"{counts['skipped']:,}")
    table.add_row("Kept", f"{counts['kept']:,}")
    table.add_row("Excluded", f"{counts['excluded']:,} ({_by(counts['excluded_by_reason'])})")
    stratum = "label and source" if report.get("sources") else "label"
    if split.get("carved_val"):
        carved = (
            f"carved from train: {split['val_fraction']:.0%} of each {stratum}, seed {split['seed']} "
            f"({split['moved_to_val']:,} rows)"
        )
    else:
        carved = "as given by the source" if "val" in split.get("source_splits", []) else "none"
    table.add_row("Validation split", carved)
    if split.get("carved_test"):
        table.add_row(
            "Test split",
            f"carved from train: {split['test_fraction']:.0%} of each {stratum}, seed {split['seed'] + 1} "
            f"({split['moved_to_test']:,} rows)",
        )
    table.add_row("Dataset hash", report["dataset_hash"][:16])
    return table


def _balance(report: dict) -> Table:
    balance = report["class_balance"]
    labels = sorted({label for counts in balance.values() for label in counts})
    table = Table(title="Class balance (kept rows)", title_justify="left")
    table.add_column("Split")
    for label in labels:
        table.add_column(escape(label), justify="right")
    table.add_column("Total", justify="right")
    table.add_column("Largest class", justify="right")
    for split, counts in balance.items():
        total = sum(counts.values())
        cells = [f"{counts.get(label, 0):,}" for label in labels]
        table.add_row(split, *cells, f"{total:,}", f"{max(counts.values()) / total:.1%}")
    return table


def _sources(report: dict) -> Table:
    """Rows per source and split, to show every source reached val and test."""
    sources, generators = report["sources"], report.get("generators", {})
    title = f"Sources ({len(sources)}; {len(generators)} generators named)"
    table = Table(title=title, title_justify="left")
    table.add_column("Source")
    splits = [split for split in ("train", "val", "test") if any(split in s for s in sources.values())]
    for split in splits:
        table.add_column(split, justify="right")
    for source, by_split in sources.items():
        cells = [_by(by_split.get(split, {})) for split in splits]
        table.add_row(escape(source), *cells)
    return table


def _checks(report: dict) -> Table:
    skipped, unreadable = report["skipped"], report["unreadable"]
    dup, leaks, conflicts = report["duplicates"], report["leaks"], report["label_conflicts"]
    keep = report["options"]
    table = Table(title="Checks", title_justify="left")
    for column in ("Check", "Found", "Detail", "Action"):
        table.add_column(column)
    table.add_row(
        "Skipped non-image files",
        f"{skipped['count']:,}",
        _by(skipped["by_reason"]),
        "not imported",
    )
    table.add_row(
        "Unreadable / truncated", f"{unreadable['count']:,}", _by(unreadable["by_kind"]), "excluded"
    )
    non_rgb = sum(report["non_rgb"].values())
    table.add_row("Non-RGB modes", f"{non_rgb:,}", _by(report["non_rgb"]), "kept; read as RGB")
    table.add_row(
        "Duplicates within a split",
        f"{dup['extra_copies']:,} extra copies",
        f"{dup['groups']:,} contents; {_by(dup['by_split'])}",
        "kept, flagged" if keep["keep_duplicates"] else f"dropped {dup['dropped']:,}",
    )
    table.add_row(
        "Same content in two splits",
        f"{leaks['contents']:,} contents",
        f"{leaks['rows']:,} rows; {_by(leaks['by_pair'])}",
        ("kept" if keep["keep_leaks"] else f"dropped {leaks['dropped']:,}")
        + f"; {leaks['flagged_kept']:,} kept rows flagged leak",
    )
    near = report.get("near_duplicates")
    if near is not None:
        table.add_row(
            f"Near copies (dHash <= {near['max_bits']} bits)",
            f"{near['groups']:,} groups",
            f"{near['rows']:,} rows; {near['across_splits']:,} in two splits: {_by(near['by_splits'])}",
            "kept; listed in report.json",
        )
    table.add_row(
        "Same content, different labels",
        f"{conflicts['contents']:,} contents",
        f"{conflicts['rows']:,} rows",
        "kept" if keep["keep_duplicates"] else f"dropped {conflicts['dropped']:,}",
    )
    return table


def _unreadable(report: dict) -> Table:
    table = Table(title="Unreadable files (first few)", title_justify="left")
    table.add_column("File")
    table.add_column("Error")
    for example in report["unreadable"]["examples"]:
        table.add_row(escape(example["relpath"]), escape(example["error"]))
    return table


def _shortcuts(report: dict) -> Table | Text:
    shortcuts = report["shortcuts"]
    if "note" in shortcuts:
        return Text(f"Shortcut check skipped: {shortcuts['note']}")
    thresholds = shortcuts["thresholds"]
    table = Table(
        title=(
            "Shortcut check: can a non-pixel property (container or metadata) predict the label? "
            f"(WARN at accuracy +{thresholds['accuracy_lift']:.2f} over the majority "
            f"baseline {shortcuts['baseline']:.2f}, or ROC-AUC >= {thresholds['auc']:.2f}; "
            "partial: a value found in one label only)"
        ),
        title_justify="left",
    )
    for column in ("Property", "Metric", "Score", "Baseline", "AUC", "Distinct", "Status", "Detail"):
        table.add_column(
            column,
            justify="left" if column in ("Property", "Metric", "Status", "Detail") else "right",
        )
    for entry in shortcuts["properties"]:
        table.add_row(
            entry["property"],
            entry["metric"],
            f"{entry['score']:.3f}",
            f"{entry['baseline']:.3f}",
            f"{entry.get('auc', entry['score']):.3f}",
            f"{entry['distinct']:,}",
            _status(entry),
            escape(entry["detail"]),
        )
    return table


def _status(entry: dict) -> Text:
    if entry["constant"]:
        return Text("constant")
    if entry["warn"]:
        return Text("WARN", style="bold red")
    if entry.get("tells"):
        return Text("partial", style="yellow")
    return Text("ok", style="green")


def _warnings(report: dict) -> list[str]:
    messages = list(report["shortcuts"].get("warnings", []))
    if report["label_conflicts"]["contents"]:
        messages.append(
            f"{report['label_conflicts']['contents']:,} contents carry different labels; "
            "check the labelling of the examples in report.json"
        )
    return messages
