"""The bot benchmark's question sets: FAQs with their in-scope and out-of-scope questions.

Two domains, each an FAQ with questions asked in other words, and each the other's
out-of-scope questions:
- StackFAQ: 125 threads as articles (question as title, first answer as body), their 1,249
  paraphrases in scope; out of scope: a fixed-seed sample of Banking77's customer messages.
- Banking77 as an FAQ: its 77 intents as articles (the intent's name as the title, four of
  its messages as the body), eight other messages per intent in scope; out of scope: a sample
  of StackFAQ's paraphrases.

The FAQs a desk really has are often small (a dozen to a few dozen articles), where every
cosine sits differently: `cut` keeps a random few articles of an FAQ with their questions in
scope and the other domain's questions out of scope (questions about the articles cut away
are left out: the goal's out of scope is another domain's questions).

Every question carries its topic (`group`: the StackFAQ thread or Banking77 intent it is
about, in either role), so that folds never put one topic's questions in training and test
at once, whichever sets they sit in.

Both of those are paraphrases of long questions to FAQs of one kind. What a desk's customers
type into a chat is shorter and plainer ("can I bring my dog", "zählerstand melden"), to
small FAQs in German or English, where cosines sit lower. The plain FAQs in bench/faqs/ (JSON;
invented companies, written for this benchmark: articles, 3-4 customer questions each, and
questions no article answers) are such sets. Each FAQ is one topic: the folds hold an FAQ out
whole, so their held-out figures are those of an FAQ the models have never seen.
bench/faqs/unseen/ holds two more that no fit reads: `python -m bench.bot --faq` checks them.
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from bench.kb_faq import DATA as STACKFAQ
from bench.kb_faq import load as load_stackfaq

BANKING77 = Path(__file__).resolve().parents[2] / "shared/data/datasets/banking77/train.csv"
SEED = 17
OUT_OF_SCOPE = 1000
BANKING_TOPIC = 100_000  # topics of Banking77's intents: BANKING_TOPIC + the intent's number
PLAIN_TOPIC = 200_000  # topics of the plain FAQs: PLAIN_TOPIC + the FAQ's number
PLAIN_FAQS = Path(__file__).resolve().parent / "faqs"


@dataclass
class Question:
    text: str
    right: int | None  # the right article's slug number; None: out of scope
    group: int  # the topic: a StackFAQ thread's number, or BANKING_TOPIC + an intent's


@dataclass
class QuestionSet:
    name: str
    domain: str  # "stackfaq" | "banking" | "plain"
    articles: list[dict]
    questions: list[Question]
    language: str = "en"  # the page's: what the bot is asked in
    cut_from: str | None = None  # a cut's whole FAQ

    @property
    def in_scope(self) -> int:
        return sum(q.right is not None for q in self.questions)

    @property
    def out_of_scope(self) -> int:
        return sum(q.right is None for q in self.questions)


def banking_rows() -> list[tuple[str, str]]:
    with BANKING77.open(newline="", encoding="utf-8") as handle:
        return [(row["text"].strip(), row["category"]) for row in csv.DictReader(handle)]


def _intents(rows) -> dict[str, int]:
    return {category: n for n, category in enumerate(sorted({c for _, c in rows}))}


def stackfaq_set(threads: int | None = None) -> QuestionSet:
    articles, queries = load_stackfaq(STACKFAQ)
    if threads:
        articles = articles[:threads]
        queries = [q for q in queries if q[1] < threads]
    questions = [Question(text, number, number) for text, number in queries]
    rows = banking_rows()
    intents = _intents(rows)
    sample = random.Random(SEED).sample(rows, OUT_OF_SCOPE if not threads else 200)
    questions += [Question(text, None, BANKING_TOPIC + intents[c]) for text, c in sample]
    return QuestionSet("StackFAQ", "stackfaq", articles, questions)


def humanized(category: str) -> str:
    return category.replace("_", " ").capitalize()


def banking_set(threads: int | None = None) -> QuestionSet:
    """Banking77's intents as an FAQ; StackFAQ's paraphrases as out of scope."""
    rows = banking_rows()
    by_intent: dict[str, list[str]] = {}
    for text, category in rows:
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
        questions += [Question(t, number, BANKING_TOPIC + number) for t in texts[4:12]]
    _, queries = load_stackfaq(STACKFAQ)
    sample = rng.sample(queries, 600 if not threads else 150)
    questions += [Question(text, None, thread) for text, thread in sample]
    return QuestionSet("Banking77", "banking", articles, questions)


def read_faq(path: Path) -> dict:
    """A plain FAQ's JSON, checked: ValueError naming the file and what is wrong."""
    try:
        faq = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    problems = []
    if not isinstance(faq, dict):
        raise ValueError(f"{path}: not a JSON object")
    if faq.get("language") not in ("de", "en"):
        problems.append(f"language {faq.get('language')!r} (de or en)")
    if not isinstance(faq.get("name"), str) or not faq["name"].strip():
        problems.append("name missing")
    articles = faq.get("articles")
    if not isinstance(articles, list) or not articles:
        problems.append("articles missing (a list of {slug, title, body, questions})")
    else:
        for n, article in enumerate(articles, 1):
            for field in ("slug", "title", "body"):
                if not isinstance(article.get(field), str) or not article[field].strip():
                    problems.append(f"article {n}: {field} missing")
            if not isinstance(article.get("questions"), list):
                problems.append(f"article {n}: questions missing (a list, may be empty)")
    if not isinstance(faq.get("out_of_scope", []), list):
        problems.append("out_of_scope is not a list")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    faq.setdefault("out_of_scope", [])
    return faq


def plain_set(path: Path, number: int) -> QuestionSet:
    """One of bench/faqs/: its articles public, its questions in scope, its `out_of_scope`."""
    faq = read_faq(path)
    language, group = faq["language"], PLAIN_TOPIC + number
    articles, questions = [], []
    for n, article in enumerate(faq["articles"]):
        slug = re.sub(r"[^a-z0-9]+", "-", article["slug"].lower()).strip("-") or "article"
        articles.append(
            {
                "slug": f"{slug}-{n + 1}",
                "title": article["title"],
                "body": article["body"],
                "language": language,
                "visibility": "public",
            }
        )
        questions += [Question(text, n, group) for text in article["questions"]]
    questions += [Question(text, None, group) for text in faq["out_of_scope"]]
    return QuestionSet(f"{faq['name']} ({language})", "plain", articles, questions, language)


def plain_sets() -> list[QuestionSet]:
    return [plain_set(p, n) for n, p in enumerate(sorted(PLAIN_FAQS.glob("*.json")))]


def cut(whole: QuestionSet, size: int, seed: int) -> QuestionSet:
    """`size` random articles of an FAQ, their questions, and the other domain's."""
    numbers = sorted(random.Random(seed).sample(range(len(whole.articles)), size))
    kept = set(numbers)
    return QuestionSet(
        f"{whole.name} cut to {size} (seed {seed})",
        whole.domain,
        [whole.articles[n] for n in numbers],
        [q for q in whole.questions if q.right in kept or (q.right is None)],
        whole.language,
        whole.name,
    )


def question_sets(threads: int | None = None) -> list[QuestionSet]:
    """StackFAQ and the plain FAQs (the confidence models are fitted on these), then the
    sets that check them: Banking77 as an FAQ, and both big FAQs cut small."""
    stackfaq, banking = stackfaq_set(threads), banking_set(threads)
    if threads:
        return [stackfaq, banking]
    return [
        stackfaq,
        *plain_sets(),
        banking,
        cut(stackfaq, 12, 1),
        cut(stackfaq, 30, 2),
        cut(banking, 12, 3),
        cut(banking, 30, 4),
    ]
