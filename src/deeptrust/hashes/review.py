"""Moderators' decisions become hash-list entries: every reviewed image's PDQ hash joins the ``review`` list.

The review route calls :func:`add_reviewed` right after a decision (so re-uploads are caught at once);
``deeptrust hashes sync-review`` calls :func:`sync_review` to back-fill items reviewed before this existed
or while the hash store was unreachable (and to add crop variants to entries listed before they existed).
A decision for the model's real class lists the image as ``real``; any other class as ``ai``. A later
decision on the same image replaces the earlier one. Each entry keeps the hashes of a few crops of the
image (``deeptrust.hashes.variants``, ~0.16 s of CPU for a 512² image), so cropped re-uploads are caught too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from deeptrust.evidence.pdq import PdqHash
from deeptrust.feedback import FeedbackItem, FeedbackStore
from deeptrust.hashes.models import REVIEW_LIST
from deeptrust.hashes.store import HashStore
from deeptrust.imageio import open_image

if TYPE_CHECKING:
    from deeptrust.settings import Settings

log = logging.getLogger("deeptrust.hashes")


def label_of(final_label: str, real_class: str) -> str:
    return "real" if final_label == real_class else "ai"


Variants = list[tuple[int, PdqHash]]


def add_reviewed(
    hashes: HashStore, feedback: FeedbackStore, item: FeedbackItem, *, real_class: str
) -> tuple[PdqHash, Variants] | None:
    """List a reviewed item's image with its crop variants; returns the hash and the variants, or None when
    the item has no decision or no image file."""
    if item.final_label is None:
        return None
    path = feedback.image_file(item)
    if not path.exists():  # purged by retention
        return None
    return hashes.add_image(
        open_image(path, max_pixels=feedback.max_pixels),
        label_of(item.final_label, real_class),
        list_name=REVIEW_LIST,
        note=_note(item),
        source="review",
        added_by=item.reviewed_by,
        review_item_id=item.id,
    )


def _note(item: FeedbackItem) -> str:
    return f"review item {item.id}: {item.final_label}"


def sync_review(hashes: HashStore, feedback: FeedbackStore, *, real_class: str) -> tuple[int, int]:
    """Add every reviewed item (approved or relabelled) to the ``review`` list; (added, skipped)."""
    added = skipped = 0
    for status in ("approved", "relabelled"):
        offset = 0
        while True:
            items = feedback.list_review(status, None, limit=500, offset=offset)
            if not items:
                break
            offset += len(items)
            for item in items:
                if add_reviewed(hashes, feedback, item, real_class=real_class) is None:
                    skipped += 1
                else:
                    added += 1
    return added, skipped


def on_review(settings: Settings, feedback: FeedbackStore, item: FeedbackItem, *, real_class: str) -> None:
    """After a moderator's decision in the service: list the image; this process matches it at once.

    Never raises: the decision is stored already, and ``deeptrust hashes sync-review`` back-fills what a
    failure here (an unreachable database, a purged file) left out."""
    if not settings.hash_lists:
        return
    from deeptrust.hashes.reader import matcher_for

    try:
        matcher = matcher_for(settings)
        assert matcher.store is not None
        added = add_reviewed(matcher.store, feedback, item, real_class=real_class)
        if added is not None and item.final_label is not None:
            pdq, variants = added
            label = label_of(item.final_label, real_class)
            matcher.add_local(pdq.hex, label, list_name=REVIEW_LIST, note=_note(item), variants=variants)
    except Exception:
        log.exception("could not add reviewed item %s to the hash lists", item.id)
