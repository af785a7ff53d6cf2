"""The bot's turn: a durable handler of each customer message on a ticket the bot has.

`bots.answer` runs after the message commits (tresen.handlers), once per message, in a
transaction that also marks its job done: a retried job finds the message answered and
writes nothing again. It answers only while the ticket is in the state "bot" (an agent
may have taken it). The FAQ engine asks `bots.decision.decide`; the Rasa engine posts the
message to the assistant's REST channel (`bots.rasa_rest.ask`), and a failing or silent
assistant hands off: the customer's message is on the ticket for the agent either way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from dataclasses import dataclass

from sqlalchemy import select, text

from bots import rasa_rest
from bots.availability import settings_of
from bots.decision import BotConfig, BotState, Decision, decide
from bots.models import BotConversation, BotSettings
from bots.takeover import locked_conversation, record_handoff
from bots.words import small_talk
from knowledge_base.gaps import record_gap
from tickets.bot_messages import BOT, add_bot_message, hand_over, solved_by_bot
from tickets.events import MessageCreated
from tickets.models import Message, Ticket
from tresen import channel as channel_registry
from tresen import rooms
from tresen.database import unavailable
from tresen.handlers import handler
from tresen.i18n import _, using
from tresen.models import User
from tresen.runtime import Transaction

log = logging.getLogger(__name__)

# Handoffs whose question the knowledge base should learn to answer (the gaps report).
GAP_REASONS = ("low_confidence", "second_miss", "said_no", "no_answer")
LANGUAGES = ("de", "en")


def sender_of(secret_key: str, ticket_id: int) -> str:
    """The conversation's sender id at the Rasa assistant: not guessable from the ticket's
    number (a sender id is all it takes to talk into a conversation there); "tresen-" tells
    Tresen's own action server it is one of Tresen's conversations."""
    digest = hmac.new(
        secret_key.encode(), f"rasa-sender:{ticket_id}".encode(), hashlib.sha256
    ).hexdigest()
    return "tresen-" + digest[:32]


def _wanted(event: MessageCreated) -> bool:
    """A person's message from the customer, on a channel a bot may answer."""
    if event.direction != "inbound" or event.internal or event.automatic or not event.channel:
        return False
    return channel_registry.describe(event.channel).bot


@dataclass(frozen=True)
class Prepared:
    """What the bot worked out outside the transaction (search, the assistant's answer)."""

    answered_before: int  # the conversation's last answered message when it was prepared
    said: str
    engine: str  # "faq", "rasa", or "off" (switched off mid-conversation)
    decision: Decision | None = None
    state: BotState | None = None
    replies: tuple = ()
    failure: str | None = None  # the assistant failed: why


async def prepare(runtime, event: MessageCreated) -> Prepared | None:
    """The slow part of a turn, outside any transaction: the knowledge base's ranking, or
    the Rasa assistant's answer (seconds at worst; SQLite's write lock is not held)."""
    async with runtime.read() as session:
        conversation = await session.scalar(
            select(BotConversation).where(BotConversation.ticket_id == event.ticket_id)
        )
        if conversation is None or conversation.outcome is not None:
            return None
        state = await session.scalar(select(Ticket.state).where(Ticket.id == event.ticket_id))
        if state != BOT:
            return None
        memory = dict(conversation.state or {})
        answered = int(memory.get("message_id") or 0)
        if answered >= event.message_id:
            return None
        message = await session.get(Message, event.message_id)
        if message is None:
            return None
        settings = await settings_of(session, conversation.channel)
        said = await _payload_of(
            session, event.ticket_id, (message.visible_text or message.text or "").strip()
        )
    if settings is not None and not settings.enabled:
        return Prepared(answered, said, "off")
    engine = (settings.engine if settings else None) or conversation.engine or "faq"
    if engine == "rasa":
        url = settings.rasa_url if settings else None
        try:
            if not url:
                raise rasa_rest.AssistantUnavailable("no assistant URL is set")
            replies = await rasa_rest.ask(
                url,
                sender=sender_of(runtime.settings.secret_key, event.ticket_id),
                message=said,
                timeout=float(settings.rasa_timeout or 5.0),
            )
        except rasa_rest.AssistantUnavailable as error:
            return Prepared(answered, said, "rasa", failure=str(error))
        return Prepared(answered, said, "rasa", replies=tuple(replies))
    config = BotConfig(
        threshold=settings.threshold if settings else None,
        languages=tuple((settings.languages if settings else None) or LANGUAGES),
    )
    try:
        decision, new_state = await decide(
            runtime,
            said,
            lang=conversation.language,
            state=BotState.from_dict(memory),
            config=config,
            report_gaps=False,  # reported by the turn, in its transaction
        )
    except Exception as error:
        if unavailable(error):
            raise  # the database's trouble: the job is tried again
        log.exception("the bot could not decide on message %s", event.message_id)
        return Prepared(answered, said, "faq", failure=f"{type(error).__name__}: {error}")
    return Prepared(answered, said, "faq", decision=decision, state=new_state)


@handler(
    MessageCreated,
    name="bots.answer",
    when=_wanted,
    prepare=prepare,
    group=lambda event: event.ticket_id,  # one conversation's messages in order
)
async def answer(
    tx: Transaction, event: MessageCreated, *, key: str, prepared: Prepared | None
) -> None:
    """One turn of the bot on the customer's message, if the bot still has the ticket."""
    if prepared is None:
        return
    # Locked first: an agent taking over, or another process's turn, waits for this one.
    conversation = await locked_conversation(tx, event.ticket_id)
    if conversation is None or conversation.outcome is not None:
        return
    ticket = await tx.session.get(Ticket, event.ticket_id, populate_existing=True)
    if ticket is None or ticket.state != BOT:
        return  # an agent took it over, or it was closed
    memory = dict(conversation.state or {})
    answered = int(memory.get("message_id") or 0)
    if answered >= event.message_id:
        return  # answered already (the job ran before), or a later message was
    if answered != prepared.answered_before:
        # Another process answered a message of this conversation meanwhile: the decision
        # was made on what the bot knew before; the job is tried again on what it knows now.
        raise RuntimeError("the conversation moved on while the bot prepared its answer")
    settings = await settings_of(tx.session, conversation.channel) or BotSettings(
        channel=conversation.channel, engine=conversation.engine
    )
    emitted, memo = len(tx.events), dict(tx.memo)
    try:
        async with tx.session.begin_nested():
            turn = Turn(tx, ticket, conversation, settings)
            if prepared.engine == "off" or not settings.enabled:
                await turn.hand_over("switched_off")  # people take it
            elif prepared.engine == "rasa":
                await turn.rasa(prepared)
            elif prepared.failure is not None:
                raise RuntimeError(prepared.failure)
            else:
                await turn.faq(prepared, memory, event.message_id)
    except Exception as error:
        if unavailable(error):
            raise  # the database's trouble: the job is tried again
        # A turn that cannot finish must not leave the customer with nobody: hand off.
        log.exception("the bot's turn %s failed; handing the conversation off", key)
        del tx.events[emitted:]
        # What the rolled-back turn noted in the transaction goes with it (routing's "handed
        # over already" would skip routing the fallback handoff below).
        tx.memo.clear()
        tx.memo.update(memo)
        await tx.session.refresh(conversation)
        await tx.session.refresh(ticket)
        await Turn(tx, ticket, conversation, settings).hand_over("bot_failed", tell=False)
    conversation.state = {**(conversation.state or {}), "message_id": event.message_id}
    conversation.updated_at = tx.now()


async def _payload_of(session, ticket_id: int, said: str) -> str:
    """What the customer sent, or the payload of the bot's button whose title they sent
    back (the chat widget sends a button's title as an ordinary message)."""
    interactive = await session.scalar(
        select(Message.interactive)
        .where(
            Message.ticket_id == ticket_id,
            Message.auto_submitted == BOT,
            Message.internal.is_(False),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    wanted = said.casefold()
    for button in (interactive or {}).get("buttons") or ():
        if isinstance(button, dict) and str(button.get("title", "")).strip().casefold() == wanted:
            return str(button.get("payload") or said)
    return said


def _interactive(buttons=(), image: str | None = None) -> dict | None:
    found = {}
    if buttons:
        found["buttons"] = [{"title": b.title, "payload": b.payload} for b in buttons]
    if image:
        found["image"] = image
    return found or None


class Turn:
    """One turn on one ticket: the bot's messages, and the conversation's bookkeeping."""

    def __init__(self, tx: Transaction, ticket: Ticket, conversation, settings) -> None:
        self.tx, self.ticket, self.conversation, self.settings = tx, ticket, conversation, settings

    @property
    def language(self) -> str:
        found = self.conversation.language
        return found if found in LANGUAGES else self.tx.runtime.settings.default_language

    async def say(self, text_: str, interactive: dict | None = None) -> None:
        if not text_.strip() and interactive:
            # An image or buttons alone (Rasa): the text says it for channels without them.
            titles = [button["title"] for button in interactive.get("buttons", ())]
            text_ = "\n".join(filter(None, [interactive.get("image"), *titles]))
        if text_.strip():
            await add_bot_message(self.tx, self.ticket, text_, interactive=interactive)

    async def faq(self, prepared: Prepared, memory: dict, message_id: int) -> None:
        said, decision, state = prepared.said, prepared.decision, prepared.state
        asked_before = BotState.from_dict(memory).question
        if self.conversation.language is None and decision.language in LANGUAGES:
            self.conversation.language = decision.language
        self.conversation.state = state.as_dict()
        self.conversation.misses = state.misses
        if decision.action == "handoff":
            await self.say(decision.text)
            if decision.reason in GAP_REASONS:
                question = asked_before if decision.reason == "said_no" else said
                if question and not question.startswith("/"):
                    await record_gap(self.tx, question, self.conversation.language, "bot", [])
            await self.hand_over(decision.reason or "no_answer")
            return
        if decision.action == "resolved":
            await self.say(decision.text)
            if await self._wrote_since(message_id):
                return  # a new question after the "yes": its own turn answers it
            await solved_by_bot(self.tx, self.ticket.id)
            self.conversation.outcome = "deflected"
            self.conversation.ended_at = self.tx.now()
            return
        await self.say(self._greeting(said, decision), _interactive(decision.buttons))
        if decision.action == "answer" and decision.article is not None:
            self.conversation.answers = (self.conversation.answers or 0) + 1
            self.conversation.last_article_id = decision.article.id

    async def _wrote_since(self, message_id: int) -> bool:
        """Whether the customer wrote again after the message this turn answers."""
        found = await self.tx.session.scalar(
            select(Message.id)
            .where(
                Message.ticket_id == self.ticket.id,
                Message.direction == "inbound",
                Message.internal.is_(False),
                Message.auto_submitted.is_(None),
                Message.id > message_id,
            )
            .limit(1)
        )
        return found is not None

    def _greeting(self, said: str, decision: Decision) -> str:
        """The administrator's greeting for a conversation that opens with a hello."""
        if decision.action != "answer" or decision.article is not None:
            return decision.text
        if small_talk(said) != "greeting":
            return decision.text
        lang = decision.language if decision.language in LANGUAGES else self.language
        configured = self.settings.greeting_de if lang == "de" else self.settings.greeting_en
        return (configured or "").strip() or decision.text

    async def rasa(self, prepared: Prepared) -> None:
        replies = prepared.replies
        if prepared.failure is not None:
            log.warning(
                "the Rasa assistant of %s failed: %s", self.ticket.channel, prepared.failure
            )
            with using(self.language):
                await self.say(_("Sorry, I cannot answer right now. I am passing you to our team."))
            await self.hand_over("assistant_failed")
            return
        handoff = False
        for reply in replies:
            await self.say(reply.text, _interactive(reply.buttons, reply.image))
            handoff = handoff or reply.handoff
        if handoff or not replies:
            await self.hand_over("assistant" if handoff else "no_answer")
        else:
            self.conversation.answers = (self.conversation.answers or 0) + 1

    async def hand_over(self, reason: str, *, tell: bool = True) -> None:
        """To people: routed now, and the customer told who answers and when (or how)."""
        if not await hand_over(self.tx, self.ticket.id, reason):
            return
        await record_handoff(self.tx, self.ticket.id, reason)
        self.conversation.outcome = "handed_off"
        self.conversation.handoff_reason = reason
        self.conversation.ended_at = self.tx.now()
        await rooms.handed_over(self.tx, self.ticket.id)
        if not tell:
            return
        notice, interactive = await self.who_answers()
        await self.say(notice, interactive)

    async def who_answers(self) -> tuple[str, dict | None]:
        """Who will answer and the expected wait, or, outside hours, that the answer comes
        by e-mail (asking for the address when none is known)."""
        tx = self.tx
        # Routing assigned it just now with Core statements: read what it chose.
        row = (
            await tx.session.execute(
                select(Ticket.queue_id, User.name.label("agent"))
                .outerjoin(User, User.id == Ticket.assignee_id)
                .where(Ticket.id == self.ticket.id)
            )
        ).one()
        with using(self.language):
            found = await rooms.availability(
                tx.session,
                row.queue_id,
                tx.now(),
                chat_default_capacity=tx.runtime.settings.chat_default_capacity,
            )
            # Outside the queue's hours (or with nobody online) an agent offered the chat
            # may never take it: the answer is promised by e-mail, not by a name.
            if found["reason"] in ("closed", "no_agents"):
                if await self._has_email():
                    return _(
                        "We are not available right now: you will get our answer by e-mail."
                    ), None
                text_ = _(
                    "We are not available right now: you will get our answer by e-mail. "
                    "Please leave your e-mail address."
                )
                return text_, {"ask": "email"}
            if row.agent:
                return _("%(name)s will answer you here shortly.", name=row.agent), None
            wait = found.get("expected_wait_seconds")
            if wait:
                minutes = max(1, math.ceil(wait / 60))
                return _(
                    "Someone from our team will answer you here. Expected wait: about "
                    "%(minutes)s min.",
                    minutes=minutes,
                ), None
            return _("Someone from our team will answer you here shortly."), None

    async def _has_email(self) -> bool:
        """Whether an answer can reach the customer by mail on this conversation: where the
        channel says (the chat mails its session's address), else a known e-mail identity."""
        reply_address = channel_registry.describe(self.ticket.channel).reply_address
        if reply_address is not None:
            return bool(await reply_address(self.tx.session, self.ticket.id))
        # The customers room's identities, read as plain rows (bots do not import customers).
        found = await self.tx.session.scalar(
            text("SELECT 1 FROM identities WHERE customer_id = :id AND kind = 'email' LIMIT 1"),
            {"id": self.ticket.customer_id},
        )
        return found is not None
