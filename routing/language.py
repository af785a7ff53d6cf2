"""The language a customer wrote in, detected offline (lingua's n-gram models).

Only the languages the desk expects are considered (TRESEN_LANGUAGES, German and
English by default), which keeps detection fast and short messages right. Too
little text, or no clear winner, gives None rather than a guess.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from lingua import IsoCode639_1, LanguageDetectorBuilder

log = logging.getLogger(__name__)

MIN_LETTERS = 8
DETECT_CHARS = 160  # the opening says which language; more only costs time
MIN_CONFIDENCE = 0.5


@lru_cache(maxsize=8)
def _detector(languages: tuple[str, ...]):
    chosen = []
    for code in languages:
        try:
            chosen.append(IsoCode639_1.from_str(code))
        except ValueError:
            log.warning("language %r is not one lingua knows; left out", code)
    if len(chosen) < 2:
        log.warning("fewer than two known languages in %s: telling German and English", languages)
        chosen = [IsoCode639_1.DE, IsoCode639_1.EN]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*chosen).with_low_accuracy_mode().build()


def detect(text: str, languages: tuple[str, ...] = ("de", "en")) -> str | None:
    """The ISO 639-1 code of the text's language, or None when unsure."""
    text = text[:DETECT_CHARS]
    if len(text) < 64 and sum(character.isalpha() for character in text) < MIN_LETTERS:
        return None
    best = _detector(languages).compute_language_confidence_values(text)[0]
    if best.value < MIN_CONFIDENCE:
        return None
    return best.language.iso_code_639_1.name.lower()
