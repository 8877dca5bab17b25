"""What "new" means for ``--min-new-reviewed``: corrections reviewed after the last completed retrain."""

from __future__ import annotations

from datetime import datetime

from deeptrust.feedback.store import FeedbackStore
from deeptrust.jobs import JobStatus, JobStore
from deeptrust.retrain._feedback import count_reviewed
from deeptrust.retrain.errors import NoNewFeedbackError

KIND = "retrain"


def last_reviewed_through(jobs: JobStore, model: str) -> datetime | None:
    """The latest review time the last completed retrain of ``model`` trained on (None: never retrained)."""
    last = jobs.last_finished(KIND, model, (JobStatus.SUCCEEDED, JobStatus.REJECTED))
    through = ((last.result or {}).get("feedback") or {}).get("reviewed_through") if last else None
    return datetime.fromisoformat(through) if through else None


def check_new_feedback(store: FeedbackStore, jobs: JobStore, model: str, min_new: int) -> int:
    """The number of new reviewed items, or :class:`NoNewFeedbackError` when under ``min_new`` (>= 1)."""
    needed = max(1, min_new)
    since = last_reviewed_through(jobs, model)
    new = count_reviewed(store, model, since=since)
    if new < needed:
        when = f"since the last retrain (reviews up to {since.isoformat()})" if since else "so far"
        raise NoNewFeedbackError(
            f"{new} reviewed correction(s) of {model!r} {when}; this retrain needs at least {needed}: "
            "review flagged images first (the page's Review tab), or lower --min-new-reviewed",
            new=new,
            needed=needed,
        )
    return new
