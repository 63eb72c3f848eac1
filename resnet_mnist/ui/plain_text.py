"""Text from a user or a file, made safe to place inside Streamlit Markdown: shown as typed.

Streamlit renders Markdown in captions, alerts, toasts, badges and widget labels, with its own
extensions (`:red[…]` colours, `:material/…:` icons, emoji shortcodes, `$…$` LaTeX). A run named
`![i](http://127.0.0.1:9/x.png)` would otherwise make the browser fetch that address.
`escape_markdown` backslash-escapes (CommonMark lets any ASCII punctuation be escaped) every
character that can start inline syntax — emphasis, code, links and images, HTML, entities, math,
strikethrough, tables, and the colon of directives, icons and emoji shortcodes (Streamlit loads its
emoji plugin only when a bare `:word:` appears) — plus a block marker at the very start. Line breaks
become spaces, so one line stays one line. Characters that are syntax nowhere inline (`.`, `-`, `/`,
an underscore inside a word) are left alone, so paths and file names read as they are.
"""

from __future__ import annotations

import html
import re

__all__ = ["escape_markdown", "escape_plotly"]

_INLINE_SYNTAX = re.compile(r"([\\`*\[\]<>$:~&|])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_BLOCK_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
_AUTOLINK = re.compile(r"(?i)\b(www)\.")  # GFM links a bare www.example.com
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def escape_markdown(value: object) -> str:
    """`value` as text that Streamlit's Markdown shows literally, on one line."""
    text = _LINE_BREAKS.sub(" ", str(value))
    text = _INLINE_SYNTAX.sub(lambda match: "\\" + match.group(0), text)
    text = _AUTOLINK.sub(r"\1\\.", text)
    return _BLOCK_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], text)


def escape_plotly(value: object) -> str:
    """`value` as text that plotly shows literally in legends, hovers and titles (its labels take some HTML)."""
    return html.escape(_LINE_BREAKS.sub(" ", str(value)))
