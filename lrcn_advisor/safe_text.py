"""The one neutraliser for text that came from a model file (or its path) on its way to a reader.

Every report format, the terminal and stderr use `inert`, so a name in a file cannot drive a terminal
(ESC, OSC), start a GitHub workflow command on a line of its own (line breaks), reorder what a
reviewer sees (bidi controls) or hide characters (invisible formatting characters). Each such
character is shown as an escape: U+001B becomes the six visible characters `\\u001b`.
"""
from __future__ import annotations

import re
from typing import Any

# Unicode categories Cc (controls), Cf (invisible formatting, bidi), Cs (lone surrogates), Zl and Zp
# (line and paragraph separators), plus the noncharacters U+FFFE and U+FFFF, which XML cannot carry.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff\ud800-\udfff"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]")
MAX_ECHO_CHARS = 4096   # the longest string from a file that a report or message repeats in full
_SLACK = 40             # a cut string keeps its marker within limit + _SLACK, so inert(inert(x)) == inert(x)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def inert(text: Any, limit: int | None = MAX_ECHO_CHARS) -> str:
    """`text` with every control, bidi and invisible character shown as an escape, cut to `limit` chars."""
    text = str(text)
    if limit is not None and len(text) > limit + _SLACK:
        text = f"{text[:limit]}… ({len(text) - limit:,} more characters)"
    return _UNSAFE.sub(_escape, text)


def is_inert(text: str) -> bool:
    return _UNSAFE.search(text) is None


def inert_tree(value: Any, limit: int | None = MAX_ECHO_CHARS) -> Any:
    """A copy of a JSON-like document with every string (keys included) made inert."""
    if isinstance(value, str):
        return inert(value, limit)
    if isinstance(value, dict):
        return {inert_tree(key, limit) if isinstance(key, str) else key: inert_tree(item, limit)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [inert_tree(item, limit) for item in value]
    return value


def json_escape(text: str) -> str:
    """JSON text (from json.dumps) with the characters above written as JSON \\u escapes.

    They can only occur inside JSON strings, where `\\u` and four hex digits is the format's own
    spelling of the same character, so a parser reads back exactly the original value.
    """
    def escape(match: re.Match) -> str:
        code = ord(match.group())
        if code == 0x0A:  # json.dumps writes its own line breaks (indent); inside strings it writes \n
            return "\n"
        if code <= 0xFFFF:
            return f"\\u{code:04x}"
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return _UNSAFE.sub(escape, text)
