"""Staff answering on a ticket: a reply to the customer or an internal note, with files,
optionally through a macro. The console's composer and the API both call `reply`."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from customers.models import Customer
from tickets import macros
from tickets.fields import TicketError, update_ticket
from tickets.history import Actor
from tickets.messages import NewAttachment, add_message
from tickets.models import Macro, Message, Ticket
from tresen import channel as channel_registry
from tresen import desk_settings, signatures
from tresen.runtime import Transaction


@dataclass(frozen=True)
class Reply:
    """What a reply did: the message written (None when a macro only changed the ticket)
    and the fields the macro changed."""

    message: Message | None
    changed: list[str] = field(default_factory=list)


async def reply(
    tx: Transaction,
    ticket: Ticket,
    actor: Actor,
    *,
    text: str = "",
    html: str | None = None,
    internal: bool = False,
    attachments: list[NewAttachment] = (),
    macro_id: int | None = None,
    channel: str | None = None,
    recipient: str | None = None,
) -> Reply:
    """A staff member replies to the customer (or adds an internal note, `internal`).

    With `macro_id`, the macro (shared, or the actor's own) then sets what it sets; a
    macro alone, without text or files, writes no message. A reply goes out on
    `channel` to `recipient` (one of the customer's identities) when given, else on
    the ticket's channel to where the customer last wrote from.
    """
    macro = await _usable_macro(tx, macro_id, actor) if macro_id is not None else None
    if internal:
        channel, recipient = None, None  # a note goes nowhere
    else:
        channel = sending_channel(channel or ticket.channel)
    message = None
    if channel is not None and actor.user_id is not None and (text.strip() or html):
        text, html = await _signed(tx, ticket, actor.user_id, channel, text, html)
    if text.strip() or html or attachments or macro is None:
        message = await add_message(
            tx,
            ticket,
            direction="outbound",
            channel=channel,
            text=text,
            html=html,
            internal=internal,
            actor=actor,
            attachments=attachments,
            recipient=recipient,
        )
    changed = await macros.apply_actions(tx, macro, ticket, actor) if macro is not None else []
    if message is not None and not internal and await _assigns(tx, ticket, actor):
        # The desk's setting: whoever answers an unassigned ticket takes it.
        changed += await update_ticket(tx, ticket, {"assignee_id": actor.user_id}, actor)
    return Reply(message, changed)


async def _assigns(tx: Transaction, ticket: Ticket, actor: Actor) -> bool:
    if actor.user_id is None or ticket.assignee_id is not None:
        return False
    return bool(await desk_settings.get_setting(tx.session, "assign_on_reply"))


def sending_channel(name: str) -> str:
    """The channel a reply goes out on: this one, or for a channel that cannot send (a web
    form) the one that reaches the same kind of identity (email); refused with the reason
    when there is none, before anything is written."""
    wanted = channel_registry.describe(name)
    if wanted.send is not None:
        return name
    for other in channel_registry.senders_to(wanted.identity_kind):
        return other.name
    raise TicketError("channel", wanted.why_not())


async def _signed(
    tx: Transaction, ticket: Ticket, user_id: int, channel: str, text: str, html: str | None
) -> tuple[str, str | None]:
    """The reply with the agent's signature in the customer's language (else the agent's)."""
    # None in a conversation (chat, SMS, messengers), where each line is a message.
    described = channel_registry.describe(channel)
    if described.live or described.bot:
        return text, html
    language = await tx.session.scalar(
        select(Customer.language).where(Customer.id == ticket.customer_id)
    )
    signature = await signatures.signature_of(tx.session, user_id, language)
    return signatures.append(text, html, signature) if signature else (text, html)


async def _usable_macro(tx: Transaction, macro_id: int, actor: Actor) -> Macro:
    """The macro, if it is active and shared or the actor's own."""
    macro = await tx.session.get(Macro, macro_id)
    if macro is None or not macro.active or not macros.may_use(macro, actor.user_id):
        raise TicketError("macro_id", f"macro {macro_id!r} does not exist")
    return macro
