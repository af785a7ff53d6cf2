"""Every HTML that came from outside is sanitized here before it is stored or shown."""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser

import nh3

_ALLOWED_TAGS = nh3.ALLOWED_TAGS | {"span", "div", "font", "center", "u", "s"}
_ALLOWED_ATTRIBUTES = {
    **nh3.ALLOWED_ATTRIBUTES,
    "*": {"style", "title", "dir", "lang"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "font": {"color", "size", "face"},
}


def sanitize_html(raw: str) -> str:
    """Safe to show in a page: no scripts, handlers or javascript: URLs; links open safely."""
    return nh3.clean(
        raw,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


class _TextExtractor(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
    SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def html_to_text(raw: str) -> str:
    """A plain-text version of HTML for previews and search."""
    parser = _TextExtractor()
    parser.feed(raw)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def text_to_html(text: str) -> str:
    """Plain text as safe HTML paragraphs."""
    return "".join(
        f"<p>{html_lib.escape(block).replace(chr(10), '<br>')}</p>"
        for block in re.split(r"\n{2,}", text.strip())
        if block
    )
