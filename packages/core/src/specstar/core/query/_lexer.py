"""The tokenizer of the condition string form (see :mod:`specstar.core.query.grammar`).

It turns text into a list of tokens with their 0-based character positions; it never evaluates
anything. Strings are decoded as JSON strings and ``dt"..."`` literals as ISO 8601 datetimes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple

from ..errors import QueryError

__all__ = ["KEYWORDS", "Token", "describe", "error", "tokenize"]

#: Reserved words of the string form.
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SPACE_RE = re.compile(r"[ \t\r\n]*")
_PUNCT = ("==", "!=", ">=", "<=", ">", "<", "&", "|", "!", "(", ")", "[", "]", ",", ".", "$")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class Token(NamedTuple):
    """One token: its kind, its source text, its 0-based position and its decoded value."""

    kind: str  # "ident", "kw", "str", "num", "dt", "eof" or the punctuation text itself
    text: str
    pos: int
    value: Any = None


def describe(tok: Token) -> str:
    """How a token is named in error messages (``'foo'`` or ``end of input``)."""
    if tok.kind == "eof":
        return "end of input"
    text = tok.text if len(tok.text) <= 24 else tok.text[:21] + "..."
    return repr(text)


def error(message: str, pos: int, detail: str = "") -> QueryError:
    """A :class:`QueryError` reading ``<message> at position <pos><detail>``.

    The position is also available as ``error.extra["position"]``.
    """
    return QueryError(f"{message} at position {pos}{detail}", position=pos)


# -- tokenizer ------------------------------------------------------------------------------------


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Decode the JSON string whose opening quote is at ``start``; return it and the end."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while True:
        if i >= n:
            raise error("unterminated string starting", start)
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                raise error("unterminated string starting", start)
            esc = text[i + 1]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
                continue
            if esc != "u":
                raise error(f"invalid escape '\\{esc}' in string", i)
            code = _read_hex4(text, i)
            i += 6
            if 0xD800 <= code < 0xDC00 and text.startswith("\\u", i):
                low = _read_hex4(text, i)
                if 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
            out.append(chr(code))
            continue
        if ord(ch) < 0x20:
            raise error("control character in string (use a JSON escape)", i)
        out.append(ch)
        i += 1


def _read_hex4(text: str, i: int) -> int:
    digits = text[i + 2 : i + 6]
    if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise error("invalid \\u escape in string", i)
    return int(digits, 16)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; the last one has kind ``"eof"``.

    Raises:
        QueryError: an unexpected character, a malformed string or datetime literal.
    """
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while True:
        space = _SPACE_RE.match(text, i)
        i = space.end() if space else i
        if i >= n:
            tokens.append(Token("eof", "", n))
            return tokens
        ch = text[i]
        if ch == '"':
            value, end = _read_string(text, i)
            tokens.append(Token("str", text[i:end], i, value))
            i = end
            continue
        number = _NUMBER_RE.match(text, i)
        if number:
            raw = number.group()
            tokens.append(Token("num", raw, i, _number(raw, i, is_float=bool(number.lastindex))))
            i = number.end()
            continue
        ident = _IDENT_RE.match(text, i)
        if ident:
            word = ident.group()
            if word == "dt" and text.startswith('"', ident.end()):
                raw, end = _read_string(text, ident.end())
                try:
                    stamp = datetime.fromisoformat(raw)
                except ValueError:
                    raise error(f"invalid datetime literal {raw!r}", i) from None
                tokens.append(Token("dt", text[i:end], i, stamp))
                i = end
                continue
            tokens.append(Token("kw" if word in KEYWORDS else "ident", word, i))
            i = ident.end()
            continue
        for punct in _PUNCT:
            if text.startswith(punct, i):
                tokens.append(Token(punct, punct, i))
                i += len(punct)
                break
        else:
            raise error(f"unexpected character {ch!r}", i)


def _number(raw: str, pos: int, *, is_float: bool) -> int | float:
    if is_float:
        return float(raw)
    try:
        return int(raw)
    except ValueError:  # more digits than int() accepts
        raise error("integer literal too long", pos) from None
