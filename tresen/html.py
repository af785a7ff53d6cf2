"""Every HTML that came from outside is sanitized here before it is stored or shown."""

from __future__ import annotations

import functools
import html as html_lib
import re

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
    """Safe to show in a page: no scripts, handlers or javascript: URLs; links open safely;
    inline styles dress the text but cannot place, move or stretch it out of its box."""
    return nh3.clean(
        _bounded(raw),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_harmless_attribute,
        filter_style_properties=_STYLE_PROPERTIES,
        url_schemes={"http", "https", "mailto", "tel", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# --- Inline styles ---
# A mail's style could otherwise draw over the console (`position:fixed; z-index` made a
# fake "sign in again" page). Only properties that dress text and boxes are kept, and only
# values made of plain tokens: keywords, colours, quoted font names and non-negative sizes
# up to a limit. No functions but colours (so no url(), expression(), calc(), var()), no
# escapes or comments (so `posi\\tion` or `/**/` cannot smuggle a name past the list), no
# negative sizes (nothing pulled out of its box). nh3 then checks the names once more.
_SIDES = ("top", "right", "bottom", "left")
_STYLE_PROPERTIES = {
    *("color", "background", "background-color"),
    *("font", "font-family", "font-size", "font-style", "font-weight", "font-variant"),
    *("line-height", "letter-spacing", "word-spacing"),
    *("text-align", "text-decoration", "text-decoration-line", "text-decoration-color"),
    *("text-decoration-style", "text-transform", "text-indent", "vertical-align"),
    *("white-space", "word-break", "word-wrap", "overflow-wrap", "direction"),
    *("margin", "padding", *(f"margin-{side}" for side in _SIDES)),
    *(f"padding-{side}" for side in _SIDES),
    *("border", "border-width", "border-style", "border-color", "border-radius"),
    *("border-collapse", "border-spacing"),
    *(f"border-{side}{part}" for side in _SIDES for part in ("", "-width", "-style", "-color")),
    *("width", "height", "max-width", "min-width", "max-height", "min-height"),
    *("list-style", "list-style-type", "list-style-position"),
    *("table-layout", "caption-side", "empty-cells"),
    *("display", "float", "clear", "overflow", "visibility", "hyphens"),
}
_KEYWORDS_ONLY = {
    "display": {"none", "block", "inline", "inline-block", "list-item"}
    | {"table", "table-row", "table-cell"},
    "float": {"left", "right", "none"},
    "clear": {"left", "right", "both", "none"},
    "overflow": {"visible", "hidden", "auto", "scroll"},
    "visibility": {"visible", "hidden", "collapse"},
    "hyphens": {"none", "manual", "auto"},
}
# The largest size kept, per unit (about 2000 pixels each; a percentage as line-height or
# font-size may pass 100).
_MAX_SIZE = {
    "": 1000,
    "px": 2000,
    "pt": 1500,
    "pc": 125,
    "in": 21,
    "cm": 53,
    "mm": 530,
    "em": 125,
    "rem": 125,
    "ex": 250,
    "ch": 250,
    "%": 400,
}
_NUMBER = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_UNIT = r"(?:px|pt|pc|in|cm|mm|em|rem|ex|ch|%)"
_PLAIN_VALUE = re.compile(  # atomic: a token once read is not split again (no backtracking)
    rf"""(?>[ \t\r\n,/]+
    |\#[0-9a-f]{{3,8}}(?![0-9a-z_-])
    |(?:rgba?|hsla?)\([0-9.%, /]*\)
    |{_NUMBER}{_UNIT}?(?![0-9a-z_-])
    |[a-z][a-z-]*
    |"[^"\\<>&;]*"|'[^'\\<>&;]*')+""",
    re.IGNORECASE | re.VERBOSE,
)
# In a plain value digits stand in sizes, colours and font names; a size is the digits no
# letter, digit, "#" or "." comes before.
_SIZE = re.compile(rf"(?<![#0-9a-z_.-])({_NUMBER})({_UNIT})?", re.IGNORECASE)
MAX_STYLE_LENGTH = 4000  # a longer one is no mail program's: dropped, not read
_SIZE_ATTRIBUTE = re.compile(r"\s*([0-9]{1,5})(%?)\s*")


@functools.lru_cache(maxsize=4096)  # a mail repeats its few styles on every cell and line
def harmless_style(style: str) -> str:
    """The declarations of an inline style that cannot move or stretch anything out of
    its box (see above); "" when none is left."""
    if len(style) > MAX_STYLE_LENGTH:
        return ""
    kept = []
    for declaration in style.split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if value.lower().endswith("!important"):
            value = value[: -len("!important")].rstrip()
        if not colon or name not in _STYLE_PROPERTIES or not value or len(value) > 300:
            continue
        if name in _KEYWORDS_ONLY:
            if value.lower() in _KEYWORDS_ONLY[name]:
                kept.append(f"{name}:{value.lower()}")
        elif _plain_value(value):
            kept.append(f"{name}:{value}")
    return ";".join(kept)


def _plain_value(value: str) -> bool:
    if _PLAIN_VALUE.fullmatch(value) is None:
        return False
    return all(float(number) <= _MAX_SIZE[unit.lower()] for number, unit in _SIZE.findall(value))


def _harmless_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's filter for kept attributes: styles made harmless, sizes within reason."""
    if attribute == "style":
        return harmless_style(value) or None
    if attribute in ("width", "height"):
        size = _SIZE_ATTRIBUTE.fullmatch(value)
        if size is None or int(size[1]) > (100 if size[2] else _MAX_SIZE["px"]):
            return None
        return size[1] + size[2]
    return value


# Text extraction reads HTML the way a browser's tokenizer does, in one pass: every
# lookahead (to a tag's ">", a comment's "-->", a script's end) starts where the last
# ended, so hostile input (thousands of unclosed "<!--" or "<a") stays linear.
# html.parser re-scans to the end for each unclosed construct: quadratic.
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
_SKIPPED = {"head", "title"}  # their text is not part of the message
_RAW_TEXT = {tag: re.compile(rf"</{tag}", re.IGNORECASE) for tag in ("script", "style")}
_TAG_START = re.compile(r"<[a-zA-Z/!?]")  # "a < b" is no tag
_TAG_NAME = re.compile(r"(/?)([a-zA-Z][^\s/>]*)")


def html_to_text(raw: str) -> str:
    """A plain-text version of HTML for previews and search (linear in the input)."""
    parts: list[str] = []
    skipping = 0
    position = 0
    while True:
        found = _TAG_START.search(raw, position)
        start = found.start() if found else len(raw)
        if not skipping:
            parts.append(raw[position:start])
        if found is None:
            break
        if raw.startswith("<!--", start):
            end = raw.find("-->", start + 4)
            if end < 0:
                break  # an unclosed comment runs to the end, as browsers read it
            position = end + 3
            continue
        end = raw.find(">", start + 1)
        if end < 0:
            if not skipping:
                parts.append(raw[start:])  # no tag can close any more: the rest is text
            break
        position = end + 1
        match = _TAG_NAME.match(raw, start + 1, end)
        if match is None:
            continue  # <!doctype>, <?xml?>, <![CDATA[...]>, </>: nothing to show
        closing, tag = match.group(1) == "/", match.group(2).lower()
        if tag in _RAW_TEXT and not closing:
            if raw[end - 1] != "/":
                found = _RAW_TEXT[tag].search(raw, position)
                if found is None:
                    break
                position = found.start()
            continue
        if tag in _SKIPPED:
            skipping = max(skipping - 1, 0) if closing else skipping + 1
        elif tag in _BLOCKS:
            parts.append("\n\n" if raw[end - 1] == "/" and not closing else "\n")
    text = html_lib.unescape("".join(parts))
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- Bounding the sanitizer's work ---
# html5ever (under nh3) walks its stack of open elements and its list of active
# formatting elements for many tags: its time grows with the square of the nesting depth
# ("<div>" * 100_000 took minutes). A linear pass follows the tree builder's stacks
# closely enough and drops start tags (with their end tags) that would open an element
# deeper than MAX_DEPTH, or a formatting element past MAX_FORMATTING, keeping the text.
# Where the pass cannot tell what the tree builder does it takes the deeper outcome, so
# its depth is never much below the parser's; mail below the limits passes unchanged.
MAX_DEPTH = 100
MAX_FORMATTING = 16  # the tree builder reopens each of these in every new block

_NAME = re.compile(r"/?([a-zA-Z][^\t\n\f\r />]*)")
# The tokenizer's attribute states: a ">" in quotes does not end a tag; an unclosed
# quote runs to the end. Group 1 is the last run of spaces and slashes ("/>").
_ATTRIBUTES = re.compile(
    r"""(?:([\t\n\f\r /]+)|[^\t\n\f\r />][^\t\n\f\r />=]*"""
    r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"[^"]*(?:"|\Z)|'[^']*(?:'|\Z)|[^\t\n\f\r >]*))?)*"""
)
_COMMENT_END = re.compile(r"--!?>")
_FONT_BREAKS_OUT = re.compile(r"(?:^|[\t\n\f\r /])(?:color|face|size)(?:[\t\n\f\r /=]|$)", re.I)
_RAW_ELEMENTS = {
    tag: re.compile(rf"</{tag}", re.IGNORECASE)
    for tag in ("script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title")
}
_VOID = {
    *("area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image"),
    *("img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr"),
}
_NO_LEVEL = {"html", "head", "body", "frameset"}  # merged or ignored inside a body
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_FORMATTING = {
    *("a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong"),
    *("tt", "u"),
}
_MARKERS = {"applet", "marquee", "object", "td", "th", "caption", "template"}
_SCOPE = {"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"}
_SCOPE |= {"select"}  # inside a select every other end tag is ignored
_BUTTON_SCOPE = _SCOPE | {"button"}
_LIST_SCOPE = _SCOPE | {"ol", "ul"}
_TABLE_SCOPE = {"html", "table", "template"}
_TABLE_PARTS = {"tbody", "thead", "tfoot", "tr", "td", "th", "caption", "colgroup", "col"}
_BODIES = {"tbody", "thead", "tfoot"}
_CLOSES_P = {
    *("address", "article", "aside", "blockquote", "center", "details", "dialog", "dir"),
    *("div", "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main"),
    *("menu", "nav", "ol", "p", "search", "section", "summary", "ul", "pre", "listing"),
    *("form", "table", "xmp", "plaintext", "li", "dd", "dt", "hr", *_HEADINGS),
}
_SPECIAL = _CLOSES_P | _SCOPE | _VOID | _NO_LEVEL | _TABLE_PARTS | set(_RAW_ELEMENTS)
_SPECIAL |= {"button", "noscript"}
_BREAKS_OUT = {
    *("b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em"),
    *("embed", "head", "hr", "i", "img", "li", "listing", "menu", "meta", "nobr", "ol", "p"),
    *("pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table", "tt"),
    *("u", "ul", "var", *_HEADINGS),
}
# Where SVG or MathML takes HTML again (annotation-xml only with an HTML encoding; taken
# as always, the deeper reading).
_INTEGRATION = {"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"}
_DROP, _KEEP, _RAW, _PLAINTEXT = range(4)


class _Open:
    """One open element: its name, whether SVG or MathML, and (formatting) its attributes."""

    __slots__ = ("name", "foreign", "attributes", "open")

    def __init__(self, name: str, foreign: bool = False, attributes: str = "") -> None:
        self.name, self.foreign, self.attributes, self.open = name, foreign, attributes, True


class _TreeDepth:
    """The tree builder's stack of open elements and list of active formatting elements."""

    def __init__(self) -> None:
        self.stack: list[_Open] = []
        self.active: list[_Open | None] = []  # None is a marker (a cell, an object)
        self.names: dict[str, int] = {}  # how many of each name are open: most lookups stop here
        self.stale = False  # a formatting element left the stack while still active
        self.dropped: dict[str, int] = {}

    # Stack operations

    def push(self, name: str, foreign: bool = False, attributes: str = "") -> _Open:
        element = _Open(name, foreign, attributes)
        self.stack.append(element)
        self.names[name] = self.names.get(name, 0) + 1
        return element

    def pop_to(self, index: int) -> None:
        """Pop the element at `index` and all above it."""
        for element in reversed(self.stack[index:]):
            self._closed(element)
        del self.stack[index:]

    def remove(self, element: _Open) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index] is element:
                del self.stack[index]
                self._closed(element)
                return

    def _closed(self, element: _Open) -> None:
        element.open = False
        self.names[element.name] -= 1
        if element.name in _FORMATTING:
            self.stale = True
        if element.name in _MARKERS and not element.foreign:
            while self.active and self.active.pop() is not None:
                pass

    def find(self, names: set[str], blockers: set[str]) -> int:
        """Index of the nearest open element named in `names` before any blocker, or -1."""
        if not any(self.names.get(name) for name in names):
            return -1
        for index in range(len(self.stack) - 1, -1, -1):
            element = self.stack[index]
            if element.foreign:
                return -1
            if element.name in names:
                return index
            if element.name in blockers:
                return -1
        return -1

    def close(self, names: set[str], blockers: set[str]) -> None:
        index = self.find(names, blockers)
        if index >= 0:
            self.pop_to(index)

    def top(self) -> _Open | None:
        return self.stack[-1] if self.stack else None

    # Active formatting elements

    def _after_marker(self) -> int:
        index = len(self.active)
        while index and self.active[index - 1] is not None:
            index -= 1
        return index

    def reconstruct(self) -> None:
        """Reopen the formatting elements that left the stack (text and most tags do)."""
        if not self.stale:
            return
        self.stale = False
        for index in range(self._after_marker(), len(self.active)):
            entry = self.active[index]
            if not entry.open:
                self.active[index] = self.push(entry.name, attributes=entry.attributes)

    def add_formatting(self, name: str, attributes: str) -> None:
        start = self._after_marker()
        same = [
            index
            for index in range(start, len(self.active))
            if self.active[index].name == name and self.active[index].attributes == attributes
        ]
        if len(same) >= 3:  # the "Noah's Ark" clause
            del self.active[same[0]]
        self.active.append(self.push(name, attributes=attributes))

    def adopt(self, name: str) -> None:
        """The end of a formatting element ("adoption agency"), as far as depth goes."""
        top = self.top()
        if top and top.name == name and not top.foreign and top not in self.active:
            self.pop_to(len(self.stack) - 1)
            return
        start = self._after_marker()
        entry = next((e for e in reversed(self.active[start:]) if e.name == name), None)
        if entry is None:
            self.end_other(name)
            return
        if not entry.open:
            self.active.remove(entry)
            return
        above_special = False
        for index in range(len(self.stack) - 1, -1, -1):
            element = self.stack[index]
            if element is entry:
                break
            if element.foreign or element.name in _SCOPE:
                return  # not in scope: ignored
            above_special = above_special or element.name in _SPECIAL
        else:
            return
        self.active.remove(entry)
        if above_special:  # the block stays open; the formatting element moves into it
            self.remove(entry)
        else:
            self.pop_to(index)

    def end_other(self, name: str) -> None:
        """Any other end tag: closes up to its element unless a special one is nearer."""
        if not self.names.get(name):
            return
        for index in range(len(self.stack) - 1, -1, -1):
            element = self.stack[index]
            if element.name == name and not element.foreign:
                self.pop_to(index)
                return
            if element.foreign or element.name in _SPECIAL:
                return

    # Tokens

    def start(self, name: str, attributes: str, self_closing: bool) -> int:
        """What to do with a start tag: keep it, drop it, or read raw text after it."""
        top = self.top()
        if top is not None and top.foreign and top.name not in _INTEGRATION:
            breaks_out = name in _BREAKS_OUT or (
                name == "font" and _FONT_BREAKS_OUT.search(attributes) is not None
            )
            if not breaks_out:
                if self_closing:
                    return _KEEP
                if len(self.stack) >= MAX_DEPTH:
                    return self._drop(name)
                self.push(name, foreign=True)
                return _KEEP
            while (top := self.top()) is not None and top.foreign:
                if top.name in _INTEGRATION:
                    break
                self.pop_to(len(self.stack) - 1)
        return self._start_html(name, attributes, self_closing)

    def _start_html(self, name: str, attributes: str, self_closing: bool) -> int:
        if name in _NO_LEVEL:
            return _KEEP
        in_foreign = self.names.get("svg") or self.names.get("math")
        raw = name in _RAW_ELEMENTS and not in_foreign
        if raw and self.names.get("select") and name not in ("script", "textarea"):
            raw = False  # a select ignores these tags: what follows is markup
        table = self.find({"table"}, _TABLE_SCOPE) if name in _TABLE_PARTS else -1
        if (name in _TABLE_PARTS and table < 0) or (name == "form" and self.names.get("form")):
            return _KEEP  # the parser ignores these here
        opens = not (raw or name in _VOID or (name in ("svg", "math") and self_closing))
        if opens and (
            len(self.stack) >= MAX_DEPTH
            or (name in _FORMATTING and len(self.active) - self._after_marker() >= MAX_FORMATTING)
        ):
            return self._drop(name)
        if name in _CLOSES_P:
            self.close({"p"}, _BUTTON_SCOPE)
        else:
            self.reconstruct()
        if raw:
            return _RAW
        if name == "plaintext":
            return _PLAINTEXT
        if not opens:
            return _KEEP
        top = self.top()
        if name in _HEADINGS and top and top.name in _HEADINGS and not top.foreign:
            self.pop_to(len(self.stack) - 1)
        elif name in ("li", "dd", "dt"):
            self._close_item({"li"} if name == "li" else {"dd", "dt"})
        elif name in ("button", "nobr"):
            if name == "nobr" and self.find({"nobr"}, _SCOPE) >= 0:
                self.adopt("nobr")
                self.reconstruct()
            else:
                self.close({name}, _SCOPE)
        elif name == "a":
            start = self._after_marker()
            entry = next((e for e in reversed(self.active[start:]) if e.name == "a"), None)
            if entry is not None:
                self.adopt("a")
                if entry in self.active:
                    self.active.remove(entry)
                self.remove(entry)
        elif name in ("option", "optgroup"):
            if top and top.name == "option":
                self.pop_to(len(self.stack) - 1)
        elif name == "table":
            if top and top.name in ("table", "tr", *_BODIES):
                self.pop_to(self.find({"table"}, _TABLE_SCOPE))
        elif name in _TABLE_PARTS:
            self._start_table_part(name, table)
        if name in _FORMATTING:
            self.add_formatting(name, attributes)
        else:
            self.push(name, foreign=name in ("svg", "math"))
            if name in _MARKERS:
                self.active.append(None)
        return _KEEP

    def _close_item(self, names: set[str]) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            element = self.stack[index]
            if element.name in names and not element.foreign:
                self.pop_to(index)
                return
            if element.foreign or (
                element.name in _SPECIAL and element.name not in ("address", "div", "p")
            ):
                return

    def _start_table_part(self, name: str, table: int) -> None:
        if name in ("caption", "colgroup"):
            self.pop_to(table + 1)
            return
        self.close(
            {"td", "th"} if name in ("td", "th") else {name} if name == "tr" else _BODIES,
            _TABLE_SCOPE,
        )
        if name in ("td", "th", "tr") and self.top().name == "table":
            self.push("tbody")  # the parser adds the body and row the markup left out
        if name in ("td", "th") and self.top().name in _BODIES:
            self.push("tr")

    def _drop(self, name: str) -> int:
        self.dropped[name] = self.dropped.get(name, 0) + 1
        return _DROP

    def end(self, name: str) -> int:
        """What to do with an end tag: keep it, or drop it with its dropped start tag."""
        if self.dropped.get(name):
            self.dropped[name] -= 1
            return _DROP
        top = self.top()
        if top is not None and top.foreign:
            for index in range(len(self.stack) - 1, -1, -1):
                element = self.stack[index]
                if not element.foreign:
                    break
                if element.name == name:
                    self.pop_to(index)
                    return _KEEP
        if name == "p":
            self.close({"p"}, _BUTTON_SCOPE)
        elif name == "li":
            self.close({"li"}, _LIST_SCOPE)
        elif name in _HEADINGS:
            self.close(_HEADINGS, _SCOPE)
        elif name == "form":
            index = self.find({"form"}, _SCOPE)
            if index >= 0:
                self.remove(self.stack[index])
        elif name in _TABLE_PARTS or name == "table":
            self.close({name}, _TABLE_SCOPE)
        elif name == "select":
            self.close({"select"}, _SPECIAL - {"select"} | _FORMATTING)
        elif name in _FORMATTING:
            self.adopt(name)
        elif name in _SPECIAL:
            if name not in _NO_LEVEL and name not in _VOID:
                self.close({name}, _SCOPE)
        else:
            self.end_other(name)
        return _KEEP


def _bounded(raw: str) -> str:
    """`raw` without the tags nested past the limits (linear; unchanged below them)."""
    if raw.count("<") <= min(MAX_DEPTH, MAX_FORMATTING):
        return raw  # too few tags to nest past a limit
    tree = _TreeDepth()
    pieces: list[str] = []
    copied = scan = 0  # copied: raw[:copied] is in pieces; scan: where reading goes on
    while True:
        found = _TAG_START.search(raw, scan)
        if found is None:
            break
        start = found.start()
        if start > scan:
            tree.reconstruct()
        if raw.startswith("<!--", start):
            if raw.startswith("<!-->", start) or raw.startswith("<!--->", start):
                scan = raw.index(">", start) + 1
                continue
            end = _COMMENT_END.search(raw, start + 4)
            if end is None:
                break
            scan = end.end()
            continue
        name = _NAME.match(raw, start + 1)
        if name is None:  # <!doctype>, <?xml?>, </ x>: read as comments up to ">"
            if raw.startswith("</>", start):
                scan = start + 3
                continue
            end = raw.find(">", start + 2)
            if end < 0:
                break
            scan = end + 1
            continue
        attributes = _ATTRIBUTES.match(raw, name.end())
        end = attributes.end()
        if end >= len(raw):
            break  # a tag the end cuts off: the parser drops it
        scan = end + 1
        tag = name.group(1).lower()
        if raw[start + 1] == "/":
            action = tree.end(tag)
        else:
            self_closing = attributes.end(1) == end and raw[end - 1] == "/"
            action = tree.start(tag, raw[name.end() : end], self_closing)
            if action == _RAW:
                end_tag = _RAW_ELEMENTS[tag].search(raw, scan)
                if end_tag is None:
                    break
                scan = end_tag.start()
            elif action == _PLAINTEXT:
                break
        if action == _DROP:
            if start > copied:
                pieces.append(raw[copied:start])
            copied = scan
    if copied == 0:
        return raw
    pieces.append(raw[copied:])
    return "".join(pieces)


def text_to_html(text: str) -> str:
    """Plain text as safe HTML paragraphs."""
    return "".join(
        f"<p>{html_lib.escape(block).replace(chr(10), '<br>')}</p>"
        for block in re.split(r"\n{2,}", text.strip())
        if block
    )
