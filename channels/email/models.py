"""Mail accounts and where fetching stopped in each of their folders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime


class MailAccount(Base):
    """A support address: fetched by IMAP (or fed by the SMTP listener), answered by SMTP."""

    __tablename__ = "mail_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Full URLs with credentials (imap://USER:PASS@HOST:PORT/FOLDER), sealed by tresen.secrets
    # ("enc1:..."); opened only through channels.email.accounts, never shown or logged.
    imap_url: Mapped[str | None] = mapped_column(Text)
    smtp_url: Mapped[str | None] = mapped_column(Text)
    # After a message is stored: move it here, or (when empty) flag it \Seen.
    processed_folder: Mapped[str | None] = mapped_column(String(200))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class MailFolderState(Base):
    """The last UID stored from a folder, valid while the folder's UIDVALIDITY stays."""

    __tablename__ = "mail_folder_states"
    __table_args__ = (UniqueConstraint("account_id", "folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("mail_accounts.id", ondelete="CASCADE"), index=True
    )
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
