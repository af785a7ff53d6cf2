"""Search and suggestions: full text (FTS5 / PostgreSQL), German compounds and typos handled
against the index's vocabulary, an optional sentence-embedding ranking, and what agents and
readers said of the articles.

Who asks decides what may be found: customers and bots see public articles only, agents
internal ones too, editors also drafts.
"""

from __future__ import annotations

import asyncio
import bisect
import html
import math
import re
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import TextClause, bindparam, func, select, text

from knowledge_base import gaps, semantic
from knowledge_base.analysis import (
    MIN_PART,
    WORD,
    Query,
    parse_query,
    split_compound,
    stemmer,
    words,
)
from knowledge_base.feedback import standings
from knowledge_base.index import dialect
from knowledge_base.models import Article, ArticleEmbedding, ArticleFeedback

AUDIENCES = {
    "customer": ("public",),
    "bot": ("public",),
    "agent": ("internal", "public"),
    "editor": ("draft", "internal", "public"),
}
CANDIDATES = 50
MAX_TERMS = 12  # a long text is searched by its most telling (rarest) words
COMMON = 0.25  # words in more of the articles than this say little (unless all are such)
SCOPE_WORDS = {f"vis{v}" for v in ("draft", "internal", "public")} | {"langde", "langen"}
LEXICAL_WEIGHT = 0.15  # with embeddings: the share of the lexical score in the ranking
# A cosine (multilingual-e5) below LOW says nothing, above HIGH is a sure match.
SEMANTIC_LOW, SEMANTIC_HIGH = 0.80, 0.90
GOOD_SCORE = 0.35  # a search whose best result scores less is reported as a gap
FEEDBACK_WEIGHT = 0.5  # a standing of ±1 scales an article's score by 1 ± this
SNIPPET_CHARS = 220
TOKENS_KEPT = 256  # articles whose stems a process keeps for the hits' coverage
_MARKUP = re.compile(r"[#*_>`|~\[\]]+|\]\([^)]*\)|^\s*[-+]\s+", re.MULTILINE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass
class Hit:
    article_id: int
    title: str
    slug: str
    language: str
    visibility: str
    score: float
    snippet: str = ""
    body: str = ""  # the article's Markdown, for inserting it into a reply
    # What the ranking saw (the bot's confidence is made of these): the share of the query's
    # words the article holds, its cosine (None: not ranked semantically), and its lexical
    # score relative to the best lexical find (0 when not found lexically).
    coverage: float = 0.0
    rare_coverage: float = 0.0  # the same, each word weighted by how rare it is in the index
    title_coverage: float = 0.0  # the share of the query's words in the title alone
    cosine: float | None = None
    lexical: float = 0.0

    @property
    def url(self) -> str:
        """Public articles' address in the help centre; others' in the console."""
        return f"/help/{self.slug}" if self.visibility == "public" else f"/kb/{self.article_id}"

    def as_json(self) -> dict:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "score": round(self.score, 4),
            "url": self.url,
            "snippet": self.snippet,
            "language": self.language,
            "visibility": self.visibility,
        }


@dataclass
class _State:
    """One process's copy of what the index knows: its vocabulary and the article vectors."""

    key: tuple
    vocabulary: dict[str, int]
    sorted_terms: list[str]
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    languages: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    visibilities: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    # Every article's title vector, then every article's text vector: one product a query.
    vectors: np.ndarray | None = None
    hub_offsets: np.ndarray | None = None  # taken from each article's cosine (semantic.py)
    positions: dict[int, int] = field(default_factory=dict)  # article id → its row
    masks: dict = field(default_factory=dict)  # (visibilities, language) → the rows allowed
    tokens: dict = field(default_factory=dict)  # (article id, updated_at) → its stems

    def allowed(self, visibilities, language) -> np.ndarray:
        """The rows this audience may find in this language (read-only: a copy to change)."""
        key = (tuple(visibilities), language)
        mask = self.masks.get(key)
        if mask is None:
            mask = np.isin(self.visibilities, list(visibilities))
            if language:
                mask &= self.languages == language
            mask.flags.writeable = False
            self.masks[key] = mask
        return mask

    def knows_prefix(self, prefix: str) -> bool:
        at = bisect.bisect_left(self.sorted_terms, prefix)
        return at < len(self.sorted_terms) and self.sorted_terms[at].startswith(prefix)


# Built once: every search runs it, and building it again cost more than running it.
_STATE_KEY = select(
    select(func.count(Article.id)).scalar_subquery(),
    select(func.max(Article.updated_at)).scalar_subquery(),
    select(func.max(ArticleEmbedding.at)).scalar_subquery(),
    select(func.max(ArticleFeedback.id)).scalar_subquery(),
)


async def _state(runtime, session) -> tuple[_State, int | None]:
    """The index's state (read again only when an article or its vectors changed) and the
    newest feedback's id (the standings' key: see `feedback.standings`), in one round trip."""
    *key, newest_feedback = (await session.execute(_STATE_KEY)).one()
    key = tuple(key)
    state = runtime.caches.get("kb.search")
    if state is not None and state.key == key:
        return state, newest_feedback
    if dialect(session) == "postgresql":
        sql = "SELECT word, ndoc FROM ts_stat('SELECT document FROM kb_fts')"
    else:
        sql = "SELECT term, doc FROM kb_fts_vocab"
    vocabulary = {
        term: df for term, df in (await session.execute(text(sql))).all() if term not in SCOPE_WORDS
    }
    state = _State(key, vocabulary, sorted(vocabulary))
    if key[2] is not None:  # the newest vectors' time: there are some
        rows = (
            await session.execute(
                select(
                    ArticleEmbedding.article_id,
                    ArticleEmbedding.title_vector,
                    ArticleEmbedding.text_vector,
                    Article.language,
                    Article.visibility,
                ).join(Article, Article.id == ArticleEmbedding.article_id)
            )
        ).all()
    if key[2] is not None and rows:
        state.ids = np.array([r[0] for r in rows], dtype=np.int64)
        state.vectors = np.stack(
            [np.frombuffer(r[1], dtype=np.float32) for r in rows]
            + [np.frombuffer(r[2], dtype=np.float32) for r in rows]
        )
        state.languages = np.array([r[3] for r in rows], dtype=object)
        state.visibilities = np.array([r[4] for r in rows], dtype=object)
        state.positions = {int(article_id): row for row, article_id in enumerate(state.ids)}
        state.hub_offsets = _hub_offsets(runtime, key, state)
    runtime.caches["kb.search"] = state
    return state, newest_feedback


def _hub_offsets(runtime, key: tuple, state: _State) -> np.ndarray:
    """`semantic.hub_offsets`, computed again only when the vectors, the articles that have
    them or their languages changed (not when an edit touched no vector, a visibility say)."""
    cached = runtime.caches.get("kb.hubs")
    ours = (key[2], state.ids.tobytes(), "\x1f".join(state.languages.tolist()))
    if cached is not None and cached[0] == ours:
        return cached[1]
    offsets = semantic.hub_offsets(state.vectors, state.languages)
    runtime.caches["kb.hubs"] = (ours, offsets)
    return offsets


def _resolve(query: Query, state: _State) -> None:
    """Keep the rarest words of a long text; split German compounds and correct typos
    against the vocabulary."""
    documents = state.key[0] or 1
    common = [
        t
        for t in query.terms
        if min(state.vocabulary.get(s, 0) for s in t.stems) > COMMON * documents
    ]
    if common and len(common) < len(query.terms) and documents >= 100:
        query.terms = [t for t in query.terms if t not in common]  # words nearly every article has
    if len(query.terms) > MAX_TERMS:
        rarity = sorted(
            query.terms,
            key=lambda t: min((state.vocabulary.get(s, 0) for s in t.stems), default=0),
        )
        kept = {id(t) for t in rarity[:MAX_TERMS]}
        query.terms = [t for t in query.terms if id(t) in kept]
    for term in query.terms:
        if "de" in query.languages and len(term.word) >= 2 * MIN_PART:
            term.parts = split_compound(term.word, state.vocabulary)
        if term.parts or any(
            (state.knows_prefix(s) if term.prefix else s in state.vocabulary) for s in term.stems
        ):
            continue
        if len(term.word) >= MIN_PART and state.sorted_terms:
            allowed = 1 if len(term.word) < 8 else 2
            found = process.extractOne(
                term.stems[0],
                state.sorted_terms,
                scorer=Levenshtein.distance,
                score_cutoff=allowed,
            )
            if found:
                term.corrected = found[0]


def _fts5_match(query: Query) -> str:
    groups = []
    for term in query.terms:
        options = [f'"{s}"' + ("*" if term.prefix else "") for s in term.stems]
        if term.corrected:
            options.append(f'"{term.corrected}"')
        if term.parts:
            options.append("(" + " AND ".join(f'"{p}"' for p in term.parts) + ")")
        groups.append("(" + " OR ".join(options) + ")")
    groups += ['"' + " ".join(phrase) + '"' for phrase in query.phrases]
    return " OR ".join(groups)


def _tsquery(query: Query) -> str:
    groups = []
    for term in query.terms:
        options = [s + (":*" if term.prefix else "") for s in term.stems]
        if term.corrected:
            options.append(term.corrected)
        if term.parts:
            options.append("(" + " & ".join(term.parts) + ")")
        groups.append("(" + " | ".join(options) + ")")
    groups += ["(" + " <-> ".join(phrase) + ")" for phrase in query.phrases]
    return " | ".join(groups)


def _lexical(session, query: Query, visibilities, language, exclude) -> tuple[TextClause, dict]:
    """The statement that finds and scores the candidates on this engine, and its values."""
    params: dict = {"limit": CANDIDATES}
    if dialect(session) == "postgresql":
        filters = ["a.visibility IN :visibilities"]
        params["visibilities"] = list(visibilities)
        if language:
            filters.append("a.language = :language")
            params["language"] = language
        if exclude:
            filters.append("a.id NOT IN :exclude")
            params["exclude"] = list(exclude)
        params["match"] = _tsquery(query)
        sql = (
            "SELECT f.article_id, ts_rank(f.document, q, 1) AS score "
            "FROM kb_fts f JOIN kb_articles a ON a.id = f.article_id, "
            "to_tsquery('simple', :match) q "
            f"WHERE f.document @@ q AND {' AND '.join(filters)} ORDER BY score DESC LIMIT :limit"
        )
    else:
        # Visibility and language are words of the scope column: FTS5 filters in the index.
        scope = "scope : (" + " OR ".join(f"vis{v}" for v in visibilities) + ")"
        if language:
            scope += f" AND scope : lang{language}"
        params["match"] = f"({_fts5_match(query)}) AND {scope}"
        where = ""
        if exclude:
            where = " AND rowid NOT IN :exclude"
            params["exclude"] = list(exclude)
        sql = (
            "SELECT rowid, -bm25(kb_fts, 10.0, 4.0, 1.0, 0.0) AS score FROM kb_fts "
            f"WHERE kb_fts MATCH :match{where} ORDER BY score DESC LIMIT :limit"
        )
    statement = text(sql).bindparams(
        *[bindparam(name, expanding=True) for name in ("visibilities", "exclude") if name in params]
    )
    return statement, params


def _coverage(query: Query, tokens: list[str], weights: list[float] | None = None) -> float:
    """The share of the query's words (and phrases) the article contains; with `weights`
    (one a term), each word counts that much (phrases: as much as the heaviest word)."""
    present = set(tokens)
    total = matched = 0.0
    heaviest = max(weights, default=1.0) if weights else 1.0
    for number, term in enumerate(query.terms):
        weight = weights[number] if weights else 1.0
        total += weight
        options = set(term.stems) | ({term.corrected} if term.corrected else set())
        hit = bool(options & present)
        if not hit and term.prefix:
            hit = any(t.startswith(s) for s in term.stems for t in present)
        if not hit and term.parts:
            hit = all(p in present or any(t.startswith(p) for t in present) for p in term.parts)
        matched += weight * hit
    joined = f" {' '.join(tokens)} "
    for phrase in query.phrases:
        total += heaviest
        matched += heaviest * (f" {' '.join(phrase)} " in joined)
    return matched / total if total else 0.0


def _rarities(query: Query, state: _State) -> list[float]:
    """How telling each of the query's words is: its inverse document frequency in the index
    (a word the index does not know is the rarest: an article without it misses the most)."""
    documents = state.key[0] or 1
    rarities = []
    for term in query.terms:
        frequencies = [state.vocabulary[s] for s in term.stems if s in state.vocabulary]
        if term.corrected:
            frequencies.append(state.vocabulary.get(term.corrected, 0))
        if term.parts:
            frequencies.append(max(state.vocabulary.get(p, 0) for p in term.parts))
        frequency = min(frequencies, default=0)
        rarities.append(math.log((documents + 1) / (frequency + 0.5)))
    return rarities


class _Matcher:
    """Whether an article's stem answers one of the query's words (exact or as a prefix)."""

    def __init__(self, query: Query) -> None:
        exact, prefixes = set(), []
        for term in query.terms:
            exact.update(term.stems, term.parts)
            if term.corrected:
                exact.add(term.corrected)
            prefixes += [*term.stems, *term.parts] if term.prefix else list(term.parts)
        for phrase in query.phrases:
            exact.update(phrase)
        self.exact, self.prefixes = exact, tuple(prefixes)

    def __call__(self, token: str) -> bool:
        return token in self.exact or bool(self.prefixes and token.startswith(self.prefixes))


def snippet(query: Query, body: str, language: str) -> str:
    """The sentence of the body that matches most of the query, its matching words marked."""
    matches = _Matcher(query)
    stem_words = stemmer(language)
    plain = _MARKUP.sub(" ", body or "")
    sentences = [s.strip() for s in _SENTENCE.split(plain) if s.strip()]
    if not sentences:
        return ""
    best, best_count = sentences[0], 0
    for sentence in sentences:
        count = sum(1 for s in set(stem_words.stemWords(words(sentence))) if matches(s))
        if count > best_count:
            best, best_count = sentence, count
    found = [m for m in WORD.finditer(best) if matches(stem_words.stemWord(m[0].lower()))]
    if len(best) > SNIPPET_CHARS:
        start = max(0, (found[0].start() if found else 0) - 60)
        best = best[start : start + SNIPPET_CHARS]
        found = [m for m in WORD.finditer(best) if matches(stem_words.stemWord(m[0].lower()))]
        best = ("… " if start else "") + best + " …"
        shift = 2 if start else 0
    else:
        shift = 0
    out, last = [], 0
    for m in found:
        out += [html.escape(best[last : m.start() + shift]), f"<mark>{html.escape(m[0])}</mark>"]
        last = m.end() + shift
    out.append(html.escape(best[last:]))
    return "".join(out)


def _semantic_confidence(cosine: float) -> float:
    return min(1.0, max(0.0, (cosine - SEMANTIC_LOW) / (SEMANTIC_HIGH - SEMANTIC_LOW)))


@dataclass
class Signals:
    """What a search saw beyond its hits: whether it ranked semantically, how many of the
    query's words the index knows, and which article each ranking put first."""

    semantic: bool = False
    terms: int = 0
    known: int = 0
    lexical_top: int | None = None
    semantic_top: int | None = None
    # The mean cosine of every article the search may find: how alike the question is to
    # anything here (a right article stands out from it; another domain's question does not).
    cosine_mean: float | None = None
    cosine_std: float | None = None


async def search(
    runtime,
    text_: str,
    *,
    language: str | None = None,
    audience: str = "customer",
    limit: int = 5,
    exclude: tuple[int, ...] = (),
    use_semantic: bool = True,
    report_gap: bool = False,
    signals: Signals | None = None,
    snippets: bool = True,
) -> list[Hit]:
    """The best articles for a question or a conversation, best first (`signals`, when
    given, is filled in with what the ranking saw; `snippets=False` skips the marked
    snippets, for callers that do not show them)."""
    languages = (language,) if language else ("de", "en")
    query = parse_query(text_, languages)
    use_semantic = (
        use_semantic and runtime.settings.semantic and semantic.available() and bool(text_.strip())
    )
    # The query's encoding (on the encoder's thread) starts first: the reads below run
    # meanwhile, most of their time in the database's thread or waiting for it.
    encoding = (
        asyncio.ensure_future(
            semantic.query_vector(text_, may_skip=audience in ("customer", "bot"))
        )
        if use_semantic
        else None
    )
    try:
        hits = await _search(
            runtime, text_, query, encoding, language, audience, limit, exclude, signals, snippets
        )
    finally:
        if encoding is not None and not encoding.done():
            encoding.cancel()  # not wanted (no vectors yet) or the search failed
    if report_gap and (not hits or hits[0].score < GOOD_SCORE):
        await gaps.report_gap(runtime, text_, language, audience, hits)
    return hits


async def _search(
    runtime, text_, query, encoding, language, audience, limit, exclude, signals, snippets
) -> list[Hit]:
    visibilities = AUDIENCES[audience]
    async with runtime.read() as session:
        state, newest_feedback = await _state(runtime, session)
        lexical: dict[int, float] = {}
        if not query.empty:
            _resolve(query, state)
            statement, params = _lexical(session, query, visibilities, language, exclude)
            rows = await session.execute(statement, params)
            lexical = {int(i): float(s) for i, s in rows.all()}
            if signals is not None:
                signals.terms = len(query.terms) + len(query.phrases)
                signals.known = sum(
                    1
                    for t in query.terms
                    if t.parts or t.corrected or any(s in state.vocabulary for s in t.stems)
                )
        cosines: dict[int, float] = {}  # each article's cosine to the question
        nearness: dict[int, float] = {}  # the same less its hub offset: what is ranked
        if encoding is not None and state.vectors is not None:
            # Customers and bots (anonymous) rank lexically while the encoder is busy (None).
            vector = await encoding
            if vector is not None:
                cosines, nearness = _nearest(
                    state, vector, visibilities, language, exclude, lexical, signals
                )
        if signals is not None:
            signals.semantic = bool(cosines)
            signals.lexical_top = max(lexical, key=lexical.get) if lexical else None
            signals.semantic_top = max(nearness, key=nearness.get) if nearness else None
        candidates = list(dict.fromkeys([*lexical, *nearness]))
        standing = await standings(runtime, session, newest_feedback, candidates, audience)
        ranked = _rank(candidates, lexical, nearness, standing)[:limit]
        articles = {
            a.id: a
            for a in (
                await session.scalars(select(Article).where(Article.id.in_([i for i, _ in ranked])))
            ).all()
        }
    hits = []
    top_lexical = max(lexical.values(), default=0.0) or 1.0
    rarities = _rarities(query, state) if signals is not None else []
    for article_id, rank in ranked:
        article = articles[article_id]
        tokens = _article_tokens(state, article)
        coverage = _coverage(query, tokens)
        rare_coverage = title_coverage = 0.0
        if signals is not None:
            rare_coverage = _coverage(query, tokens, rarities)
            title_coverage = _coverage(
                query, stemmer(article.language).stemWords(words(article.title))
            )
        cosine = cosines.get(article_id)
        confidence = max(coverage, _semantic_confidence(cosine) if cosine is not None else 0.0)
        hits.append(
            Hit(
                article_id,
                article.title,
                article.slug,
                article.language,
                article.visibility,
                score=max(0.0, min(1.0, rank)) * confidence,
                snippet=(
                    snippet(query, article.body, article.language)
                    or html.escape(article.body[:SNIPPET_CHARS])
                )
                if snippets
                else "",
                body=article.body,
                coverage=coverage,
                rare_coverage=rare_coverage,
                title_coverage=title_coverage,
                cosine=cosine,
                lexical=lexical.get(article_id, 0.0) / top_lexical,
            )
        )
    hits.sort(key=lambda h: -h.score)
    return hits


def _article_tokens(state: _State, article) -> list[str]:
    """The article's stems (kept with the index's state: the same few articles answer most)."""
    key = (article.id, article.updated_at)
    tokens = state.tokens.get(key)
    if tokens is None:
        if len(state.tokens) >= TOKENS_KEPT:
            state.tokens.clear()
        tokens = stemmer(article.language).stemWords(
            words(f"{article.title} {' '.join(article.keywords or [])} {article.body}")
        )
        state.tokens[key] = tokens
    return tokens


def _nearest(
    state: _State, vector, visibilities, language, exclude, lexical, signals=None
) -> tuple[dict, dict]:
    """The cosines of the closest articles this audience may see (and of the lexical finds),
    and the same less their hub offsets (the nearest by that: what is ranked)."""
    allowed = state.allowed(visibilities, language)
    if exclude:
        allowed = allowed & ~np.isin(state.ids, list(exclude))
    if not allowed.any():
        return {}, {}
    # All rows: cheaper than copying the allowed ones.
    sims = semantic.similarities(state.vectors @ vector, len(state.ids))
    if signals is not None:
        allowed_sims = sims[allowed]
        signals.cosine_mean = float(allowed_sims.mean())
        signals.cosine_std = float(allowed_sims.std())
    near = sims - state.hub_offsets
    near[~allowed] = -np.inf
    top = np.argpartition(-near, min(CANDIDATES, near.size - 1))[:CANDIDATES]
    rows = [i for i in top if allowed[i]]
    for article_id in lexical.keys() - {int(state.ids[i]) for i in rows}:
        row = state.positions.get(article_id)
        if row is not None and allowed[row]:
            rows.append(row)
    ids = [int(state.ids[i]) for i in rows]
    return (
        {a: float(sims[i]) for a, i in zip(ids, rows, strict=True)},
        {a: float(near[i]) for a, i in zip(ids, rows, strict=True)},
    )


def _rank(candidates, lexical, cosines, standing) -> list[tuple[int, float]]:
    top_lexical = max(lexical.values(), default=0.0) or 1.0
    if cosines:
        low, high = min(cosines.values()), max(cosines.values())
        spread = (high - low) or 1.0
    scored = []
    for article_id in candidates:
        lexical_part = lexical.get(article_id, 0.0) / top_lexical
        if cosines:
            semantic_part = (cosines.get(article_id, low) - low) / spread
            score = LEXICAL_WEIGHT * lexical_part + (1 - LEXICAL_WEIGHT) * semantic_part
        else:
            score = lexical_part
        scored.append((article_id, score * (1 + FEEDBACK_WEIGHT * standing.get(article_id, 0.0))))
    scored.sort(key=lambda pair: -pair[1])
    return scored
