"""Consent per purpose, with the source and time of every change (GDPR Art. 7 and 21).

`Customer.consent` holds the current answers ({"marketing": false, ...}); every change is
also written to `consent_changes`, so "who said so, where, when" can always be shown.

The sending rule (`allows`):
- service_mail: automatic mail about the customer's requests (acknowledgements, "your
  request was solved", the satisfaction question). Allowed until the customer objects.
- sms: automatic text messages about their requests. Allowed until the customer objects.
- marketing: newsletters and offers. Only after the customer agreed (opt-in).
An agent's reply to the customer's own request is not automatic mail: it is the service
they asked for, and goes out whatever the answers say.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from customers.models import ConsentChange, Customer
from tresen.runtime import ActionError, Transaction

PURPOSES = ("service_mail", "sms", "marketing")
# Where a change came from: the customer in the portal, an agent in the console, an API
# client, an import of another system's answers.
SOURCES = ("portal", "agent", "api", "import")
# The answer while the customer has given none: service messages until they object,
# marketing only once they agreed.
DEFAULTS = {"service_mail": True, "sms": True, "marketing": False}
# Keys of the time before purposes (the console's check boxes, the demo data, API clients
# of then) that mean a purpose of today: accepted as that purpose (migration 0017 renamed
# the stored answers). "phone_calls" and "data_processing" mean none of today's purposes:
# asked for, they are refused like any unknown purpose (a 422 naming today's).
ALIASES = {"email_marketing": "marketing"}


class ConsentError(ActionError):
    """A purpose or source Tresen does not know; the message names it."""


def current(customer: Customer) -> dict[str, bool]:
    """Every purpose's answer now (the default where the customer gave none)."""
    stored = customer.consent or {}
    return {
        purpose: bool(stored[purpose]) if purpose in stored else DEFAULTS[purpose]
        for purpose in PURPOSES
    }


def with_purposes(answers: dict) -> dict:
    """The answers under today's purpose names (an old key's answer under its purpose; when
    both are given, today's name wins)."""
    renamed = {ALIASES[key]: value for key, value in answers.items() if key in ALIASES}
    return {**renamed, **{key: value for key, value in answers.items() if key not in ALIASES}}


def check(purpose: str, source: str | None = None) -> None:
    if purpose not in PURPOSES:
        raise ConsentError("purpose", f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    if source is not None and source not in SOURCES:
        raise ConsentError("source", f"source {source!r} is not one of {', '.join(SOURCES)}")


async def set_consent(
    tx: Transaction,
    customer: Customer,
    answers: dict[str, bool],
    *,
    source: str,
    actor_user_id: int | None = None,
) -> list[str]:
    """Record the customer's answers; the purposes that changed (each a history row)."""
    answers = with_purposes(answers)
    for purpose in answers:
        check(purpose, source)
    check(PURPOSES[0], source)
    stored = dict(customer.consent or {})
    changed = []
    for purpose, granted in answers.items():
        granted = bool(granted)
        # A first answer is recorded even when it says what the default said.
        if purpose in stored and stored[purpose] == granted:
            continue
        stored[purpose] = granted
        changed.append(purpose)
        tx.session.add(
            ConsentChange(
                customer_id=customer.id,
                purpose=purpose,
                granted=granted,
                source=source,
                actor_user_id=actor_user_id,
                at=tx.now(),
            )
        )
    if changed:
        customer.consent = stored
        customer.updated_at = tx.now()
        await tx.session.flush()
        tx.emit("customer.updated", customer_id=customer.id)
    return changed


async def history(
    session: AsyncSession, customer_id: int, limit: int | None = None
) -> list[ConsentChange]:
    """The changes of the customer's consent, newest first (all, or the newest `limit`)."""
    query = (
        select(ConsentChange)
        .where(ConsentChange.customer_id == customer_id)
        .order_by(ConsentChange.at.desc(), ConsentChange.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


async def allows(session: AsyncSession, customer_id: int, purpose: str) -> bool:
    """Whether Tresen may contact the customer for this purpose now (see the module's rule).

    A record merged into another answers with the one kept; an erased or unknown record
    is never contacted."""
    check(purpose)
    for _ in range(10):  # merged records form a short chain
        row = (
            await session.execute(
                select(Customer.consent, Customer.merged_into_id, Customer.erased_at).where(
                    Customer.id == customer_id
                )
            )
        ).first()
        if row is None or row.erased_at is not None:
            return False
        if row.merged_into_id is None:
            stored = row.consent or {}
            return bool(stored[purpose]) if purpose in stored else DEFAULTS[purpose]
        customer_id = row.merged_into_id
    return False
