"""Hubs: an article near every question (a title that is itself a question, a text about
everything) must not come out on top for questions about other articles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from knowledge_base import semantic
from knowledge_base.search import search
from knowledge_base.transfer import import_articles

BICYCLE_FAQ = Path(__file__).resolve().parents[2] / "bench/faqs/unseen/de-fahrrad.json"


def _stored(titles: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Rows as stored: every article's title vector, then every article's text vector."""
    rows = np.concatenate([titles, texts])
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_an_article_near_every_title_is_marked_down_and_the_others_keep_their_cosines():
    rng = np.random.default_rng(3)
    topics = rng.normal(size=(8, 64))
    topics[0] = topics[1:].mean(axis=0) * 3 + rng.normal(size=64) * 0.2  # near all of them
    vectors = _stored(topics + rng.normal(size=topics.shape) * 0.1, topics)
    offsets = semantic.hub_offsets(vectors, np.array(["en"] * 8))
    assert offsets[0] > 0.05  # the hub's cosine is lowered
    assert offsets[0] == offsets.max()
    assert np.median(offsets) == pytest.approx(0.0, abs=1e-6)  # the typical article's is not

    question = vectors[8 + 3] * 0.5 + vectors[8] * 0.6  # about article 3, in the hub's words
    question /= np.linalg.norm(question)
    raw = semantic.similarities(vectors @ question, 8)
    assert int(np.argmax(raw)) == 0  # without the correction the hub wins
    assert int(np.argmax(raw - offsets)) == 3


def test_languages_are_apart_and_a_handful_of_articles_has_no_hubs():
    rng = np.random.default_rng(5)
    topics = rng.normal(size=(12, 32))
    vectors = _stored(topics, topics)
    languages = np.array(["de"] * 8 + ["en"] * 4)
    offsets = semantic.hub_offsets(vectors, languages)
    assert np.all(offsets[8:] == 0)  # four English articles: too few to tell
    alone = semantic.hub_offsets(vectors[np.r_[0:8, 12:20]], languages[:8])
    assert np.allclose(offsets[:8], alone)  # the English ones changed nothing for German


async def test_more_questions_of_a_plain_faq_find_their_article(runtime, embeddings, monkeypatch):
    """A plain German FAQ (a bicycle shop; no fit reads it), its customers' questions as they
    type them: with the correction more of them find their own article first."""
    faq = json.loads(BICYCLE_FAQ.read_text(encoding="utf-8"))
    records = [
        (
            f"a-{n}",
            {
                "slug": f"a-{n}",
                "title": a["title"],
                "body": a["body"],
                "language": "de",
                "visibility": "public",
            },
        )
        for n, a in enumerate(faq["articles"])
    ]
    await import_articles(runtime, records)
    await semantic.embed_pending(runtime)

    async def found(weight: float) -> int:
        monkeypatch.setattr(semantic, "HUB_WEIGHT", weight)
        runtime.caches.pop("kb.hubs", None)
        runtime.caches.pop("kb.search", None)  # the index read again, the offsets with it
        right = 0
        for article in faq["articles"]:
            for question in article["questions"]:
                hits = await search(runtime, question, language="de", audience="bot", limit=1)
                right += hits[0].title == article["title"]
        return right

    shipped = semantic.HUB_WEIGHT
    without, with_ = await found(0.0), await found(shipped)
    questions = sum(len(a["questions"]) for a in faq["articles"])
    assert with_ > without, (with_, without, questions)
