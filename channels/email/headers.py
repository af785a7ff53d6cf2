"""Header values read raw and decoded here: encoded words, 8-bit bytes, folding, bad charsets.

Messages are parsed with the compat32 policy (plain strings, fast); the few headers
Tresen reads are decoded by these functions, which never raise.
"""

from __future__ import annotations

import email.header
import re
from email.message import Message

from channels.email.charsets import decode_bytes, repair_header

_FOLD = re.compile(r"\r?\n(?=[ \t])")


def raw_values(message: Message, name: str) -> list[str]:
    """Every value of a header as it stands in the message, unfolded."""
    wanted = name.lower()
    return [
        _FOLD.sub("", str(value)) for key, value in message.raw_items() if key.lower() == wanted
    ]


def decode(value: str) -> str:
    """A header value as text: encoded words (RFC 2047) and raw 8-bit bytes decoded."""
    value = repair_header(value)
    if "=?" not in value:
        return value.strip()
    try:
        parts = email.header.decode_header(value)
    except Exception:
        return value.strip()
    text = []
    for part, charset in parts:
        if isinstance(part, bytes):
            decoded, _notice = decode_bytes(part, charset)
            text.append(decoded)
        else:
            text.append(part)
    return "".join(text).strip()


def header(message: Message, name: str) -> str | None:
    """The first value of a header, decoded; None when absent or empty."""
    values = raw_values(message, name)
    if not values:
        return None
    return decode(values[0]) or None


def all_values(message: Message, name: str) -> list[str]:
    return [decode(value) for value in raw_values(message, name)]
