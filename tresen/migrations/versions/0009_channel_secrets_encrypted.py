"""channel account secrets encrypted at rest

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 05:00:00

Seals the mail accounts' IMAP and SMTP URLs (they hold the passwords) with a key
derived from the secret key, which `tresen migrate` hands over in the config's
attributes. The sealing is copied here from tresen.secrets as it was written, so this
migration keeps working whatever that module becomes: "enc1:" + a Fernet token under
HKDF-SHA256(secret key, info=b"tresen channel secrets v1"). The columns are TEXT on
SQLite and PostgreSQL, so a sealed URL (about 1.4 times as long, plus 105) fits.
"""

import base64

import sqlalchemy as sa
from alembic import context, op
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PREFIX = "enc1:"
INFO = b"tresen channel secrets v1"
COLUMNS = ("imap_url", "smtp_url")
accounts = sa.table("mail_accounts", sa.column("id", sa.Integer), *map(sa.column, COLUMNS))


def _fernet() -> Fernet:
    secret_key = context.config.attributes.get("secret_key") or ""
    if not secret_key:
        raise RuntimeError(
            "migration 0009 seals the mail accounts' passwords with TRESEN_SECRET_KEY, "
            "which was not given: run it with `tresen migrate`"
        )
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _rewrite(sealed: bool, change) -> None:
    """Apply change(fernet, account_id, value) to every value that is (or is not) sealed."""
    connection = op.get_bind()
    pending = [
        (row["id"], column, row[column])
        for row in connection.execute(sa.select(accounts)).mappings()
        for column in COLUMNS
        if row[column] and row[column].startswith(PREFIX) == sealed
    ]
    if not pending:
        return  # nothing to change, no key needed (a new database, the tests' template)
    fernet = _fernet()
    for account_id, column, value in pending:
        connection.execute(
            sa.update(accounts)
            .where(accounts.c.id == account_id)
            .values({column: change(fernet, account_id, value)})
        )


def _seal(fernet: Fernet, account_id: int, value: str) -> str:
    return PREFIX + fernet.encrypt(value.encode("utf-8")).decode("ascii")


def _open(fernet: Fernet, account_id: int, value: str) -> str:
    try:
        return fernet.decrypt(value[len(PREFIX) :]).decode("utf-8")
    except InvalidToken:
        raise RuntimeError(
            f"cannot read the password of mail account {account_id}: was TRESEN_SECRET_KEY changed?"
        ) from None


def upgrade() -> None:
    _rewrite(False, _seal)


def downgrade() -> None:
    _rewrite(True, _open)
