"""Import and export of articles: a folder of Markdown files with front matter, JSON, or
CSV (`question,answer[,category,language]`).

Import creates articles, or updates the one with the same slug (for CSV, which has
none: the same question in the same language), so importing again changes nothing;
every row it cannot take is named with the reason, and the others are kept. Folder and
JSON carry every field an article has and its files (a round trip loses nothing): in a
folder, an article's files lie in `<slug>.files/` beside its `<slug>.md`; in JSON they are
`files: [{filename, content_type, data (base64)}]`. CSV carries its four columns.
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import select

from knowledge_base.articles import ArticleError, article_record, create_article, update_article
from knowledge_base.files import files_of, put_file, remove_file
from knowledge_base.models import LANGUAGES, VISIBILITIES, Article
from tresen.runtime import ActionError, Runtime

CHUNK = 200  # rows per transaction
CSV_COLUMNS = ("question", "answer", "category", "language")
# A spreadsheet runs a cell that begins like a formula (OWASP "CSV injection": =, +, -, @,
# tab, carriage return), e.g. `=HYPERLINK(...)` in an article opened by the person who
# exported it. Such cells are written after a single quote, which spreadsheets show as text;
# import takes one quote off again, so a round trip keeps every value.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A value as a CSV cell no spreadsheet takes for a formula."""
    return "'" + value if value.lstrip("'").startswith(_FORMULA_START) else value


def from_csv_cell(value: str) -> str:
    """The value a `csv_cell` holds."""
    if value.startswith("'") and value.lstrip("'").startswith(_FORMULA_START):
        return value[1:]
    return value


class TransferError(ValueError):
    """A file that cannot be read at all; names it and why."""


@dataclass
class Report:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (where, why)


def read(path: Path, *, language: str = "de", visibility: str = "public") -> list[tuple[str, dict]]:
    """(where, record) pairs from a folder, a .json or a .csv file."""
    if path.is_dir():
        return _read_folder(path)
    if not path.exists():
        raise TransferError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise TransferError(f"{path}: not JSON ({error})") from None
        items = data.get("articles") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise TransferError(f'{path}: expected a list of articles or {{"articles": [...]}}')
        return [(f"{path.name}, article {n + 1}", item) for n, item in enumerate(items)]
    if path.suffix.lower() == ".csv":
        return _read_csv(path, language, visibility)
    raise TransferError(f"{path}: not a folder, .json or .csv")


def _read_csv(path: Path, language: str, visibility: str) -> list[tuple[str, dict]]:
    try:
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            missing = [c for c in ("question", "answer") if c not in (reader.fieldnames or [])]
            if missing:
                raise TransferError(f"{path}: no column {missing[0]!r}")
            rows = []
            for row in reader:
                rows.append(
                    (
                        f"{path.name}, line {reader.line_num}",
                        {
                            "title": from_csv_cell(row.get("question") or ""),
                            "body": from_csv_cell(row.get("answer") or ""),
                            "category": from_csv_cell(row.get("category") or "") or None,
                            "language": from_csv_cell(row.get("language") or "") or language,
                            "visibility": visibility,
                        },
                    )
                )
            return rows
    except UnicodeDecodeError as error:
        raise TransferError(f"{path}: not UTF-8 ({error})") from None
    except csv.Error as error:
        raise TransferError(f"{path}: not CSV ({error})") from None


def _read_folder(path: Path) -> list[tuple[str, dict]]:
    rows = []
    for file in sorted(path.rglob("*.md")):
        if any(part.endswith(".files") for part in file.relative_to(path).parts[:-1]):
            continue  # an article's attachment, not an article
        where = str(file.relative_to(path))
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            rows.append((where, {"_error": "not UTF-8"}))
            continue
        meta, body = {}, text
        if text.startswith("---\n"):
            end = text.find("\n---\n", 4)
            if end == -1:
                rows.append((where, {"_error": "front matter is not closed by ---"}))
                continue
            try:
                meta = yaml.safe_load(text[4:end]) or {}
            except yaml.YAMLError as error:
                rows.append((where, {"_error": f"front matter is not YAML: {error}"}))
                continue
            body = text[end + 5 :]
        if not isinstance(meta, dict):
            rows.append((where, {"_error": "front matter is not a mapping"}))
            continue
        record = {**meta, "body": body}
        record.setdefault("slug", file.stem)
        record.setdefault("language", file.parent.name if file.parent != path else None)
        attachments = file.with_suffix(".files")
        if attachments.is_dir():
            record["files"] = [
                {"filename": f.name, "content": f.read_bytes()}
                for f in sorted(attachments.iterdir())
                if f.is_file()
            ]
        rows.append((where, record))
    return rows


def _values(record: dict) -> dict:
    """The article's fields from a record; ArticleError names what is wrong."""
    if not isinstance(record, dict):
        raise ArticleError("article", "an article is an object with a title")
    if "_error" in record:
        raise ArticleError("file", record["_error"])
    unknown = set(record) - {
        "slug",
        "title",
        "body",
        "language",
        "translation_group",
        "visibility",
        "keywords",
        "category",
        "reviewed_at",
        "id",
        "files",
    }
    if unknown:
        raise ArticleError(sorted(unknown)[0], f"unknown field {sorted(unknown)[0]!r}")
    values = {key: record.get(key) for key in record if key not in ("id", "files")}
    if not isinstance(values.get("title"), str) or not values["title"].strip():
        raise ArticleError("title", "no title")
    if values.get("language") not in LANGUAGES:
        raise ArticleError("language", f"language {values.get('language')!r} is not de or en")
    values.setdefault("visibility", "draft")
    if values["visibility"] not in VISIBILITIES:
        raise ArticleError("visibility", f"visibility {values['visibility']!r} is not known")
    if not isinstance(values.get("body", ""), str):
        raise ArticleError("body", "the body is text")
    reviewed = values.get("reviewed_at")
    if isinstance(reviewed, str):
        try:
            values["reviewed_at"] = datetime.fromisoformat(reviewed)
        except ValueError:
            raise ArticleError("reviewed_at", f"reviewed_at {reviewed!r} is not a date") from None
        if values["reviewed_at"].tzinfo is None:
            raise ArticleError("reviewed_at", f"reviewed_at {reviewed!r} has no timezone")
    elif isinstance(reviewed, datetime):
        if reviewed.tzinfo is None:  # YAML's own timestamps are UTC
            values["reviewed_at"] = reviewed.replace(tzinfo=UTC)
    elif reviewed is not None:
        raise ArticleError("reviewed_at", f"reviewed_at {reviewed!r} is not a date")
    values["keywords"] = values.get("keywords") or []
    for key in ("slug", "translation_group", "category"):
        if values.get(key) is not None and not isinstance(values[key], str):
            raise ArticleError(key, f"{key} is text, not {values[key]!r}")
    return values


def _files(record: dict) -> list[tuple[str, bytes, str | None]] | None:
    """The record's files (name, content, type), or None when it says nothing of files."""
    if "files" not in record or record["files"] is None:
        return None
    if not isinstance(record["files"], list):
        raise ArticleError("files", "files are a list")
    found = []
    for number, item in enumerate(record["files"], 1):
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            raise ArticleError("files", f"file {number} has no filename")
        content = item.get("content")
        if content is None:
            try:
                content = base64.b64decode(item.get("data") or "", validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise ArticleError("files", f"{item['filename']}: data is not base64") from None
        found.append((item["filename"], content, item.get("content_type")))
    return found


async def _sync_files(tx, article, files, owner_id) -> bool:
    """Make the article's files exactly these; whether anything changed."""
    changed = False
    kept = set()
    for name, content, content_type in files:
        file, did = await put_file(tx, article, name, content, content_type, user_id=owner_id)
        kept.add(file.filename)
        changed |= did
    for file in await files_of(tx.session, article.id):
        if file.filename not in kept:
            await remove_file(tx, article, file.filename)
            changed = True
    return changed


async def import_articles(
    runtime: Runtime,
    rows: list[tuple[str, dict]],
    *,
    progress: Callable[[int, int], None] | None = None,
    owner_id: int | None = None,
) -> Report:
    report = Report()
    for start in range(0, len(rows), CHUNK):
        async with runtime.transaction() as tx:
            for where, record in rows[start : start + CHUNK]:
                try:
                    values = _values(record)
                    files = _files(record)
                    if values.get("slug"):
                        same = Article.slug == values["slug"]
                    else:  # CSV rows have no slug: the same question in the same language
                        same = (Article.title == values["title"].strip()[:300]) & (
                            Article.language == values["language"]
                        )
                    existing = await tx.session.scalar(select(Article).where(same).limit(1))
                    if existing is not None and existing.language != values["language"]:
                        raise ArticleError(
                            "language",
                            f"slug {existing.slug!r} is a {existing.language} article, "
                            f"not {values['language']}",
                        )
                    async with tx.session.begin_nested():  # a bad file undoes its article
                        if existing is None:
                            article = await create_article(tx, **values, owner_id=owner_id)
                            if files is not None:
                                await _sync_files(tx, article, files, owner_id)
                            report.created += 1
                        else:
                            changes = {
                                key: value
                                for key, value in values.items()
                                if key not in ("slug", "translation_group")
                            }
                            changed = await update_article(
                                tx, existing, changes, editor_id=owner_id
                            )
                            if files is not None:
                                changed = (
                                    await _sync_files(tx, existing, files, owner_id) or changed
                                )
                            if changed:
                                report.updated += 1
                            else:
                                report.unchanged += 1
                except ActionError as error:  # the article's or a file's value
                    report.rejected.append((where, f"{error.field}: {error}"))
        if progress:
            progress(min(start + CHUNK, len(rows)), len(rows))
    return report


async def export_articles(runtime: Runtime, path: Path) -> int:
    """Write every article to a folder, a .json or a .csv file; the number written."""
    async with runtime.read() as session:
        articles = list(await session.scalars(select(Article).order_by(Article.id)))
        records = [await article_record(session, article) for article in articles]
        files = {}
        if path.suffix.lower() != ".csv":
            for article, record in zip(articles, records, strict=True):
                listed = await files_of(session, article.id)
                for file in listed:
                    await session.refresh(file, ["content"])
                files[record["slug"]] = listed
    if path.suffix.lower() == ".json":
        for record in records:
            record["files"] = [
                {
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "data": base64.b64encode(f.content).decode(),
                }
                for f in files[record["slug"]]
            ]
        path.write_text(json.dumps({"articles": records}, ensure_ascii=False, indent=1))
    elif path.suffix.lower() == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(CSV_COLUMNS)
            for record in records:
                cells = (
                    record["title"],
                    record["body"],
                    record["category"] or "",
                    record["language"],
                )
                writer.writerow([csv_cell(cell) for cell in cells])
    else:
        path.mkdir(parents=True, exist_ok=True)
        for record in records:
            meta = {key: value for key, value in record.items() if key != "body"}
            folder = path / record["language"]
            folder.mkdir(exist_ok=True)
            front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
            (folder / f"{record['slug']}.md").write_text(
                f"---\n{front}---\n{record['body']}", encoding="utf-8"
            )
            if files[record["slug"]]:
                attachments = folder / f"{record['slug']}.files"
                attachments.mkdir(exist_ok=True)
                for file in files[record["slug"]]:
                    (attachments / file.filename).write_bytes(file.content)
    return len(records)
