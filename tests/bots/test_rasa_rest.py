"""Rasa as the conversation engine: `bots.rasa_rest.ask` against a local stub of a Rasa
assistant's REST channel (a real socket), answering in Rasa's exact format."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.decision import Button
from bots.rasa_rest import AssistantReply, AssistantUnavailable, ask
from tests.support import free_port

SENDER = "tresen-ticket-42"

# What a Rasa assistant's REST channel answers (rasa.core.channels.rest: the collecting
# output channel drops the keys that are None).
ANSWERS = {
    "hello": [{"recipient_id": SENDER, "text": "Hi! How can I help?"}],
    "buttons": [
        {
            "recipient_id": SENDER,
            "text": "Did that help?",
            "buttons": [
                {"title": "Yes", "payload": "/affirm"},
                {"title": "No", "payload": "/deny"},
            ],
        }
    ],
    "image": [
        {"recipient_id": SENDER, "text": "Here is the router:"},
        {"recipient_id": SENDER, "image": "https://example.com/router.png"},
    ],
    "http image": [
        {"recipient_id": SENDER, "text": "The router:", "image": "http://example.com/r.png"},
        {"recipient_id": SENDER, "image": "HTTP://example.com/router.png"},
        {"recipient_id": SENDER, "image": "HTTPS://example.com/router.png"},
    ],
    "person": [
        {"recipient_id": SENDER, "text": "I'll get a colleague."},
        {"recipient_id": SENDER, "custom": {"handoff": True}},
    ],
    "attachment": [
        {"recipient_id": SENDER, "attachment": {"type": "file", "payload": {"src": "x"}}},
        {"recipient_id": SENDER, "custom": {"blocks": [{"type": "section"}]}},
        {"recipient_id": SENDER, "text": "Still here."},
    ],
    "silence": [],
}
BROKEN = {
    "not a list": {"recipient_id": SENDER, "text": "hi"},
    "no recipient": [{"text": "hi"}],
    "text not a string": [{"recipient_id": SENDER, "text": 5}],
    "button without title": [{"recipient_id": SENDER, "text": "?", "buttons": [{"payload": "/x"}]}],
    "image not a link": [{"recipient_id": SENDER, "image": "javascript:alert(1)"}],
    "custom not an object": [{"recipient_id": SENDER, "custom": "handoff"}],
}


class Stub:
    """A Rasa REST channel on a free loopback port, served by uvicorn in a thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict] = []

        async def webhook(request: Request) -> Response:
            body = await request.json()
            self.received.append({"content_type": request.headers["content-type"], **body})
            message = body["message"]
            if message == "slow":
                await asyncio.sleep(3)
                return JSONResponse([])
            if message == "crash":
                return JSONResponse({"error": "Internal Server Error"}, status_code=500)
            if message == "garbage":
                return Response(b"<html>oops</html>", media_type="application/json")
            if message in BROKEN:
                return JSONResponse(BROKEN[message])
            return JSONResponse(ANSWERS[message])

        app = Starlette(routes=[Route("/webhooks/rest/webhook", webhook, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off"
        )
        config.timeout_graceful_shutdown = 1
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the stub did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture(scope="module")
def rasa():
    stub = Stub()
    stub.start()
    yield stub
    stub.stop()


async def test_posts_sender_and_message_as_rasa_expects(rasa):
    replies = await ask(rasa.url + "/", sender=SENDER, message="hello", timeout=5)
    assert replies == [AssistantReply(text="Hi! How can I help?")]
    assert rasa.received[-1] == {
        "content_type": "application/json",
        "sender": SENDER,
        "message": "hello",
    }


async def test_buttons_keep_their_titles_and_payloads(rasa):
    replies = await ask(rasa.url, sender=SENDER, message="buttons", timeout=5)
    assert replies == [
        AssistantReply(
            text="Did that help?",
            buttons=(Button("Yes", "/affirm"), Button("No", "/deny")),
        )
    ]


async def test_an_image_is_a_message_of_its_own(rasa):
    replies = await ask(rasa.url, sender=SENDER, message="image", timeout=5)
    assert replies == [
        AssistantReply(text="Here is the router:"),
        AssistantReply(image="https://example.com/router.png"),
    ]


async def test_an_image_over_http_is_left_out_and_the_text_kept(rasa):
    replies = await ask(rasa.url, sender=SENDER, message="http image", timeout=5)
    assert replies == [
        AssistantReply(text="The router:"),
        AssistantReply(image="HTTPS://example.com/router.png"),
    ]


async def test_a_custom_handoff_payload_hands_off(rasa):
    replies = await ask(rasa.url, sender=SENDER, message="person", timeout=5)
    assert replies == [AssistantReply(text="I'll get a colleague."), AssistantReply(handoff=True)]


async def test_messages_for_other_channels_are_left_out(rasa):
    replies = await ask(rasa.url, sender=SENDER, message="attachment", timeout=5)
    assert replies == [AssistantReply(text="Still here.")]


async def test_an_assistant_with_nothing_to_say_answers_an_empty_list(rasa):
    assert await ask(rasa.url, sender=SENDER, message="silence", timeout=5) == []


async def test_a_slow_assistant_is_unavailable_after_the_timeout(rasa):
    started = time.monotonic()
    with pytest.raises(AssistantUnavailable, match="within 0.5 s"):
        await ask(rasa.url, sender=SENDER, message="slow", timeout=0.5)
    assert time.monotonic() - started < 2


async def test_a_failing_assistant_is_unavailable(rasa):
    with pytest.raises(AssistantUnavailable, match="answered 500"):
        await ask(rasa.url, sender=SENDER, message="crash", timeout=5)


async def test_an_answer_that_is_not_json_is_unavailable(rasa):
    with pytest.raises(AssistantUnavailable, match="not JSON"):
        await ask(rasa.url, sender=SENDER, message="garbage", timeout=5)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not a list", "not a list"),
        ("no recipient", r"answer\[0\] has no recipient_id"),
        ("text not a string", r"answer\[0\]\.text is not a string"),
        ("button without title", r"buttons\[0\] has no title"),
        ("image not a link", "not an http"),
        ("custom not an object", "custom is not an object"),
    ],
)
async def test_answers_not_as_rasa_documents_them_are_unavailable(rasa, message, reason):
    with pytest.raises(AssistantUnavailable, match=reason):
        await ask(rasa.url, sender=SENDER, message=message, timeout=5)


async def test_a_refused_connection_is_unavailable():
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AssistantUnavailable, match="cannot reach"):
        await ask(closed, sender=SENDER, message="hello", timeout=5)


async def test_a_missing_path_is_unavailable(rasa):
    with pytest.raises(AssistantUnavailable, match="answered 404"):
        await ask(rasa.url + "/elsewhere", sender=SENDER, message="hello", timeout=5)
