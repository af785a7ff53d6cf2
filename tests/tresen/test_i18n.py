"""The UI's languages: every string the UI shows has its German translation, with the same
placeholders; dates follow the reader's locale and timezone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.support import ROOT
from tresen import i18n

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> set:
    """What scripts/messages would collect (the same mapping file)."""
    method_map, options_map = [], {}
    config = (ROOT / "tresen/locale/babel.cfg").read_text()
    for section in re.findall(r"^\[(\w+): ([^\]]+)\]", config, re.M):
        method, pattern = section
        method_map.append((pattern, "jinja2.ext.babel_extract" if method == "jinja2" else method))
        if method == "jinja2":
            options_map[pattern] = {"extensions": "jinja2.ext.i18n"}
    found = set()
    keywords = {"_": None, "ngettext": (1, 2)}
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        found.add(message)
    return found


def test_every_ui_string_has_a_german_translation_with_the_same_placeholders():
    with (ROOT / "tresen/locale/de/LC_MESSAGES/messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    translations = {m.id: m.string for m in catalogue if m.id}
    # A fuzzy guess is not shown (gettext skips it): each must be checked by a person.
    assert [m.id for m in catalogue if m.id and m.fuzzy] == []
    messages = extracted()
    assert len(messages) > 250  # the console's text is extracted at all
    missing = [m for m in messages if not translations.get(m) or translations.get(m) == ("", "")]
    assert missing == [], f"untranslated (run scripts/messages, then translate): {missing[:10]}"
    for message in messages:
        source = message if isinstance(message, tuple) else (message,)
        target = translations[message]
        target = target if isinstance(target, tuple) else (target,)
        wanted = {name for text in source for name in PLACEHOLDER.findall(text)}
        for text in target:
            assert set(PLACEHOLDER.findall(text)) <= wanted, (message, text)
        assert set().union(*(PLACEHOLDER.findall(t) for t in target)) >= wanted - {"num"}, message


def test_text_and_dates_follow_the_readers_language_and_timezone():
    moment = datetime(2026, 11, 24, 9, 5, tzinfo=UTC)
    with i18n.using("de", "Europe/Berlin"):
        assert i18n.gettext("Sign out") == "Abmelden"
        assert i18n.ngettext("%(num)d ticket", "%(num)d tickets", 3) == "3 Tickets"
        assert i18n.when(moment) == "24.11.26, 10:05"
    with i18n.using("en", "America/New_York"):
        assert i18n.gettext("Sign out") == "Sign out"
        assert i18n.when(moment) == "11/24/26, 4:05\u202fAM"
    with i18n.using("de", "Not/AZone"):  # an unknown zone falls back to Berlin
        assert i18n.when(moment).endswith("10:05")


def test_language_is_the_users_else_the_browsers():
    assert i18n.pick_language("de", "en-US,en;q=0.9") == "de"
    assert i18n.pick_language(None, "de-DE,de;q=0.9,en;q=0.8") == "de"
    assert i18n.pick_language("fr", "fr-FR,fr;q=0.9") == "en"
