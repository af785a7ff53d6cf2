"""What a merge and a bulk change did, kept so that either can be undone for a while."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime


class BulkChange(Base):
    """One bulk action on many tickets: what each ticket held before, to put it back."""

    __tablename__ = "bulk_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # {"changes": {...}, "add_tag": "...", "merge": bool}
    request: Mapped[dict] = mapped_column(JSON, default=dict)
    # [{"ticket_id": 1, "before": {"state": "open", ...}, "after": {...}, "tag_added": bool}]
    tickets: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class TicketMerge(Base):
    """A merge of `source` into `target`: the messages, links, tags and state it moved."""

    __tablename__ = "ticket_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The bulk change it was part of (undone with it).
    bulk_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("bulk_changes.id", ondelete="SET NULL"), index=True
    )
    # {"messages": [...], "state": ..., "solved_at": ..., "tags_added": [...],
    #  "links_removed": [...], "links_added": [...]}
    moved: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
