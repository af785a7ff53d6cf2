"""The bots' settings: /admin/bots (one form per conversational channel) and the API's
/api/v1/bot/settings/{channel}, both through bots.settings.save_settings."""

from __future__ import annotations

import asyncio
import html
import json
import re

import pytest
from sqlalchemy import func, select

from bots import confidence
from bots.models import BotConversation, BotSettings
from bots.settings import calibrated_threshold, save_settings
from knowledge_base.models import SearchGap
from tests.fixtures import csrf_of, lexical_only, load_kb_samples, sign_in
from tresen.accounts import create_user
from tresen.runtime import ActionError

FORM = {
    "enabled": "on",
    "engine": "faq",
    "name": "Tresa",
    "greeting_de": "Hallo! Ich bin Tresa, der Bot.",
    "greeting_en": "Hi! I am Tresa, the bot.",
    "languages": ["de", "en"],
    "threshold": "",
    "hours": "always",
    "rasa_url": "",
    "rasa_timeout": "5",
}


@pytest.fixture
async def admin_client(runtime, client):
    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="pw-admin-1"
    )
    await sign_in(client, "ada@example.com", "pw-admin-1")
    return client


async def stored(runtime, channel: str = "chat") -> BotSettings | None:
    async with runtime.read() as session:
        return await session.get(BotSettings, channel)


async def test_an_admin_switches_the_chat_bot_on(runtime, admin_client):
    page = await admin_client.get("/admin/bots")
    assert page.status_code == 200
    # One form per channel a bot answers on (chat, the messengers), not for mail or calls.
    assert 'action="/admin/bots/chat"' in page.text
    assert 'action="/admin/bots/sms"' in page.text
    assert 'action="/admin/bots/email"' not in page.text
    assert 'action="/admin/bots/voice"' not in page.text
    # SMS arrives through the API only so far: its bot would have no way to answer.
    sms = page.text.split('id="bot-sms"')[1].split("</form>")[0]
    chat = page.text.split('id="bot-chat"')[1].split("</form>")[0]
    assert "Tresen cannot send on this channel yet" in sms
    assert "Tresen cannot send on this channel yet" not in chat
    # The calibrated default is shown beside the empty threshold.
    assert f"the calibrated default ({calibrated_threshold():g})" in page.text
    saved = await admin_client.post(
        "/admin/bots/chat", data={**FORM, "csrf_token": csrf_of(page.text)}
    )
    assert saved.status_code == 303
    row = await stored(runtime)
    assert row.enabled and row.name == "Tresa" and row.threshold is None
    assert row.languages == ["de", "en"] and row.greeting_de.startswith("Hallo")
    again = await admin_client.get(saved.headers["location"])
    assert "The bot for Chat was saved." in again.text
    assert 'value="Tresa"' in again.text
    # Switched off again: the unticked box is "off" (the form holds every field).
    off = {key: value for key, value in FORM.items() if key != "enabled"}
    await admin_client.post("/admin/bots/chat", data={**off, "csrf_token": csrf_of(again.text)})
    assert not (await stored(runtime)).enabled


@pytest.mark.parametrize("threshold", ["1.5", "abc", "-0.1"])
async def test_a_bad_threshold_is_named_and_what_was_typed_is_kept(
    runtime, admin_client, threshold
):
    page = await admin_client.get("/admin/bots")
    bad = await admin_client.post(
        "/admin/bots/chat",
        data={
            **FORM,
            "name": "Typed Name",
            "threshold": threshold,
            "csrf_token": csrf_of(page.text),
        },
    )
    assert bad.status_code == 422
    # The field is named once: the label before a message that does not name it.
    error = bad.text.split('id="bot-chat-error">', 1)[1].split("</p>", 1)[0].strip()
    assert error in (
        "Confidence threshold: &#39;abc&#39; is not a number",
        "The confidence threshold must be between 0 and 1 (e.g. 0.7), "
        "or empty for the calibrated default",
    )
    assert f'value="{threshold}"' in bad.text and 'value="Typed Name"' in bad.text
    assert "Hallo! Ich bin Tresa, der Bot." in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert await stored(runtime) is None  # nothing saved


async def test_a_german_threshold_with_a_comma_is_read(runtime, admin_client):
    page = await admin_client.get("/admin/bots")
    await admin_client.post(
        "/admin/bots/chat", data={**FORM, "threshold": "0,8", "csrf_token": csrf_of(page.text)}
    )
    assert (await stored(runtime)).threshold == pytest.approx(0.8)


async def test_rasa_needs_its_url_and_the_test_button_says_why_it_failed(runtime, admin_client):
    page = await admin_client.get("/admin/bots")
    token = csrf_of(page.text)
    no_url = await admin_client.post(
        "/admin/bots/chat", data={**FORM, "engine": "rasa", "csrf_token": token}
    )
    assert no_url.status_code == 422 and "A Rasa assistant needs its URL" in no_url.text
    # Nobody listens there: the answer says so at once, with what was typed kept.
    tested = await admin_client.post(
        "/admin/bots/chat/test",
        data={
            **FORM,
            "engine": "rasa",
            "rasa_url": "http://127.0.0.1:9",
            "rasa_timeout": "2",
            "csrf_token": token,
        },
    )
    assert tested.status_code == 200
    assert "The assistant could not be reached" in tested.text
    assert 'value="http://127.0.0.1:9"' in tested.text
    assert await stored(runtime) is None  # testing saves nothing


async def test_the_test_button_shows_what_the_assistant_answered(runtime, admin_client):
    """A stand-in for Rasa's REST channel on a local port, answering in its format."""
    asked = []

    async def assistant(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        asked.append((head.split(b" ")[1], json.loads(await reader.readexactly(length))))
        body = json.dumps([{"recipient_id": "x", "text": "Hi, I am the Rasa assistant."}])
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(assistant, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        page = await admin_client.get("/admin/bots")
        tested = await admin_client.post(
            "/admin/bots/chat/test",
            data={
                **FORM,
                "engine": "rasa",
                "rasa_url": f"http://127.0.0.1:{port}",
                "csrf_token": csrf_of(page.text),
            },
        )
    finally:
        server.close()
    assert "The assistant answered: “Hi, I am the Rasa assistant.”" in tested.text
    assert asked == [
        (b"/webhooks/rest/webhook", {"sender": "tresen-connection-test", "message": "hello"})
    ]


async def test_agents_and_supervisors_may_not(runtime, client, agent):
    await sign_in(client)
    assert (await client.get("/admin/bots")).status_code == 403
    page = await client.get("/settings")
    refused = await client.post("/admin/bots/chat", data={**FORM, "csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403
    assert await stored(runtime) is None


async def test_the_api_reads_and_changes_settings_with_422_for_bad_values(
    runtime, client, admin_headers, agent_headers
):
    path = "/api/v1/bot/settings/chat"
    first = await client.get(path, headers=admin_headers)
    assert first.status_code == 200
    assert first.json()["enabled"] is False and first.json()["threshold"] is None
    assert first.json()["calibrated_threshold"] == calibrated_threshold()
    changed = await client.put(
        path, headers=admin_headers, json={"enabled": True, "threshold": 0.75, "name": "Tresa"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] and changed.json()["threshold"] == 0.75
    # Fields left out keep their value; null is the calibrated default again.
    back = await client.put(path, headers=admin_headers, json={"threshold": None})
    assert back.json()["threshold"] is None and back.json()["name"] == "Tresa"
    for body, field in (
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "high"}, "threshold"),
        ({"engine": "gpt"}, "engine"),
        ({"languages": ["fr"]}, "languages.0"),
        ({"languages": []}, "languages"),
        ({"hours": "weekends"}, "hours"),
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": None}, "enabled"),
        ({"engine": "rasa"}, "rasa_url"),
        ({"engine": "rasa", "rasa_url": "ftp://assistant"}, "rasa_url"),
        ({"rasa_timeout": 0}, "rasa_timeout"),
        ({"colour": "red"}, "colour"),
    ):
        answer = await client.put(path, headers=admin_headers, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["field"] == field, (body, answer.json())
    assert (await client.get(path, headers=admin_headers)).json()["engine"] == "faq"
    assert (
        await client.get("/api/v1/bot/settings/email", headers=admin_headers)
    ).status_code == 404
    assert (await client.get(path, headers=agent_headers)).status_code == 403


async def test_save_settings_refuses_a_channel_without_a_bot(runtime):
    with pytest.raises(ActionError) as refused:
        async with runtime.transaction() as tx:
            await save_settings(tx, "email", {"enabled": True})
    assert refused.value.field == "channel"


async def _try(client, **fields) -> object:
    page = await client.get("/admin/bots")
    form = {"question": "", "lang": "", "channel": "chat", **fields}
    return await client.post("/admin/bots/try", data={**form, "csrf_token": csrf_of(page.text)})


def _result(page: str) -> str:
    return html.unescape(page.split('class="bot-try"')[1].split("</section>")[0])


async def test_trying_the_bot_shows_its_answer_its_certainty_and_the_articles_weighed(
    runtime, admin_client
):
    ids = await load_kb_samples(lexical_only(runtime))
    answer = await _try(admin_client, question="Vergessenes Passwort zurücksetzen", lang="de")
    assert answer.status_code == 200
    shown = _result(answer.text)
    assert "The bot would answer with “Vergessenes Passwort zurücksetzen”." in shown
    sure = int(re.search(r"How sure it is: (\d+) %", shown)[1])
    threshold = int(re.search(r"it answers from (\d+) %", shown)[1])
    assert sure >= threshold == round(100 * confidence.THRESHOLD["lexical"])
    # What the customer would read (in German: the question's language), and the candidates.
    assert "Hat das Ihre Frage beantwortet?" in shown and "Anmeldeseite" in shown
    assert 'href="/help/password-de?lang=de"' in shown
    assert "Ranked by words only" in shown
    # The question stays in the form, to change a word and try again.
    assert ">Vergessenes Passwort zurücksetzen</textarea>" in shown
    # Nothing was recorded: no gap, no conversation.
    async with runtime.read() as session:
        assert await session.scalar(select(func.count(SearchGap.id))) == 0
        assert await session.scalar(select(func.count(BotConversation.id))) == 0
    assert ids["password-de"]


async def test_trying_uses_the_channels_threshold_and_names_a_handoffs_reason(
    runtime, admin_client
):
    await load_kb_samples(lexical_only(runtime))
    asked = {"question": "Newsletter abbestellen bitte"}
    usual = _result((await _try(admin_client, **asked)).text)
    assert "The bot would answer with “Newsletter abbestellen”." in usual
    sure = int(re.search(r"How sure it is: (\d+) %", usual)[1])
    assert sure < 99
    async with runtime.transaction() as tx:
        await save_settings(tx, "chat", {"threshold": 0.99})
    strict = _result((await _try(admin_client, **asked)).text)
    assert f"How sure it is: {sure} %; it answers from 99 %." in strict
    assert "The bot would answer" not in strict
    unknown = _result((await _try(admin_client, question="What is the capital of Australia?")).text)
    assert "The bot would hand off to your team:" in unknown
    person = _result((await _try(admin_client, question="Mitarbeiter bitte")).text)
    assert "The bot would hand off to your team: the customer asked for a person." in person
    assert "How sure it is" not in person  # no search was needed
    async with runtime.read() as session:
        assert await session.scalar(select(func.count(SearchGap.id))) == 0


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"question": "  "}, "Type a question as a customer would ask it."),
        ({"question": "x" * 2001}, "A question has at most 2000 characters."),
        ({"question": "hallo", "lang": "fr"}, "'fr' is not a language the bot speaks."),
        ({"question": "hallo", "channel": "email"}, "'email' is not a channel a bot answers on."),
    ],
)
async def test_a_bad_trial_is_named(admin_client, fields, named):
    answer = await _try(admin_client, **fields)
    assert answer.status_code == 400
    assert named in _result(answer.text)


async def test_only_an_administrator_tries_the_bot_and_only_with_the_forms_token(
    runtime, client, agent
):
    await sign_in(client)  # an agent
    page = await client.get("/settings")
    refused = await client.post(
        "/admin/bots/try",
        data={"question": "hallo", "channel": "chat", "csrf_token": csrf_of(page.text)},
    )
    assert refused.status_code == 403
    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="pw-admin-1"
    )
    await sign_in(client, "ada@example.com", "pw-admin-1")
    unsigned = await client.post("/admin/bots/try", data={"question": "hallo", "channel": "chat"})
    assert unsigned.status_code == 403


async def test_the_rest_channels_path_pasted_with_the_url_is_not_doubled(runtime):
    async with runtime.transaction() as tx:
        await save_settings(
            tx, "chat", {"rasa_url": "https://rasa.example.com/bot/webhooks/rest/webhook/"}
        )
    assert (await stored(runtime)).rasa_url == "https://rasa.example.com/bot"
