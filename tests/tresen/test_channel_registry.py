"""The channel registry is the one place channels are known: rooms ask it, list none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from channels.email import fetch, receive
from tresen import channel as channel_registry
from tresen import rooms
from tresen.channel import Channel, ChannelOption, IdentityKind
from tresen.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_email_comes_in_through_the_contract_alone():
    email = channel_registry.get("email")
    assert email is not None and email.send is not None
    assert fetch.run in rooms.workers() and receive.run in rooms.workers()
    assert "add-email" in email.cli[0].ACTIONS
    paths = {operation.path for router in rooms.api_routers() for operation in router.operations}
    assert "/channels/email" in paths
    # The shell's own lists name no channel module: channels arrive through the registry.
    listed = rooms.MODEL_MODULES + rooms.API_MODULES + rooms.CLI_MODULES + rooms.WORKER_MODULES
    assert not [name for name in listed if name.startswith("channels.")]


@pytest.mark.parametrize("room", ["tickets", "customers", "routing", "agent_ui"])
def test_rooms_import_no_channel_and_list_no_channel_names(room):
    for path in (ROOT / room).rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import) channels\b", source, re.M), path
        # A tuple or list of channel names is a list the registry should keep.
        assert not re.search(r"[(\[]\s*\"email\",\s*\"(chat|sms|whatsapp)\"", source), path


def test_unknown_channel_names_are_described_not_refused():
    fax = channel_registry.describe("fax")
    assert fax.send is None and fax.label("de") == "fax"
    assert "fax" in fax.why_not("en")
    assert not fax.threading.sender and fax.threading.conversation


def test_identity_kinds_follow_the_channels():
    kinds = channel_registry.identity_kinds()
    assert {"email", "phone", "whatsapp", "telegram", "chat"} <= set(kinds)
    assert kinds["whatsapp"].normalize("0151 2345678", "DE") == "+491512345678"
    pager = Channel("pager", {"en": "Pager"}, (IdentityKind("pager", {"en": "Pager"}),))
    channel_registry.register(pager)
    try:
        assert "pager" in channel_registry.identity_kinds()
    finally:
        channel_registry.unregister("pager")
    assert "pager" not in channel_registry.identity_kinds()


def test_channel_options_are_settings_and_serve_flags(tmp_path):
    env = {"TRESEN_SECRET_KEY": "k", "TRESEN_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).option("email", "smtp_port") == 0
    assert (
        Settings.from_env({**env, "TRESEN_SMTP_PORT": "2525"}).option("email", "smtp_port") == 2525
    )
    with pytest.raises(SettingsError, match="TRESEN_SMTP_PORT='many'"):
        Settings.from_env({**env, "TRESEN_SMTP_PORT": "many"})
    beeper = Channel(
        "beeper",
        {"en": "Beeper"},
        (IdentityKind("beeper", {"en": "Beeper"}),),
        options=(
            ChannelOption("region", "TRESEN_BEEPER_REGION", "eu", str, "where", "--beeper-region"),
        ),
    )
    channel_registry.register(beeper)
    try:
        settings = Settings.from_env({**env, "TRESEN_BEEPER_REGION": "us"})
        assert settings.option("beeper", "region") == "us"
        from tresen.cli import build_parser

        args = build_parser().parse_args(["serve", "--beeper-region", "ap"])
        assert args.beeper_region == "ap"
    finally:
        channel_registry.unregister("beeper")
