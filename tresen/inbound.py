"""InboundMessage: what every channel adapter hands to the inbox."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from tresen.ids import Id
from tresen.text import JsonValue, Moment, Text

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


class SenderIdentity(BaseModel):
    """Who sent it, as the channel knows them: kind (email, phone, ...) and value."""

    kind: Text = Field(min_length=1, max_length=20, examples=["email"])
    value: Text = Field(min_length=1, max_length=320, examples=["anna@example.com"])
    name: Text | None = Field(default=None, max_length=200)


class InboundAttachment(BaseModel):
    filename: Text = Field(min_length=1, max_length=255)
    content_type: Text = Field(default="application/octet-stream", max_length=255)
    content_base64: Text
    # An image the HTML shows inline (src="cid:<content_id>").
    content_id: Text | None = Field(default=None, max_length=500)

    @field_validator("content_base64")
    @classmethod
    def _valid_base64(cls, value: str) -> str:
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise ValueError("is not valid base64") from None
        if size > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"is larger than {MAX_ATTACHMENT_BYTES} bytes")
        return value

    def content(self) -> bytes:
        return base64.b64decode(self.content_base64)


def _valid_source(raw: dict) -> dict:
    """`rfc822_base64`, when given, must decode (the console's "original" download)."""
    source = raw.get("rfc822_base64")
    if source is not None:
        try:
            base64.b64decode(source if isinstance(source, str) else b"!", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("rfc822_base64 is not valid base64") from None
    return raw


# What the channel received, kept as it came: an email's source (`rfc822_base64`, the mail
# exactly as received), a provider's body.
RawSource = Annotated[dict[str, JsonValue], AfterValidator(_valid_source)]


class DeliveryReport(BaseModel):
    """The channel's word that a message we sent was not delivered (a bounce, a failed SMS)."""

    action: Literal["failed", "delayed", "complaint"]
    recipients: list[Text] = Field(default_factory=list, max_length=100)
    # The channel ids of our messages it is about (e.g. the Message-IDs in a bounce).
    refers_to: list[Text] = Field(default_factory=list, max_length=200)
    diagnostic: Text | None = Field(default=None, max_length=2000)


class InboundMessage(BaseModel):
    """One message as received on any channel, before anything is decided about it."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    channel: Text = Field(min_length=1, max_length=30, pattern=r"^[a-z][a-z0-9_]*$")
    external_id: Text = Field(min_length=1, max_length=500)
    sender: SenderIdentity = Field(alias="from")
    to: Text | None = Field(default=None, max_length=320)
    subject: Text | None = Field(default=None, max_length=2000)
    text: Text = Field(default="", max_length=2_000_000)
    html: Text | None = Field(default=None, max_length=10_000_000)
    in_reply_to: Text | None = Field(default=None, max_length=1000)
    references: list[Text] = Field(default_factory=list, max_length=200)
    conversation_id: Text | None = Field(default=None, max_length=500)
    received_at: Moment | None = None
    attachments: list[InboundAttachment] = Field(default_factory=list, max_length=100)
    # Everyone else it was addressed to (To and Cc), normalized where possible.
    recipients: list[Text] = Field(default_factory=list, max_length=500)
    # Why a machine sent it (auto-reply, list, bulk, ...); None when a person wrote it.
    # Nothing automatic is ever sent back to such a message.
    auto_submitted: Text | None = Field(default=None, max_length=200)
    # Why the sender's address may be forged (mail: SPF or DMARC failed); None when nothing
    # says so. Nothing automatic (a confirmation) is sent to such an address.
    unauthenticated: Text | None = Field(default=None, max_length=200)
    report: DeliveryReport | None = None
    # The new part of `text`, without quoted history and signature, when it differs.
    visible_text: Text | None = Field(default=None, max_length=2_000_000)
    # What the channel could not take as it came (an oversized attachment, a bad charset).
    notices: list[Text] = Field(default_factory=list, max_length=100)
    # The queue the receiving account (mailbox, number) delivers to; routing may choose another.
    queue_id: Id | None = None
    # The language the customer chose (the chat widget's, a messenger's locale), preferred
    # over detection: any tag ("de-AT", "en_GB", "fr") is taken; one the desk does not
    # speak is kept as None rather than refused, so no message is lost for it.
    language: Text | None = Field(default=None, max_length=35)
    raw: RawSource | None = None

    @field_validator("language")
    @classmethod
    def _desk_language(cls, value: str | None) -> str | None:
        primary = (value or "").replace("_", "-").split("-")[0].strip().lower()
        return primary if primary in ("de", "en") else None

    def thread_hints(self) -> list[str]:
        """Message ids this one answers, nearest first."""
        hints = [self.in_reply_to] if self.in_reply_to else []
        hints.extend(reversed(self.references))
        return [hint.strip() for hint in hints if hint and hint.strip()]
