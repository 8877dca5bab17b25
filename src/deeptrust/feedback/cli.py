"""``deeptrust feedback list|export|purge``: the review queue from a terminal.

Reads DEEPTRUST_DATABASE_URL (default: SQLite under DEEPTRUST_HOME) and the images under
``<home>/feedback/images``. Reviewing itself happens on the web page (moderator role).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from deeptrust.feedback.store import FeedbackStore

app = typer.Typer(no_args_is_help=True)


def _open_store() -> FeedbackStore:
    from deeptrust.feedback.store import FeedbackStore

    store = FeedbackStore.from_settings()
    store.create_schema()
    return store


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True).print(
        f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True
    )
    return typer.Exit(code=2)


@app.command("list")
def list_command(
    status: Annotated[str, typer.Option(help="pending, approved, relabelled, or all.")] = "pending",
    origin: Annotated[str | None, typer.Option(help="flag or borderline (default: both).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
) -> None:
    """List review items: flags first, then borderline images closest to the threshold."""
    from deeptrust.feedback.errors import FeedbackError

    wanted = None if status == "all" else status
    try:
        with _open_store() as store:
            items = store.list_review(wanted, origin, limit=limit, offset=offset)
            total = store.count(wanted, origin)
    except FeedbackError as exc:
        raise _fail(exc) from None
    table = Table(title=f"Review items ({status}): {len(items)} of {total}")
    for column in ("id", "created (UTC)", "origin", "model", "predicted", "p_ai", "thr", "user label"):
        table.add_column(column, justify="right" if column in ("id", "p_ai", "thr") else "left")
    for column in ("status", "final", "sha256"):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item.id),
            item.created_at.strftime("%Y-%m-%d %H:%M"),
            item.origin.value,
            escape(f"{item.model_name or '?'} {item.model_version}"),
            escape(item.predicted_label),
            f"{item.p_ai:.3f}",
            "" if item.threshold is None else f"{item.threshold:.3f}",
            escape(item.corrected_label or ""),
            item.status.value,
            escape(item.final_label or ""),
            item.sha256[:12],
        )
    Console().print(table)


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Argument(help="New folder (or .tar.gz file with --tar) to write.")],
    tar: Annotated[bool, typer.Option("--tar", help="Write one .tar.gz instead of a folder.")] = False,
) -> None:
    """Export reviewed images as an ImageFolder (<final_label>/<sha256>.<ext>) for `deeptrust data import`."""
    from deeptrust.feedback.errors import FeedbackError

    try:
        with _open_store() as store:
            result = store.export_tar_gz(out) if tar else store.export_imagefolder(out)
    except FeedbackError as exc:
        raise _fail(exc) from None
    console = Console()
    labels = ", ".join(f"{label}: {n}" for label, n in result.counts.items()) or "none reviewed yet"
    console.print(f"Exported {result.total} images to {escape(str(out))} ({escape(labels)})", soft_wrap=True)
    if result.missing:
        console.print(f"[yellow]{result.missing} reviewed images were missing on disk (purged?)[/yellow]")
    if result.conflicts:
        console.print(
            f"[yellow]{result.conflicts} images had conflicting reviews; the latest was used[/yellow]"
        )
    console.print(f"Next: deeptrust data import {escape(str(out))} --name feedback", soft_wrap=True)


@app.command("purge")
def purge_command(
    older_than_days: Annotated[
        int | None,
        typer.Option(min=0, help="Default: DEEPTRUST_FEEDBACK_RETENTION_DAYS (0 keeps everything)."),
    ] = None,
) -> None:
    """Delete review items older than the retention period, and images no remaining item uses.

    Safe while the service runs: a file is deleted only under its database lock (see feedback/_files.py).
    The service also purges by itself every DEEPTRUST_FEEDBACK_PURGE_INTERVAL_S seconds.
    """
    from deeptrust.feedback.errors import FeedbackError
    from deeptrust.settings import get_settings

    days = get_settings().feedback_retention_days if older_than_days is None else older_than_days
    try:
        with _open_store() as store:
            result = store.purge(days)
    except FeedbackError as exc:
        raise _fail(exc) from None
    if days == 0:
        Console().print(
            f"Retention is 0 days (keep forever): no items purged; {result.images} image files no item "
            "used were removed."
        )
        return
    Console().print(f"Purged {result.items} items and {result.images} images older than {days} days.")
