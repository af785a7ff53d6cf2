"""Images and attachments of articles: put (new or replaced by name), remove, list.

A file's address is /help/<slug>/files/<filename>: the article's Markdown links it there
(`![Screenshot](/help/refund/files/screenshot.png)`), and it is as visible as its article."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import undefer

from knowledge_base.articles import check_publishing
from knowledge_base.events import ArticleChanged
from knowledge_base.models import Article, ArticleFile
from tresen.runtime import ActionError, Transaction

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES = 50  # per article
_UNSAFE = re.compile(r"[^\w.\- ]+")


class FileError(ActionError):
    """A file that cannot be kept; names the field."""


def clean_filename(name: str) -> str:
    """The last part of a path, without control or path characters; FileError if nothing
    usable is left."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = _UNSAFE.sub("_", name).strip(" ._")[:200]
    if not name:
        raise FileError("filename", "the file needs a name (letters, digits, . _ -)")
    return name


def content_type_of(filename: str, declared: str | None) -> str:
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared and declared != "application/octet-stream" and "/" in declared:
        return declared[:200]
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def file_url(slug: str, filename: str) -> str:
    return f"/help/{slug}/files/{quote(filename)}"


async def put_file(
    tx: Transaction,
    article: Article,
    filename: str,
    content: bytes,
    content_type: str | None = None,
    *,
    user_id: int | None = None,
    editor_role: str | None = None,
) -> tuple[ArticleFile, bool]:
    """Keep a file with the article (a file of the same name is replaced); returns it and
    whether anything changed."""
    check_publishing(editor_role, article.visibility)
    name = clean_filename(filename)
    if not content:
        raise FileError("content", f"{name} is empty")
    if len(content) > MAX_FILE_BYTES:
        raise FileError("content", f"{name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    kind = content_type_of(name, content_type)
    existing = await tx.session.scalar(
        select(ArticleFile)
        .options(undefer(ArticleFile.content))  # compared below
        .where(ArticleFile.article_id == article.id, ArticleFile.filename == name)
    )
    if existing is not None:
        if existing.content == content and existing.content_type == kind:
            return existing, False
    else:
        count = len(await files_of(tx.session, article.id))
        if count >= MAX_FILES:
            raise FileError("filename", f"an article keeps at most {MAX_FILES} files")
        existing = ArticleFile(article_id=article.id, filename=name)
        tx.session.add(existing)
    existing.content, existing.content_type, existing.size = content, kind, len(content)
    existing.uploaded_by, existing.at = user_id, tx.now()
    await tx.session.flush()
    tx.emit(ArticleChanged(article_id=article.id))
    return existing, True


async def remove_file(
    tx: Transaction, article: Article, filename: str, *, editor_role: str | None = None
) -> None:
    check_publishing(editor_role, article.visibility)
    found = await tx.session.scalar(
        select(ArticleFile).where(
            ArticleFile.article_id == article.id, ArticleFile.filename == filename
        )
    )
    if found is None:
        raise FileError("filename", f"article {article.id} has no file {filename!r}")
    await tx.session.delete(found)
    tx.emit(ArticleChanged(article_id=article.id))


async def files_of(session, article_id: int) -> list[ArticleFile]:
    """The article's files (without their content), by name."""
    return list(
        await session.scalars(
            select(ArticleFile)
            .where(ArticleFile.article_id == article_id)
            .order_by(ArticleFile.filename)
        )
    )


async def file_content(session, slug: str, filename: str) -> tuple[Article, ArticleFile] | None:
    row = (
        await session.execute(
            select(Article, ArticleFile)
            .join(ArticleFile, ArticleFile.article_id == Article.id)
            .where(Article.slug == slug, ArticleFile.filename == filename)
        )
    ).first()
    if row is None:
        return None
    article, file = row
    await session.refresh(file, ["content"])
    return article, file


def file_json(article: Article, file: ArticleFile) -> dict:
    return {
        "filename": file.filename,
        "content_type": file.content_type,
        "size": file.size,
        "url": file_url(article.slug, file.filename),
    }
