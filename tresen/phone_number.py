"""The one spelling of a phone number Tresen stores and compares (E.164)."""

from __future__ import annotations

import phonenumbers


class PhoneNumberError(ValueError):
    """Not a phone number; the message says why."""


def normalize_phone(raw: str, default_region: str = "DE") -> str:
    """E.164, e.g. '+4930123456'; a local number is read in the default region."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise PhoneNumberError(f"{raw!r} is not a phone number: {error}") from None
    # "Possible" rather than "valid": numbering plans change faster than libraries,
    # and a real customer's number must never be refused; fragments like "12" are.
    if not phonenumbers.is_possible_number(number) or len(str(number.national_number)) < 5:
        raise PhoneNumberError(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
