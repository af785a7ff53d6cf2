"""Knowledge base articles: versions, and import/export round trips of 1,000 articles."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from knowledge_base.articles import create_article, restore_version, update_article
from knowledge_base.files import put_file
from knowledge_base.models import Article, ArticleVersion, Category
from knowledge_base.transfer import export_articles, import_articles, read
from tests.fixtures import PNG

WORDS_DE = "Rückerstattung Passwort Rechnung Lieferung Konto Größe Bestellung Straße".split()
WORDS_EN = "refund password invoice delivery account size order street".split()


async def make_kb(runtime, groups: int) -> None:
    rng = random.Random(4)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with runtime.transaction() as tx:
        for n in range(groups):
            group = f"group-{n:04d}"
            for language, words in (("de", WORDS_DE), ("en", WORDS_EN)):
                picked = rng.sample(words, 3)
                article = await create_article(
                    tx,
                    title=f"{picked[0]} {n}: {picked[1]} & {picked[2]}",
                    body=(
                        f"# {picked[0]}\n\n* **{picked[1]}**\n* `{picked[2]}`\n\n"
                        f"| a | b |\n|---|---|\n| {n} | ö |\n\n<script>x</script> ---: 'yes'\n"
                    ),
                    language=language,
                    visibility=rng.choice(("draft", "internal", "public")),
                    keywords=rng.sample(words, 2),
                    category=rng.choice((None, "Konto", "Konto/Passwort", "Billing/Refunds")),
                    translation_group=group,
                    reviewed_at=base + timedelta(days=n) if n % 3 else None,
                )
                if n % 25 == 0:  # images and attachments go along
                    await put_file(tx, article, "screenshot.png", PNG + bytes([n % 256]))
                    await put_file(tx, article, f"Anleitung {n}.pdf", b"%PDF-1.4 " + group.encode())


async def exported(runtime, path) -> dict:
    await export_articles(runtime, path)
    return {record["slug"]: record for record in json.loads(path.read_text())["articles"]}


@pytest.mark.slow  # 1,000 articles, exported and imported twice
async def test_a_thousand_articles_round_trip_through_json_and_folders(runtime, tmp_path):
    await make_kb(runtime, 500)
    first = await exported(runtime, tmp_path / "kb.json")
    assert len(first) == 1000
    assert {record["language"] for record in first.values()} == {"de", "en"}
    for source in (tmp_path / "kb.json", tmp_path / "folder"):
        if source.suffix != ".json":
            await export_articles(runtime, source)
        async with runtime.transaction() as tx:
            await tx.session.execute(delete(Article))
            await tx.session.execute(delete(Category))
        report = await import_articles(runtime, read(source))
        assert (report.created, report.rejected) == (1000, []), report.rejected[:3]
        again = await exported(runtime, tmp_path / "again.json")
        assert again == first, source  # every field and file of every article, both languages
    with_files = [r for r in first.values() if r["files"]]
    assert len(with_files) == 40 and {f["content_type"] for f in with_files[0]["files"]} == {
        "image/png",
        "application/pdf",
    }
    # Importing the same again changes nothing.
    report = await import_articles(runtime, read(tmp_path / "kb.json"))
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1000)


async def test_csv_export_and_import_keep_question_answer_category_language(runtime, tmp_path):
    await make_kb(runtime, 20)
    records = await exported(runtime, tmp_path / "kb.json")
    await export_articles(runtime, tmp_path / "kb.csv")
    rows = list(csv.DictReader(open(tmp_path / "kb.csv", newline="", encoding="utf-8")))
    assert sorted(
        (r["question"], r["answer"], r["category"], r["language"]) for r in rows
    ) == sorted(
        (r["title"], r["body"], r["category"] or "", r["language"]) for r in records.values()
    )
    async with runtime.transaction() as tx:
        await tx.session.execute(delete(Article))
    report = await import_articles(runtime, read(tmp_path / "kb.csv", visibility="public"))
    assert report.created == 40 and not report.rejected
    again = await import_articles(runtime, read(tmp_path / "kb.csv", visibility="public"))
    assert (again.created, again.unchanged) == (0, 40)  # the same questions: no duplicates
    async with runtime.read() as session:
        public = await session.scalar(
            select(func.count()).select_from(Article).where(Article.visibility == "public")
        )
    assert public == 40


async def test_bad_rows_are_named_and_the_rest_imported(runtime, tmp_path):
    source = tmp_path / "bad.json"
    source.write_text(
        json.dumps(
            [
                {"title": "Gut", "body": "ok", "language": "de"},
                {"body": "no title", "language": "de"},
                {"title": "Bonjour", "language": "fr"},
                {"title": "Odd", "language": "en", "colour": "red"},
                {"title": "Late", "language": "en", "reviewed_at": "yesterday"},
                "just a string",
            ]
        )
    )
    report = await import_articles(runtime, read(source))
    assert report.created == 1
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps([{"title": "Gut", "language": "en", "slug": "gut"}]))
    clash = await import_articles(runtime, read(moved))
    assert clash.rejected == [
        ("moved.json, article 1", "language: slug 'gut' is a de article, not en")
    ]
    assert [where for where, _ in report.rejected] == [
        f"bad.json, article {n}" for n in (2, 3, 4, 5, 6)
    ]
    reasons = " | ".join(why for _, why in report.rejected)
    assert "no title" in reasons and "'fr'" in reasons and "'colour'" in reasons
    assert "'yesterday'" in reasons
    broken = tmp_path / "folder" / "de"
    broken.mkdir(parents=True)
    (broken / "open.md").write_text("---\ntitle: never closed\n")
    (broken / "fine.md").write_text("---\ntitle: Passwort vergessen\n---\nSo geht es.")
    report = await import_articles(runtime, read(tmp_path / "folder"))
    assert report.created == 1
    assert report.rejected == [("de/open.md", "file: front matter is not closed by ---")]


async def test_changes_are_versions_and_an_old_one_can_come_back(runtime):
    async with runtime.transaction() as tx:
        article = await create_article(
            tx, title="Rückerstattung beantragen", body="Schreiben Sie uns.", language="de"
        )
        slug = article.slug
        await update_article(tx, article, {"body": "Im Portal unter *Bestellungen*."})
        await update_article(tx, article, {"title": "Geld zurück", "visibility": "public"})
        assert article.slug == slug == "ruckerstattung-beantragen"  # the address stays
        assert "<em>Bestellungen</em>" in article.html
        await restore_version(tx, article, 1)
        assert (article.title, article.body, article.visibility) == (
            "Rückerstattung beantragen",
            "Schreiben Sie uns.",
            "draft",
        )
    async with runtime.read() as session:
        versions = list(
            await session.scalars(
                select(ArticleVersion.version).where(ArticleVersion.article_id == article.id)
            )
        )
    assert sorted(versions) == [1, 2, 3, 4]


async def test_markdown_is_rendered_and_raw_html_never_runs(runtime):
    async with runtime.transaction() as tx:
        article = await create_article(
            tx,
            title="Test",
            body="**fett** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x>",
            language="de",
        )
    assert "<strong>fett</strong>" in article.html
    # Raw HTML is shown as text, never as elements; a javascript: link is no link.
    assert "&lt;script&gt;" in article.html and "<script" not in article.html
    assert "<img" not in article.html and "<a " not in article.html


def test_the_cli_imports_reports_progress_and_names_rejected_rows(tmp_path):
    import os
    import subprocess
    import sys

    source = tmp_path / "faq.csv"
    with open(source, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["question", "answer", "category", "language"])
        for n in range(450):
            writer.writerow([f"Frage {n}", f"Antwort {n}", "FAQ", "de"])
        writer.writerow(["", "an answer without a question", "", "en"])
        writer.writerow(["Question?", "Answer.", "", "fr"])
    env = {**os.environ, "TRESEN_DATA_DIR": str(tmp_path / "data"), "TRESEN_SECRET_KEY": "x"}

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "tresen", *args], env=env, capture_output=True, text=True
        )

    assert cli("migrate").returncode == 0
    done = cli("kb", "import", str(source))
    assert done.returncode == 1  # some rows were rejected
    assert "450 created" in done.stdout and "2 rejected" in done.stdout
    assert "rejected faq.csv, line 452: title: no title" in done.stderr
    assert "rejected faq.csv, line 453: language: language 'fr' is not de or en" in done.stderr
    assert "200/452" in done.stderr and "452/452" in done.stderr  # progress on a large file
    out = tmp_path / "out"
    exported = cli("kb", "export", str(out))
    assert exported.returncode == 0 and "exported 450 articles" in exported.stdout
    assert len(list((out / "de").glob("*.md"))) == 450
    missing = cli("kb", "import", str(tmp_path / "nothing.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
