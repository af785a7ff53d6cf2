"""Parsing real mail: every file of the shared corpus, and each rule on mail built here."""

from __future__ import annotations

import base64
import mailbox
from email.message import EmailMessage

import pytest

from channels.email.charsets import decode_bytes
from channels.email.parse import parse_message
from tests.fixtures import DSN, MAIL_CORPUS, corpus_files


def mbox_messages() -> list[bytes]:
    found = []
    for path in sorted((MAIL_CORPUS / "sisimai" / "mailbox").iterdir()):
        found += [message.as_bytes() for message in mailbox.mbox(path)]
    return found


@pytest.mark.slow  # all 900 corpus mails parsed
def test_every_corpus_message_parses_and_bounces_are_recognized():
    files = corpus_files()
    assert len(files) >= 890, f"corpus at {MAIL_CORPUS} is incomplete"
    kinds: dict[str, list[str]] = {"bounce": [], "complaint": [], "auto": [], "mail": []}
    for path in files:
        message = parse_message(path.read_bytes())
        assert message.channel == "email" and message.external_id
        assert base64.b64decode(message.raw["rfc822_base64"]) == path.read_bytes()
        if message.report is None:
            kind = "auto" if message.auto_submitted else "mail"
        else:
            kind = "complaint" if message.report.action == "complaint" else "bounce"
        kinds[kind].append(str(path.relative_to(MAIL_CORPUS)))
    sisimai_bounces = [
        path
        for path in files
        if path.parent.name == "maildir-bsd"
        and path.name.startswith(("lhost-", "rhost-", "rfc3464-"))
    ]
    assert len(sisimai_bounces) == 606
    missed = [
        str(p.relative_to(MAIL_CORPUS))
        for p in sisimai_bounces
        if str(p.relative_to(MAIL_CORPUS)) not in kinds["bounce"]
    ]
    assert missed == []
    # Feedback reports are complaints; arf-26 is Apple's auto-submitted unsubscribe note.
    arf = sorted(str(p.relative_to(MAIL_CORPUS)) for p in files if p.name.startswith("arf-"))
    assert len(arf) == 17
    assert set(arf) - set(kinds["complaint"]) == {"sisimai/maildir-bsd/arf-26.eml"}
    assert "sisimai/maildir-bsd/arf-26.eml" in kinds["auto"]
    auto_replies = {f"sisimai/maildir-bsd/rfc3834-0{n}.eml" for n in range(1, 7)}
    assert auto_replies <= set(kinds["auto"])
    # Ordinary mail is not mistaken for a bounce: everything outside the report folders.
    report_folders = ("bounce/", "complaints/", "multipart_report_emails/", "sisimai/")
    wrongly = [
        name
        for name in kinds["bounce"] + kinds["complaint"]
        if not any(folder in name for folder in report_folders)
        and name != "mikel-mail/mime_emails/raw_email_with_mimepart_without_content_type.eml"
    ]
    assert wrongly == []


def test_mbox_messages_parse():
    messages = mbox_messages()
    assert len(messages) >= 37
    for raw in messages:
        assert parse_message(raw).external_id


def mail(**headers) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Kim Meyer <Kim.Meyer@Example.com>")
    message["To"] = headers.pop("To", "support@tresen.test")
    message["Subject"] = headers.pop("Subject", "Drucker")
    message["Message-ID"] = headers.pop("Message_ID", "<m1@example.com>")
    message["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return message


def test_headers_addresses_and_threading_fields():
    message = mail(Cc="Other <other@example.com>, support@tresen.test")
    message["In-Reply-To"] = "<out-1@tresen.test>"
    message["References"] = "<a@x> <out-1@tresen.test>"
    message.set_content("Hallo")
    parsed = parse_message(bytes(message), account="support@tresen.test")
    assert parsed.sender.value == "kim.meyer@example.com" and parsed.sender.name == "Kim Meyer"
    assert parsed.to == "support@tresen.test"
    assert parsed.recipients == ["support@tresen.test", "other@example.com"]
    assert parsed.in_reply_to == "<out-1@tresen.test>"
    assert parsed.references == ["<a@x>", "<out-1@tresen.test>"]
    assert parsed.received_at.isoformat() == "2026-11-23T09:00:00+00:00"
    assert parsed.auto_submitted is None and parsed.report is None


def test_encoded_word_and_raw_8bit_headers_are_decoded():
    raw = (
        b"From: =?iso-8859-1?q?J=FCrgen_M=FCller?= <jm@example.de>\r\n"
        b"To: support@tresen.test\r\n"
        b"Subject: =?utf-8?b?UsO8Y2tlcnN0YXR0dW5n?= f\xc3\xbcr Bestellung\r\n"
        b"Message-ID: <h@x>\r\n\r\nText\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.sender.name == "Jürgen Müller"
    assert parsed.subject == "Rückerstattung für Bestellung"


@pytest.mark.parametrize(
    ("declared", "body", "expected"),
    [
        ("utf-8", "Grüße".encode(), "Grüße"),
        ("us-ascii", "Grüße".encode(), "Grüße"),  # mislabelled: really UTF-8
        ("utf-8", "Grüße".encode("latin-1"), "Grüße"),  # mislabelled: really Latin-1
        ("x-unknown-charset", "Grüße".encode(), "Grüße"),
        ("iso-8859-1", b"Preis: 5 \x80", "Preis: 5 €"),  # Latin-1 label on cp1252 text
        ("gb2312", "你好，世界".encode("gb18030"), "你好，世界"),
        ("ks_c_5601-1987", "안녕하세요".encode("cp949"), "안녕하세요"),
    ],
)
def test_charsets_declared_mislabelled_and_unknown(declared, body, expected):
    text, _notice = decode_bytes(body, declared)
    assert text == expected
    raw = (
        b"From: a@example.com\r\nMessage-ID: <c@x>\r\nContent-Type: text/plain; charset="
        + declared.encode()
        + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body
    )
    assert parse_message(raw).text.strip() == expected


def test_html_only_mail_gets_a_text_version():
    message = mail()
    message.set_content("<p>Hallo <b>Team</b>,</p><p>der Drucker streikt.</p>", subtype="html")
    parsed = parse_message(bytes(message))
    assert parsed.text == "Hallo Team,\n\nder Drucker streikt."
    assert "<b>Team</b>" in parsed.html


def test_attachments_inline_images_and_the_size_limit():
    message = mail()
    message.set_content("Siehe Anhang")
    message.add_alternative('<p>Siehe <img src="cid:logo@x"></p>', subtype="html")
    message.get_payload()[1].add_related(b"\x89PNG...", "image", "png", cid="<logo@x>")
    message.add_attachment(
        b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="Rechnung.pdf"
    )
    message.add_attachment(b"x" * 5000, maintype="application", subtype="zip", filename="big.zip")
    raw = bytes(message)
    parsed = parse_message(raw, max_attachment_bytes=1000)
    names = {item.filename: item for item in parsed.attachments}
    assert set(names) == {"Rechnung.pdf", "attachment-1.png"}
    assert names["attachment-1.png"].content_id == "logo@x"
    assert base64.b64decode(names["Rechnung.pdf"].content_base64) == b"%PDF-1.4 small"
    # The oversized file is not dropped: it is named in a notice and stays in the original.
    assert any(
        "big.zip" in notice and "kept in the original" in notice for notice in parsed.notices
    )
    assert base64.b64decode(parsed.raw["rfc822_base64"]) == raw


def test_quoted_history_and_signature_are_trimmed_from_the_visible_text():
    message = mail(Subject="AW: Drucker")
    message.set_content(
        "Danke, jetzt geht es wieder.\n\n"
        "Am 20.11.2026 um 10:00 schrieb Tresen Support <support@tresen.test>:\n"
        "> Bitte starten Sie den Drucker neu.\n"
    )
    parsed = parse_message(bytes(message))
    assert parsed.visible_text == "Danke, jetzt geht es wieder."
    assert "Bitte starten Sie" in parsed.text  # the full original stays


def test_mail_without_message_id_gets_a_stable_id():
    raw = b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"
    assert parse_message(raw).external_id == parse_message(raw).external_id
    assert parse_message(raw).external_id != parse_message(raw + b"more").external_id


def test_mail_without_a_usable_sender_is_still_parsed():
    parsed = parse_message(b"From: Kein Absender\r\nMessage-ID: <n@x>\r\n\r\nHallo\r\n")
    assert parsed.sender.value == "Kein Absender" and parsed.text.strip() == "Hallo"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"Precedence": "list"},
        {"List_Id": "<news.example.com>"},
        {"List_Unsubscribe": "<mailto:unsub@example.com>"},
        {"X_Autoreply": "yes"},
        {"X_Autorespond": "yes"},
        {"From": "MAILER-DAEMON@example.com"},
        {"From": "noreply@shop.example.com"},
        {"Subject": "Automatische Antwort: Drucker"},
        {"Return_Path": "<>"},
    ],
)
def test_machine_mail_is_marked_never_to_be_answered(headers):
    message = mail(**headers)
    message.set_content("...")
    assert parse_message(bytes(message)).auto_submitted


def test_person_mail_with_auto_submitted_no_may_be_answered():
    message = mail(Auto_Submitted="no", Subject="Automatic reply is broken")
    message.set_content("...")
    assert parse_message(bytes(message)).auto_submitted is None


def test_a_delivery_status_notification_names_recipient_and_our_message():
    parsed = parse_message(DSN.replace(b"\n", b"\r\n"))
    assert parsed.report.action == "failed"
    assert parsed.report.recipients == ["gone@example.org"]
    assert parsed.report.refers_to == ["<t-42@tresen.test>"]
    assert "550 5.1.1" in parsed.report.diagnostic
    assert [item.filename for item in parsed.attachments] == ["message-1.eml"]
    enclosed = parse_message(base64.b64decode(parsed.attachments[0].content_base64))
    assert enclosed.external_id == "<t-42@tresen.test>"
    assert enclosed.subject == "[#10042] Ihre Anfrage" and enclosed.text.strip() == "Ihre Anfrage"
