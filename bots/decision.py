"""The FAQ bot's turn: one customer message → answer, clarify, handoff or resolved.

The chat's bot (bots/handler.py), `POST /api/v1/bot/reply` and the Rasa action server all
call `decide`. It answers from public articles only when the calibrated confidence
(bots/confidence.py) reaches the threshold: a wrong answer given with confidence is worse than
a handoff.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from rapidfuzz import fuzz
from sqlalchemy import select

from bots import confidence, words
from knowledge_base.analysis import STOP_WORDS, stemmer
from knowledge_base.analysis import words as word_list
from knowledge_base.gaps import record_gap, report_gap
from knowledge_base.models import Article
from knowledge_base.search import Hit, Signals, search
from tresen.i18n import gettext as _
from tresen.i18n import using

LANGUAGES = ("de", "en")
CANDIDATES = 3  # the hits a turn looks at: the answer, and up to three options to clarify
ANSWER_CHARS = 400
OPTION_SHARE = 0.4  # an option to clarify scores at least this share of the top hit's
MAX_TEXT = 2000
SHORT = 6  # words: a message this short may be in the other language than the page's
_ARTICLE_PAYLOAD = re.compile(r"^/article:(\d{1,12})$")
# A reply to "Which of these do you mean?" by place: "the second one", "die erste".
_ORDINALS = {"first": 0, "second": 1, "third": 2, "erste": 0, "ersten": 0, "erstes": 0,
             "zweite": 1, "zweiten": 1, "zweites": 1, "dritte": 2, "dritten": 2, "drittes": 2,
             "1st": 0, "2nd": 1, "3rd": 2}  # fmt: skip
_CHOICE_FILLER = {"the", "one", "die", "der", "das", "den", "please", "bitte", "i", "mean",
                  "ich", "meine", "option", "nummer", "number"}  # fmt: skip
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"<[^>]+>|[#>|]+|^\s*(?:[-+*]|\d+\.)\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(?<!\w)[*_`~]+|[*_`~]+(?!\w)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*(?:[-+*]|\d+\.)\s)")


@dataclass(frozen=True)
class ArticleRef:
    id: int
    title: str
    url: str  # absolute: settings.base_url + "/help/<slug>"


@dataclass(frozen=True)
class Button:
    title: str
    payload: str  # "/yes", "/no", "/article:<id>" (FAQ bot); Rasa's own payloads (Rasa)


@dataclass(frozen=True)
class Decision:
    action: str  # "answer" | "clarify" | "handoff" | "resolved"
    text: str  # the whole message the customer is sent, in the conversation's language
    answer: str = ""  # answer: the short answer alone (plain text, <= ~400 chars)
    article: ArticleRef | None = None
    confidence: float = 0.0  # 0..1, calibrated: the chance the article is the right one
    options: tuple[ArticleRef, ...] = ()  # clarify: up to three
    buttons: tuple[Button, ...] = ()  # answer: Yes/No; clarify: the options' titles
    # handoff: asked_for_person | angry | said_no | second_miss | low_confidence
    # | unsupported_language | no_answer
    reason: str | None = None
    language: str = "en"  # the language the text is in


@dataclass
class BotState:
    """What the bot remembers of one conversation; JSON-able."""

    awaiting: str | None = None  # "feedback" after an answer, "choice" after clarify
    article_id: int | None = None
    options: list[int] = field(default_factory=list)
    misses: int = 0
    answers: int = 0
    question: str = ""  # the last question asked: reported as a gap when the answer was "no"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> BotState:
        data = data or {}
        options = data.get("options") or []
        awaiting, article_id = data.get("awaiting"), data.get("article_id")
        return cls(
            awaiting=awaiting if awaiting in ("feedback", "choice") else None,
            article_id=article_id if isinstance(article_id, int) else None,
            options=[o for o in options if isinstance(o, int)][:CANDIDATES],
            misses=int(data.get("misses") or 0),
            answers=int(data.get("answers") or 0),
            question=str(data.get("question") or "")[:MAX_TEXT],
        )


@dataclass(frozen=True)
class Gap:
    """A question the bot did not answer, for the knowledge base's gaps report."""

    question: str
    language: str | None
    hits: list


async def record_gaps(tx, gaps: list[Gap]) -> None:
    for gap in gaps:
        await record_gap(tx, gap.question, gap.language, "bot", gap.hits)


@dataclass(frozen=True)
class BotConfig:
    threshold: float | None = None  # None: the calibrated default (bots/confidence.py)
    languages: tuple[str, ...] = ("de", "en")


@dataclass
class Ranking:
    """One question's search as the bot sees it."""

    hits: list
    signals: Signals
    assessment: confidence.Assessment


async def rank(runtime, text: str, language: str | None) -> Ranking:
    """The few best public articles for a question, and the confidence in them."""
    signals = Signals()
    hits = await search(
        runtime,
        text,
        language=language,
        audience="bot",
        limit=CANDIDATES,
        signals=signals,
        snippets=False,
    )
    return Ranking(hits, signals, confidence.assess(hits, signals))


def short_answer(body: str, question: str, language: str) -> str:
    """The article's passage (one or more sentences in a row, ~400 characters at most) that
    holds most of the question's words, as plain text: the whole article when it is that
    short, else its opening when nothing matches (a paraphrase, typos)."""
    plain = _EMPHASIS.sub("", _MARKUP.sub(" ", _LINK.sub(r"\1", body or "")))
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(plain)]
    sentences = [s for s in sentences if s]
    if not sentences:
        return ""
    whole = " ".join(sentences)
    if len(whole) <= ANSWER_CHARS:
        return whole
    stem = stemmer(language)
    stop = STOP_WORDS.get(language, frozenset())
    wanted = {w for w in stem.stemWords([w for w in word_list(question) if w not in stop])}
    held = [set(stem.stemWords(word_list(s))) for s in sentences]
    for word in list(wanted):  # a typo ("warrenty") still finds its word ("warranty")
        if len(word) >= 5 and not any(word in words_ for words_ in held):
            near = {w for words_ in held for w in words_ if fuzz.ratio(word, w) >= 80}
            wanted |= near
    best, best_key = (0, 0), None
    for start in range(len(sentences)):
        end, length, found = start, 0, set()
        while end < len(sentences) and length + len(sentences[end]) <= ANSWER_CHARS:
            length += len(sentences[end]) + 1
            found |= wanted & held[end]
            end += 1
        key = (len(found), bool(wanted & held[start]), -start)  # best opening a match
        if end > start and (best_key is None or key > best_key):
            best, best_key = (start, end), key
    start, end = best
    if end <= start:  # a first sentence longer than the whole answer
        return sentences[0][:ANSWER_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return " ".join(sentences[start:end])


def _sure(ranking: Ranking, config: BotConfig) -> bool:
    """The ranking's top article would be answered (its threshold reached)."""
    mode = ranking.assessment.mode
    bar = confidence.THRESHOLD[mode] if config.threshold is None else config.threshold
    return bool(ranking.hits) and ranking.assessment.answer >= bar


def _options(hits: list) -> list:
    """The hits worth offering as "Which of these do you mean?": in the top one's language,
    and scored at least OPTION_SHARE of it (not an unrelated third)."""
    if not hits:
        return []
    top = hits[0]
    return [
        h
        for h in hits[:CANDIDATES]
        if h.language == top.language and h.score >= OPTION_SHARE * top.score
    ]


def _ref(runtime, hit) -> ArticleRef:
    return ArticleRef(hit.article_id, hit.title, runtime.settings.base_url.rstrip("/") + hit.url)


def _answer(runtime, hit, question: str, language: str, probability: float) -> Decision:
    article = _ref(runtime, hit)
    answer = short_answer(hit.body, question, hit.language)
    with using(language):
        text = "\n\n".join(
            part
            for part in (
                answer,
                f"{article.title}: {article.url}",
                _("Did this answer your question?"),
            )
            if part
        )
        buttons = (Button(_("Yes"), "/yes"), Button(_("No"), "/no"))
    return Decision(
        "answer",
        text,
        answer=answer,
        article=article,
        confidence=round(probability, 4),
        buttons=buttons,
        language=language,
    )


def _spoken(languages) -> str:
    """The languages the bot answers in, by name in the current language."""
    names = {"de": _("German"), "en": _("English")}
    known = [names[code] for code in languages if code in names] or list(names.values())
    if len(known) == 1:
        return known[0]
    return _("%(one)s and %(other)s", one=", ".join(known[:-1]), other=known[-1])


def _handoff(reason: str, language: str, probability: float = 0.0, languages=LANGUAGES) -> Decision:
    with using(language):
        if reason == "asked_for_person":
            text = _("Of course. I am passing you to a person from our team.")
        elif reason == "angry":
            text = _("I am sorry. A person from our team will take over from here.")
        elif reason == "said_no":
            text = _("Sorry, that did not help. I am passing your question to our team.")
        elif reason == "unsupported_language":
            text = _(
                "Sorry, I can only help in %(languages)s. I am passing you to our team.",
                languages=_spoken(languages),
            )
        else:
            text = _("I do not have a good answer to that. I am passing your question to our team.")
    return Decision(
        "handoff", text, confidence=round(probability, 4), reason=reason, language=language
    )


def _small_talk(kind: str, language: str) -> Decision:
    with using(language):
        if kind == "greeting":
            text = _("Hello! What can I help you with?")
        else:
            text = _("You are welcome! Is there anything else I can help with?")
    return Decision("answer", text, language=language)


async def _article_hit(runtime, article_id: int):
    """An article the customer picked, as a search hit (public ones only)."""
    async with runtime.read() as session:
        article = await session.scalar(
            select(Article).where(Article.id == article_id, Article.visibility == "public")
        )
    if article is None:
        return None
    return Hit(
        article.id,
        article.title,
        article.slug,
        article.language,
        article.visibility,
        1.0,
        body=article.body,
    )


async def _offer_again(runtime, state: BotState, language: str) -> Decision | None:
    """The options of "Which of these do you mean?" once more (those still public)."""
    options = []
    for article_id in state.options:
        hit = await _article_hit(runtime, article_id)
        if hit is not None:
            options.append(_ref(runtime, hit))
    if len(options) < 2:
        return None
    with using(language):
        asked = _("Please pick one of them, or tell me more about your question.")
    return _clarify(asked, tuple(options), language)


def _clarify(asked: str, options: tuple, language: str, probability: float = 0.0) -> Decision:
    """The question, the options numbered below it, and a button for each."""
    lines = [asked, *(f"{n}. {o.title}" for n, o in enumerate(options, 1))]
    return Decision(
        "clarify",
        "\n".join(lines),
        confidence=round(probability, 4),
        options=options,
        buttons=tuple(Button(o.title, f"/article:{o.id}") for o in options),
        language=language,
    )


async def _choice(runtime, text: str, state: BotState) -> int | None:
    """The article a reply to "Which of these do you mean?" picks: its payload, number or title."""
    stripped = text.strip()
    found = _ARTICLE_PAYLOAD.match(stripped)
    if found:
        return int(found[1])
    if stripped.rstrip(".)") in ("1", "2", "3"):
        at = int(stripped.rstrip(".)")) - 1
        return state.options[at] if at < len(state.options) else None
    if state.options:
        async with runtime.read() as session:
            titles = dict(
                (
                    await session.execute(
                        select(Article.id, Article.title).where(Article.id.in_(state.options))
                    )
                ).all()
            )
        wanted = words.tokens(stripped)
        for article_id in state.options:
            if words.tokens(titles.get(article_id, "")) == wanted:
                return article_id
        at = _ORDINALS.get(" ".join(w for w in wanted if w not in _CHOICE_FILLER))
        if at is not None:
            return state.options[at] if at < len(state.options) else None
        # Part of one title ("delivery address"): the only option holding all its words.
        said = {w for w in wanted if w not in _CHOICE_FILLER}
        holding = [
            article_id
            for article_id in state.options
            if said and said <= set(words.tokens(titles.get(article_id, "")))
        ]
        if len(holding) == 1:
            return holding[0]
    return None


async def decide(
    runtime,
    text: str,
    *,
    lang: str | None,
    state: BotState | None = None,
    config: BotConfig = BotConfig(),
    report_gaps: bool = True,
    gaps: list | None = None,
    seen: list | None = None,
) -> tuple[Decision, BotState]:
    """One customer message → the bot's next move and its new state. The questions it could
    not answer go to the knowledge base's gaps: written here, or (`gaps` given) appended to
    it as `Gap`s for the caller to write with its own (`record_gaps`). `seen` given: the
    search's `Ranking` is appended to it (when the turn searched)."""
    state = BotState.from_dict(state.as_dict() if state else None)
    text = " ".join((text or "").split())[:MAX_TEXT]
    # The page's (or the caller's) language, unless the text plainly speaks the other one.
    plain = words.clear_language(text)
    language = plain or (lang if lang in LANGUAGES else words.guess_language(text))
    speak = language or (config.languages[0] if config.languages else "en")

    async def gap(question: str, hits=()) -> None:
        if report_gaps and question:
            if gaps is not None:
                gaps.append(Gap(question, language, list(hits)))
            else:
                await report_gap(runtime, question, language, "bot", list(hits))

    def handoff(reason: str, probability: float = 0.0) -> tuple[Decision, BotState]:
        state.awaiting, state.options = None, []
        return _handoff(reason, speak, probability, config.languages), state

    if words.wants_person(text):
        return handoff("asked_for_person")
    if words.angry(text):
        return handoff("angry")
    if state.awaiting == "feedback":
        if words.is_yes(text) or words.small_talk(text) == "thanks":
            state.awaiting = None
            with using(speak):
                message = _("Glad I could help!")
            return Decision(
                "resolved", message, article=None, confidence=1.0, language=speak
            ), state
        if words.not_helped(text):
            await gap(state.question)
            return handoff("said_no")
    if state.awaiting == "choice" or _ARTICLE_PAYLOAD.match(text):
        chosen = await _choice(runtime, text, state)
        hit = await _article_hit(runtime, chosen) if chosen is not None else None
        if hit is not None:
            state.awaiting, state.options = "feedback", []
            state.article_id, state.answers = hit.article_id, state.answers + 1
            return _answer(runtime, hit, state.question, hit.language, 1.0), state
        if _ARTICLE_PAYLOAD.match(text):  # a button of an article since taken down
            return handoff("no_answer")
        if state.awaiting == "choice" and words.not_helped(text):  # "none of them"
            await gap(state.question)
            return handoff("said_no")
        if state.awaiting == "choice" and (words.is_yes(text) or words.small_talk(text)):
            # "yes" to "Which of these do you mean?": which one is still the question.
            again = await _offer_again(runtime, state, speak)
            if again is not None:
                return again, state
    state.awaiting, state.options = None, []
    kind = words.small_talk(text)
    # "👍", "?", "2" with nothing offered: nothing to search for, no gap.
    wordless = not any(character.isalpha() for character in text)
    if kind or wordless or words.is_yes(text) or words.is_no(text):
        # A stale Yes/No button is no question either: asked what the customer needs (in a
        # language the bot speaks: its greeting invites questions in it).
        if speak not in config.languages and config.languages:
            speak = config.languages[0]
        return _small_talk(kind or "greeting", speak), state
    if language is not None and language not in config.languages:
        await gap(text)
        return handoff("unsupported_language")
    searched = language or (config.languages[0] if len(config.languages) == 1 else None)
    ranking = await rank(runtime, text, searched)
    if searched and not plain and len(words.tokens(text)) <= SHORT and not _sure(ranking, config):
        # Too short to tell its language ("passwort vergessen" on the English page): the
        # other language's articles, when they are sure (the query's vector is reused).
        for other in config.languages:
            if other != searched:
                there = await rank(runtime, text, other)
                if _sure(there, config):
                    ranking, language, speak = there, other, other
                    break
    if seen is not None:
        seen.append(ranking)
    hits, assessment = ranking.hits, ranking.assessment
    if hits and hits[0].language not in config.languages:
        hits = []  # the best article is in a language this bot does not answer in
    state.question = text
    if not hits:
        state.misses += 1
        await gap(text)
        return handoff("second_miss" if state.misses >= 2 else "no_answer")
    bar = confidence.THRESHOLD[assessment.mode] if config.threshold is None else config.threshold
    options = _options(hits)
    sure = assessment.answer >= bar
    # Sure that one of two near neighbours is right, not which: asked, and no miss.
    torn = sure and len(options) >= 2 and confidence.close_call(assessment)
    if sure and not torn:
        top = hits[0]
        state.awaiting, state.article_id = "feedback", top.article_id
        state.answers += 1
        return _answer(runtime, top, text, language or top.language, assessment.answer), state
    if not torn:
        state.misses += 1
    if state.misses >= 2:
        await gap(text, hits)
        return handoff("second_miss", assessment.answer)
    if len(options) >= 2 and (
        torn or assessment.options >= confidence.OPTIONS_THRESHOLD[assessment.mode]
    ):
        options = tuple(_ref(runtime, h) for h in options)
        state.awaiting, state.options = "choice", [o.id for o in options]
        speak = language or hits[0].language
        with using(speak):
            asked = _("Which of these do you mean?")
        return _clarify(asked, options, speak, assessment.answer), state
    await gap(text, hits)
    return handoff("low_confidence", assessment.answer)
