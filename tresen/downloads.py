"""Files sent to browsers: only images that cannot carry script are shown inline; everything
else is a download, named safely."""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.responses import Response

INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def disposition(kind: str, filename: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:150] or "download"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename[:150])}"


def file_response(content: bytes, content_type: str, filename: str, *, public: bool) -> Response:
    inline = content_type.lower() in INLINE_TYPES
    return Response(
        content,
        media_type=content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": disposition("inline" if inline else "attachment", filename),
            "Cache-Control": f"{'public' if public else 'private'}, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )
