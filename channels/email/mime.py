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
    """An enclosed message as bytes again, its headers as they came (no re-folding)."""
    try:
        return _serialize(message).encode("utf-8", "surrogateescape")
    except Exception:
        try:
            return message.as_bytes(policy=email.policy.compat32)
        except Exception:
            return str(message).encode("utf-8", "surrogateescape")


def _serialize(message: Message) -> str:
    head = "".join(f"{name}: {value}\r\n" for name, value in message.raw_items()) + "\r\n"
    payload = message.get_payload()
    if not isinstance(payload, list):
        return head + (payload or "")
    boundary = message.get_boundary()
    if boundary is None:  # message/rfc822 holding one message
        return head + "".join(_serialize(part) for part in payload)
    body = [message.preamble + "\r\n"] if message.preamble else []
    body += [f"--{boundary}\r\n{_serialize(part)}\r\n" for part in payload]
    body.append(f"--{boundary}--\r\n{message.epilogue or ''}")
    return head + "".join(body)


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
        policy=email.policy.compat32,
    )
    parts = repaired.get_payload()
    return parts if isinstance(parts, list) and parts else None
