"""What a customer's words mean to the bot before any search: a request for a person, anger,
yes or no to "Did this answer your question?", a greeting or thanks alone (German, English)."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[\w']+", re.UNICODE)

# Anywhere in a message: asking for a person in so many words.
_PERSON_PHRASES = re.compile(
    r"\b("
    r"(real|live|actual) (person|human|agent|people)|human being|"
    r"(speak|talk|chat) (to|with) (a |an |some |your )?(real |live )?"
    r"(one|someone|somebody|person|human|agent|representative|operator|employee|staff|people"
    r"|support|customer service|manager)|"
    r"(connect|transfer|put) me (through )?(to|with)|"
    r"echte[nrm]? (person|mensch|menschen|mitarbeiter\w*)|"
    r"(jemanden|jemandem|einen menschen|eine person|einem menschen|einer person) "
    r"(sprechen|reden|erreichen)|"
    r"(mit|an) (einem |einer |einen |ihrem |ihrer )?(echten |richtigen )?"
    r"(mitarbeiter|mitarbeiterin|menschen|person|berater|beraterin|kundenberater\w*"
    r"|sachbearbeiter\w*|support) (sprechen|reden|verbinden|weiterleiten|wenden)|"
    r"(support|hotline|kundenservice|kundendienst) anrufen|"
    r"(call|phone) (me|support|your support|customer service)|call ?back|"
    r"(mich|uns) (bitte |mal |doch )*(zurück|an)rufen|jemand (mich |uns )?(zurück|an)rufen|"
    r"ruf(t|en sie)? (mich|uns) (bitte |mal |doch )*(zurück|an)|"
    r"rückrufbitte|rückruf (bitte|erbeten)|"
    r"(um|bitte|gern|gerne|wünsche|möchte|hätte)( gern| gerne| um)? (einen |den )?rückruf|"
    r"verbinden sie mich|weiterleiten an|"
    r"(is there|are there|i need|i want|i would like|i'd like|can i get|can i have|get me) "
    r"(a |an |some )?(real |live )?(person|human|agent|representative|someone|somebody) "
    r"(who|to|that|please)|"
    r"gibt es (hier )?(einen |eine )?(echten |echte )?(mitarbeiter\w*|menschen|person|berater\w*)"
    r")\b"
)
# Words that ask for a person when the message is short or asks for something with them;
# not when they are part of what the question is about ("my agent contract").
_PERSON_WORDS = {
    "agent",
    "agents",
    "human",
    "humans",
    "person",
    "representative",
    "operator",
    "mitarbeiter",
    "mitarbeiterin",
    "mensch",
    "menschen",
    "berater",
    "beraterin",
    "kundenberater",
    "sachbearbeiter",
}
_REQUEST_WORDS = {
    "want",
    "need",
    "get",
    "give",
    "please",
    "pls",
    "now",
    "speak",
    "talk",
    "chat",
    "connect",
    "transfer",
    "bitte",
    "will",
    "möchte",
    "moechte",
    "brauche",
    "sofort",
    "jetzt",
    "sprechen",
    "reden",
    "verbinden",
    "gern",
    "gerne",
    "hätte",
}
_FILLER = {"a", "an", "the", "to", "with", "i", "me", "ein", "eine", "einen", "einem", "einer"}
_POSSESSIVE = {
    "my",
    "our",
    "your",
    "his",
    "her",
    "their",
    "mein",
    "meine",
    "meinen",
    "meinem",
    "meiner",
    "unser",
    "unsere",
    "unseren",
    "ihr",
    "ihre",
    "ihren",
    "dein",
    "deine",
}

_ANGRY_WORDS = {
    # English
    "fuck",
    "fucking",
    "fucked",
    "shit",
    "shitty",
    "bullshit",
    "crap",
    "crappy",
    "damn",
    "wtf",
    "idiot",
    "idiots",
    "stupid",
    "moron",
    "morons",
    "useless",
    "pathetic",
    "ridiculous",
    "unacceptable",
    "scam",
    "scammers",
    "rubbish",
    "garbage",
    "incompetent",
    "outrageous",
    # German
    "scheiße",
    "scheisse",
    "scheiß",
    "scheiss",
    "mist",
    "verdammt",
    "idioten",
    "blöd",
    "blöde",
    "bescheuert",
    "dumm",
    "dämlich",
    "unverschämt",
    "unverschämtheit",
    "frechheit",
    "sauerei",
    "saftladen",
    "drecksladen",
    "abzocke",
    "abzocker",
    "betrüger",
    "nutzlos",
    "inkompetent",
    "inkompetente",
    "unfähig",
    "unfähige",
    "unfähigen",
    "lächerlich",
    "katastrophal",
    "zumutung",
    "verarschen",
    "verarscht",
    "wütend",
    "verärgert",
    "stinksauer",
    "angepisst",
    "angry",
    "furious",
    "livid",
    "pissed",
}
_ANGRY_PHRASES = re.compile(
    r"\b(this is (a )?(joke|ridiculous|insane|unbelievable)|are you kidding|fed up|"
    r"sick (and tired )?of|worst (service|company|support)|worst( \w+){0,2} ever|"
    r"(nobody|no one|no-one) (answers|responds|replies|cares|helps)|"
    r"(niemand|keiner) (antwortet|reagiert|hilft|meldet sich)|"
    r"(warte|warten|waiting|waited) (schon |jetzt |now |already )?(seit|for) "
    r"(wochen|monaten|weeks|months)|"
    r"das ist (doch )?(ein witz|unglaublich|lächerlich)|die nase voll|"
    r"reicht (mir )?jetzt|so eine? (frechheit|sauerei)|"
    r"(ich bin|bin|wir sind|sind) (echt |total |wirklich |sehr |so |langsam )?(sauer|genervt)|"
    r"(dauert|dauern) (ja )?ewig|takes forever|taking forever|so annoyed|really annoyed)\b"
)

YES = {"/yes"}
NO = {"/no"}
_YES_WORDS = {
    "yes",
    "yeah",
    "yep",
    "yup",
    "y",
    "sure",
    "correct",
    "exactly",
    "perfect",
    "great",
    "ok",
    "okay",
    "ja",
    "jawohl",
    "jap",
    "jep",
    "jo",
    "genau",
    "stimmt",
    "richtig",
    "perfekt",
    "super",
    "prima",
    "klar",
}
_YES_PHRASES = {
    "it did",
    "that helped",
    "it helped",
    "that did it",
    "that works",
    "it works",
    "hat geholfen",
    "das hat geholfen",
    "hat funktioniert",
    "das wars",
    "das war's",
    "passt",
}
_NO_WORDS = {"no", "nope", "nah", "n", "nein", "nee", "nö", "ne", "falsch", "wrong"}
_NO_PHRASES = {
    "not really",
    "it didn't",
    "it did not",
    "didn't help",
    "did not help",
    "that didn't help",
    "doesn't help",
    "not helpful",
    "that's not it",
    "not what i asked",
    "hat nicht geholfen",
    "leider nicht",
    "nicht wirklich",
    "eher nicht",
    "das ist es nicht",
    "hilft nicht",
    "hilft mir nicht",
    "none of them",
    "none of these",
    "none of those",
    "neither",
    "neither of them",
    "keiner davon",
    "keines davon",
    "keins davon",
    "keine davon",
    "nichts davon",
    "weder noch",
}
# A short reply that says the answer did not help, in a sentence of its own (not a question).
_NO_SENTENCE = re.compile(
    r"\b((did|does|do|has|have) ?(n't|not)|didn|doesn|dont|didnt|doesnt) "
    r"(really |quite |actually )?(help|answer|work|solve|fix)|"
    r"\bnot (what i (asked|meant|wanted|need|needed|was looking for)|helpful|useful|"
    r"the (right )?answer|right)\b|"
    r"\b(wrong|useless) (answer|article|reply)\b|"
    r"\b(hat|hilft|half|beantwortet|passt|stimmt|trifft|klappt|funktioniert)\b.*\bnicht\b|"
    r"\bnicht (das|was) ich (gesucht|gemeint|gefragt|wollte|brauche)|"
    r"\bnichts davon\b|\bfalsche antwort\b|\bbringt (mir )?nichts\b"
)
# Words that may follow a yes or a no without making it a new question.
_AFTERWORDS = {
    "thanks",
    "thank",
    "you",
    "very",
    "much",
    "it",
    "did",
    "that",
    "helped",
    "danke",
    "vielen",
    "dank",
    "das",
    "hat",
    "geholfen",
    "sehr",
    "sorry",
    "leider",
    "not",
    "nicht",
    "really",
    "wirklich",
    "is",
    "was",
    "it's",
    "that's",
    "this",
    "ist",
    "es",
    "war",
    "the",
    "answer",
    "die",
    "antwort",
    "didn't",
    "doesn't",
    "help",
    "helps",
    "work",
    "works",
    "hilft",
    "funktioniert",
    "mir",
    "me",
    "us",
    "uns",
    "at",
    "all",
    "gar",
    "überhaupt",
    "weiter",
    "further",
    "any",
    "so",
    "auch",
    "i",
    "ich",
    "what",
    "looking",
    "for",
    "meant",
    "gemeint",
    "gesucht",
    "habe",
    "wanted",
    "wollte",
    "of",
    "them",
    "these",
    "davon",
    "alles",
    "klar",
    "mehr",
    "nothing",
    "else",
    "sonst",
    "nichts",
}
_GREETINGS = {
    "hi",
    "hello",
    "hey",
    "hallo",
    "moin",
    "servus",
    "hallöchen",
    "good",
    "morning",
    "afternoon",
    "evening",
    "guten",
    "tag",
    "morgen",
    "abend",
    "grüß",
    "gott",
    "grüezi",
    "there",
    "everyone",
    "zusammen",
    "liebes",
    "team",
}
_GREETING_HEADS = {"hi", "hello", "hey", "hallo", "moin", "servus", "hallöchen", "guten", "good"}
_THANKS = {
    "thanks",
    "thank",
    "thx",
    "ty",
    "cheers",
    "danke",
    "dankeschön",
    "vielen",
    "dank",
    "schön",
    "you",
    "very",
    "much",
    "a",
    "lot",
    "sehr",
    "herzlichen",
    "besten",
    "lieben",
    "so",
    "for",
    "the",
    "your",
    "help",
    "all",
    "that's",
    "thats",
    "that",
    "is",
    "was",
    "it",
    "für",
    "die",
    "ihre",
    "deine",
    "hilfe",
    "alles",
    "das",
    "war's",
    "wars",
    "war",
    "ok",
    "okay",
    "great",
    "super",
}
_THANKS_HEADS = {"thanks", "thank", "thx", "ty", "cheers", "danke", "dankeschön", "dank"}
_LANGUAGE_HINTS = {
    "de": {"ich", "ist", "nicht", "und", "wie", "kann", "mein", "meine", "der", "die", "das",
           "ein", "eine", "mit", "auf", "für", "wo", "bitte", "danke", "hallo", "warum", "was",
           "wann", "sie", "es", "zu", "mich", "mir", "habe", "wird", "gibt"},
    "en": {"i", "is", "not", "and", "how", "can", "my", "the", "a", "an", "with", "on", "for",
           "where", "please", "thanks", "hello", "why", "what", "when", "you", "it", "to", "me",
           "have", "will", "do", "does", "there"},
}  # fmt: skip


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold().replace("’", "'"))


def _plain(text: str) -> str:
    return " ".join(tokens(text))


def wants_person(text: str) -> bool:
    """The customer asks for a person ("agent", "Mitarbeiter bitte", "speak to someone")."""
    plain = _plain(text)
    if _PERSON_PHRASES.search(plain):
        return True
    found = tokens(text)
    requested = any(t in _REQUEST_WORDS for t in found)
    for at, token in enumerate(found):
        if token not in _PERSON_WORDS:
            continue
        before = found[at - 1] if at else ""
        after = found[at + 1] if at + 1 < len(found) else ""
        if before in _POSSESSIVE:
            continue  # "my agent", "meine Mitarbeiter": what the question is about
        if after and after not in _REQUEST_WORDS and after not in _FILLER:
            continue  # "agent contract", "human resources"
        content = [t for t in found if t not in _FILLER]
        if len(content) <= 3 or requested:
            return True
    return False


def angry(text: str) -> bool:
    """Insults, profanity, "!!!" or shouting in capitals (a glad "Great, thanks!!!" is none)."""
    if ("!!!" in text or re.search(r"[!?]{4,}", text)) and not (small_talk(text) or is_yes(text)):
        return True
    found = tokens(text)
    if any(t in _ANGRY_WORDS for t in found):
        return True
    if _ANGRY_PHRASES.search(" ".join(found)):
        return True
    shouted = [w for w in re.findall(r"[^\W\d_]{3,}", text) if w.isupper()]
    letters = [c for c in text if c.isalpha()]
    return len(shouted) >= 3 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def _short_reply(text: str, heads: set, phrases: set) -> bool:
    """A yes (or no) alone, or with thanks or regrets: not a new question."""
    if "?" in text:
        return False
    words = tokens(text)
    if not words or len(words) > 10:
        return False
    plain = " ".join(words)
    for phrase in phrases:
        if plain == phrase or plain.startswith(phrase + " "):
            rest = words[len(phrase.split()) :]
            return all(w in _AFTERWORDS or w in heads for w in rest)
    return words[0] in heads and all(w in _AFTERWORDS or w in heads for w in words[1:])


def is_yes(text: str) -> bool:
    """Yes to "Did this answer your question?": "/yes", "yes", "ja, danke", "hat geholfen",
    a thumbs up."""
    if text.strip().casefold() in YES or text.strip().startswith("👍"):
        return True
    if not_helped(text):  # "passt nicht", "hat mir nicht geholfen"
        return False
    return _short_reply(text, _YES_WORDS, _YES_PHRASES)


def is_no(text: str) -> bool:
    """No to it: "/no", "no", "nein", "leider nicht", "didn't help", a thumbs down."""
    if text.strip().casefold() in NO or text.strip().startswith("👎"):
        return True
    return _short_reply(text, _NO_WORDS, _NO_PHRASES)


def not_helped(text: str) -> bool:
    """A no to "Did this answer your question?" or to the options offered, also in a sentence
    ("That did not help me at all", "Das beantwortet meine Frage nicht", "nichts davon
    passt"); only read as such right after the bot asked (alone, "Das Paket hat mich nicht
    erreicht" is a question)."""
    if is_no(text):
        return True
    found = tokens(text)
    return "?" not in text and 0 < len(found) <= 12 and bool(_NO_SENTENCE.search(" ".join(found)))


def small_talk(text: str) -> str | None:
    """ "greeting" or "thanks" when the message is only that; None when it asks something."""
    found = tokens(text)
    if not found or "?" in text and len(found) > 3:
        return None
    if found[0] in _GREETING_HEADS and all(t in _GREETINGS for t in found):
        return "greeting"
    if any(t in _THANKS_HEADS for t in found) and all(t in _THANKS for t in found):
        return "thanks"
    return None


def clear_language(text: str) -> str | None:
    """German or English when the text says so plainly (two of its commonest words more
    than the other's): enough to answer in it rather than in the page's language."""
    found = tokens(text)
    counts = {lang: sum(t in hints for t in found) for lang, hints in _LANGUAGE_HINTS.items()}
    if counts["de"] >= counts["en"] + 2:
        return "de"
    if counts["en"] >= counts["de"] + 2:
        return "en"
    return None


def guess_language(text: str) -> str | None:
    """German or English by their commonest words; None when the text does not say."""
    found = tokens(text)
    counts = {lang: sum(t in hints for t in found) for lang, hints in _LANGUAGE_HINTS.items()}
    if any(c in "äöüß" for c in text.casefold()):
        counts["de"] += 1
    if counts["de"] == counts["en"]:
        return None
    return "de" if counts["de"] > counts["en"] else "en"
