"""The reviewed corrections of one model: how many arrived since a time, and their export.

Items belong to a model by the name its predictions carried (``model_name``, the card's name). The export
is cumulative (every reviewed item of the model so far, the latest decision per image), so that each
retrain learns from all corrections; only the trigger counts what is new since the last retrain.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from deeptrust.feedback._export import ExportResult, latest_decisions, write_folder
from deeptrust.feedback.models import FeedbackItem, Status
from deeptrust.feedback.store import FeedbackStore

REVIEWED = (Status.APPROVED, Status.RELABELLED)


def _of(model: str):  # type: ignore[no-untyped-def]
    return (
        FeedbackItem.model_name == model,
        FeedbackItem.status.in_(REVIEWED),
        FeedbackItem.final_label.is_not(None),
    )


def count_reviewed(store: FeedbackStore, model: str, *, since: datetime | None) -> int:
    """Reviewed items of ``model`` decided after ``since`` (all of them when None)."""
    query = select(func.count()).select_from(FeedbackItem).where(*_of(model))
    if since is not None:
        query = query.where(FeedbackItem.reviewed_at > since)
    with store.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def export_reviewed(store: FeedbackStore, model: str, out_dir: Path) -> tuple[ExportResult, datetime | None]:
    """Write the model's reviewed items as an ImageFolder; also the latest review time included."""
    query = select(FeedbackItem).where(*_of(model)).order_by(FeedbackItem.reviewed_at, FeedbackItem.id)
    with store._reader() as session:
        items = list(session.scalars(query))
    through = max((i.reviewed_at for i in items if i.reviewed_at is not None), default=None)
    latest, conflicts = latest_decisions(items)
    return write_folder(latest, store.images, out_dir, conflicts), through
