"""Deeply nested HTML is sanitized in time linear in its size, its text kept.

html5ever (under nh3) is quadratic in the nesting depth: "<div>" * 100_000 took minutes
before sanitize_html bounded the depth; each case here ran from seconds to minutes.
"""

from __future__ import annotations

import time

import pytest

from tresen.html import MAX_DEPTH, _bounded, sanitize_html

SCRIPT = '<script>alert("x")</script><img src="x" onerror="alert(1)">'


def _deep(opening: str, depth: int, closing: str = "") -> str:
    """Text and a script at every 1,000th level, then the innermost text."""
    levels = [opening + (f"Ebene {n} {SCRIPT}" if n % 1000 == 0 else "") for n in range(depth)]
    return "".join(levels) + "ganz innen" + closing * depth


CASES = {
    "div": lambda: _deep("<div>", 100_000, "</div>"),
    "table": lambda: _deep("<table>", 20_000),
    "nested cells": lambda: _deep("<table><tr><td>", 20_000),
    "bold italic": lambda: _deep("<b><i>", 20_000),
    "distinct bold": lambda: "".join(f'<b id="b{n}">' for n in range(20_000)) + "ganz innen",
    "fonts reopened": lambda: (
        "".join(f'<p><font color="#{n:06x}">x</p>' for n in range(5_000)) + "<p>ganz innen"
    ),
    "list items": lambda: _deep("<ul><li>", 20_000),
    "misnested": lambda: _deep("<span><div></span>", 20_000),
    "line breaks": lambda: "<br>" * 100_000 + "ganz innen",
    "comments": lambda: "<!-- Kommentar -->" * 100_000 + "ganz innen",
    "unclosed tags": lambda: "ganz innen" + SCRIPT + "<div" * 100_000,
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_hostile_nesting_is_sanitized_quickly_with_its_text(case):
    hostile = CASES[case]()

    started = time.perf_counter()
    clean = sanitize_html(hostile)
    elapsed = time.perf_counter() - started

    assert elapsed < 2, f"{case}: {elapsed:.1f} s"
    assert "ganz innen" in clean
    if "Ebene" in hostile:
        assert "Ebene 0" in clean and "Ebene 19000" in clean
    assert "<script" not in clean and "alert" not in clean and "onerror" not in clean


def test_depth_past_the_limit_is_flattened_not_lost():
    clean = sanitize_html("<div>" * 300 + "tief" + "</div>" * 300 + "<p>danach</p>")

    assert clean.count("<div>") == MAX_DEPTH
    assert clean.endswith("tief" + "</div>" * MAX_DEPTH + "<p>danach</p>")


NESTED_MAIL = (
    "<html><head><style>p{margin:0}</style></head><body>"
    '<div dir="ltr"><p>Danke, <b>Kim</b>!</p>'
    + "".join(
        f'<div class="quote"><blockquote style="margin:0 0 0 .8ex"><p>Antwort {n}:</p>'
        f'<table><tr><td><font face="Arial"><span style="color:#333">Zeile {n}'
        for n in range(10)
    )
    + "</span></font></td></tr></table></blockquote></div>" * 10
    + "<p>Gr&uuml;&szlig;e<br>Kim</p></div></body></html>"
)


def test_normal_nested_mail_is_sanitized_as_before():
    assert _bounded(NESTED_MAIL) == NESTED_MAIL  # nothing dropped below the limits

    clean = sanitize_html(NESTED_MAIL)

    assert clean.count("<blockquote") == 10
    assert clean.count("<table>") == 10
    assert "Antwort 9:" in clean and "Zeile 9" in clean
    assert clean.startswith('<div dir="ltr"><p>Danke, <b>Kim</b>!</p>')
    assert clean.endswith("<p>Grüße<br>Kim</p></div>")
