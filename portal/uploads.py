"""Files a signed-in customer attaches in the portal (a reply, a new request): how many, how
large, and of which types, told by their first bytes (never by the name or the browser's
word). A file that does not fit is refused with the reason, before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from tresen.i18n import _

MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 20 * 1024 * 1024
# The body a form with files may have: the files and the text around them.
FORM_BYTES = MAX_TOTAL_BYTES + 1024 * 1024
# What a customer may attach, told by the first bytes.
FILE_TYPES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}
TEXT_TYPE = "text/plain"
# Shown beside the file field (accept=).
ACCEPT = ".png,.jpg,.jpeg,.gif,.webp,.pdf,.txt"


@dataclass(frozen=True)
class CustomerFile:
    filename: str
    content_type: str
    content: bytes


def file_type(content: bytes) -> str | None:
    """The type the content is (one the portal takes), or None."""
    for content_type, signatures in FILE_TYPES.items():
        if any(content.startswith(signature) for signature in signatures):
            if content_type == "image/webp" and content[8:12] != b"WEBP":
                continue
            return content_type
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Plain text: no control characters but line ends and tabs (no binaries in disguise).
    if any(ord(c) < 32 and c not in "\t\r\n\f" for c in text):
        return None
    return TEXT_TYPE


def _filename(name: str) -> str:
    """The file's own name, without a path a browser may have sent along."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(c for c in name if ord(c) >= 32)
    return (name or "file")[:255]


async def read_files(form, field: str = "files") -> list[CustomerFile]:
    """The form's files, checked: at most MAX_FILES, each up to MAX_FILE_BYTES, together up
    to MAX_TOTAL_BYTES (413), of the FILE_TYPES or plain text (415)."""
    items = [item for item in form.getlist(field) if isinstance(item, UploadFile)]
    items = [item for item in items if item.filename]
    if len(items) > MAX_FILES:
        raise HTTPException(413, _("At most %(count)s files per message.", count=MAX_FILES))
    files, total = [], 0
    for item in items:
        # The parser spooled the file: its size is known before it is read.
        if (item.size or 0) > MAX_FILE_BYTES:
            raise HTTPException(
                413, _("%(name)s is larger than 10 MB.", name=_filename(item.filename))
            )
        content = await item.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            raise HTTPException(
                413, _("%(name)s is larger than 10 MB.", name=_filename(item.filename))
            )
        total += len(content)
        if total > MAX_TOTAL_BYTES:
            raise HTTPException(413, _("The files may add up to 20 MB per message."))
        content_type = file_type(content)
        if content_type is None:
            raise HTTPException(
                415,
                _(
                    "%(name)s is not a picture (PNG, JPEG, GIF, WebP), a PDF or a text file.",
                    name=_filename(item.filename),
                ),
            )
        files.append(CustomerFile(_filename(item.filename), content_type, content))
    return files
