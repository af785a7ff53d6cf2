"""Who has a conversation: the bot takes new ones on its channels (asked by routing through
`tresen.rooms.bot_takes`), and an agent may take one from it."""

from __future__ import annotations

from sqlalchemy import select, update

from bots.availability import is_on, settings_of
from bots.models import BotConversation
from tickets.bot_messages import BOT, add_bot_message, hand_over, to_bot
from tickets.fields import update_ticket
from tickets.history import Actor
from tickets.models import Message, Ticket
from tresen import channel as channel_registry
from tresen import rooms
from tresen.i18n import LANGUAGES, _, using
from tresen.models import User
from tresen.runtime import ActionError, Transaction


async def bot_takes(tx: Transaction, *, ticket, inbound, language: str | None) -> bool:
    """Whether the channel's bot answers this new ticket first; if so its conversation
    is started (routing then puts the ticket in the state "bot")."""
    if inbound.auto_submitted or inbound.report is not None:
        return False
    channel = channel_registry.describe(inbound.channel)
    if not channel.bot or channel.send is None:
        return False  # a bot that cannot write back would only keep the customer waiting
    settings = await settings_of(tx.session, inbound.channel)
    if not await is_on(tx.session, settings, tx.now(), getattr(ticket, "queue_id", None)):
        return False
    now = tx.now()
    tx.session.add(
        BotConversation(
            ticket_id=ticket.id,
            channel=inbound.channel,
            engine=settings.engine,
            language=inbound.language or language,
            state={},
            started_at=now,
            updated_at=now,
            answers=0,
            misses=0,
        )
    )
    await tx.session.flush()
    return True


async def locked_conversation(
    tx: Transaction, ticket_id: int, *, ticket_locked: bool = False
) -> BotConversation | None:
    """The ticket's conversation with the bot, read after locking the ticket's row and then
    the conversation's until commit (PostgreSQL; SQLite has one writer): the bot's turn, an
    agent taking over and a message arriving take their turns one after the other. (This
    order everywhere: the inbox holds the ticket's row already when routing asks.)"""
    if not ticket_locked:
        await tx.session.execute(select(Ticket.id).where(Ticket.id == ticket_id).with_for_update())
    return await tx.session.scalar(
        select(BotConversation)
        .where(BotConversation.ticket_id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def bot_resumes(tx: Transaction, *, ticket, inbound) -> bool:
    """Whether the bot has the conversation the customer just wrote on (routing then puts
    the ticket in the state "bot"): it keeps one it has on its own channel and takes back
    one it resolved. What it cannot answer goes to people (routed as a handoff): a message
    on another channel (the portal, a reply by e-mail) of a conversation it has, and the
    return of one it resolved while it is off."""
    if ticket.state not in (BOT, "open"):
        return False
    # The inbox updated the ticket's row in this transaction: it holds its lock already.
    conversation = await locked_conversation(tx, ticket.id, ticket_locked=True)
    if conversation is None:
        return False
    if ticket.state == BOT:
        if inbound.channel == conversation.channel or inbound.auto_submitted:
            return True  # its turn answers it (an auto-reply or a bounce changes nothing)
        # The bot answers only on its own channel: nobody would see this one.
        await _to_people(tx, ticket.id, "other_channel")
        return False
    if conversation.outcome != "deflected" or inbound.auto_submitted:
        return False  # people have it (or had it): it stays theirs
    if await _worked_on(tx, ticket.id):
        # An agent answered or has it since: theirs (routed if nobody has it now).
        await rooms.handed_over(tx, ticket.id)
        return False
    _new_round(tx, conversation)
    await tx.session.flush()
    if await _bot_on_for(tx, ticket, inbound, conversation):
        return True
    # Back while the bot cannot answer (off now, or on another channel): handed to people
    # as a turn would (routed, a note why, the wait counted from now), else nobody sees it.
    await to_bot(tx, ticket.id, state=ticket.state)
    await _to_people(tx, ticket.id, "returned")
    return False


def _new_round(tx: Transaction, conversation: BotConversation) -> None:
    """The conversation goes on: what was answered stays answered (the handler's marker)."""
    answered = (conversation.state or {}).get("message_id")
    conversation.state = {"message_id": answered} if answered else {}
    conversation.outcome = None
    conversation.ended_at = None
    conversation.misses = 0
    conversation.updated_at = tx.now()


async def _bot_on_for(tx: Transaction, ticket, inbound, conversation) -> bool:
    """Whether the bot answers this message: on its own channel, and on now."""
    if inbound.channel != conversation.channel:
        return False
    if not channel_registry.describe(inbound.channel).bot:
        return False
    settings = await settings_of(tx.session, inbound.channel)
    return await is_on(tx.session, settings, tx.now(), getattr(ticket, "queue_id", None))


async def _worked_on(tx: Transaction, ticket_id: int) -> bool:
    """Whether an agent has the ticket or wrote on it (then the bot does not take it back)."""
    if await tx.session.scalar(select(Ticket.assignee_id).where(Ticket.id == ticket_id)):
        return True
    by_staff = await tx.session.scalar(
        select(Message.id)
        .where(Message.ticket_id == ticket_id, Message.author_user_id.is_not(None))
        .limit(1)
    )
    return by_staff is not None


async def _to_people(tx: Transaction, ticket_id: int, reason: str) -> None:
    """The bot's conversation handed to people outside a turn, and routed at once."""
    if await hand_over(tx, ticket_id, reason):
        await record_handoff(tx, ticket_id, reason)
        await rooms.handed_over(tx, ticket_id)


async def record_handoff(tx: Transaction, ticket_id: int, reason: str) -> None:
    """The conversation ended with a handoff (kept for the ticket page and the report)."""
    await tx.session.execute(
        update(BotConversation)
        .where(BotConversation.ticket_id == ticket_id, BotConversation.outcome.is_(None))
        .values(outcome="handed_off", handoff_reason=reason, ended_at=tx.now(), updated_at=tx.now())
    )


async def take_over(tx: Transaction, ticket_id: int, actor) -> None:
    """An agent takes a conversation from the bot: handed off ("taken_by_agent") and
    assigned to them. `actor` is a tickets Actor or a staff user."""
    user_id = actor.user_id if isinstance(actor, Actor) else actor.id
    if user_id is None:
        raise ActionError("actor", "only a staff member takes a conversation from the bot")
    await locked_conversation(tx, ticket_id)  # waits for a turn of the bot in progress
    state = await tx.session.scalar(select(Ticket.state).where(Ticket.id == ticket_id))
    if state is None:
        raise ActionError("ticket_id", f"ticket {ticket_id} does not exist")
    if state != BOT or not await hand_over(tx, ticket_id, "taken_by_agent"):
        raise ActionError("state", "the bot no longer has this conversation", conflict=True)
    await record_handoff(tx, ticket_id, "taken_by_agent")
    ticket = await tx.session.get(Ticket, ticket_id)
    await update_ticket(tx, ticket, {"assignee_id": user_id}, Actor(user_id=user_id))
    await _tell_joined(tx, ticket, user_id)


async def _tell_joined(tx: Transaction, ticket: Ticket, user_id: int) -> None:
    """The customer is told a person has the conversation now (in the conversation's
    language): the bot's buttons above it answer nothing any more, and the widget ends them."""
    name = await tx.session.scalar(select(User.name).where(User.id == user_id))
    language = await tx.session.scalar(
        select(BotConversation.language).where(BotConversation.ticket_id == ticket.id)
    )
    if language not in LANGUAGES:
        language = tx.runtime.settings.default_language
    with using(language):
        if name:
            notice = _("%(name)s has joined the conversation.", name=name)
        else:
            notice = _("Someone from our team has joined the conversation.")
    await add_bot_message(tx, ticket, notice)
