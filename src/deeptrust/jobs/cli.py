"""``deeptrust jobs list|show``: the job queue from a terminal (the same rows as /v1/admin/jobs)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_command(limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20) -> None:
    """Recent jobs, newest first."""
    from deeptrust.jobs import JobStore

    with JobStore.from_settings() as jobs:
        jobs.create_schema()
        found = jobs.list_jobs(limit=limit)
    table = Table(title=f"Jobs ({len(found)})")
    for column in ("id", "kind", "model", "status", "trigger", "by", "created (UTC)", "seconds", "error"):
        table.add_column(column)
    for job in found:
        seconds = "" if job.seconds is None else f"{job.seconds:.0f}"
        when = job.created_at.strftime("%Y-%m-%d %H:%M:%S")
        who, error = escape(job.requested_by or ""), escape((job.error or "")[:80])
        table.add_row(
            str(job.id), job.kind, escape(job.model), job.status.value, job.trigger, who, when, seconds, error
        )
    Console().print(table)


@app.command("show")
def show_command(
    job_id: Annotated[int, typer.Argument(help="The job's id.")],
    tail: Annotated[int, typer.Option(min=0, help="Bytes of the log's end to print.")] = 4000,
) -> None:
    """One job as JSON, then the end of its log."""
    from deeptrust.jobs import JobNotFoundError, JobStore

    with JobStore.from_settings() as jobs:
        jobs.create_schema()
        try:
            job = jobs.get(job_id)
        except JobNotFoundError as exc:
            Console(stderr=True).print(f"[bold red]error:[/bold red] {escape(str(exc))}")
            raise typer.Exit(2) from None
        typer.echo(json.dumps(job.to_dict(), indent=2))
        log = jobs.log_tail(job, tail)
    if log:
        typer.echo(f"--- log ({job.log_path}), last {tail} bytes ---\n{log}")
