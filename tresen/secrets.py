"""A channel account's secrets (mail passwords, API tokens, app secrets) encrypted at rest.

The key is derived from TRESEN_SECRET_KEY with HKDF-SHA256 (info `INFO`), and each
secret is stored as `PREFIX` + a Fernet token (AES-128-CBC with HMAC-SHA256, a random
IV per value). Text without the prefix is a secret stored before encryption and is
read as it stands. The format is frozen: "enc1:" stays readable for good; a new format
gets a new prefix (and migration 0009 carries its own copy of these few lines).

Encryption happens in a channel's account actions, not in a column type: a column type
would need the key from global state, while the actions have the runtime's settings,
and a loaded account keeps its secrets sealed until the fetcher or sender opens them.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tresen.settings import Settings

PREFIX = "enc1:"
# Sealed columns outside the channels (whose own say `Channel.sealed`): staff's two-factor
# keys (tresen/totp.py).
SEALED = (("users", ("totp_secret",)),)
INFO = b"tresen channel secrets v1"
UNREADABLE = "cannot read the {what}: was TRESEN_SECRET_KEY changed?"


class SecretUnreadable(ValueError):
    """A stored secret this secret key cannot decrypt (the key changed, or the value is damaged)."""

    def __init__(self, what: str = "secret") -> None:
        super().__init__(UNREADABLE.format(what=what))


def _secret_key(settings_or_key: Settings | str) -> str:
    key = settings_or_key if isinstance(settings_or_key, str) else settings_or_key.secret_key
    if not key:
        raise ValueError("TRESEN_SECRET_KEY is empty; channel secrets cannot be encrypted")
    return key


@lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def is_encrypted(stored: str) -> bool:
    """True when the stored text is a sealed secret rather than plaintext from before."""
    return stored.startswith(PREFIX)


def encrypt(settings_or_key: Settings | str, plaintext: str) -> str:
    """The secret sealed for storing: "enc1:" and a Fernet token (about 1.4 × its length + 105)."""
    token = _fernet(_secret_key(settings_or_key)).encrypt(plaintext.encode("utf-8"))
    return PREFIX + token.decode("ascii")


def decrypt(settings_or_key: Settings | str, stored: str, *, what: str = "secret") -> str:
    """The secret as given; raises SecretUnreadable when this key did not seal it."""
    if not is_encrypted(stored):
        return stored
    try:
        plaintext = _fernet(_secret_key(settings_or_key)).decrypt(stored[len(PREFIX) :])
    except InvalidToken:
        # `from None`: the traceback must not carry the token or the key around.
        raise SecretUnreadable(what) from None
    return plaintext.decode("utf-8")


async def reseal(session, old_key: str, new_key: str) -> int:
    """Seal every stored secret again under new_key (`Channel.sealed` and `SEALED` name them);
    returns how many values changed. A value new_key opens already stays as it is, so a
    second run after an interrupted one is harmless; one that neither key opens raises
    SecretUnreadable naming its table, column and row, and nothing is changed."""
    from sqlalchemy import select, update

    from tresen.channel import channels
    from tresen.database import Base

    changes = []
    places = [pair for channel in channels() for pair in channel.sealed] + list(SEALED)
    for table_name, columns in places:
        table = Base.metadata.tables[table_name]
        key = next(iter(table.primary_key.columns))
        rows = await session.execute(select(key, *(table.c[name] for name in columns)))
        for row_id, *values in rows:
            for name, stored in zip(columns, values, strict=True):
                if not stored:
                    continue
                what = f"{table_name}.{name} of row {row_id}"
                try:
                    decrypt(new_key, stored, what=what)
                    if is_encrypted(stored):
                        continue  # sealed under the new key already
                except SecretUnreadable:
                    pass
                plaintext = decrypt(old_key, stored, what=what)
                changes.append((table, key, row_id, name, encrypt(new_key, plaintext)))
    for table, key, row_id, name, sealed in changes:
        await session.execute(update(table).where(key == row_id).values({name: sealed}))
    return len(changes)
