"""Pure rules, no database: threading, identity normalization, settings, HTML."""

from __future__ import annotations

import pytest

from customers.identities import IdentityError, normalize_identity, search_form
from tickets.threading import (
    joins_existing,
    state_after_agent_reply,
    state_after_customer_message,
    ticket_number_in_subject,
)
from tresen.html import html_to_text, sanitize_html
from tresen.settings import Settings, SettingsError


@pytest.mark.parametrize(
    "subject, number",
    [
        ("[#10042] Drucker", 10042),
        ("AW: [#10042] Drucker", 10042),
        ("Re: Re: [Ticket#10042] printer", 10042),
        ("Fwd: Ticket #77 follow-up", 77),
        ("[ # 10042 ] spaced", 10042),
        ("Order #10042 arrived", None),  # an order number is not a ticket number
        ("#10042", None),
        ("", None),
        (None, None),
    ],
)
def test_ticket_number_in_subject(subject, number):
    assert ticket_number_in_subject(subject) == number


def test_state_rules():
    assert state_after_customer_message("pending") == "open"
    assert state_after_customer_message("solved") == "open"
    assert state_after_customer_message("on_hold") == "on_hold"
    assert state_after_customer_message("new") == "new"
    assert state_after_agent_reply("new") == "open"
    assert state_after_agent_reply("pending") == "pending"
    assert joins_existing("solved") and not joins_existing("closed")


@pytest.mark.parametrize(
    "kind, raw, stored",
    [
        ("email", " Anna.Schmidt@Example.COM ", "anna.schmidt@example.com"),
        ("email", "jörg@müller.example", "jörg@müller.example"),
        ("phone", "030 1234567", "+49301234567"),
        ("phone", "+49 (30) 123-4567", "+49301234567"),
        ("phone", "0049 30 1234567", "+49301234567"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("whatsapp", "0151 2345678", "+491512345678"),
        ("telegram", "@EmmaW", "emmaw"),
        ("chat", "visitor-7f3A", "visitor-7f3A"),
    ],
)
def test_identity_normalization(kind, raw, stored):
    assert normalize_identity(kind, raw) == stored


@pytest.mark.parametrize(
    "kind, raw",
    [
        ("email", "no-at-sign"),
        ("email", "a@"),
        ("phone", "12"),
        ("phone", "call me"),
        ("fax", "123"),
        ("email", "   "),
    ],
)
def test_bad_identities_are_refused_with_a_reason(kind, raw):
    with pytest.raises(IdentityError) as error:
        normalize_identity(kind, raw)
    assert str(error.value)


def test_phone_search_form_is_digits():
    assert search_form("phone", "+49301234567") == "49301234567"
    assert search_form("email", "a@b.example") == "a@b.example"


def test_sanitize_html_removes_active_content():
    dirty = (
        '<p style="color:red" onclick="steal()">Hi <a href="javascript:alert(1)">x</a>'
        '<img src="cid:logo" onerror="x()"><iframe src="https://evil.example"></iframe>'
        "<script>alert(1)</script></p>"
    )
    clean = sanitize_html(dirty)
    for bad in ("onclick", "javascript:", "onerror", "iframe", "<script"):
        assert bad not in clean
    assert 'style="color:red"' in clean and 'src="cid:logo"' in clean
    assert (
        html_to_text("<p>Hallo<br>Welt</p><style>p{}</style><p>Zwei</p>") == "Hallo\nWelt\n\nZwei"
    )


def test_settings_from_env_and_generated_secret(tmp_path):
    env = {"TRESEN_DATA_DIR": str(tmp_path), "TRESEN_DATABASE_URL": "postgres://u:p@db:5432/t"}
    first = Settings.from_env(env)
    assert first.database_url == "postgresql+asyncpg://u:p@db:5432/t" and first.is_postgres
    assert len(first.secret_key) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings.from_env(env).secret_key == first.secret_key  # kept across restarts
    default = Settings.from_env({"TRESEN_DATA_DIR": str(tmp_path)})
    assert default.database_url.startswith("sqlite+aiosqlite:///") and not default.is_postgres


@pytest.mark.parametrize(
    "name, value",
    [
        ("TRESEN_DATABASE_URL", "mysql://x"),
        ("TRESEN_TICKET_NUMBER_START", "ten"),
        ("TRESEN_SECURE_COOKIES", "maybe"),
    ],
)
def test_bad_settings_name_the_value(tmp_path, name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"TRESEN_DATA_DIR": str(tmp_path), name: value})
    assert value in str(error.value)
