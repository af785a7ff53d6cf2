"""Text analysis for the search index: words, stop words, Snowball stems (German and English),
German compounds split against the index's own vocabulary, and the query language (phrases in
quotes, prefixes with a trailing *)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import Stemmer

WORD = re.compile(r"\w+", re.UNICODE)
_QUERY_PART = re.compile(r'"([^"]*)"|(\S+)')

STOP_WORDS = {
    "de": frozenset(
        """aber alle allem allen aller alles als also am an ander andere anderem anderen
        anderer anderes auch auf aus bei bin bis bist da damit dann das dass dasselbe dazu
        dein deine deinem deinen deiner dem den denn der des dessen deshalb die dies diese
        diesem diesen dieser dieses doch dort du durch ein eine einem einen einer eines er es
        etwas euch euer eure für gegen gewesen hab habe haben hat hatte hier hin hinter ich
        ihm ihn ihnen ihr ihre ihrem ihren ihrer im in indem ins ist ja jede jedem jeden jeder
        jedes jetzt kann kein keine keinem keinen keiner man manche mein meine meinem meinen
        meiner mich mir mit muss nach nicht nichts noch nun nur ob oder ohne sehr sein seine
        seinem seinen seiner sich sie sind so solche soll sondern sonst über um und uns unser
        unsere unter viel vom von vor wann war waren warum was weil welche welchem welchen
        welcher welches wenn wer werde werden wie wieder will wir wird wo wollen wurde würde
        zu zum zur""".split()
    ),
    "en": frozenset(
        """a about above after again against all am an and any are as at be because been
        before being below between both but by can could did do does doing down during each
        few for from further had has have having he her here hers him his how i if in into is
        it its itself just me more most my myself no nor not of off on once only or other our
        ours out over own same she should so some such than that the their theirs them then
        there these they this those through to too under until up very was we were what when
        where which while who whom why will with would you your yours""".split()
    ),
}
LINKING = ("s", "es", "n", "en", "e")  # Fugenelemente between the parts of a German compound
MIN_PART = 4
PREFIX_STEM = 7


@lru_cache(maxsize=4)
def stemmer(language: str):
    return Stemmer.Stemmer({"de": "german", "en": "english"}.get(language, "english"))


def words(text: str) -> list[str]:
    return WORD.findall(text.casefold())


def stem(word: str, language: str) -> str:
    return stemmer(language).stemWord(word)


def analyze(text: str, language: str) -> str:
    """The text as the index stores it: its stems, in order (stop words kept, for phrases)."""
    return " ".join(stemmer(language).stemWords(words(text)))


@dataclass
class Term:
    """One query word: its stems in each language looked at, and how it may match."""

    word: str
    stems: tuple[str, ...]
    prefix: bool = False
    # Parts of a German compound, each a stem the index knows (Rechnungsadresse: rechnung, adress)
    parts: tuple[str, ...] = ()
    corrected: str | None = None  # a known stem close to a mistyped one


@dataclass
class Query:
    terms: list[Term] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)  # each a list of stems
    languages: tuple[str, ...] = ("de", "en")

    @property
    def empty(self) -> bool:
        return not self.terms and not self.phrases


def parse_query(text: str, languages: tuple[str, ...]) -> Query:
    """Words become terms (stop words dropped), "quoted words" phrases, word* a prefix; so
    does a long word, and the last one when the text ends inside it (still being typed)."""
    query = Query(languages=languages)
    text = text[:1000]
    typing = bool(text) and (text[-1].isalnum() or text[-1] == "*")
    for quoted, plain in _QUERY_PART.findall(text):
        if quoted:
            tokens = words(quoted)
            if len(tokens) > 1:
                query.phrases.append([stem(w, languages[0]) for w in tokens])
                continue
            plain = quoted
        prefix = plain.endswith("*")
        for word in words(plain):
            if any(word in STOP_WORDS[lang] for lang in languages) and not prefix:
                continue
            stems = tuple(dict.fromkeys(stem(word, lang) for lang in languages))
            # Long stems match as prefixes too: the heads of compounds (rechnung: rechnungsadresse)
            long = min(len(s) for s in stems) >= PREFIX_STEM
            query.terms.append(Term(word, stems, prefix=prefix or long))
    if typing and query.terms and len(query.terms[-1].word) >= 3:
        query.terms[-1].prefix = True  # the word still being typed
    return query


def split_compound(word: str, known) -> tuple[str, ...]:
    """Two parts of a German compound whose stems the index knows, with a linking element
    allowed between them (Rechnungsadresse: rechnung + adresse); () when there is none."""
    best: tuple[float, tuple[str, ...]] | None = None
    for cut in range(MIN_PART, len(word) - MIN_PART + 1):
        head, tail = word[:cut], word[cut:]
        tail_stem = stem(tail, "de")
        if tail_stem not in known:
            continue
        for candidate in (head, *(head[: -len(x)] for x in LINKING if head.endswith(x))):
            if len(candidate) < MIN_PART - 1:
                continue
            head_stem = stem(candidate, "de")
            if head_stem in known:
                score = min(known[head_stem], known[tail_stem])
                if best is None or score > best[0]:
                    best = (score, (head_stem, tail_stem))
    return best[1] if best else ()
