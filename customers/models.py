"""Customers, their organizations and their identities on every channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tresen.database import Base, UTCDateTime

TIERS = ("standard", "premium", "vip")
# A customer's part in their organization: a member sees their own tickets in the portal,
# a manager all the organization's.
ORG_ROLES = ("member", "manager")


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    tier: Mapped[str] = mapped_column(String(20), default="standard")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    language: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str | None] = mapped_column(String(64))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    tier: Mapped[str] = mapped_column(String(20), default="standard")
    # ORG_ROLES; meaningful with an organization only (set back to member when it changes).
    org_role: Mapped[str] = mapped_column(String(20), default="member", server_default="member")
    notes: Mapped[str] = mapped_column(Text, default="")
    # e.g. {"email_marketing": false, "sms": true}
    consent: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Merged into that record: its identities and history moved there.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    # Anonymized (customers/erasure.py): kept for the statistics only, no personal data left.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization | None] = relationship(lazy="joined")
    identities: Mapped[list[Identity]] = relationship(
        back_populates="customer", order_by="Identity.id", lazy="selectin"
    )


class Identity(Base):
    """How a customer is reached on one channel: one normalized value per kind."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # Searching phones by any spelling: digits only, e.g. "4930123456".
    search_value: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when mail to it bounced for good (or its owner complained); cleared when they write.
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounce_reason: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class ConsentChange(Base):
    """One change of a customer's consent to a purpose: what, from where, when
    (customers/consent.py keeps the current answers in `Customer.consent`)."""

    __tablename__ = "consent_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(30))
    granted: Mapped[bool] = mapped_column(Boolean)
    # customers.consent.SOURCES: portal, agent, api, import
    source: Mapped[str] = mapped_column(String(20))
    # The staff member who recorded it (agent, api); None: the customer or an import.
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class DataRequest(Base):
    """A customer's request to have their record erased (GDPR Art. 17), waiting for an
    administrator; kept after the erasure without any personal data."""

    __tablename__ = "data_requests"
    __table_args__ = (
        # One pending request of a kind per record, also when the form is sent twice at once.
        Index(
            "uq_data_requests_pending",
            "customer_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None once the record is deleted.
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # erasure
    # pending, done (erased), rejected, withdrawn (by the customer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    source: Mapped[str] = mapped_column(String(20))  # portal, agent, api
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class DataAudit(Base):
    """What was done with a customer's data (exported, erased, anonymized), by whom and when;
    never the data itself: the record's number, counts and the mode only."""

    __tablename__ = "data_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(20))  # export, erasure
    # The record's number (no foreign key: it outlives a deleted record).
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    # Who did it: a staff member, or the customer themselves (portal).
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(20))  # portal, console, api
    # e.g. {"mode": "anonymize", "tickets": 2, "messages": 7}
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
