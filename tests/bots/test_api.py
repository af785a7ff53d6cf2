"""`POST /api/v1/bot/reply`: the bot's decision for other platforms, stateless or kept per
conversation (yes resolves, no hands off, the second miss hands off), tokens and bad bodies."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bots.models import BotConversation
from knowledge_base.models import SearchGap
from tests.fixtures import lexical_only, load_kb_samples
from tresen.accounts import create_token, create_user

REPLY = "/api/v1/bot/reply"


@pytest.fixture
async def kb(runtime):
    return await load_kb_samples(lexical_only(runtime))


async def test_a_question_the_faq_answers_gets_the_article(client, kb, agent_headers):
    answer = await client.post(
        REPLY,
        json={"text": "Vergessenes Passwort zurücksetzen", "lang": "de"},
        headers=agent_headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["action"] == "answer" and body["resolved"] is False
    assert body["article"] == {
        "id": kb["password-de"],
        "title": "Vergessenes Passwort zurücksetzen",
        "url": "http://127.0.0.1:8000/help/password-de",
    }
    assert 0.0 < body["confidence"] <= 1.0
    assert "Anmeldeseite" in body["answer"] and body["answer"] in body["text"]
    assert "Hat das Ihre Frage beantwortet?" in body["text"]
    assert [b["payload"] for b in body["buttons"]] == ["/yes", "/no"]
    assert [b["title"] for b in body["buttons"]] == ["Ja", "Nein"]
    assert body["reason"] is None and body["options"] == []


@pytest.mark.parametrize("lang", ["de-DE", "de_AT", "DE", "German", "deutsch"])
async def test_a_locale_as_platforms_send_it_is_its_language(client, kb, agent_headers, lang):
    answer = await client.post(
        REPLY, json={"text": "Vergessenes Passwort zurücksetzen", "lang": lang},
        headers=agent_headers,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["language"] == "de" and answer.json()["article"]["id"] == kb["password-de"]


async def test_a_long_relayed_message_is_read_not_refused(client, kb, agent_headers):
    """Up to 10,000 characters (a paste the chat widget would take, relayed): the bot reads
    the first 2,000, as in the chat."""
    text = "Vergessenes Passwort zurücksetzen. " + "Bla bla. " * 700
    assert 6_000 < len(text) <= 10_000
    answer = await client.post(REPLY, json={"text": text, "lang": "de"}, headers=agent_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["action"] in ("answer", "clarify", "handoff")


async def test_unknown_questions_and_requests_for_a_person_are_handed_off(
    client, kb, agent_headers, runtime
):
    unknown = await client.post(
        REPLY, json={"text": "What is the capital of Australia?"}, headers=agent_headers
    )
    assert unknown.json()["action"] == "handoff"
    assert unknown.json()["reason"] in ("low_confidence", "no_answer")
    assert unknown.json()["article"] is None
    person = await client.post(REPLY, json={"text": "I want a human"}, headers=agent_headers)
    assert person.json()["action"] == "handoff"
    assert person.json()["reason"] == "asked_for_person"
    assert "person" in person.json()["text"]
    # The unknown question is in the knowledge base's gaps, as the bot's.
    async with runtime.read() as session:
        gaps = (await session.execute(select(SearchGap.query, SearchGap.audience))).all()
    assert ("What is the capital of Australia?", "bot") in gaps
    # Stateless: nothing kept.
    async with runtime.read() as session:
        assert await session.scalar(select(func.count(BotConversation.id))) == 0


async def test_a_conversation_keeps_its_state(client, kb, agent_headers, runtime):
    said = {"lang": "en", "conversation_id": "c-1"}
    first = await client.post(
        REPLY, json={"text": "Reset a forgotten password", **said}, headers=agent_headers
    )
    assert first.json()["action"] == "answer"
    yes = await client.post(REPLY, json={"text": "yes, thanks", **said}, headers=agent_headers)
    assert yes.json()["action"] == "answer" and yes.json()["resolved"] is True
    assert yes.json()["article"] is None
    async with runtime.read() as session:
        conversation = await session.scalar(select(BotConversation))
    assert conversation.channel == "api" and conversation.key.endswith(":c-1")
    assert conversation.outcome == "deflected" and conversation.answers == 1
    assert conversation.last_article_id == kb["password-en"]

    # Another conversation: "no" after an answer hands off, and the question is a gap.
    said = {"lang": "en", "conversation_id": "c-2"}
    await client.post(
        REPLY, json={"text": "Reset a forgotten password", **said}, headers=agent_headers
    )
    no = await client.post(REPLY, json={"text": "/no", **said}, headers=agent_headers)
    assert no.json()["action"] == "handoff" and no.json()["reason"] == "said_no"
    async with runtime.read() as session:
        ended = await session.scalar(
            select(BotConversation).where(BotConversation.key.endswith(":c-2"))
        )
    assert ended.outcome == "handed_off" and ended.handoff_reason == "said_no"

    # Without the conversation, "yes" is just a word: nothing to resolve.
    alone = await client.post(REPLY, json={"text": "yes", "lang": "en"}, headers=agent_headers)
    assert alone.json()["resolved"] is False


async def test_one_clients_conversation_is_not_anothers(client, kb, agent_headers, runtime):
    await create_user(runtime, email="bot@example.com", name="Bot platform", role="agent")
    other = {"Authorization": f"Bearer {await create_token(runtime, 'bot@example.com')}"}
    said = {"lang": "en", "conversation_id": "same"}
    await client.post(
        REPLY, json={"text": "Reset a forgotten password", **said}, headers=agent_headers
    )
    theirs = await client.post(REPLY, json={"text": "yes", **said}, headers=other)
    assert theirs.json()["resolved"] is False
    mine = await client.post(REPLY, json={"text": "yes", **said}, headers=agent_headers)
    assert mine.json()["resolved"] is True
    async with runtime.read() as session:
        assert await session.scalar(select(func.count(BotConversation.id))) == 2


async def test_a_token_is_needed(client, kb):
    answer = await client.post(REPLY, json={"text": "Passwort"})
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"text": "Passwort", "lang": "fr-FR"}, "lang"),
        ({"text": 5}, "text"),
        ({"text": "Passwort", "lang": "fr"}, "lang"),
        ({"text": "Passwort", "conversation_id": "c" * 201}, "conversation_id"),
        ({"text": "Passwort", "conversation_id": ""}, "conversation_id"),
        ({"text": "Passwort", "audience": "agent"}, "audience"),
        ({"text": "  \n "}, "text"),
    ],
)
async def test_bad_bodies_are_422_with_the_field(client, agent_headers, body, field):
    answer = await client.post(REPLY, json=body, headers=agent_headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"text": "   "}, "text: Value error, must not be blank"),
        ({"text": "Passwort", "conversation_id": ""}, "should have at least 1 character(s)"),
        ({"text": "x" * 10_001}, "should have at most 10000 characters"),
    ],
)
async def test_a_bad_strings_reason_is_said_in_characters(client, agent_headers, body, said):
    answer = await client.post(REPLY, json=body, headers=agent_headers)
    assert answer.status_code == 422 and said in answer.json()["error"], answer.text
