"""Who holds personal data about a customer: each room (and channel) names a holder, so the
export (GDPR Art. 15 and 20) and the erasure (Art. 17) reach every table without the
customers room importing the others.

A holder adds its part to an `Export` (sections of data.json, files beside it) and erases or
anonymizes what it keeps about a `Subject`. Rooms register theirs with `register` (the
module is listed in `tresen.rooms.HOOK_MODULES`); a channel names its own in
`Channel.personal_data`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tresen.runtime import Transaction

# What erasure does with what the desk keeps for its statistics (TRESEN_ERASURE):
# "anonymize": tickets and messages stay as counted rows without any personal data;
# "delete": the customer's tickets go with the record.
ERASURE_MODES = ("anonymize", "delete")


@dataclass(frozen=True)
class Subject:
    """The person whose data is exported or erased.

    `customer_ids`: their record first, then the records merged into it (those kept their
    name). `identities`: (kind, value) of every identity the records hold. `needles`: the
    texts that identify them (name, addresses, numbers), for scrubbing copies in free text.
    """

    customer_ids: tuple[int, ...]
    identities: tuple[tuple[str, str], ...]
    names: tuple[str, ...] = ()

    @property
    def customer_id(self) -> int:
        return self.customer_ids[0]

    def values(self, *kinds: str) -> list[str]:
        """The identity values of these kinds (all kinds when none is given)."""
        return [value for kind, value in self.identities if not kinds or kind in kinds]

    @property
    def needles(self) -> list[str]:
        found = {value for _, value in self.identities if len(value) >= 5}
        found |= {name for name in self.names if len(name.strip()) >= 5}
        return sorted(found, key=len, reverse=True)


@dataclass
class Export:
    """What a data export is made of: data.json's sections and the files beside it."""

    data: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, section: str, value: Any) -> None:
        """A section of data.json; a list added twice is extended."""
        if isinstance(value, list) and isinstance(self.data.get(section), list):
            self.data[section].extend(value)
        else:
            self.data[section] = value

    def add_file(self, folder: str, name: str, content: bytes) -> str:
        """Put a file into the ZIP; its path there (unique, safe characters only)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:120] or "file"
        path = f"{folder}/{safe}"
        number = 1
        while path in self.files:
            number += 1
            path = f"{folder}/{number}-{safe}"
        self.files[path] = content
        return path


ExportPart = Callable[["AsyncSession", Subject, Export], Awaitable[None]]
# (tx, subject, mode) -> counts of what it erased, e.g. {"tickets": 2}: no personal data.
ErasePart = Callable[["Transaction", Subject, str], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class Holder:
    """A room's part of the customer's data. Erasure runs holders by `order` (low first):
    channels (10) before tickets (50), so a channel still finds its rows by ticket."""

    name: str
    export: ExportPart | None = None
    erase: ErasePart | None = None
    order: int = 50


_holders: dict[str, Holder] = {}


def register(holder: Holder) -> Holder:
    """Add (or replace) a room's holder."""
    _holders[holder.name] = holder
    return holder


def holders() -> list[Holder]:
    """Every room's and channel's holder, in erasure order."""
    from tresen import channel as channel_registry

    found = dict(_holders)
    for channel in channel_registry.channels():
        if channel.personal_data is not None:
            found.setdefault(channel.personal_data.name, channel.personal_data)
    return sorted(found.values(), key=lambda holder: (holder.order, holder.name))
