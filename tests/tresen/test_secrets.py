"""Channel account secrets sealed with a key derived from the secret key, readable for good."""

from __future__ import annotations

import pytest

from tresen import secrets
from tresen.settings import Settings

URL = "imaps://support:geheim-123@imap.example.com/INBOX"
# Sealed once with the key "frozen-secret-key": every later version must still open it,
# or accounts sealed today become unreadable after an upgrade.
FROZEN = (
    "enc1:gAAAAABrD6TkBsNDHIquG-qZwpfwnqMblLr31GsPh1IPt0hsczXljLhSE_B17W7tMOAA47MBSNQYdE5zfo2q"
    "OYLdLOWSjZtNUdA3llwxCecPbmHVTQ_PXsIJwxLe0pR7IbnnBX1XUalv"
)


def test_a_secret_round_trips_sealed_and_never_the_same_twice():
    settings = Settings(secret_key="desk-secret-key")
    sealed = secrets.encrypt(settings, URL)
    assert sealed.startswith("enc1:") and "geheim-123" not in sealed
    assert secrets.is_encrypted(sealed)
    assert secrets.decrypt(settings, sealed) == URL
    assert secrets.decrypt("desk-secret-key", sealed) == URL  # the key alone does too
    # A fresh IV each time: equal passwords do not show as equal rows.
    assert secrets.encrypt(settings, URL) != sealed
    assert secrets.decrypt(settings, secrets.encrypt(settings, "Grüße ✓")) == "Grüße ✓"


def test_the_format_is_frozen():
    assert (
        secrets.decrypt("frozen-secret-key", FROZEN)
        == "imaps://support:geheim@imap.example.com/INBOX"
    )


def test_plaintext_from_before_sealing_is_read_as_it_stands():
    assert not secrets.is_encrypted(URL)
    assert secrets.decrypt("desk-secret-key", URL) == URL


def test_another_secret_key_gives_a_clear_error_without_key_or_token():
    sealed = secrets.encrypt("old-secret-key", URL)
    with pytest.raises(secrets.SecretUnreadable) as raised:
        secrets.decrypt("new-secret-key", sealed, what="password")
    assert str(raised.value) == "cannot read the password: was TRESEN_SECRET_KEY changed?"
    # Nothing chained that a traceback would print: no token, no key.
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "new-secret-key" not in repr(raised.value.args)
    with pytest.raises(secrets.SecretUnreadable, match="cannot read the secret"):
        secrets.decrypt("old-secret-key", sealed[:-4] + "AAAA")  # damaged


def test_no_secret_key_no_sealing():
    with pytest.raises(ValueError, match="TRESEN_SECRET_KEY is empty"):
        secrets.encrypt(Settings(secret_key=""), URL)


@pytest.mark.parametrize("length", [10, 200, 2000])
def test_sealed_text_grows_as_documented(length):
    sealed = secrets.encrypt("desk-secret-key", "x" * length)
    assert len(sealed) <= 1.4 * length + 110
