"""Rich progress bars with rate and ETA, on stderr so that stdout keeps only the report."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, e.g. ``1,234 files/s``."""

    def __init__(self, unit: str, *, decimals: int = 0) -> None:
        super().__init__()
        self.unit = unit
        self.decimals = decimals

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = "?" if speed is None else f"{speed:,.{self.decimals}f}"
        return Text(f"{shown} {self.unit}/s", style="progress.data.speed")


def create_progress(
    *,
    enabled: bool,
    in_bytes: bool = False,
    unit: str = "files",
    decimals: int = 0,
    console: Console | None = None,
) -> Progress:
    """A progress display; ``in_bytes`` shows sizes and MB/s instead of counts and ``unit``/s."""
    counts = (
        (DownloadColumn(), TransferSpeedColumn())
        if in_bytes
        else (MofNCompleteColumn(), RateColumn(unit, decimals=decimals))
    )
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        *counts,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=not enabled,
    )
