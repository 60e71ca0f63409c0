"""The syntax of the ``regex`` dialect: character sets, the tree, the parser and the
translation to a POSIX advanced regular expression (see :mod:`._regex` for the dialect)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "MAX_GROUP_DEPTH",
    "MAX_REPEAT",
    "Alt",
    "Anchor",
    "Cat",
    "Node",
    "Ranges",
    "RegexSyntaxError",
    "Rep",
    "Set",
    "parse",
    "to_posix",
]

#: Largest bound of a counted repetition (``{m,n}``), as PostgreSQL's.
MAX_REPEAT = 255
#: Deepest group nesting a pattern may use.
MAX_GROUP_DEPTH = 50

_MAX_CODE = 0x10FFFF
Ranges = tuple[tuple[int, int], ...]


class RegexSyntaxError(ValueError):
    """A pattern outside the dialect; the message names the construct and its position."""


# -- character sets ---------------------------------------------------------------------------


def _normalise(ranges: Iterable[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_CODE:
        out.append((nxt, _MAX_CODE))
    return tuple(out)


def _one(char: str) -> Ranges:
    return ((ord(char), ord(char)),)


_DIGIT: Ranges = ((48, 57),)
_WORD: Ranges = _normalise([(48, 57), (65, 90), (95, 95), (97, 122)])
_SPACE: Ranges = _normalise([(9, 13), (32, 32)])
_DOT: Ranges = _complement(_one("\n"))
_SHORTHANDS: dict[str, Ranges] = {
    "d": _DIGIT,
    "D": _complement(_DIGIT),
    "w": _WORD,
    "W": _complement(_WORD),
    "s": _SPACE,
    "S": _complement(_SPACE),
}
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_REFUSED_ESCAPES = {
    "b": "the word boundary \\b",
    "B": "the non-boundary \\B",
    "A": "the anchor \\A (use ^)",
    "Z": "the anchor \\Z (use $)",
    "z": "the anchor \\z (use $)",
    "G": "the anchor \\G",
    "k": "named backreferences (\\k)",
    "g": "named backreferences (\\g)",
    "N": "named characters (\\N)",
    "p": "Unicode properties (\\p)",
    "P": "Unicode properties (\\P)",
    "a": "the bell escape \\a (use \\x07)",
    "0": "octal escapes (use \\xhh)",
}
_META = set(".^$*+?()[]{}|\\")


# -- syntax tree ------------------------------------------------------------------------------


class Node:
    __slots__ = ()


class Set(Node):
    __slots__ = ("ranges",)

    def __init__(self, ranges: Ranges) -> None:
        self.ranges = ranges


class Cat(Node):
    __slots__ = ("items",)

    def __init__(self, items: list[Node]) -> None:
        self.items = items


class Alt(Node):
    __slots__ = ("items",)

    def __init__(self, items: list[Node]) -> None:
        self.items = items


class Rep(Node):
    __slots__ = ("hi", "item", "lo")

    def __init__(self, item: Node, lo: int, hi: int | None) -> None:
        self.item = item
        self.lo = lo
        self.hi = hi


class Anchor(Node):
    __slots__ = ("end",)

    def __init__(self, end: bool) -> None:
        self.end = end


# -- parser -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0
        self.depth = 0

    def fail(self, message: str, at: int | None = None) -> RegexSyntaxError:
        where = self.pos if at is None else at
        return RegexSyntaxError(f"{message} at position {where}")

    def peek(self, ahead: int = 0) -> str | None:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else None

    def parse(self) -> Node:
        node = self.alternation()
        if self.pos < len(self.text):  # only an unbalanced ")" stops the top level
            raise self.fail("unbalanced ')'")
        return node

    def alternation(self) -> Node:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else Alt(branches)

    def sequence(self) -> Node:
        items: list[Node] = []
        while True:
            char = self.peek()
            if char is None or char in "|)":
                break
            start = self.pos
            atom = self.atom()
            items.append(self.quantified(atom, start))
        return items[0] if len(items) == 1 else Cat(items)

    def quantified(self, atom: Node, start: int) -> Node:
        bounds = self.quantifier()
        if bounds is None:
            return atom
        if isinstance(atom, Anchor):
            raise self.fail("a quantifier cannot apply to an anchor", start)
        lo, hi = bounds
        if self.peek() == "?":  # lazy: the same yes/no answer as greedy
            self.pos += 1
        elif self.peek() == "+":
            raise self.fail("possessive quantifiers are not supported")
        if self.quantifier_ahead():
            raise self.fail("multiple repeat: wrap the repeated part in a group")
        return Rep(atom, lo, hi)

    def quantifier_ahead(self) -> bool:
        char = self.peek()
        if char in ("*", "+", "?"):
            return True
        if char == "{":
            saved = self.pos
            try:
                return self.braces() is not None
            finally:
                self.pos = saved
        return False

    def quantifier(self) -> tuple[int, int | None] | None:
        char = self.peek()
        if char == "*":
            self.pos += 1
            return 0, None
        if char == "+":
            self.pos += 1
            return 1, None
        if char == "?":
            self.pos += 1
            return 0, 1
        if char == "{":
            bounds = self.braces()
            if bounds is None:
                raise self.fail("'{' starts no valid {m}, {m,} or {m,n} quantifier (use \\{)")
            return bounds
        return None

    def braces(self) -> tuple[int, int | None] | None:
        """``{m}``, ``{m,}`` or ``{m,n}`` at the position (consumed), else ``None``."""
        text, i = self.text, self.pos + 1
        j = i
        while j < len(text) and text[j].isdigit() and text[j].isascii():
            j += 1
        if j == i:
            return None
        lo = int(text[i:j])
        hi: int | None = lo
        if j < len(text) and text[j] == ",":
            k = j + 1
            while k < len(text) and text[k].isdigit() and text[k].isascii():
                k += 1
            hi = int(text[j + 1 : k]) if k > j + 1 else None
            j = k
        if j >= len(text) or text[j] != "}":
            return None
        at = self.pos
        self.pos = j + 1
        if lo > MAX_REPEAT or (hi is not None and hi > MAX_REPEAT):
            raise self.fail(f"repetition bounds above {MAX_REPEAT} are not supported", at)
        if hi is not None and hi < lo:
            raise self.fail(f"the repetition {{{lo},{hi}}} has its bounds reversed", at)
        return lo, hi

    def atom(self) -> Node:
        char = self.text[self.pos]
        if char == "(":
            return self.group()
        if char == "[":
            return Set(self.char_class())
        if char == ".":
            self.pos += 1
            return Set(_DOT)
        if char == "^":
            self.pos += 1
            return Anchor(False)
        if char == "$":
            self.pos += 1
            return Anchor(True)
        if char == "\\":
            return Set(self.escape())
        if char in "*+?":
            raise self.fail(f"nothing to repeat before '{char}'")
        if char == "{":
            if self.braces() is not None:
                raise self.fail("nothing to repeat before the quantifier")
            raise self.fail("'{' starts no valid quantifier (use \\{ for a literal brace)")
        self.pos += 1
        return Set(_one(char))

    def group(self) -> Node:
        start = self.pos
        self.pos += 1
        if self.peek() == "?":
            kind = self.text[self.pos + 1 : self.pos + 3]
            if kind.startswith(":"):
                self.pos += 2
            elif kind[:1] in ("=", "!"):
                raise self.fail("lookahead assertions ((?= and (?!) are not supported", start)
            elif kind in ("<=", "<!"):
                raise self.fail("lookbehind assertions ((?<= and (?<!) are not supported", start)
            elif kind.startswith("P") or kind.startswith("<"):
                raise self.fail("named groups are not supported (use (...) or (?:...))", start)
            elif kind.startswith("#"):
                raise self.fail("comments ((?#...)) are not supported", start)
            elif kind.startswith(">"):
                raise self.fail("atomic groups ((?>...)) are not supported", start)
            elif kind.startswith("("):
                raise self.fail("conditional groups are not supported", start)
            else:
                raise self.fail("inline flags and other (?...) extensions are not supported", start)
        self.depth += 1
        if self.depth > MAX_GROUP_DEPTH:
            raise self.fail(f"groups nest deeper than {MAX_GROUP_DEPTH} levels", start)
        inner = self.alternation()
        self.depth -= 1
        if self.peek() != ")":
            raise self.fail("missing ')' to close the group", start)
        self.pos += 1
        return Cat([inner]) if isinstance(inner, Anchor) else inner  # a group is repeatable

    def escape(self) -> Ranges:
        start = self.pos
        char = self.peek(1)
        if char is None:
            raise self.fail("a pattern cannot end with a lone backslash")
        self.pos += 2
        if char in _SHORTHANDS:
            return _SHORTHANDS[char]
        if char in _CONTROL:
            return _one(_CONTROL[char])
        if char in ("x", "u"):
            width = 2 if char == "x" else 4
            digits = self.text[self.pos : self.pos + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise self.fail(f"\\{char} needs {width} hex digits", start)
            self.pos += width
            code = int(digits, 16)
            if code == 0 or 0xD800 <= code <= 0xDFFF:
                raise self.fail(f"\\{char}{digits} is not a character values can hold", start)
            return ((code, code),)
        if char.isdigit():
            if char == "0":
                raise self.fail("octal escapes are not supported (use \\xhh)", start)
            raise self.fail(f"backreferences (\\{char}) are not supported", start)
        if char in _REFUSED_ESCAPES:
            raise self.fail(f"{_REFUSED_ESCAPES[char]} is not supported", start)
        if char.isascii() and char.isalnum():
            raise self.fail(f"the escape \\{char} is not supported", start)
        return _one(char)

    def char_class(self) -> Ranges:
        start = self.pos
        self.pos += 1
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            char = self.peek()
            if char is None:
                raise self.fail("missing ']' to close the class", start)
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            if char == "[":
                if self.text.startswith("[:", self.pos):
                    raise self.fail(
                        "POSIX classes ([:name:]) are not supported (use \\d, \\w, \\s)"
                    )
                raise self.fail("a '[' inside a class must be escaped (\\[)")
            lo_at = self.pos
            low = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in (None, "]"):
                self.pos += 1
                high = self.class_atom()
                if len(low) != 1 or low[0][0] != low[0][1] or len(high) != 1:
                    raise self.fail("a class range needs a single character at each end", lo_at)
                if high[0][0] != high[0][1]:
                    raise self.fail("a class range needs a single character at each end", lo_at)
                if high[0][0] < low[0][0]:
                    raise self.fail("a class range has its ends reversed", lo_at)
                ranges.append((low[0][0], high[0][0]))
            else:
                ranges.extend(low)
        out = _normalise(ranges)
        if negate:
            out = _complement(out)
        if not out:
            raise self.fail("the class matches no character", start)
        return out

    def class_atom(self) -> Ranges:
        char = self.text[self.pos]
        if char == "\\":
            return self.escape()
        self.pos += 1
        return _one(char)


# -- POSIX (PostgreSQL ARE) translation --------------------------------------------------------


def _char(code: int) -> str:
    char = chr(code)
    if char.isascii() and char.isalnum():
        return char
    if code < 0x80 and char.isprintable() and char != " ":
        return "\\" + char
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _storable(ranges: Ranges) -> list[tuple[int, int]]:
    """The ranges without NUL and surrogates, which no stored text holds."""
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        for a, b in ((lo, min(hi, 0xD7FF)), (max(lo, 0xE000), hi)):
            a = max(a, 1)
            if a <= b:
                out.append((a, b))
    return out


def _emit_set(ranges: Ranges) -> str:
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _char(ranges[0][0])
    parts = []
    for lo, hi in _storable(ranges):
        parts.append(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}")
    if not parts:  # only NUL or surrogates: nothing stored matches
        return "[^\\u0001-\\U0010ffff]"
    return "[" + "".join(parts) + "]"


def _emit(node: Node) -> str:
    if isinstance(node, Set):
        return _emit_set(node.ranges)
    if isinstance(node, Anchor):
        return "$" if node.end else "^"
    if isinstance(node, Cat):
        if not node.items:
            return "(?:)"
        return "".join(
            f"(?:{_emit(item)})" if isinstance(item, Alt) else _emit(item) for item in node.items
        )
    if isinstance(node, Alt):
        return "|".join(_emit(item) for item in node.items)
    assert isinstance(node, Rep)
    inner = _emit(node.item)
    if not (isinstance(node.item, Set)):
        inner = f"(?:{inner})"
    if (node.lo, node.hi) == (0, None):
        suffix = "*"
    elif (node.lo, node.hi) == (1, None):
        suffix = "+"
    elif (node.lo, node.hi) == (0, 1):
        suffix = "?"
    elif node.hi is None:
        suffix = f"{{{node.lo},}}"
    elif node.hi == node.lo:
        suffix = f"{{{node.lo}}}"
    else:
        suffix = f"{{{node.lo},{node.hi}}}"
    return inner + suffix


def parse(pattern: str) -> Node:
    """The tree of ``pattern``.

    Raises:
        RegexSyntaxError: the pattern is not in the dialect (the message names the construct).
    """
    return _Parser(pattern).parse()


def to_posix(tree: Node) -> str:
    """``tree`` as a POSIX advanced regular expression (PostgreSQL's ``~``)."""
    return _emit(tree)
