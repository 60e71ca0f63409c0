"""The ``regex`` dialect of queries: one parser, a linear-time matcher, a POSIX translation.

A ``regex`` condition is parsed here once, whatever the backend. The dialect is a regular
language subset that every engine decides identically (see ``docs/http-api.md``):

* literals; ``\\`` before punctuation makes it literal; ``\\n \\t \\r \\f \\v``,
  ``\\xhh``, ``\\uhhhh``;
* ``.`` (any character but a newline), classes ``[...]`` / ``[^...]`` with ranges, and the
  ASCII shorthands ``\\d`` (``[0-9]``), ``\\w`` (``[A-Za-z0-9_]``), ``\\s``
  (``[ \\t\\n\\r\\f\\v]``) and their negations ``\\D \\W \\S``;
* anchors ``^`` (start of the value) and ``$`` (end of the value — not before a final
  newline);
* groups ``(...)`` and ``(?:...)``, alternation ``|``, quantifiers ``* + ? {m} {m,} {m,n}``
  (``m, n <= 255``), lazy forms (``*?`` ...) accepted as their greedy forms (a yes/no match
  does not depend on greediness).

Everything else — backreferences, lookaround, word boundaries, named groups, inline flags,
possessive quantifiers, POSIX ``[:classes:]`` — is refused with a :class:`RegexSyntaxError`
naming the construct. A condition matches when the pattern matches some part of the value
(a search), so the answer is a property of the language, the same for the Python matcher
here (memory and SQLite) and for PostgreSQL's ``~`` running :meth:`Regex.to_posix`.

The matcher is a Thompson automaton simulated as a lazily built DFA: each step maps a set of
automaton states and a character to the next set, cached; when the cache grows past
:data:`DFA_CACHE_LIMIT` states (or :data:`DFA_CACHE_WEIGHT` automaton states in all) it is
dropped and rebuilt, so memory stays bounded and a search costs at most
``len(value) * automaton size`` steps — never backtracking.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable

from ._regex_syntax import (
    MAX_REPEAT,
    Alt,
    Anchor,
    Cat,
    Node,
    Ranges,
    RegexSyntaxError,
    Rep,
    Set,
    parse,
    to_posix,
)

__all__ = [
    "DFA_CACHE_LIMIT",
    "DFA_CACHE_WEIGHT",
    "MAX_REPEAT",
    "MAX_STATES",
    "Regex",
    "RegexSyntaxError",
    "compile_regex",
]

#: Most automaton states one pattern may expand to (counted repetitions copy their operand).
MAX_STATES = 4000
#: Most cached DFA states per pattern before the cache is dropped and rebuilt.
DFA_CACHE_LIMIT = 2000
#: Most automaton states all cached DFA states of one pattern may hold together (their
#: memory), before the cache is dropped and rebuilt.
DFA_CACHE_WEIGHT = 100_000


# -- automaton --------------------------------------------------------------------------------

# State kinds: a character test, a split (two epsilon edges), an anchor, the match.
_CHAR, _SPLIT, _BOL, _EOL, _MATCH = range(5)


class _Builder:
    def __init__(self) -> None:
        self.kind: list[int] = []
        self.ranges: list[Ranges] = []
        self.out: list[int] = []
        self.out2: list[int] = []

    def new(self, kind: int, ranges: Ranges = ()) -> int:
        if len(self.kind) >= MAX_STATES:
            raise RegexSyntaxError(
                f"the pattern expands to more than {MAX_STATES} automaton states; "
                "use smaller repetition counts"
            )
        self.kind.append(kind)
        self.ranges.append(ranges)
        self.out.append(-1)
        self.out2.append(-1)
        return len(self.kind) - 1

    def build(self, node: Node) -> tuple[int, list[tuple[int, bool]]]:
        """The fragment of ``node``: its start state and its dangling exits
        (state, second edge?)."""
        if isinstance(node, Set):
            s = self.new(_CHAR, node.ranges)
            return s, [(s, False)]
        if isinstance(node, Anchor):
            s = self.new(_EOL if node.end else _BOL)
            return s, [(s, False)]
        if isinstance(node, Cat):
            if not node.items:
                return self.empty()
            start, exits = self.build(node.items[0])
            for item in node.items[1:]:
                nxt, nexits = self.build(item)
                self.patch(exits, nxt)
                exits = nexits
            return start, exits
        if isinstance(node, Alt):
            start, exits = self.build(node.items[0])
            for item in node.items[1:]:
                other, oexits = self.build(item)
                split = self.new(_SPLIT)
                self.out[split], self.out2[split] = start, other
                start, exits = split, exits + oexits
            return start, exits
        assert isinstance(node, Rep)
        return self.repeat(node)

    def empty(self) -> tuple[int, list[tuple[int, bool]]]:
        s = self.new(_SPLIT)
        self.out2[s] = s  # never taken twice: closures visit each state once
        return s, [(s, False)]

    def repeat(self, node: Rep) -> tuple[int, list[tuple[int, bool]]]:
        parts: list[tuple[int, list[tuple[int, bool]]]] = []
        for _ in range(node.lo):
            parts.append(self.build(node.item))
        if node.hi is None:
            start, exits = self.build(node.item)
            split = self.new(_SPLIT)
            self.out[split] = start
            self.patch(exits, split)
            parts.append((split, [(split, True)]))
        else:
            for _ in range(node.hi - node.lo):
                start, exits = self.build(node.item)
                split = self.new(_SPLIT)
                self.out[split] = start
                parts.append((split, [*exits, (split, True)]))
        if not parts:
            return self.empty()
        start, exits = parts[0]
        for nxt, nexits in parts[1:]:
            self.patch(exits, nxt)
            exits = nexits
        return start, exits

    def patch(self, exits: list[tuple[int, bool]], target: int) -> None:
        for state, second in exits:
            if second:
                self.out2[state] = target
            else:
                self.out[state] = target


class _DState:
    """One cached DFA state: the set of automaton states and its transitions."""

    __slots__ = ("chars", "end", "live", "match", "states", "trans")

    def __init__(self, states: frozenset[int], match: bool, live: bool) -> None:
        self.states = states
        self.match = match
        self.live = live
        self.trans: dict[str, _DState] = {}
        self.end: bool | None = None


class Regex:
    """A compiled pattern of the dialect.

    Attributes:
        pattern: the source pattern.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._tree = parse(pattern)
        builder = _Builder()
        start, exits = builder.build(self._tree)
        accept = builder.new(_MATCH)
        builder.patch(exits, accept)
        self._kind = builder.kind
        self._ranges = builder.ranges
        self._lows = [tuple(lo for lo, _ in r) for r in builder.ranges]
        self._out = builder.out
        self._out2 = builder.out2
        self._start = start
        self._cache: dict[tuple[frozenset[int], bool], _DState] = {}
        self._weight = 0
        self._restart = self._closure((start,), bol=False, eol=False)

    @property
    def size(self) -> int:
        """The number of automaton states (what one step of a search may visit)."""
        return len(self._kind)

    def _closure(self, seeds: Iterable[int], *, bol: bool, eol: bool) -> frozenset[int]:
        kind, out, out2 = self._kind, self._out, self._out2
        seen: set[int] = set()
        stack = list(seeds)
        while stack:
            s = stack.pop()
            if s < 0 or s in seen:
                continue
            seen.add(s)
            k = kind[s]
            if k == _SPLIT:
                stack.append(out[s])
                stack.append(out2[s])
            elif (k == _BOL and bol) or (k == _EOL and eol):
                stack.append(out[s])
        return frozenset(seen)

    def _state(self, states: frozenset[int], bol: bool) -> _DState:
        key = (states, bol)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= DFA_CACHE_LIMIT or self._weight >= DFA_CACHE_WEIGHT:
                self._cache.clear()  # bounded memory; rebuilding costs one step per state
                self._weight = 0
            self._weight += len(states)
            kind = self._kind
            match = any(kind[s] == _MATCH for s in states)
            live = any(kind[s] in (_CHAR, _EOL) for s in states)
            found = _DState(states, match, live)
            self._cache[key] = found
        return found

    def _step(self, state: _DState, char: str) -> _DState:
        code = ord(char)
        kind, ranges, lows, out = self._kind, self._ranges, self._lows, self._out
        nxt: list[int] = []
        for s in state.states:
            if kind[s] != _CHAR:
                continue
            i = bisect.bisect_right(lows[s], code) - 1
            if i >= 0 and code <= ranges[s][i][1]:
                nxt.append(out[s])
        closed = self._closure(nxt, bol=False, eol=False) | self._restart
        target = self._state(closed, False)
        if len(state.trans) < 256:
            state.trans[char] = target
        return target

    def _accepts_at_end(self, state: _DState, bol: bool) -> bool:
        if state.end is None:
            closed = self._closure(state.states, bol=bol, eol=True)
            state.end = any(self._kind[s] == _MATCH for s in closed)
        return state.end

    def search(self, value: str) -> bool:
        """Whether the pattern matches some part of ``value`` (in linear time)."""
        state = self._state(self._closure((self._start,), bol=True, eol=False), True)
        if state.match:
            return True
        if not value:
            return self._accepts_at_end(state, True)
        for char in value:
            nxt = state.trans.get(char)
            state = self._step(state, char) if nxt is None else nxt
            if state.match:
                return True
            if not state.live:  # no character test or end anchor left: no match ahead
                return False
        return self._accepts_at_end(state, False)

    def to_posix(self) -> str:
        """The pattern as a POSIX advanced regular expression (PostgreSQL's ``~``) deciding
        exactly the same values: every class spelled out as explicit ranges, ``.`` as "not a
        newline", every literal escaped."""
        return to_posix(self._tree)


@functools.lru_cache(maxsize=64)
def compile_regex(pattern: str) -> Regex:
    """The compiled form of ``pattern`` (cached).

    Raises:
        RegexSyntaxError: the pattern is not in the dialect (the message names the construct).
    """
    return Regex(pattern)
