"""What a customer's words mean before any search: a person wanted, anger, yes, no, a greeting
or thanks alone, and the language (German and English)."""

from __future__ import annotations

import pytest

from bots.words import (
    angry,
    clear_language,
    guess_language,
    is_no,
    is_yes,
    not_helped,
    small_talk,
    wants_person,
)


@pytest.mark.parametrize(
    "text",
    [
        "agent",
        "Agent please",
        "human!",
        "I want to talk to a human",
        "Can I speak to someone?",
        "a real person please",
        "Let me chat with a live agent",
        "connect me to a representative",
        "I need a human being, not a bot",
        "Please call me",
        "Mitarbeiter bitte",
        "Mitarbeiter",
        "Mensch!",
        "Ich will mit einem Menschen sprechen",
        "Bitte eine echte Person",
        "Kann ich jemanden sprechen?",
        "Ich möchte mit einem Mitarbeiter reden",
        "Support anrufen",
        "Verbinden Sie mich bitte mit dem Kundenservice",
        "Ich hätte gern einen Berater",
        "is there a person who can help",
        "Can I get a human please",
        "Gibt es einen Mitarbeiter, der mir hilft?",
        "call me back please",
        "Kann mich jemand anrufen?",
        "Bitte rufen Sie mich zurück",
        "Ich hätte gerne einen Rückruf",
    ],
)
def test_a_request_for_a_person(text):
    assert wants_person(text)


@pytest.mark.parametrize(
    "text",
    [
        "my agent contract was cancelled",
        "How do I change the agent settings in my account?",
        "Human resources asked for my payslip",
        "Is the travel insurance valid for every person in my family?",
        "How do I add a Mitarbeiter to my team account with many users",
        "Meine Mitarbeiter können sich nicht anmelden",
        "Mitarbeiterrabatt für Bestellungen",
        "Wie viele Menschen passen in den Raum laut Buchung?",
        "How do I reset my password?",
        "Wo ist mein Paket?",
        "Is there a person limit on the account?",
        "I need someone's approval for the refund",
        "Wie kann ich Sie anrufen?",
        "Gibt es einen Rückruf für mein Auto?",
    ],
)
def test_not_a_request_for_a_person(text):
    assert not wants_person(text)


@pytest.mark.parametrize(
    "text",
    [
        "This is fucking useless",
        "you idiots",
        "Where is my parcel!!!",
        "WHY DOES NOTHING EVER WORK HERE",
        "this is ridiculous",
        "Are you kidding me? Third time now",
        "Das ist eine Frechheit",
        "Unverschämt, seit zwei Wochen keine Antwort",
        "So ein Saftladen",
        "Scheiße, schon wieder kaputt",
        "ICH WARTE SEIT DREI WOCHEN AUF MEIN GELD",
        "Ich habe die Nase voll",
        "Ich bin echt sauer, das dauert ewig",
        "I am furious about this",
        "Where is my order!!!",
        "You lost my bag and nobody answers the phone, this is the worst airline ever",
        "Ihr seid echt unfähig, ich warte seit Wochen",
        "I have been waiting for weeks for my refund",
        "Niemand meldet sich bei mir",
    ],
)
def test_anger(text):
    assert angry(text)


@pytest.mark.parametrize(
    "text",
    [
        "Where is my parcel?",
        "Is it possible to pay by PayPal!",
        "My VPN and DNS settings fail",
        "Wie ändere ich meine IBAN?",
        "Das Passwort wird nicht akzeptiert, was tun?",
        "I got an error saying HTTP 500",
        "Danke!",
        "Great, thanks!!!",
        "Super, vielen Dank!!!",
        "Thank you!!!",
        "Die Milch ist sauer",
        "What happens in the worst case?",
        "Ich warte seit Tagen auf mein Paket",
    ],
)
def test_not_anger(text):
    assert not angry(text)


@pytest.mark.parametrize(
    "text",
    ["/yes", "yes", "Yes!", "yes thanks", "yep", "sure", "it did", "that helped, thank you",
     "ja", "Ja, danke", "Jawohl", "genau", "hat geholfen", "Das hat geholfen, vielen Dank",
     "👍", "👍🏽"],
)  # fmt: skip
def test_yes(text):
    assert is_yes(text) and not is_no(text)


@pytest.mark.parametrize(
    "text",
    ["/no", "no", "No.", "nope", "not really", "didn't help", "no, that's not it",
     "nein", "Nein, leider nicht", "nee", "leider nicht", "hat nicht geholfen",
     "Nein, das ist es nicht", "Nein, das hilft mir nicht", "No, that's not what I was looking for",
     "none of them", "keiner davon", "Nichts davon", "👎"],
)  # fmt: skip
def test_no(text):
    assert is_no(text) and not is_yes(text)


@pytest.mark.parametrize(
    "text",
    [
        "yes but how do I change the address?",
        "no I mean the invoice address of my company account",
        "Ja aber wie ändere ich die Lieferadresse?",
        "Nein, ich meine die Rechnung vom letzten Monat für mein Firmenkonto",
        "How do I cancel my order?",
        "No, I need the delivery times",
    ],
)
def test_a_new_question_is_neither_yes_nor_no(text):
    assert not is_yes(text) and not is_no(text) and not not_helped(text)


@pytest.mark.parametrize(
    "text",
    ["That did not help me at all", "this is not what I asked", "didnt help", "wrong answer",
     "das hat mir nicht geholfen", "Das beantwortet meine Frage nicht", "nichts davon passt",
     "Passt nicht", "Das bringt mir nichts", "no", "leider nicht"],
)  # fmt: skip
def test_not_helped_in_a_sentence_of_its_own(text):
    """What says the answer did not help, after "Did this answer your question?"; alone such a
    sentence may be a question of its own ("Das Paket hat mich nicht erreicht"), so `is_no`
    (read anywhere) stays with the plain replies."""
    assert not_helped(text) and not is_yes(text)


@pytest.mark.parametrize(
    "text",
    ["Das Paket hat mich nicht erreicht", "Hat das nicht geklappt?", "It works now",
     "How do I reset it?"],
)  # fmt: skip
def test_what_is_no_plain_no(text):
    assert not is_no(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("hallo", "greeting"),
        ("Hallo!", "greeting"),
        ("Hi there", "greeting"),
        ("Guten Morgen", "greeting"),
        ("Moin", "greeting"),
        ("hello", "greeting"),
        ("danke", "thanks"),
        ("Vielen Dank!", "thanks"),
        ("Danke schön", "thanks"),
        ("thanks", "thanks"),
        ("Thank you very much", "thanks"),
        ("cheers", "thanks"),
        ("thank you so much, that's all", "thanks"),
        ("Vielen Dank für die Hilfe!", "thanks"),
        ("danke, das war's", "thanks"),
        ("Thanks, is that all I need to do?", None),
        ("Hallo, wie ändere ich mein Passwort?", None),
        ("hello, where is my order", None),
        ("Thanks, but how do I cancel it?", None),
        ("How do I say thank you to the courier?", None),
    ],
)
def test_greetings_and_thanks_alone(text, kind):
    assert small_talk(text) == kind


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Wie kann ich mein Passwort ändern?", "de"),
        ("Wo ist meine Bestellung?", "de"),
        ("Rückerstattung", "de"),
        ("How can I change my password?", "en"),
        ("Where is my order?", "en"),
        ("Rechnung", None),
        ("PayPal", None),
    ],
)
def test_language_from_the_commonest_words(text, language):
    assert guess_language(text) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Can I return my bike if I do not like it?", "en"),
        ("Wie kann ich mein Passwort ändern?", "de"),
        ("address", None),
        ("Adresse", None),
        ("PayPal?", None),
    ],
)
def test_a_plainly_spoken_language_and_none_when_the_text_does_not_say(text, language):
    assert clear_language(text) == language
