"""What happens to customers and organizations: the payload of each event."""

from __future__ import annotations

from dataclasses import dataclass

from tresen.events import Payload


@dataclass(frozen=True)
class CustomerCreated(Payload, type="customer.created"):
    customer_id: int

    def key(self) -> str:
        return f"customer.created:{self.customer_id}"


@dataclass(frozen=True)
class CustomerUpdated(Payload, type="customer.updated"):
    customer_id: int


@dataclass(frozen=True)
class CustomerMerged(Payload, type="customer.merged"):
    customer_id: int  # merged away
    into_id: int


@dataclass(frozen=True)
class OrganizationCreated(Payload, type="organization.created"):
    organization_id: int
