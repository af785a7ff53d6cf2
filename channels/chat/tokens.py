"""Who is chatting: the widget's signed visitor token, and a site's signed-in user (HMAC).

An anonymous visitor gets a token naming a random visitor id, signed with the desk's
secret key; the widget keeps it, so a returning visitor continues their conversation. A
token names its channel: one site's token opens nothing on another's chat.

A site whose visitors are signed in passes their user id with
`user_hash = hex(HMAC-SHA256(channel identity secret, user_id))` (as Intercom and Chatwoot
do), and may vouch for their e-mail address the same way (`email_hash`, over the address
lower-cased). Nothing else makes a claim true.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "tresen.chat.visitor.v1"
TOKEN_DAYS = 365


@dataclass(frozen=True)
class Visitor:
    visitor_id: str
    channel_id: int


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def new_visitor(channel_id: int) -> Visitor:
    return Visitor(secrets.token_urlsafe(16), channel_id)


def visitor_token(secret_key: str, visitor: Visitor) -> str:
    return _serializer(secret_key).dumps({"v": visitor.visitor_id, "c": visitor.channel_id})


def read_visitor_token(secret_key: str, token: object, channel_id: int) -> Visitor | None:
    """The visitor a token names on this channel; None for a forged, expired or other
    channel's token (the widget then gets a new one)."""
    if not isinstance(token, str) or not token or len(token) > 500:
        return None
    try:
        data = _serializer(secret_key).loads(token, max_age=TOKEN_DAYS * 86400)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("c") != channel_id:
        return None
    visitor_id = data.get("v")
    if not isinstance(visitor_id, str) or not 8 <= len(visitor_id) <= 64:
        return None
    return Visitor(visitor_id, channel_id)


def signature(secret: str, value: str) -> str:
    """The HMAC a site sends along a value it vouches for (hex)."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def vouched(secret: str, value: str, claimed: object) -> bool:
    """Whether `claimed` is the site's HMAC of `value` (compared in constant time)."""
    if not isinstance(claimed, str) or not claimed:
        return False
    return hmac.compare_digest(signature(secret, value), claimed.strip().lower())


FILE_SALT = "tresen.chat.file.v1"


def file_signature(secret_key: str, attachment_id: int, identity: str) -> str:
    """What a file's link carries: this file, for this conversation's visitor (the link
    alone fetches it: no visitor token in URLs, which end up in logs)."""
    return URLSafeTimedSerializer(secret_key, salt=FILE_SALT).dumps([attachment_id, identity])


def read_file_signature(secret_key: str, signature: object) -> tuple[int, str] | None:
    """(attachment id, identity) a file link names; None for a forged or mangled one."""
    if not isinstance(signature, str) or not signature or len(signature) > 1000:
        return None
    try:
        found = URLSafeTimedSerializer(secret_key, salt=FILE_SALT).loads(signature)
    except (BadSignature, ValueError, TypeError):
        return None
    if (
        not isinstance(found, list)
        or len(found) != 2
        or not isinstance(found[0], int)
        or not isinstance(found[1], str)
    ):
        return None
    return found[0], found[1]
