"""The one table of the hash lists: PDQ hashes of images someone confirmed as AI-generated or as real.

A row belongs to a named list (``review``: what moderators confirmed in the review queue; any other
name: an imported list) and says ``ai`` or ``real``. ``(list_name, pdq)`` is unique: importing or
confirming the same hash again updates its label and note. ``updated_at`` lets every replica notice a
change with one cheap query and reload its in-memory index.

``crop_variants`` holds the hashes of a few crops of the image (``deeptrust.hashes.variants``) when the
entry was added from the image itself (a moderator's decision, ``deeptrust hashes add``); imported rows have
none. They are derived data: lists and exports show the entry, never its variants. The column is new in
the crop-variant version; ``deeptrust.hashes._schema`` adds it to older databases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from deeptrust.feedback.models import UTCDateTime, utcnow

LABELS = ("ai", "real")
REVIEW_LIST = "review"
MAX_LIST_NAME = 64
MAX_NOTE = 1000


class Base(DeclarativeBase):
    pass


class HashEntry(Base):
    __tablename__ = "hash_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_name: Mapped[str] = mapped_column(String(MAX_LIST_NAME))
    pdq: Mapped[str] = mapped_column(String(64))  # 64 lower-case hex digits
    label: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # import, review or manual
    added_by: Mapped[str | None] = mapped_column(String(200))
    review_item_id: Mapped[int | None] = mapped_column(Integer)  # the feedback item it came from
    # 33 bytes per crop variant (code, 32-byte hash); None for bare hashes (CSV imports, older rows)
    crop_variants: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)

    __table_args__ = (
        UniqueConstraint("list_name", "pdq", name="uq_hash_entries_list_pdq"),
        CheckConstraint("label IN ('ai', 'real')", name="ck_hash_entries_label"),
        Index("ix_hash_entries_review_item", "review_item_id"),
        {"sqlite_autoincrement": True},
    )

    def to_dict(self) -> dict[str, object]:
        return {
            "list": self.list_name,
            "hash": self.pdq,
            "label": self.label,
            "note": self.note,
            "source": self.source,
            "added_by": self.added_by,
            "review_item_id": self.review_item_id,
            "crop_variants": len(self.crop_variants or b"") // 33,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }
