"""Suggestion latency with a large knowledge base.

    python -m bench.kb_latency                       # 10,000 articles, SQLite, lexical
    python -m bench.kb_latency --semantic            # with the embeddings (embeds them first)
    python -m bench.kb_latency --postgres --articles 10000

Articles are made of words drawn with Zipf's law (as words occur in real text) from a support
vocabulary: English from the banking77 customer messages in ../shared/data (about 2,000
words), German from support nouns and the compounds they make (Rechnungs|adresse, ...);
a share of function words between. Titles of 4-8 words, bodies of 60-120, half in each
language, 80 % public. Queries are customer questions of 5-15 words from the same
vocabularies, timed one at a time through `knowledge_base.search.search` (what
`POST /api/v1/kb/suggest` calls); p50/p95/p99. `--small-vocabulary` draws uniformly from ~50
words a language instead: every word in most articles, the worst case for a full-text index.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import statistics
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench.common import database_urls, migrated_runtime
from knowledge_base import semantic
from knowledge_base.analysis import words
from knowledge_base.search import search
from knowledge_base.transfer import import_articles

WORDS = {
    "de": """Rechnung Rückerstattung Bestellung Lieferung Versand Passwort Konto Kundenkonto
    Zahlung Kreditkarte Lastschrift Gutschein Rabatt Umtausch Rücksendung Garantie Reparatur
    Drucker Router Internet Vertrag Kündigung Tarif Adresse Rechnungsadresse Lieferadresse
    Paket Sendungsverfolgung Lieferzeit Storno Newsletter Anmeldung Zugangsdaten Datenschutz
    Einstellungen Abonnement Verlängerung Mahnung Zahlungserinnerung Ratenzahlung Filiale
    Öffnungszeiten Ersatzteil Handbuch Installation Aktualisierung Fehlermeldung Störung""".split(),
    "en": """invoice refund order delivery shipping password account payment credit card debit
    voucher discount exchange return warranty repair printer router internet contract
    cancellation plan address billing parcel tracking delivery time newsletter login
    credentials privacy settings subscription renewal reminder instalment store opening hours
    spare part manual installation update error message outage""".split(),
}
GLUE = {
    "de": "wie kann ich mein meine der die das und oder nicht mehr bitte wo wann".split(),
    "en": "how can I my the and or not any more please where when does".split(),
}


BANKING77 = Path(__file__).resolve().parents[2] / "shared/data/datasets/banking77/train.csv"


def vocabularies() -> dict[str, list[str]]:
    """Support words of each language, the most frequent first."""
    counts: Counter = Counter()
    with BANKING77.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            counts.update(w for w in words(row["text"]) if w.isalpha() and len(w) > 2)
    english = [w for w, _ in counts.most_common()]
    heads = [w for w in WORDS["de"] if len(w) <= 12]
    german = list(WORDS["de"])
    for head in heads:
        for tail in heads:
            if head != tail:
                link = "s" if head.endswith(("ung", "heit", "keit")) else ""
                german.append(head + link + tail.lower())
    random.Random(3).shuffle(german[len(WORDS["de"]) :])
    return {"de": german, "en": english}


class Writer:
    def __init__(self, rng: random.Random, small: bool) -> None:
        self.rng = rng
        self.vocabulary = {k: list(v) for k, v in WORDS.items()} if small else vocabularies()
        self.weights = {
            k: [1.0] * len(v) if small else [1 / (r + 1) for r in range(len(v))]
            for k, v in self.vocabulary.items()
        }

    def text(self, language: str, n: int) -> str:
        content = self.rng.choices(self.vocabulary[language], self.weights[language], k=n)
        return " ".join(
            w if self.rng.random() < 0.6 else self.rng.choice(GLUE[language]) for w in content
        )


async def main(args, url: str) -> None:
    rng = random.Random(7)
    writer = Writer(rng, args.small_vocabulary)
    text = writer.text
    records = []
    for number in range(args.articles):
        language = "de" if number % 2 else "en"
        records.append(
            (
                f"article {number}",
                {
                    "slug": f"a-{number}",
                    "language": language,
                    "title": text(language, rng.randint(4, 8)).capitalize(),
                    "body": text(language, rng.randint(60, 120)) + ".",
                    "visibility": rng.choice(["public"] * 8 + ["internal", "draft"]),
                },
            )
        )
    queries = []
    for number in range(args.queries):
        language = "de" if number % 2 else "en"
        queries.append((text(language, rng.randint(5, 15)) + "?", language))
    runtime = await migrated_runtime(url)
    if not args.semantic:
        runtime.settings = replace(runtime.settings, semantic=False)
    started = time.perf_counter()
    report = await import_articles(runtime, records)
    assert report.created == args.articles, report.rejected[:3]
    imported = time.perf_counter() - started
    embedded = 0.0
    if args.semantic:
        assert semantic.available(), "pip install -e '.[semantic]'"
        started = time.perf_counter()
        await semantic.embed_pending(runtime, batch=64)
        embedded = time.perf_counter() - started
    for question, language in queries[:20]:  # warm the caches
        await search(runtime, question, language=language, audience="customer")
    timings = []
    for question, language in queries:
        began = time.perf_counter()
        hits = await search(runtime, question, language=language, audience="customer")
        timings.append((time.perf_counter() - began) * 1000)
        assert all(h.visibility == "public" for h in hits)
    await runtime.close()
    timings.sort()
    engine = "PostgreSQL" if args.postgres else "SQLite"
    mode = "lexical + semantic" if args.semantic else "lexical"
    if args.small_vocabulary:
        mode += ", small vocabulary"
    print(f"{args.articles} articles ({engine}, {mode}): imported in {imported:.1f} s", end="")
    print(f", embedded in {embedded:.0f} s" if args.semantic else "")
    print(
        f"  suggest over {len(timings)} queries: p50 {statistics.median(timings):.1f} ms, "
        f"p95 {timings[int(len(timings) * 0.95)]:.1f} ms, "
        f"p99 {timings[int(len(timings) * 0.99)]:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--semantic", action="store_true")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--small-vocabulary", action="store_true", help="the worst case")
    args = parser.parse_args()
    with database_urls(args.postgres) as (url,):
        asyncio.run(main(args, url))
