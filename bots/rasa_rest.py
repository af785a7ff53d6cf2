"""Rasa as the conversation engine: one customer message posted to an assistant's REST
channel (`POST {url}/webhooks/rest/webhook`), its answers read as Rasa documents them.

Rasa's REST channel answers a JSON list, one object per message the assistant utters:
`{"recipient_id": ..., "text"?: ..., "buttons"?: [{"title", "payload"}], "image"?: url,
"custom"?: {...}, "attachment"?: ...}`. Anything else, and a timeout, a refused connection or
a status other than 2xx, is `AssistantUnavailable` with the reason: the caller hands the
conversation to a person then, so the customer's message is never dropped.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx

from bots.decision import Button

PATH = "/webhooks/rest/webhook"
MAX_ANSWER_BYTES = 1024 * 1024  # an assistant's answers to one message; more is not an answer
MAX_TEXT = 4000  # one message's text
MAX_BUTTONS = 10


@dataclass(frozen=True)
class AssistantReply:
    """One message of the assistant's, as Tresen relays it."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    handoff: bool = False  # its `custom` payload said {"handoff": true}


class AssistantUnavailable(Exception):
    """The assistant did not answer as Rasa does; the message says why."""


def _string(item: dict, key: str, where: str, limit: int = MAX_TEXT) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AssistantUnavailable(f"{where}.{key} is not a string")
    if len(value) > limit:
        raise AssistantUnavailable(f"{where}.{key} is longer than {limit} characters")
    return value


def _buttons(item: dict, where: str) -> tuple[Button, ...]:
    raw = item.get("buttons")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise AssistantUnavailable(f"{where}.buttons is not a list")
    buttons = []
    for number, button in enumerate(raw[:MAX_BUTTONS]):
        place = f"{where}.buttons[{number}]"
        if not isinstance(button, dict):
            raise AssistantUnavailable(f"{place} is not an object")
        title = _string(button, "title", place, 200)
        if not title:
            raise AssistantUnavailable(f"{place} has no title")
        # Rasa sends the payload as the user's next message; without one, the title.
        payload = _string(button, "payload", place, 1000) or title
        buttons.append(Button(title=title, payload=payload))
    return tuple(buttons)


def _image(item: dict, where: str) -> str | None:
    image = _string(item, "image", where, 2000)
    if image is not None and not image.lower().startswith(("https://", "http://")):
        raise AssistantUnavailable(f"{where}.image is not an http(s) address")
    # Rasa allows http, Tresen shows https only (mixed content on an https page, and a
    # picture fetched in the clear): an http image is left out, the rest of the message kept.
    if not image or not image.lower().startswith("https://"):
        return None
    return image


def _reply(item: object, number: int) -> AssistantReply | None:
    """One of Rasa's messages; None for one with nothing Tresen can show (an attachment)."""
    where = f"answer[{number}]"
    if not isinstance(item, dict):
        raise AssistantUnavailable(f"{where} is not an object")
    if not isinstance(item.get("recipient_id"), str):
        raise AssistantUnavailable(f"{where} has no recipient_id")
    custom = item.get("custom")
    if custom is not None and not isinstance(custom, dict):
        raise AssistantUnavailable(f"{where}.custom is not an object")
    handoff = bool(custom) and custom.get("handoff") is True
    reply = AssistantReply(
        text=_string(item, "text", where) or "",
        buttons=_buttons(item, where),
        image=_image(item, where),
        handoff=handoff,
    )
    if not (reply.text or reply.buttons or reply.image or reply.handoff):
        return None  # e.g. {"attachment": ...} or a custom payload for another channel
    return reply


def parse(body: bytes) -> list[AssistantReply]:
    """The REST channel's answer body → the assistant's messages, in order."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise AssistantUnavailable(f"the answer is not JSON: {error}") from None
    if not isinstance(data, list):
        raise AssistantUnavailable("the answer is not a list of messages")
    replies = [_reply(item, number) for number, item in enumerate(data)]
    return [reply for reply in replies if reply is not None]


async def ask(url: str, *, sender: str, message: str, timeout: float) -> list[AssistantReply]:
    """POST {url}/webhooks/rest/webhook {"sender","message"}; its answers in order."""
    address = url.rstrip("/") + PATH
    try:
        # The whole exchange, not each read: an assistant trickling bytes is no answer either.
        async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=timeout) as client:
            async with client.stream(
                "POST", address, json={"sender": sender, "message": message}
            ) as response:
                if not 200 <= response.status_code < 300:
                    raise AssistantUnavailable(
                        f"the assistant answered {response.status_code} at {address}"
                    )
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise AssistantUnavailable(
                            f"the answer is larger than {MAX_ANSWER_BYTES} bytes"
                        )
    except (TimeoutError, httpx.TimeoutException):
        raise AssistantUnavailable(f"no answer from {address} within {timeout:g} s") from None
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        reason = str(error) or type(error).__name__
        raise AssistantUnavailable(f"cannot reach {address}: {reason}") from None
    return parse(body)
