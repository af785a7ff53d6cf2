"""The facts routing rules judge a message by, built in one place for the engine and its preview.

The engine (`routing.engine.route`, for every inbound message) and the admin's
"which rules would match?" preview (`routing.status.preview`) both call
`facts_for`, so a rule cannot match in the preview and not in the inbox.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from routing import intent
from routing.calendars import BusinessCalendar
from routing.language import detect
from routing.rules import Facts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    """What routing reads from a message's words: its language and its predicted intent."""

    language: str | None
    intent: str | None
    intent_confidence: float | None  # None when no intent was predicted


def read_message(
    settings, *, subject: str | None, text: str | None, visible_text: str | None = None
) -> Reading:
    """The language and intent of a message (None when unsure)."""
    return _read(settings, *_words(subject, text, visible_text))


def _words(subject: str | None, text: str | None, visible_text: str | None) -> tuple[str, str]:
    # Rules and detection read the new part of the text when the channel found one.
    return subject or "", visible_text or text or ""


def _read(settings, subject: str, text: str) -> Reading:
    words = f"{subject}\n{text}"
    language = detect(words, settings.languages)
    try:
        predicted = intent.predict(settings, words)
    except Exception:  # a broken model must not stop the mail: route without an intent
        log.exception("intent prediction failed")
        predicted = None
    if predicted is None:
        return Reading(language, None, None)
    return Reading(language, predicted.label, predicted.confidence)


def facts_for(
    settings,
    *,
    channel: str,
    account: str | None,
    subject: str | None,
    text: str | None,
    visible_text: str | None = None,
    customer: Mapping[str, object] | None,
    calendar: BusinessCalendar | None,
    now: datetime,
) -> Facts:
    """The facts of one message from this customer, received at `now`.

    Rules see the new part of the text (`visible_text`, without quoted history)
    when the channel found one; `customer` holds its `organization_id` and `tier`
    (None: a sender not known yet). Outside the calendar's opening hours
    `business_hours` is false; with no calendar the desk is always open.
    """
    subject, text = _words(subject, text, visible_text)
    reading = _read(settings, subject, text)
    customer = customer or {}
    return Facts(
        channel=channel,
        account=account,
        organization_id=customer.get("organization_id"),
        tier=customer.get("tier") or "standard",
        language=reading.language,
        subject=subject,
        text=text,
        intent=reading.intent,
        intent_confidence=reading.intent_confidence or 0.0,
        business_hours=calendar.is_open(now) if calendar is not None else True,
    )


def reading_of(facts: Facts) -> Reading:
    """What was read from the message, as a decision records it."""
    if facts.intent is None:
        return Reading(facts.language, None, None)
    return Reading(facts.language, facts.intent, facts.intent_confidence)
