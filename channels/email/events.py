"""What happens to mail accounts: the payload of each event."""

from __future__ import annotations

from dataclasses import dataclass

from tresen.events import Payload


@dataclass(frozen=True)
class MailAccountCreated(Payload, type="mail_account.created"):
    account_id: int


@dataclass(frozen=True)
class MailAccountUpdated(Payload, type="mail_account.updated"):
    account_id: int
    fields: list[str]
