"""The compact string form of conditions and sorts, for URLs and humans.

Conditions::

    age >= 18 & (name.starts_with("A") | $created_by in ["alice", "bob"])
    !tags.contains("draft") and score.is_null(false)
    $created_time < dt"2024-01-01T00:00:00+00:00"

Grammar (``&``/``and`` binds tighter than ``|``/``or``; ``!``/``not`` applies to one unary)::

    expr     := or_expr
    or_expr  := and_expr (('|' | 'or') and_expr)*
    and_expr := unary (('&' | 'and') unary)*
    unary    := ('!' | 'not') unary | '(' expr ')' | cond
    cond     := field cmp_op value
              | field ('in' | 'not' 'in') list
              | field '.' method '(' [value] ')'
    field    := ['$'] ident ('.' ident)* ['.' fn '(' ')']
    fn       := 'length' | 'any' | 'all'
    cmp_op   := '==' | '!=' | '>' | '>=' | '<' | '<='
    value    := string | number | 'true' | 'false' | 'null' | list | datetime
    list     := '[' [value (',' value)*] ']'
    datetime := 'dt' string        (no space between; the string holds an ISO 8601 datetime)

* ``string`` is a JSON string (double quotes, JSON escapes); ``number`` is an integer or a float
  with optional sign, fraction and exponent (``1e999`` is infinity).
* A path segment followed by ``(`` is a method: ``contains``, ``contains_any``,
  ``starts_with``, ``ends_with``, ``regex``, ``icontains``, ``istarts_with``, ``iends_with``,
  ``is_null``, ``exists``, ``is_empty``, ``is_blank``, ``truthy``. The last five take a
  boolean; without an argument they mean ``true``.
* ``length()``, ``any()`` and ``all()`` after a path apply a field function (see
  :class:`~.ast.Field`): ``name.length() >= 3``, ``tags.any().starts_with("a")``,
  ``nums.all() > 0``.
* ``and``, ``or``, ``not``, ``in``, ``true``, ``false`` and ``null`` are reserved words (lower
  case only) and cannot be path segments in the string form; use the builder or the JSON form
  for such paths.
* ``(``, ``!``/``not`` and ``[`` may nest at most :data:`~._limits.MAX_NESTING` deep.

The parser is a hand-written tokenizer and recursive-descent parser; nothing is ever evaluated.
Errors raise :class:`~specstar.core.errors.QueryError` with the 0-based character ``position``
(also in ``error.extra["position"]``). :func:`format_condition` writes the shortest form
(minimal parentheses) that parses back into an equal tree after :func:`normalize_expr`.
"""

from __future__ import annotations

import enum
import math
import re
from datetime import UTC, datetime
from typing import Any

from ..errors import QueryError
from ._lexer import KEYWORDS, Token, describe, error, tokenize
from ._limits import MAX_EXPR_DEPTH, MAX_NESTING, MAX_TEXT_LENGTH, check_depth
from .ast import FIELD_FNS, PATH_RE, And, Condition, Expr, Field, Not, Op, Or, Sort

__all__ = [
    "KEYWORDS",
    "format_condition",
    "format_sorts",
    "normalize_expr",
    "parse_condition",
    "parse_sorts",
]


_CMP_OPS: dict[str, Op] = {
    "==": Op.eq,
    "!=": Op.ne,
    ">": Op.gt,
    ">=": Op.gte,
    "<": Op.lt,
    "<=": Op.lte,
}
_CMP_TEXT: dict[Op, str] = {op: text for text, op in _CMP_OPS.items()}
_METHODS: dict[str, Op] = {
    op.value: op
    for op in (
        Op.contains,
        Op.contains_any,
        Op.starts_with,
        Op.ends_with,
        Op.regex,
        Op.is_null,
        Op.exists,
        Op.icontains,
        Op.istarts_with,
        Op.iends_with,
        Op.is_empty,
        Op.is_blank,
        Op.truthy,
    )
}
_FLAG_METHODS = frozenset({Op.is_null, Op.exists, Op.is_empty, Op.is_blank, Op.truthy})


# -- parser ---------------------------------------------------------------------------------------


class _Parser:
    """Recursive-descent parser over a token list; one instance per input."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.nesting = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def is_word(self, tok: Token, word: str) -> bool:
        return tok.kind == "kw" and tok.text == word

    def fail(self, what: str) -> QueryError:
        tok = self.peek()
        return error(f"expected {what}", tok.pos, f", found {describe(tok)}")

    def enter(self, tok: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise error(f"nesting deeper than {MAX_NESTING} levels", tok.pos)

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.peek().kind != "eof":
            raise self.fail("'&', '|' or end of input")
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.peek().kind == "|" or self.is_word(self.peek(), "or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.unary()]
        while self.peek().kind == "&" or self.is_word(self.peek(), "and"):
            self.advance()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Expr:
        tok = self.peek()
        if tok.kind == "!" or self.is_word(tok, "not"):
            self.enter(tok)
            self.advance()
            expr: Expr = Not(self.unary())
            self.nesting -= 1
            return expr
        if tok.kind == "(":
            self.enter(tok)
            self.advance()
            expr = self.or_expr()
            if self.peek().kind != ")":
                raise self.fail("'&', '|' or ')'")
            self.advance()
            self.nesting -= 1
            return expr
        if tok.kind in ("ident", "$"):
            return self.cond()
        raise self.fail("a condition, '(' or '!'")

    def field(self) -> tuple[Field, Token | None]:
        """Read a field; return it and the method-name token when a method call follows."""
        meta = False
        if self.peek().kind == "$":
            self.advance()
            meta = True
        if self.peek().kind != "ident":
            raise self.fail("a field name")
        parts = [self.advance().text]
        while self.peek().kind == ".":
            name = self.peek(1)
            if name.kind != "ident":
                self.advance()
                raise self.fail("a field name or method after '.'")
            if self.peek(2).kind == "(":
                if name.text in FIELD_FNS and self.peek(3).kind == ")":
                    return self.field_fn(".".join(parts), meta)
                self.advance()
                return Field(".".join(parts), meta=meta), self.advance()
            self.advance()
            parts.append(self.advance().text)
        return Field(".".join(parts), meta=meta), None

    def field_fn(self, path: str, meta: bool) -> tuple[Field, Token | None]:
        """Read ``.fn()`` and what follows it: a method call or nothing (an operator)."""
        self.advance()  # "."
        fn = self.advance().text
        self.advance()  # "("
        self.advance()  # ")"
        field = Field(path, meta=meta, fn=fn)
        if self.peek().kind == "." and self.peek(1).kind == "ident" and self.peek(2).kind == "(":
            self.advance()
            return field, self.advance()
        return field, None

    def cond(self) -> Condition:
        field, method = self.field()
        if method is not None:
            return self.method_call(field, method)
        tok = self.peek()
        if tok.kind in _CMP_OPS:
            self.advance()
            return Condition(field, _CMP_OPS[tok.kind], self.value())
        if self.is_word(tok, "in"):
            self.advance()
            return Condition(field, Op.in_, self.list_value())
        if self.is_word(tok, "not"):
            self.advance()
            if not self.is_word(self.peek(), "in"):
                raise self.fail("'in' after 'not'")
            self.advance()
            return Condition(field, Op.not_in, self.list_value())
        raise self.fail("a comparison operator, 'in', 'not in' or '.method('")

    def method_call(self, field: Field, name: Token) -> Condition:
        op = _METHODS.get(name.text)
        if op is None:
            known = ", ".join(_METHODS)
            if name.text in FIELD_FNS:
                known += "; length(), any() and all() take no argument and apply once, right "
                known += "after the path"
            raise error(f"unknown method {name.text!r}", name.pos, f"; methods: {known}")
        self.advance()  # "("
        if self.peek().kind == ")" and op in _FLAG_METHODS:
            value: Any = True
        else:
            value = self.value()
        if self.peek().kind != ")":
            raise self.fail(f"')' to close {name.text}(")
        self.advance()
        return Condition(field, op, value)

    def value(self) -> Any:
        tok = self.peek()
        if tok.kind in ("str", "num", "dt"):
            self.advance()
            return tok.value
        if tok.kind == "kw" and tok.text in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[tok.text]
        if tok.kind == "[":
            return self.list_value()
        raise self.fail("a value")

    def list_value(self) -> tuple[Any, ...]:
        tok = self.peek()
        if tok.kind != "[":
            raise self.fail("a list '['")
        self.enter(tok)
        self.advance()
        items: list[Any] = []
        if self.peek().kind != "]":
            items.append(self.value())
            while self.peek().kind == ",":
                self.advance()
                items.append(self.value())
            if self.peek().kind != "]":
                raise self.fail("',' or ']'")
        self.advance()
        self.nesting -= 1
        return tuple(items)


def parse_condition(text: str) -> Expr:
    """Parse the string form of a condition into an expression tree.

    Lists become tuples and datetime literals keep their written offset (or lack of one);
    :func:`~specstar.core.query.resolve.resolve_query` later checks paths and kinds.

    Args:
        text: the condition, e.g. ``'age >= 18 & name.starts_with("A")'``.

    Returns:
        The expression; ``a & b & c`` is one flat :class:`~.ast.And` (parenthesised groups stay
        nested).

    Raises:
        QueryError: the text does not follow the grammar; the message and
            ``error.extra["position"]`` give the 0-based character position.
    """
    if not isinstance(text, str):
        raise QueryError(f"a condition must be a str, not {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise QueryError(f"condition text longer than {MAX_TEXT_LENGTH} characters")
    return _Parser(text).parse()


# -- formatter ------------------------------------------------------------------------------------


def _normalize_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_normalize_value(v) for v in value)
    return value


def normalize_expr(expr: Expr) -> Expr:
    """The canonical tree the string form preserves.

    Lists in values become tuples and an ``And``/``Or`` of a single item is replaced by that
    item. ``parse_condition(format_condition(e)) == normalize_expr(e)`` for every expression
    that has a string form.

    Raises:
        QueryError: the expression nests deeper than :data:`~._limits.MAX_EXPR_DEPTH`.
    """
    check_depth(expr, MAX_EXPR_DEPTH)
    return _normalize(expr)


def _normalize(expr: Expr) -> Expr:
    if isinstance(expr, Condition):
        return Condition(expr.field, expr.op, _normalize_value(expr.value))
    if isinstance(expr, Not):
        return Not(_normalize(expr.item))
    items = tuple(_normalize(item) for item in expr.items)
    if len(items) == 1:
        return items[0]
    return And(items) if isinstance(expr, And) else Or(items)


def _format_string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) < 0xE000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _format_value(value: Any, nesting: int) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            raise QueryError("NaN has no string form")
        if math.isinf(value):
            return "1e999" if value > 0 else "-1e999"
        return repr(float(value))
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is not None and offset.microseconds:
            # fromisoformat() cannot read every fractional-second offset: write the same
            # instant in UTC instead
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise QueryError(f"{value!r} cannot be written in UTC") from None
        return f'dt"{value.isoformat()}"'
    if isinstance(value, list | tuple):
        if nesting >= MAX_NESTING:
            raise QueryError(f"value lists nest deeper than {MAX_NESTING} levels")
        return "[" + ", ".join(_format_value(v, nesting + 1) for v in value) + "]"
    raise QueryError(f"a {type(value).__name__} value has no string form: {value!r}")


def _format_field(field: Field) -> str:
    if not PATH_RE.fullmatch(field.path):
        raise QueryError(f"{field.path!r} is not a valid field path", path=field.path)
    if field.fn is not None and field.fn not in FIELD_FNS:
        raise QueryError(f"unknown field function {field.fn!r}", path=field.path)
    reserved = [part for part in field.path.split(".") if part in KEYWORDS]
    if reserved:
        raise QueryError(
            f"field {field} uses the reserved word {reserved[0]!r}, which the string form "
            "cannot express",
            path=field.path,
        )
    return str(field)


def _format_cond(cond: Condition, nesting: int) -> str:
    field = _format_field(cond.field)
    op = Op(cond.op)
    if op in _CMP_TEXT:
        return f"{field} {_CMP_TEXT[op]} {_format_value(cond.value, nesting)}"
    if op in (Op.in_, Op.not_in):
        if not isinstance(cond.value, list | tuple):
            raise QueryError(f"{op.value!r} needs a list of values, not {cond.value!r}")
        word = "in" if op is Op.in_ else "not in"
        return f"{field} {word} {_format_value(cond.value, nesting)}"
    if op in _FLAG_METHODS and cond.value is True:
        return f"{field}.{op.value}()"
    return f"{field}.{op.value}({_format_value(cond.value, nesting)})"


def _format(expr: Expr, nesting: int) -> str:
    if isinstance(expr, Condition):
        return _format_cond(expr, nesting)
    if isinstance(expr, Not):
        return "!" + _format_unary(expr.item, nesting + 1)
    if not expr.items:
        raise QueryError(f"an empty {type(expr).__name__} has no string form")
    joiner = " & " if isinstance(expr, And) else " | "
    parts = []
    for item in expr.items:
        # An And inside an Or needs no parentheses; anything else of the same or looser binding
        # does (a nested And inside an And keeps its grouping).
        if isinstance(expr, Or) and isinstance(item, And):
            parts.append(_format(item, nesting))
        else:
            parts.append(_format_unary(item, nesting))
    return joiner.join(parts)


def _format_unary(expr: Expr, nesting: int) -> str:
    if isinstance(expr, Condition | Not):
        if nesting > MAX_NESTING:
            raise QueryError(f"the expression nests deeper than {MAX_NESTING} levels")
        return _format(expr, nesting)
    if nesting + 1 > MAX_NESTING:
        raise QueryError(f"the expression nests deeper than {MAX_NESTING} levels")
    return "(" + _format(expr, nesting + 1) + ")"


def format_condition(expr: Expr) -> str:
    """Write ``expr`` in the string form, with as few parentheses as the precedence allows.

    Args:
        expr: the expression; single-item ``And``/``Or`` are written as their item.

    Returns:
        Text that :func:`parse_condition` turns back into ``normalize_expr(expr)``. Floats are
        written with :func:`repr` (exact), infinities as ``1e999``, datetimes as
        ``dt"<isoformat>"`` (in UTC when their offset has a fractional second).

    Raises:
        QueryError: the expression cannot be written: an empty ``And``/``Or``, a NaN or
            unsupported value, a path with a reserved word, an ``in`` without a list, or nesting
            beyond :data:`~._limits.MAX_NESTING`.
    """
    return _format(normalize_expr(expr), 0)


# -- sorts ----------------------------------------------------------------------------------------

_SORT_ITEM_RE = re.compile(r"\s*([+-]?)\s*(\$?)([^\s,]*)\s*")


def parse_sorts(text: str) -> tuple[Sort, ...]:
    """Parse comma-separated sort keys: ``"-age,+name,$created_time"``.

    ``-`` means descending; ``+`` or no sign ascending; ``$`` marks a meta field. Blank text
    gives no sorts. Spaces around items are ignored (so a ``+`` decoded from a URL as a space
    still works).

    Raises:
        QueryError: an item is empty or not a valid path (with its position).
    """
    if not isinstance(text, str):
        raise QueryError(f"sorts must be a str, not {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise QueryError(f"sorts text longer than {MAX_TEXT_LENGTH} characters")
    if not text.strip():
        return ()
    sorts: list[Sort] = []
    pos = 0
    for item in text.split(","):
        m = _SORT_ITEM_RE.fullmatch(item)
        if m is None or not PATH_RE.fullmatch(m.group(3)):
            bad = pos + (m.start(3) if m else len(item) - len(item.lstrip()))
            raise error(f"expected a sort key like '-age' or '$created_time' in {item!r}", bad)
        sorts.append(Sort(Field(m.group(3), meta=bool(m.group(2))), descending=m.group(1) == "-"))
        pos += len(item) + 1
    return tuple(sorts)


def format_sorts(sorts: tuple[Sort, ...] | list[Sort]) -> str:
    """Write sort keys as ``parse_sorts`` reads them, e.g. ``"-age,name,$created_time"``.

    Raises:
        QueryError: a sort field path is not a dotted identifier path.
    """
    for sort in sorts:
        if not PATH_RE.fullmatch(sort.field.path):
            raise QueryError(f"{sort.field.path!r} is not a valid field path", path=sort.field.path)
    return ",".join(str(sort) for sort in sorts)
