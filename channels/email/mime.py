"""Reading MIME parts defensively: a broken part yields what can be read, never an exception."""

from __future__ import annotations

import email
import email.policy
from email.message import Message


def payload_bytes(part: Message) -> bytes:
    """The part's decoded content (base64 / quoted-printable undone) as bytes."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is not None:
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    if isinstance(raw, list):  # an enclosed message or delivery-status blocks
        return b"".join(message_bytes(item) for item in raw)
    return b""


def message_bytes(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=email.policy.compat32)
    except Exception:
        return str(message).encode("utf-8", "surrogateescape")


def children(part: Message) -> list[Message] | None:
    """A multipart's parts; a lost boundary parameter on its own line is put back first."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, str):
        return None
    first_line, _, rest = payload.lstrip("\r\n").partition("\n")
    if not first_line.strip().lower().startswith("boundary="):
        return None
    # "Content-Type: multipart/alternative;\nboundary=..." without indentation: the
    # boundary became the first body line. Parse the part again with it in place.
    repaired = email.message_from_string(
        f"Content-Type: {part.get_content_type()}; {first_line.strip()}\n\n{rest}",
        policy=email.policy.default,
    )
    parts = repaired.get_payload()
    return parts if isinstance(parts, list) and parts else None
