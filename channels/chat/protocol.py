"""The chat socket's frames: what a widget may send, checked before anything is done.

Every frame is a JSON object with a `type` (see docs/chat.md for the whole protocol). A
frame that is not as documented gets an `error` frame naming what is wrong; the socket
stays open. Nothing from a visitor is HTML: texts are kept as text and shown as text.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_FRAME_BYTES = 16 * 1024
MAX_TEXT = 5000
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CODE = re.compile(r"^[0-9]{6}$")
LANGUAGES = ("en", "de")
CLIENT_TYPES = (
    "hello",
    "message",
    "typing",
    "read",
    "prechat",
    "verify_email",
    "verify_code",
    "transcript",
    "end",
    "ping",
)


class FrameError(ValueError):
    """A frame the server cannot take: its code and a reason for the widget."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extra = extra

    def frame(self) -> dict:
        return {"type": "error", "code": self.code, "message": str(self), **self.extra}


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise FrameError("invalid", f"{field} is missing", field=field)
        return None
    if not isinstance(value, str):
        raise FrameError("invalid", f"{field} must be a string", field=field)
    # NUL and lone surrogates cannot be stored (and mean nothing to a reader).
    value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if len(value) > limit:
        raise FrameError("invalid", f"{field} is longer than {limit} characters", field=field)
    return value


def _id(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise FrameError("invalid", f"{field} must be a whole number from 0", field=field)
    return value


def parse(raw: str | bytes) -> dict:
    """The frame as a checked dict; raises FrameError for anything else."""
    if isinstance(raw, bytes):
        raise FrameError("bad_frame", "frames are JSON text, not binary")
    if len(raw) > MAX_FRAME_BYTES:  # characters ≤ bytes; the server's limit cuts the rest
        raise FrameError("too_large", f"a frame takes at most {MAX_FRAME_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise FrameError("bad_frame", "the frame is not JSON") from None
    if not isinstance(body, dict):
        raise FrameError("bad_frame", "the frame is not a JSON object")
    kind = body.get("type")
    if kind not in CLIENT_TYPES:
        raise FrameError("bad_frame", f"unknown frame type {str(kind)[:40]!r}")
    return _CHECKS[kind](body)


def _hello(body: dict) -> dict:
    identity = body.get("identity")
    if identity is not None:
        if not isinstance(identity, dict):
            raise FrameError("invalid", "identity must be an object", field="identity")
        identity = {
            "user_id": _text(identity.get("user_id"), "identity.user_id", 200, required=True),
            "user_hash": _text(identity.get("user_hash"), "identity.user_hash", 128),
            "name": _text(identity.get("name"), "identity.name", 200),
            "email": _text(identity.get("email"), "identity.email", 320),
            "email_hash": _text(identity.get("email_hash"), "identity.email_hash", 128),
        }
    language = body.get("lang")
    return {
        "type": "hello",
        "token": _text(body.get("token"), "token", 500),
        "last_id": _id(body.get("last_id") or 0, "last_id"),
        "lang": language if language in LANGUAGES else None,
        "page": _text(body.get("page"), "page", 2000),
        "new": body.get("new") is True,
        "identity": identity,
    }


def _message(body: dict) -> dict:
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise FrameError(
            "invalid", "client_id must be 1 to 64 letters, digits, - or _", field="client_id"
        )
    try:
        text = _text(body.get("text"), "text", MAX_TEXT, required=True)
    except FrameError as error:
        error.extra["client_id"] = client_id
        raise
    if not text.strip():
        raise FrameError("invalid", "text is empty", field="text", client_id=client_id)
    return {"type": "message", "client_id": client_id, "text": text}


def _typing(body: dict) -> dict:
    return {"type": "typing", "typing": body.get("typing") is not False}


def _read(body: dict) -> dict:
    return {"type": "read", "id": _id(body.get("id"), "id")}


def _prechat(body: dict) -> dict:
    return {
        "type": "prechat",
        "name": _text(body.get("name"), "name", 200),
        "email": _text(body.get("email"), "email", 320),
    }


def _verify_email(body: dict) -> dict:
    return {"type": "verify_email", "email": _text(body.get("email"), "email", 320, required=True)}


def _verify_code(body: dict) -> dict:
    code = body.get("code")
    code = code.strip() if isinstance(code, str) else code
    if not isinstance(code, str) or not CODE.match(code):
        raise FrameError("invalid", "the code is six digits", field="code")
    return {"type": "verify_code", "code": code}


def _plain(body: dict) -> dict:
    return {"type": body["type"]}


_CHECKS = {
    "hello": _hello,
    "message": _message,
    "typing": _typing,
    "read": _read,
    "prechat": _prechat,
    "verify_email": _verify_email,
    "verify_code": _verify_code,
    "transcript": _plain,
    "end": _plain,
    "ping": _plain,
}
