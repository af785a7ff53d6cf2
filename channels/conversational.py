"""Conversational channels whose messages arrive through the API (`POST /api/v1/inbound`)
until their own adapters land: they thread by conversation and sender, but cannot send.

Each becomes a channel package of its own (channels/sms/, channels/whatsapp/, ...) that adds
sending, webhooks and accounts; the facts here move there with it.
"""

from __future__ import annotations

from tresen.channel import EMAIL, PHONE, Channel, IdentityKind, Threading


def _handle(value: str, _region: str) -> str:
    """A user name as written ("@EmmaW" is "emmaw"); numeric ids as they are."""
    return value if value.isdigit() else value.lstrip("@").lower()


def _phone_kind(name: str, en: str, de: str) -> IdentityKind:
    """A kind spelled like a phone number (WhatsApp reaches people by their number)."""
    return IdentityKind(name, {"en": en, "de": de}, PHONE.normalize, PHONE.search_form)


def conversational(name: str, en: str, de: str, *kinds: IdentityKind, bot: bool = True) -> Channel:
    """A channel of short messages: a customer's next message within the conversation
    window continues their ticket; a new ticket is confirmed inside the conversation."""
    return Channel(
        name=name,
        labels={"en": en, "de": de},
        identity_kinds=kinds,
        threading=Threading(sender=True),
        acknowledgement="conversation",
        bot=bot,
    )


sms = conversational("sms", "SMS", "SMS", PHONE)
# A call is not a conversation a bot answers in writing.
voice = conversational("voice", "Phone call", "Anruf", PHONE, bot=False)
# WhatsApp reaches people by their phone number: a "phone" sender is the same person.
whatsapp = conversational(
    "whatsapp", "WhatsApp", "WhatsApp", _phone_kind("whatsapp", "WhatsApp", "WhatsApp"), PHONE
)
messenger = conversational(
    "messenger",
    "Messenger",
    "Messenger",
    IdentityKind("messenger", {"en": "Messenger", "de": "Messenger"}),
)
instagram = conversational(
    "instagram",
    "Instagram",
    "Instagram",
    IdentityKind("instagram", {"en": "Instagram", "de": "Instagram"}, _handle),
)
telegram = conversational(
    "telegram",
    "Telegram",
    "Telegram",
    IdentityKind("telegram", {"en": "Telegram", "de": "Telegram"}, _handle),
)
# A contact form on the company's site: each submission is a request of its own; answered
# by email.
web = Channel(
    name="web",
    labels={"en": "Web form", "de": "Webformular"},
    identity_kinds=(EMAIL,),
)
# A Rasa assistant's requests (bots/rasa_actions.py): the assistant took them in a
# conversation Tresen does not see; each is a ticket of its own, answered by e-mail. Nobody
# verified the address or wrote the subject with care: a "[#10042]" in it joins nothing.
assistant = Channel(
    name="assistant",
    labels={"en": "Chat assistant", "de": "Chat-Assistent"},
    identity_kinds=(EMAIL,),
    threading=Threading(ticket_number=False, references=False, conversation=False),
)
