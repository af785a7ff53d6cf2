"""FAQ retrieval quality on StackFAQ, through `POST /api/v1/kb/suggest`.

    python -m bench.kb_faq                    # with the semantic extra if it is installed
    python -m bench.kb_faq --lexical          # lexical ranking only
    python -m bench.kb_faq --postgres

The 125 StackExchange threads of ../shared/data/datasets/stackfaq become public articles (the
question as title, the first answer as body); each of their paraphrased questions is asked, and
the thread it was written for is the one right answer. Prints P@1, NDCG@3 and MAP (over the
top 20; an answer not among them counts 0). The dataset marks one paraphrase slot per thread
with "*" (no text): those 125 are left out, so 1,250 of the 1,375 rephrasings are real queries.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.common import database_urls, migrated_runtime
from knowledge_base import semantic
from knowledge_base.models import Article
from knowledge_base.transfer import import_articles
from tresen.app import create_app

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "datasets" / "stackfaq"
DEPTH = 20


def load(path: Path) -> tuple[list[dict], list[tuple[str, int]]]:
    articles, queries = [], []
    for number, pair in enumerate(ET.parse(path / "stackExchange-FAQ.xml").getroot()):
        title = " ".join(pair.find("question").text.split())
        answer = pair.find("answer").text.strip()
        articles.append(
            {
                "slug": f"stackfaq-{number + 1}",
                "title": title,
                "body": answer,
                "language": "en",
                "visibility": "public",
            }
        )
        for rephrasing in pair.findall("rephr"):
            query = " ".join((rephrasing.text or "").split())
            if query and query != "*":
                queries.append((query, number))
    return articles, queries


def measure(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "P@1": sum(r == 0 for r in ranks) / n,
        "NDCG@3": sum(1 / math.log2(r + 2) for r in ranks if r is not None and r < 3) / n,
        "MAP": sum(1 / (r + 1) for r in ranks if r is not None) / n,
    }


async def main(args, url: str) -> None:
    articles, queries = load(Path(args.data))
    runtime = await migrated_runtime(url)
    rows = [(a["slug"], a) for a in articles]
    report = await import_articles(runtime, rows)
    assert report.created == len(articles), report.rejected
    async with runtime.read() as session:
        rows = (await session.execute(select(Article.id, Article.slug))).all()
    thread_of = {article_id: int(slug.rsplit("-", 1)[1]) - 1 for article_id, slug in rows}
    if args.lexical:
        runtime.settings = replace(runtime.settings, semantic=False)
    use_semantic = semantic.available() and not args.lexical
    started = time.perf_counter()
    if use_semantic:
        await semantic.embed_pending(runtime)
    embed_seconds = time.perf_counter() - started
    # Many customers' questions, asked from the bench's one address: not a flood to refuse.
    runtime.settings = replace(runtime.settings, public_searches_per_minute=len(queries))
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    ranks, latencies = [], []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for text, answer in queries:
            began = time.perf_counter()
            response = await client.post(
                "/api/v1/kb/suggest", json={"text": text, "lang": "en", "limit": DEPTH}
            )
            latencies.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            found = [thread_of[s["article_id"]] for s in response.json()["suggestions"]]
            ranks.append(found.index(answer) if answer in found else None)
    await runtime.close()
    figures = measure(ranks)
    latencies.sort()
    mode = "semantic (multilingual-e5-small) + lexical" if use_semantic else "lexical"
    engine = "PostgreSQL" if args.postgres else "SQLite"
    print(f"StackFAQ: {len(articles)} articles, {len(queries)} queries, {mode}, {engine}")
    print("  " + "  ".join(f"{name} {value:.3f}" for name, value in figures.items()))
    print(
        f"  suggest latency p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)]:.1f} ms"
        + (f"; embedding the articles took {embed_seconds:.1f} s" if use_semantic else "")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--lexical", action="store_true", help="without the semantic ranking")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    if not (Path(args.data) / "stackExchange-FAQ.xml").exists():
        sys.exit(f"no StackFAQ at {args.data}")
    with database_urls(args.postgres) as (url,):
        asyncio.run(main(args, url))
