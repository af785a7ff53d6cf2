"""Normalizing identities: one spelling per email, phone number or handle (pure functions)."""

from __future__ import annotations

import re

import phonenumbers

from customers.models import IDENTITY_KINDS
from tresen.email_address import EmailAddressError, normalize_email


class IdentityError(ValueError):
    """An identity value that cannot be normalized; the message says why."""


def normalize_phone(raw: str, default_region: str = "DE") -> str:
    """E.164, e.g. '+4930123456'; a local number is read in the default region."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise IdentityError(f"{raw!r} is not a phone number: {error}") from None
    # "Possible" rather than "valid": numbering plans change faster than libraries,
    # and a real customer's number must never be refused; fragments like "12" are.
    if not phonenumbers.is_possible_number(number) or len(str(number.national_number)) < 5:
        raise IdentityError(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_identity(kind: str, raw: str, *, default_region: str = "DE") -> str:
    """The stored form of an identity value of this kind."""
    if kind not in IDENTITY_KINDS:
        raise IdentityError(f"identity kind {kind!r} is not one of {', '.join(IDENTITY_KINDS)}")
    value = (raw or "").strip()
    if not value:
        raise IdentityError(f"{kind} identity value is empty")
    if kind == "email":
        try:
            return normalize_email(value)
        except EmailAddressError as error:
            raise IdentityError(str(error)) from None
    if kind in ("phone", "whatsapp"):
        return normalize_phone(value, default_region)
    if kind == "telegram" or kind == "instagram":
        return value.lstrip("@").lower() if not value.isdigit() else value
    return value


def search_form(kind: str, value: str) -> str:
    """What a search matches against: digits for phones, the value otherwise."""
    if kind in ("phone", "whatsapp"):
        return re.sub(r"\D", "", value)
    return value.lower()


def name_from_identity(kind: str, value: str) -> str:
    """A display name when the sender gave none: 'anna.schmidt' for anna.schmidt@x.de."""
    if kind == "email":
        return value.split("@", 1)[0]
    return value
