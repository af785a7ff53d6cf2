"""Header values read raw and decoded here: encoded words, 8-bit bytes, folding, bad charsets.

Messages are parsed with the compat32 policy (plain strings, fast); the few headers
Tresen reads are decoded by these functions, which never raise.
"""

from __future__ import annotations

import email.header
import re
from email.message import Message

from channels.email.charsets import (
    decode_bytes,
    detect,
    has_raw_bytes,
    needs_detection,
    raw_bytes,
    repair_header,
)

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SAMPLE_BYTES = 20_000
MAX_ENCODED_CHARS = 20_000


def raw_values(message: Message, name: str) -> list[str]:
    """Every value of a header as it stands in the message, unfolded."""
    wanted = name.lower()
    return [
        _FOLD.sub("", str(value)) for key, value in message.raw_items() if key.lower() == wanted
    ]


def decode(value: str, fallback: str | None = None) -> str:
    """A header value as text: encoded words (RFC 2047) and raw 8-bit bytes decoded.

    `fallback` is the charset of the message's raw 8-bit header bytes (`charset_of`).
    """
    value = repair_header(value, fallback)
    if "=?" not in value:
        return value.strip()
    # decode_header takes its parts from the front of a list (quadratic): thousands of
    # encoded words are read only this far, beyond what any reader of a header shows.
    value = value[:MAX_ENCODED_CHARS]
    try:
        parts = email.header.decode_header(value)
    except Exception:
        return value.strip()
    # Encoded words neither their charset nor UTF-8 can read: one detection for all of them.
    unreadable = b" ".join(
        part
        for part, charset in parts
        if isinstance(part, bytes) and needs_detection(part, charset)
    )
    guess = detect(unreadable) if unreadable else None
    text = []
    for part, charset in parts:
        if isinstance(part, bytes):
            decoded, _notice = decode_bytes(part, charset, fallback=guess)
            text.append(decoded)
        else:
            text.append(part)
    return "".join(text).strip()


def charset_of(message: Message) -> str | None:
    """The charset of a message's raw 8-bit header bytes that are not UTF-8, detected once."""
    if hasattr(message, "_tresen_header_charset"):
        return message._tresen_header_charset
    sample = bytearray()
    for _name, value in message.raw_items():
        value = str(value)
        if len(sample) < _SAMPLE_BYTES and has_raw_bytes(value):
            try:
                data = raw_bytes(value)
            except UnicodeEncodeError:
                continue
            if needs_detection(data, None):
                sample += data + b"\n"
    charset = detect(bytes(sample)) if sample else None
    message._tresen_header_charset = charset
    return charset


def header(message: Message, name: str) -> str | None:
    """The first value of a header, decoded; None when absent or empty."""
    values = raw_values(message, name)
    if not values:
        return None
    value = values[0]
    return decode(value, charset_of(message) if has_raw_bytes(value) else None) or None


def all_values(message: Message, name: str) -> list[str]:
    return [decode(value, charset_of(message)) for value in raw_values(message, name)]
