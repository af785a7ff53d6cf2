"""Staff reply signatures, one per console language, added below replies to customers."""

from __future__ import annotations

from html import escape

from sqlalchemy import select, update

from tresen.i18n import LANGUAGES
from tresen.models import User
from tresen.runtime import Runtime

MAX_SIGNATURE = 2000
# The usual mail signature separator ("dash dash space"): mail programs recognise it and
# grey the signature or leave it out when quoting.
SEPARATOR = "-- "


class SignatureError(ValueError):
    """A signature that cannot be saved; the message says why."""


def cleaned(signatures: dict[str, str]) -> dict[str, str]:
    """The signatures to store: known languages only, trimmed, empty ones left out."""
    kept = {}
    for language, text in signatures.items():
        if language not in LANGUAGES:
            raise SignatureError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
        text = "\n".join(line.rstrip() for line in str(text).replace("\r\n", "\n").split("\n"))
        text = text.strip("\n")
        if len(text) > MAX_SIGNATURE:
            raise SignatureError(f"a signature may have at most {MAX_SIGNATURE} characters")
        if text.strip():
            kept[language] = text
    return kept


async def set_signatures(runtime: Runtime, user_id: int, signatures: dict[str, str]) -> None:
    """Replace the user's signatures (SignatureError for a bad one; nothing saved then)."""
    kept = cleaned(signatures)
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(User).where(User.id == user_id).values(signatures=kept or None)
        )
        tx.emit("user.updated", user_id=user_id)


def pick(signatures: dict | None, language: str | None) -> str | None:
    """The signature in this language, else the other one the user wrote, else None."""
    signatures = signatures or {}
    if language and signatures.get(language):
        return signatures[language]
    for code in LANGUAGES:
        if signatures.get(code):
            return signatures[code]
    return None


def append(text: str, html: str | None, signature: str) -> tuple[str, str | None]:
    """The reply (text and HTML) with the signature below one separator line."""
    # A reply that ends with the signature already (typed or pasted) is left as it is.
    if text.rstrip().endswith(signature.strip()):
        return text, html
    if text.strip():
        text = f"{text.rstrip()}\n\n{SEPARATOR}\n{signature}"
    if html:
        lines = "<br>".join(escape(line) for line in signature.split("\n"))
        html = f"{html}\n<p>{escape(SEPARATOR)}<br>{lines}</p>"
    return text, html


async def signature_of(session, user_id: int, language: str | None) -> str | None:
    """The user's signature for a reply in this language (None: the user's own language)."""
    row = (
        await session.execute(select(User.signatures, User.locale).where(User.id == user_id))
    ).first()
    return pick(row.signatures, language or row.locale) if row else None
