"""The leave-one-out protocol behind ``deeptrust evaluate --protocol leave-one-out --config C``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

PROTOCOLS = ("leave-one-out",)


def run_protocol(
    protocol: str, config_path: Path | None, *, by: str | None, json_out: Path | None, markdown: Path | None
) -> None:
    from deeptrust.probe.protocol import leave_one_out, summarize
    from deeptrust.probe.run import build_table, train_views
    from deeptrust.settings import get_settings
    from deeptrust.train.config import load_config

    console = Console()
    if protocol not in PROTOCOLS:
        _fail(f"unknown protocol {protocol!r}; choose {', '.join(PROTOCOLS)}")
    if config_path is None:
        _fail("--protocol needs --config: the training recipe to refit without each group")
    overrides: dict[str, Any] = {"probe.by": by} if by else {}
    try:
        config = load_config(config_path, **overrides)
    except (FileNotFoundError, ValueError) as exc:
        _fail(f"bad config {config_path}: {exc}")
    if not config.model.family.endswith("_taps"):
        _fail(f"the protocol refits probes on cached features; {config.model.family} is not a *_taps family")
    table, _ = build_table(config, get_settings(), show=True)
    result = leave_one_out(table, train_views=train_views(config))
    summary = summarize(result)
    console.print(_table(result, config.probe.by))
    console.print({k: round(v, 4) for k, v in summary.items()})
    if json_out is not None:
        body = {"protocol": protocol, "config": str(config_path), "by": config.probe.by, "summary": summary}
        body["groups"] = result.to_dict(orient="records")
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(body, indent=2, default=float) + "\n")
        console.print(f"wrote [bold]{json_out}[/]")
    if markdown is not None:
        markdown.write_text(to_markdown(result) + "\n")
        console.print(f"wrote [bold]{markdown}[/]")


def to_markdown(result: pd.DataFrame) -> str:
    lines = [
        "| held-out group | label | n | ROC-AUC | TPR at threshold | FPR at threshold |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in result.itertuples():
        tpr = "" if pd.isna(r.tpr_at_threshold) else f"{r.tpr_at_threshold:.3f}"
        fpr = "" if pd.isna(r.fpr_at_threshold) else f"{r.fpr_at_threshold:.3f}"
        lines.append(f"| {r.group} | {r.label} | {r.n} | {r.roc_auc:.3f} | {tpr} | {fpr} |")
    return "\n".join(lines)


def _table(result: pd.DataFrame, by: str) -> Table:
    table = Table(
        title=f"Leave one {by} out (train + val images of each held-out group)", title_justify="left"
    )
    for col in ("group", "label", "n", "ROC-AUC", "TPR@thr", "FPR@thr"):
        table.add_column(col, justify="left" if col in ("group", "label") else "right")
    for r in result.itertuples():
        cells = [r.tpr_at_threshold, r.fpr_at_threshold]
        table.add_row(
            r.group,
            r.label,
            str(r.n),
            f"{r.roc_auc:.3f}",
            *("–" if pd.isna(c) else f"{c:.3f}" for c in cells),
        )
    return table


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)
