"""The FAQ bot: answer quality (does it know when it does not know?) and reply latency.

    python -m bench.bot                 # quality with the model in bots/confidence.py
    python -m bench.bot --fit           # fit the confidence models, write them into
                                        # bots/confidence.py, then the quality as above
    python -m bench.bot --latency       # POST /api/v1/bot/reply at 1,000 articles
    python -m bench.bot --threads 20    # a quick try on the first 20 StackFAQ threads
    python -m bench.bot --fit --keep /tmp/bot   # keep the searches' features; a second fit
                                                # (after changing the fitting) reuses them

In scope: StackFAQ's 125 threads as public English articles (question as title, first answer
as body) and their 1,249 paraphrased questions (bench/kb_faq.py). Out of scope: a fixed-seed
sample of 1,000 Banking77 customer messages (another domain's questions the FAQ cannot answer).
Each question goes through the bot's own ranking (`bots.decision.rank`: the bot's search, top
three), once semantic (the `semantic` extra) and once lexical; each mode has its own model.

--fit: two logistic models per mode on the search's features (bots/confidence.py): P(top
article right and in scope) and P(right article among the top three and in scope). Figures
are cross-validated: five folds by thread (a thread's paraphrases never sit in train and
test at once; out-of-scope questions spread over the folds), the threshold the lowest whose
held-out precision is >= 0.92 and stays so above it. The final models are fitted on all.

Then, as shipped (`bots.decision.decide`, one turn from a fresh conversation): the transfer
check, roles swapped: Banking77's 77 intents as an FAQ (the intent's name as the title, four
of its messages as the body), eight other messages per intent as in-scope questions, 600
StackFAQ paraphrases as out of scope; and (without --fit) StackFAQ itself (in-sample).
Reported: coverage (in-scope answered), precision (answers with the right article, of all
answers), out-of-scope handed off, clarify rates.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import pickle
import random
import re
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import select

from bench.common import database_urls, migrated_runtime
from bench.kb_faq import DATA as STACKFAQ
from bench.kb_faq import load as load_stackfaq
from bots import confidence
from bots.decision import decide, rank
from knowledge_base import semantic
from knowledge_base.models import Article
from knowledge_base.transfer import import_articles

BANKING77 = Path(__file__).resolve().parents[2] / "shared/data/datasets/banking77/train.csv"
SEED = 17
OUT_OF_SCOPE = 1000
FOLDS = 5
MIN_ANSWERED = 25  # a threshold's precision counts from this many answers on
CONFIDENCE_FILE = Path(__file__).resolve().parents[1] / "bots" / "confidence.py"


@dataclass
class Question:
    text: str
    right: int | None  # the right article's slug number; None: out of scope
    group: int  # the fold group: the thread (out of scope: its own)


@dataclass
class Observation:
    mode: str
    features: tuple[float, ...]
    found: list[int]  # the top three's slug numbers


def banking_rows() -> list[tuple[str, str]]:
    with BANKING77.open(newline="", encoding="utf-8") as handle:
        return [(row["text"].strip(), row["category"]) for row in csv.DictReader(handle)]


def stackfaq_set(threads: int | None) -> tuple[list[dict], list[Question]]:
    articles, queries = load_stackfaq(STACKFAQ)
    if threads:
        articles = articles[:threads]
        queries = [q for q in queries if q[1] < threads]
    questions = [Question(text, number, number) for text, number in queries]
    rows = banking_rows()
    sample = random.Random(SEED).sample(rows, OUT_OF_SCOPE if not threads else 200)
    questions += [Question(text, None, 10_000 + i) for i, (text, _) in enumerate(sample)]
    return articles, questions


def humanized(category: str) -> str:
    return category.replace("_", " ").capitalize()


def banking_set(threads: int | None) -> tuple[list[dict], list[Question]]:
    """Banking77's intents as an FAQ; StackFAQ's paraphrases as out of scope."""
    by_intent: dict[str, list[str]] = {}
    for text, category in banking_rows():
        by_intent.setdefault(category, []).append(text)
    rng = random.Random(SEED)
    articles, questions = [], []
    for number, (category, texts) in enumerate(sorted(by_intent.items())):
        if threads and number >= threads:
            break
        texts = list(texts)
        rng.shuffle(texts)
        body = " ".join(t if t.endswith((".", "?", "!")) else t + "." for t in texts[:4])
        articles.append(
            {
                "slug": f"banking-{number + 1}",
                "title": humanized(category),
                "body": body,
                "language": "en",
                "visibility": "public",
            }
        )
        questions += [Question(t, number, number) for t in texts[4:12]]
    _, queries = load_stackfaq(STACKFAQ)
    sample = rng.sample(queries, 600 if not threads else 150)
    questions += [Question(text, None, 10_000 + i) for i, (text, _) in enumerate(sample)]
    return articles, questions


async def knowledge_base(url: str, articles: list[dict], use_semantic: bool):
    """A runtime on a fresh database holding the articles (embedded when semantic)."""
    runtime = await migrated_runtime(url)
    report = await import_articles(runtime, [(a["slug"], a) for a in articles])
    assert report.created == len(articles), report.rejected[:3]
    if use_semantic:
        await semantic.embed_pending(runtime, batch=32)
    async with runtime.read() as session:
        rows = (await session.execute(select(Article.id, Article.slug))).all()
    runtime.bench_number = {i: int(slug.rsplit("-", 1)[1]) - 1 for i, slug in rows}
    return runtime


def with_mode(runtime, mode: str):
    runtime.settings = replace(runtime.settings, semantic=mode == "semantic")
    return runtime


async def observe(runtime, questions: list[Question], mode: str) -> list[Observation]:
    with_mode(runtime, mode)
    observations = []
    for question in questions:
        ranking = await rank(runtime, question.text, "en")
        found = [runtime.bench_number[h.article_id] for h in ranking.hits]
        observations.append(
            Observation(ranking.assessment.mode, ranking.assessment.features, found)
        )
    return observations


def lowest_threshold(p: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest threshold whose precision (and every higher one's) reaches the target."""
    order = np.argsort(-p, kind="stable")
    precision = np.cumsum(correct[order]) / np.arange(1, len(p) + 1)
    chosen = 1.0
    for k in range(len(p)):
        if k + 1 >= MIN_ANSWERED and precision[k] < target:
            break
        if k + 1 >= MIN_ANSWERED and (k + 1 == len(p) or p[order[k + 1]] < p[order[k]]):
            chosen = float(p[order[k]])
    return chosen


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, ...]]:
    """A standardized logistic regression, given back on the raw features.

    Every feature is a sign of a right answer (a higher cosine, more of the words found, a
    wider margin), so none may count against one: a negative weight is the features'
    overlap speaking, and it makes questions unlike the training data (one article, every
    word found) come out unsure. Such a feature is left out and the rest fitted again."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    active = x.std(axis=0) > 0
    while True:
        model = LogisticRegression(C=1.0, max_iter=2000).fit(z[:, active], y)
        coef = np.zeros(x.shape[1])
        coef[active] = model.coef_[0]
        if coef.min() >= 0:
            break
        active[int(np.argmin(coef))] = False
    weights = coef / scale
    intercept = float(model.intercept_[0] - np.sum(coef * mean / scale))
    return intercept, tuple(float(w) for w in weights)


def _probability(model, x: np.ndarray) -> np.ndarray:
    intercept, weights = model
    return 1.0 / (1.0 + np.exp(-np.clip(intercept + x @ np.array(weights), -60, 60)))


def outcome(answered, clarified, right_top, right_options, in_scope) -> dict:
    """Coverage, precision, out-of-scope handoff and clarify rates of one policy's choices."""
    out = ~in_scope
    handed_off = ~answered & ~clarified
    return {
        "coverage": (answered & in_scope).sum() / max(1, in_scope.sum()),
        "precision": (answered & right_top).sum() / max(1, answered.sum()),
        "oos handed off": (handed_off & out).sum() / max(1, out.sum()),
        "oos answered": (answered & out).sum() / max(1, out.sum()),
        "clarify (in scope)": (clarified & in_scope).sum() / max(1, in_scope.sum()),
        "clarify right": (clarified & right_options).sum() / max(1, clarified.sum()),
    }


def show(title: str, figures: dict) -> None:
    print(f"  {title}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))


def fit_mode(mode: str, questions: list[Question], observations: list[Observation]) -> dict:
    x = np.array([o.features for o in observations])
    hits = np.array([len(o.found) for o in observations])
    in_scope = np.array([q.right is not None for q in questions])
    right_top = np.array(
        [
            bool(o.found) and o.found[0] == q.right
            for q, o in zip(questions, observations, strict=True)
        ]
    )
    right_options = (
        np.array([q.right in o.found for q, o in zip(questions, observations, strict=True)])
        & in_scope
    )
    groups = np.array([q.group for q in questions])
    from sklearn.model_selection import GroupKFold

    held_answer, held_options = np.zeros(len(x)), np.zeros(len(x))
    for train, test in GroupKFold(n_splits=FOLDS).split(x, groups=groups):
        held_answer[test] = _probability(_fit(x[train], right_top[train]), x[test])
        held_options[test] = _probability(_fit(x[train], right_options[train]), x[test])
    threshold = lowest_threshold(held_answer, right_top, confidence.TARGET_PRECISION)
    below = held_answer < threshold
    options_threshold = lowest_threshold(
        np.where(below & (hits >= 2), held_options, 0.0),
        right_options & below,
        confidence.CLARIFY_PRECISION,
    )
    answered = held_answer >= threshold
    clarified = ~answered & (hits >= 2) & (held_options >= options_threshold)
    figures = outcome(answered, clarified, right_top, right_options, in_scope)
    print(
        f"{mode}: {in_scope.sum()} in scope, {(~in_scope).sum()} out of scope; top-1 right "
        f"{right_top[in_scope].mean():.3f}, right among three {right_options[in_scope].mean():.3f}"
    )
    ranked = {o.mode for o in observations}
    print(
        f"  held-out thresholds: answer {threshold:.3f}, clarify {options_threshold:.3f}"
        f" (ranked: {', '.join(sorted(ranked))})"
    )
    show("cross-validated", figures)
    return {
        "answer": _fit(x, right_top),
        "options": _fit(x, right_options),
        "threshold": threshold,
        "options_threshold": options_threshold,
        "figures": figures,
    }


def write_constants(fitted: dict, note: str) -> None:
    """Replace the fitted block of bots/confidence.py (and this process's copy)."""

    def model(pair) -> str:
        intercept, weights = pair
        return f"({intercept:.4f}, ({', '.join(f'{w:.4f}' for w in weights)}))"

    wrapped = textwrap.wrap(note, 86, drop_whitespace=False)
    lines = [
        "# --- fitted by `python -m bench.bot --fit` ---",
        "FITTED = (",
        *(f'    "{part}"' for part in wrapped),
        ")",
        "ANSWER = {",
        *(f'    "{m}": {model(f["answer"])},' for m, f in fitted.items()),
        "}",
        "OPTIONS = {",
        *(f'    "{m}": {model(f["options"])},' for m, f in fitted.items()),
        "}",
        "THRESHOLD = {"
        + ", ".join(f'"{m}": {f["threshold"]:.4f}' for m, f in fitted.items())
        + "}",
        "OPTIONS_THRESHOLD = {"
        + ", ".join(f'"{m}": {f["options_threshold"]:.4f}' for m, f in fitted.items())
        + "}",
        "# --- end of the fitted constants ---",
    ]
    source = CONFIDENCE_FILE.read_text()
    block = re.compile(r"# --- fitted by .*?# --- end of the fitted constants ---", re.DOTALL)
    CONFIDENCE_FILE.write_text(block.sub(lambda _: "\n".join(lines), source, count=1))
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():  # the constants' lines wrapped as the project's style has them
        subprocess.run([str(ruff), "format", "--quiet", str(CONFIDENCE_FILE)], check=False)
    confidence.ANSWER = {m: f["answer"] for m, f in fitted.items()}
    confidence.OPTIONS = {m: f["options"] for m, f in fitted.items()}
    confidence.THRESHOLD = {m: f["threshold"] for m, f in fitted.items()}
    confidence.OPTIONS_THRESHOLD = {m: f["options_threshold"] for m, f in fitted.items()}


async def as_shipped(runtime, questions: list[Question], mode: str) -> dict:
    """Each question as the first turn of a conversation through `decide`."""
    with_mode(runtime, mode)
    actions, right_top, right_options = [], [], []
    for question in questions:
        decision, _ = await decide(runtime, question.text, lang="en", report_gaps=False)
        actions.append(decision.action)
        article = runtime.bench_number.get(decision.article.id) if decision.article else None
        right_top.append(decision.action == "answer" and article == question.right)
        options = [runtime.bench_number[o.id] for o in decision.options]
        right_options.append(question.right is not None and question.right in options)
    actions = np.array(actions)
    in_scope = np.array([q.right is not None for q in questions])
    return outcome(
        actions == "answer",
        actions == "clarify",
        np.array(right_top),
        np.array(right_options),
        in_scope,
    )


async def quality(args) -> None:
    use_semantic = semantic.available()
    modes = ["semantic", "lexical"] if use_semantic else ["lexical"]
    if not use_semantic:
        print("the semantic extra is not installed: lexical only")
    articles, questions = stackfaq_set(args.threads)
    banking_articles, banking_questions = banking_set(args.threads)
    with database_urls(False, ("stackfaq", "banking")) as (faq_url, banking_url):
        started = time.perf_counter()
        runtime = await knowledge_base(faq_url, articles, use_semantic)
        print(f"StackFAQ: {len(articles)} articles ({time.perf_counter() - started:.0f} s)")
        if args.fit:
            fitted = {}
            for mode in modes:
                kept = Path(f"{args.keep}.{mode}.pickle") if args.keep else None
                if kept and kept.exists():  # fitting again on the same searches
                    observations = pickle.loads(kept.read_bytes())
                    assert len(observations) == len(questions), "kept for other questions"
                else:
                    observations = await observe(runtime, questions, mode)
                    if kept:
                        kept.write_bytes(pickle.dumps(observations))
                fitted[mode] = fit_mode(mode, questions, observations)
            if len(fitted) == 2:
                cv = "; ".join(
                    f"{m}: coverage {f['figures']['coverage']:.2f}, precision "
                    f"{f['figures']['precision']:.2f}, out of scope handed off "
                    f"{f['figures']['oos handed off']:.2f}"
                    for m, f in fitted.items()
                )
                note = (
                    f"{date.today().isoformat()}, {len(articles)} StackFAQ threads, "
                    f"{sum(q.right is not None for q in questions)} paraphrases in scope, "
                    f"{sum(q.right is None for q in questions)} Banking77 messages (seed {SEED}) "
                    "out of scope; "
                    f"held out (5 folds by thread) {cv}"
                )
                write_constants(fitted, note)
                print("  written to bots/confidence.py")
        else:
            for mode in modes:
                show(
                    f"StackFAQ as shipped (in-sample), {mode}",
                    await as_shipped(runtime, questions, mode),
                )
        await runtime.close()
        if args.skip_transfer:
            return
        runtime = await knowledge_base(banking_url, banking_articles, use_semantic)
        print(
            f"Transfer: Banking77 as an FAQ, {len(banking_articles)} articles, "
            f"{sum(q.right is not None for q in banking_questions)} in scope, "
            f"{sum(q.right is None for q in banking_questions)} StackFAQ out of scope"
        )
        for mode in modes:
            show(f"as shipped, {mode}", await as_shipped(runtime, banking_questions, mode))
        await runtime.close()


async def latency(args) -> None:
    """POST /api/v1/bot/reply through the app at 1,000 articles, semantic extra on."""
    import httpx

    from bench.kb_latency import Writer
    from tresen.accounts import create_token, create_user
    from tresen.app import create_app

    assert semantic.available(), "pip install -e '.[semantic]'"
    rng = random.Random(7)
    writer = Writer(rng, small=False)
    records = []
    for number in range(args.articles):
        language = "de" if number % 2 else "en"
        records.append(
            (
                f"article {number}",
                {
                    "slug": f"a-{number}",
                    "language": language,
                    "title": writer.text(language, rng.randint(4, 8)).capitalize(),
                    "body": ". ".join(
                        writer.text(language, rng.randint(8, 20)).capitalize() for _ in range(6)
                    )
                    + ".",
                    "visibility": rng.choice(["public"] * 8 + ["internal", "draft"]),
                },
            )
        )
    questions = [
        (writer.text(lang, rng.randint(5, 15)) + "?", lang)
        for lang in ("de", "en") * (args.queries // 2)
    ]
    with database_urls(False) as (url,):
        runtime = await migrated_runtime(url)
        report = await import_articles(runtime, records)
        assert report.created == len(records), report.rejected[:3]
        started = time.perf_counter()
        await semantic.embed_pending(runtime, batch=64)
        embedded = time.perf_counter() - started
        await create_user(runtime, email="bench@example.com", name="Bench", role="agent")
        token = await create_token(runtime, "bench@example.com")
        app = create_app(runtime=runtime)
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        timings: dict[str, list[float]] = {"stateless": [], "conversation": []}
        actions: dict[str, int] = {}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for text, lang in questions[:20]:  # warm the caches
                await client.post(
                    "/api/v1/bot/reply", json={"text": text, "lang": lang}, headers=headers
                )
            for n, (text, lang) in enumerate(questions):
                kind = "conversation" if n % 2 else "stateless"
                body = {"text": text, "lang": lang}
                if kind == "conversation":
                    body["conversation_id"] = f"bench-{n % 50}"
                began = time.perf_counter()
                response = await client.post("/api/v1/bot/reply", json=body, headers=headers)
                timings[kind].append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
                action = response.json()["action"]
                actions[action] = actions.get(action, 0) + 1
        await runtime.close()
    print(
        f"{args.articles} articles (SQLite, semantic extra; embedded in {embedded:.0f} s), "
        f"{len(questions)} questions, actions {actions}"
    )
    every = sorted(timings["stateless"] + timings["conversation"])
    for name, values in (*timings.items(), ("all", every)):
        values = sorted(values)
        print(
            f"  {name}: p50 {statistics.median(values):.1f} ms, "
            f"p95 {values[int(len(values) * 0.95)]:.1f} ms, "
            f"p99 {values[int(len(values) * 0.99)]:.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit and write bots/confidence.py")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--threads", type=int, help="only the first N threads (a quick try)")
    parser.add_argument("--skip-transfer", action="store_true", help="StackFAQ only")
    parser.add_argument(
        "--keep", help="--fit: keep the searches' features in PATH.<mode>.pickle, or reuse them"
    )
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    if not STACKFAQ.exists() or not BANKING77.exists():
        sys.exit(f"no data at {STACKFAQ} or {BANKING77}")
    asyncio.run(latency(args) if args.latency else quality(args))
