"""REST API v1: the FAQ bot's decision for other bot platforms (`POST /api/v1/bot/reply`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

from bots.decision import BotState, Decision, decide, record_gaps
from bots.models import BotConversation
from tresen.api import ApiRouter
from tresen.text import Text

router = ApiRouter("bots")
CHANNEL = "api"  # the channel of conversations kept for API clients


_LANGUAGE_NAMES = {"english": "en", "german": "de", "deutsch": "de", "englisch": "en"}


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Up to the chat widget's limit and beyond (a relayed paste): the bot reads the first
    # MAX_TEXT characters, as in the chat.
    text: Text = Field(min_length=1, max_length=10_000, examples=["How do I reset my password?"])
    lang: Literal["de", "en"] | None = Field(
        default=None, description="the conversation's language; null: told from the text"
    )
    conversation_id: Text | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="keeps the conversation's state (yes/no, a second miss); null: stateless",
    )

    @field_validator("lang", mode="before")
    @classmethod
    def _language_code(cls, value):
        """A locale as platforms send it ("en-US", "de_DE", "EN", "German") is its language."""
        if isinstance(value, str):
            code = value.strip().replace("_", "-").split("-")[0].casefold()
            return _LANGUAGE_NAMES.get(code, code)
        return value

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


def _article(ref) -> dict | None:
    return {"id": ref.id, "title": ref.title, "url": ref.url} if ref else None


def reply_json(decision: Decision) -> dict:
    """The decision as the API answers it; a "yes" after an answer is an answer, resolved."""
    resolved = decision.action == "resolved"
    return {
        "action": "answer" if resolved else decision.action,
        "resolved": resolved,
        "text": decision.text,
        "answer": decision.answer,
        "article": _article(decision.article),
        "confidence": decision.confidence,
        "options": [_article(o) for o in decision.options],
        "buttons": [{"title": b.title, "payload": b.payload} for b in decision.buttons],
        "reason": decision.reason,
        "language": decision.language,
    }


async def _write_gaps(runtime, gaps: list) -> None:
    async with runtime.transaction() as tx:
        await record_gaps(tx, gaps)


async def _turn(runtime, user, body: ReplyBody) -> Decision:
    key = f"{user.id}:{body.conversation_id}"
    async with runtime.read() as session:
        known = await session.scalar(
            select(BotConversation).where(
                BotConversation.channel == CHANNEL, BotConversation.key == key
            )
        )
    lang = body.lang or (known.language if known else None)
    state = BotState.from_dict(known.state if known else None)
    gaps: list = []
    decision, state = await decide(runtime, body.text, lang=lang, state=state, gaps=gaps)
    async with runtime.transaction() as tx:
        await record_gaps(tx, gaps)  # with the conversation's state: one commit
        conversation = await tx.session.scalar(
            select(BotConversation).where(
                BotConversation.channel == CHANNEL, BotConversation.key == key
            )
        )
        now = tx.now()
        if conversation is None:
            conversation = BotConversation(
                channel=CHANNEL, key=key, engine="faq", started_at=now, answers=0, misses=0
            )
            tx.session.add(conversation)
        conversation.language = lang or decision.language
        conversation.state = state.as_dict()
        conversation.updated_at = now
        conversation.misses = state.misses
        if decision.action == "answer" and decision.article is not None:
            conversation.answers = (conversation.answers or 0) + 1
            conversation.last_article_id = decision.article.id
        # The first outcome counts (the weekly report's); a client may go on talking after it.
        if decision.action in ("handoff", "resolved") and conversation.outcome is None:
            conversation.outcome = "handed_off" if decision.action == "handoff" else "deflected"
            conversation.handoff_reason = decision.reason
            conversation.ended_at = now
    return decision


@router.route(
    "POST",
    "/bot/reply",
    summary="The FAQ bot's answer to a customer's message (answer, clarify or handoff)",
    body=ReplyBody,
)
async def reply(request, user, body: ReplyBody):
    runtime = request.app.state.runtime
    if body.conversation_id is None:
        gaps: list = []
        decision, _ = await decide(runtime, body.text, lang=body.lang, gaps=gaps)
        # Nothing else to write: the gaps after the answer is sent.
        later = BackgroundTask(_write_gaps, runtime, gaps) if gaps else None
        return JSONResponse(reply_json(decision), background=later)
    try:
        decision = await _turn(runtime, user, body)
    except IntegrityError:  # the same new conversation's first turn, twice at once
        decision = await _turn(runtime, user, body)
    return reply_json(decision)
