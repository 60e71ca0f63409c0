"""Size limits shared by the parser, the formatter, the resolver and the evaluator.

The limits keep hostile or accidental input from exhausting the interpreter: every recursive
walk over an expression first checks the depth here (without recursing), so deep input raises
:class:`~specstar.core.errors.QueryError` instead of :class:`RecursionError`.
"""

from __future__ import annotations

from ..errors import QueryError
from .ast import And, Expr, Not, Or

__all__ = [
    "MAX_CONDITIONS",
    "MAX_EXPR_DEPTH",
    "MAX_NESTING",
    "MAX_REGEX_LENGTH",
    "MAX_TEXT_LENGTH",
    "check_depth",
]

#: Deepest nesting of ``(``, ``!``/``not`` and ``[`` the string form accepts.
MAX_NESTING = 100

#: Deepest expression tree (``And``/``Or``/``Not`` levels plus the condition) any function
#: accepts. Every tree the parser can produce within :data:`MAX_NESTING` fits.
MAX_EXPR_DEPTH = 256

#: Most nodes (conditions and ``And``/``Or``/``Not``) one expression may have, on every backend:
#: SQLite refuses SQL expressions nested about 1,000 deep, and a long chain of ``|`` or ``&``
#: is one. A long list of equalities is better written ``field in [...]`` (one condition).
MAX_CONDITIONS = 500

#: Longest condition text :func:`~specstar.core.query.grammar.parse_condition` reads.
MAX_TEXT_LENGTH = 100_000

#: Longest regular expression a ``regex`` condition may use.
MAX_REGEX_LENGTH = 500


def check_depth(expr: Expr, limit: int = MAX_EXPR_DEPTH) -> None:
    """Raise if ``expr`` nests deeper than ``limit`` levels or has more than
    :data:`MAX_CONDITIONS` nodes.

    The walk uses an explicit stack, so it is safe on trees of any depth.

    Args:
        expr: the expression to measure.
        limit: the largest allowed depth (a lone condition has depth 1).

    Raises:
        QueryError: the expression is too deep or too large.
    """
    stack: list[tuple[object, int]] = [(expr, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_CONDITIONS:
            raise QueryError(
                f"the query expression has more than {MAX_CONDITIONS} conditions; "
                "use `field in [...]` for a long list of values"
            )
        if depth > limit:
            raise QueryError(f"the query expression nests deeper than {limit} levels")
        if isinstance(node, And | Or):
            stack.extend((item, depth + 1) for item in node.items)
        elif isinstance(node, Not):
            stack.append((node.item, depth + 1))
