"""Feedback and review: images users flagged or the service found borderline, a moderator's final
label for each, and the export that turns them into a dataset for retraining.

Needs the ``serve`` extra (SQLAlchemy, psycopg): ``pip install 'deeptrust[serve]'``.
"""

try:
    import sqlalchemy  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the feedback store needs SQLAlchemy; install it with: pip install 'deeptrust[serve]'"
    ) from exc

from deeptrust.feedback._export import ExportResult
from deeptrust.feedback._images import ImageFacts
from deeptrust.feedback.errors import (
    FeedbackError,
    FeedbackImageError,
    FeedbackLimitError,
    ItemNotFoundError,
    ReviewError,
)
from deeptrust.feedback.models import FeedbackItem, Origin, Status
from deeptrust.feedback.store import FeedbackStore, PurgeResult, is_borderline

__all__ = [
    "ExportResult",
    "FeedbackError",
    "FeedbackImageError",
    "FeedbackItem",
    "FeedbackLimitError",
    "FeedbackStore",
    "ImageFacts",
    "ItemNotFoundError",
    "Origin",
    "PurgeResult",
    "ReviewError",
    "Status",
    "is_borderline",
]
