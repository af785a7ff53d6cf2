"""Tresen's actions for a Rasa assistant, served by rasa-sdk's action server
(`tresen bots rasa-actions`, which runs it from its own environment, `.venv-rasa`).

This module imports only rasa_sdk and the standard library: Tresen is not installed where it
runs. It talks to Tresen's REST API (TRESEN_URL, with the API token TRESEN_API_TOKEN, which
needs the integration scope): the knowledge base's answer (`/bot/reply`), a new request
(`/inbound` on the channel "assistant", answered by e-mail), a ticket's state
(`/bot/ticket-status`). Conversations Tresen relays to the assistant itself (sender ids
starting with "tresen-") are already tickets: a handoff there is only the signal.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import urllib.error
import urllib.request
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds for one call to Tresen
CHANNEL = "assistant"
TRESEN_SENDERS = "tresen-"  # the sender ids Tresen gives the conversations it relays
MAX_QUESTION = 2000  # what /bot/reply takes
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
YES_NO = {"en": ("Yes", "No"), "de": ("Ja", "Nein")}

TEXTS = {
    "en": {
        "unreachable": "I cannot reach our help desk right now. Please try again in a moment.",
        "rephrase": "Could you write your question in a few words?",
        "ask_email": "What e-mail address should our answer go to?",
        "ask_description": "What should we help you with? Please describe it in a sentence or two.",
        "ask_number": "What is the number of your request?",
        "created": "Thank you: your request is number #{number}. We will answer by e-mail to "
        "{email}.",
        "handed_off": "I have passed our conversation on to a colleague: request #{number}. "
        "The answer comes by e-mail to {email}.",
        "not_found": "I could not find a ticket with that number for that address.",
        "status": "Request #{number}: {state}.",
        "too_many": "Too many lookups just now. Please try again in a minute.",
        "transcript_subject": "Conversation with the chat assistant",
        "customer": "Customer",
        "assistant": "Assistant",
    },
    "de": {
        "unreachable": "Ich erreiche unseren Kundenservice gerade nicht. Bitte versuchen Sie "
        "es gleich noch einmal.",
        "rephrase": "Können Sie Ihre Frage in ein paar Worten schreiben?",
        "ask_email": "An welche E-Mail-Adresse sollen wir antworten?",
        "ask_description": "Wobei können wir helfen? Bitte beschreiben Sie es in ein, zwei Sätzen.",
        "ask_number": "Welche Nummer hat Ihre Anfrage?",
        "created": "Danke: Ihre Anfrage hat die Nummer #{number}. Wir antworten per E-Mail an "
        "{email}.",
        "handed_off": "Ich habe unser Gespräch an eine Kollegin oder einen Kollegen "
        "weitergegeben: Anfrage #{number}. Die Antwort kommt per E-Mail an {email}.",
        "not_found": "Ich habe zu dieser Nummer und dieser Adresse keine Anfrage gefunden.",
        "status": "Anfrage #{number}: {state}.",
        "too_many": "Gerade zu viele Anfragen. Bitte versuchen Sie es in einer Minute noch einmal.",
        "transcript_subject": "Gespräch mit dem Chat-Assistenten",
        "customer": "Kunde",
        "assistant": "Assistent",
    },
}


class TresenUnavailable(Exception):
    """Tresen could not be asked (not reachable, refused the token, failed)."""


def _language(tracker: Tracker) -> str:
    """The conversation's language: the slot "language", else TRESEN_ASSISTANT_LANGUAGE."""
    slot = str(tracker.get_slot("language") or "").lower()[:2]
    if slot in TEXTS:
        return slot
    default = os.environ.get("TRESEN_ASSISTANT_LANGUAGE", "en").lower()[:2]
    return default if default in TEXTS else "en"


def _text(tracker: Tracker, key: str, **values: Any) -> str:
    return TEXTS[_language(tracker)][key].format(**values)


def _post_now(path: str, body: dict) -> tuple[int, dict]:
    """POST JSON to Tresen's API; its status and JSON answer (blocking: run in a thread)."""
    base = os.environ.get("TRESEN_URL", "").rstrip("/")
    token = os.environ.get("TRESEN_API_TOKEN", "")
    if not base.startswith(("http://", "https://")) or not token:
        raise TresenUnavailable("TRESEN_URL and TRESEN_API_TOKEN must be set")
    request = urllib.request.Request(
        f"{base}/api/v1{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise TresenUnavailable(f"cannot reach {base}: {error}") from None
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        raise TresenUnavailable(f"{path} answered {status} without JSON") from None
    if status in (401, 403) or status >= 500 or not isinstance(answer, dict):
        raise TresenUnavailable(f"{path} answered {status}: {answer}")
    return status, answer


async def post(path: str, body: dict) -> tuple[int, dict]:
    """POST to Tresen without holding up the action server's other conversations."""
    try:
        return await asyncio.to_thread(_post_now, path, body)
    except TresenUnavailable as error:
        # The customer hears "try again"; whoever runs the server reads why.
        logger.warning("Tresen's API: %s", error)
        raise


def _message_id(tracker: Tracker) -> str:
    """The id of the customer's latest message: the same when Rasa retries the action."""
    latest = tracker.latest_message or {}
    if latest.get("message_id"):
        return str(latest["message_id"])
    users = [event for event in tracker.events if event.get("event") == "user"]
    if users and users[-1].get("message_id"):
        return str(users[-1]["message_id"])
    # No id given: the latest user message's time and text (the same on a retry).
    last = users[-1] if users else {}
    seed = f"{last.get('timestamp')}|{latest.get('text') or last.get('text')}|{len(users)}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def _external_id(tracker: Tracker, kind: str) -> str:
    """One request per conversation, action and customer message (a retry is the same)."""
    return f"rasa:{tracker.sender_id}:{kind}:{_message_id(tracker)}"[:500]


def _email(tracker: Tracker) -> str | None:
    value = str(tracker.get_slot("email") or "").strip()
    return value if EMAIL.match(value) and len(value) <= 320 else None


def _subject(text: str) -> str:
    first = " ".join(text.split())
    return first if len(first) <= 80 else first[:79].rstrip() + "…"


async def _new_request(tracker: Tracker, kind: str, email: str, subject: str, text: str):
    """A ticket on the channel "assistant" from this address; (status, answer)."""
    return await post(
        "/inbound",
        {
            "channel": CHANNEL,
            "external_id": _external_id(tracker, kind),
            "from": {"kind": "email", "value": email},
            "subject": subject,
            "text": text,
        },
    )


class SearchKnowledgeBase(Action):
    """The knowledge base's answer to the customer's last message, with its article."""

    def name(self) -> str:
        return "action_search_knowledge_base"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict):
        question = str((tracker.latest_message or {}).get("text") or "").strip()
        if not question:
            dispatcher.utter_message(text=_text(tracker, "rephrase"))
            return []
        language = str(tracker.get_slot("language") or "")[:2].lower()
        try:
            status, answer = await post(
                "/bot/reply",
                {
                    "text": question[:MAX_QUESTION],
                    "lang": language if language in TEXTS else None,
                    # Kept by Tresen: a second miss in the same conversation hands off.
                    "conversation_id": f"rasa:{tracker.sender_id}"[:200],
                },
            )
        except TresenUnavailable:
            status, answer = 0, {}
        action = answer.get("action")
        if status != 200 or action not in ("answer", "clarify", "handoff"):
            dispatcher.utter_message(text=_text(tracker, "unreachable"))
            return []
        if action == "handoff":
            # A person answers: action_handoff makes the request (or tells Tresen).
            return [SlotSet("kb_article_id", None), FollowupAction("action_handoff")]
        if action == "clarify":
            options = [o for o in answer.get("options") or [] if isinstance(o, dict)]
            buttons = [{"title": o["title"], "payload": o["title"]} for o in options[:3]]
            dispatcher.utter_message(text=answer.get("text") or "", buttons=buttons)
            return [SlotSet("kb_article_id", None)]
        article = answer.get("article") or {}
        text = answer.get("text") or ""
        if article.get("url") and article["url"] not in text:
            text = f"{text}\n{article['url']}".strip()
        buttons = []
        if article and not answer.get("resolved"):
            yes, no = YES_NO[_language(tracker)]
            buttons = [{"title": yes, "payload": "/affirm"}, {"title": no, "payload": "/deny"}]
        dispatcher.utter_message(text=text, buttons=buttons)
        return [SlotSet("kb_article_id", str(article["id"]) if article.get("id") else None)]


class CreateTicket(Action):
    """A request from the slots `email` and `description`, answered by e-mail."""

    def name(self) -> str:
        return "action_create_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict):
        email = _email(tracker)
        if email is None:
            dispatcher.utter_message(text=_text(tracker, "ask_email"))
            return [SlotSet("email", None)]
        description = str(tracker.get_slot("description") or "").strip()
        if not description:
            dispatcher.utter_message(text=_text(tracker, "ask_description"))
            return []
        try:
            status, answer = await _new_request(
                tracker, "ticket", email, _subject(description), description
            )
        except TresenUnavailable:
            dispatcher.utter_message(text=_text(tracker, "unreachable"))
            return []
        if status == 422 and str(answer.get("field", "")).startswith("from"):
            dispatcher.utter_message(text=_text(tracker, "ask_email"))
            return [SlotSet("email", None)]
        number = answer.get("ticket_number")
        if status != 202 or not number:
            dispatcher.utter_message(text=_text(tracker, "unreachable"))
            return []
        dispatcher.utter_message(text=_text(tracker, "created", number=number, email=email))
        return [SlotSet("ticket_number", str(number)), SlotSet("description", None)]


def _ticket_number(value: Any) -> str | None:
    """A number as Rasa filled the slot: "10042", "#10042", 10042 or 10042.0."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value or "").strip()
    return text or None


class TicketStatus(Action):
    """A request's state, for its number and the e-mail address it came from."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict):
        number = _ticket_number(tracker.get_slot("ticket_number"))
        if number is None:
            dispatcher.utter_message(text=_text(tracker, "ask_number"))
            return []
        email = _email(tracker)
        if email is None:
            dispatcher.utter_message(text=_text(tracker, "ask_email"))
            return [SlotSet("email", None)]
        try:
            status, answer = await post(
                "/bot/ticket-status",
                {"number": number, "email": email, "lang": _language(tracker)},
            )
        except TresenUnavailable:
            dispatcher.utter_message(text=_text(tracker, "unreachable"))
            return []
        if status == 429:
            dispatcher.utter_message(text=_text(tracker, "too_many"))
            return []
        if status != 200 or not answer.get("found"):
            # The same words for a wrong number, a wrong address, and a malformed number.
            dispatcher.utter_message(text=_text(tracker, "not_found"))
            return []
        dispatcher.utter_message(
            text=_text(tracker, "status", number=answer["number"], state=answer["state_label"])
        )
        return []


def transcript(tracker: Tracker) -> str:
    """The conversation so far, customer's and assistant's words, from the tracker's events."""
    lines = []
    for event in tracker.events:
        text = str(event.get("text") or "").strip()
        if not text:
            continue
        if event.get("event") == "user":
            lines.append(f"{_text(tracker, 'customer')}: {text}")
        elif event.get("event") == "bot":
            lines.append(f"{_text(tracker, 'assistant')}: {text}")
    return "\n".join(lines)


class Handoff(Action):
    """A person takes over: a request with the conversation's transcript, and the signal
    `custom: {"handoff": true}` (for a conversation Tresen relays, only the signal)."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict):
        if tracker.sender_id.startswith(TRESEN_SENDERS):
            # Already a ticket in Tresen, which hands it to an agent on this signal.
            dispatcher.utter_message(json_message={"handoff": True})
            return []
        email = _email(tracker)
        if email is None:
            dispatcher.utter_message(text=_text(tracker, "ask_email"))
            return [SlotSet("email", None)]
        text = transcript(tracker) or str(tracker.get_slot("description") or "")
        try:
            status, answer = await _new_request(
                tracker, "handoff", email, _text(tracker, "transcript_subject"), text
            )
        except TresenUnavailable:
            dispatcher.utter_message(text=_text(tracker, "unreachable"))
            return []
        number = answer.get("ticket_number")
        if status != 202 or not number:
            dispatcher.utter_message(text=_text(tracker, "unreachable"))
            return []
        dispatcher.utter_message(text=_text(tracker, "handed_off", number=number, email=email))
        dispatcher.utter_message(json_message={"handoff": True})
        return [SlotSet("ticket_number", str(number))]
