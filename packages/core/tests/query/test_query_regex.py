"""The ``regex`` dialect: what it accepts, what it refuses (naming the construct), its meaning
(Python's ``re`` in ASCII mode wherever the two are defined alike) and its linear cost."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specstar.core import QB, QueryError
from specstar.core.indexes import IndexedField, IndexSpec
from specstar.core.query._regex import Regex, RegexSyntaxError, compile_regex
from specstar.core.query.resolve import resolve_query
from specstar.testing.strategies import regex_patterns


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        (r"(a)\1", "backreferences"),
        ("(?=a)b", "lookahead"),
        ("(?!a)b", "lookahead"),
        ("(?<=a)b", "lookbehind"),
        ("(?<!a)b", "lookbehind"),
        (r"\bword", "word boundary"),
        (r"\Bx", "non-boundary"),
        (r"\Aa", "\\A"),
        (r"a\Z", "\\Z"),
        ("(?i)abc", "inline flags"),
        ("(?P<n>a)", "named groups"),
        ("(?P=n)", "named groups"),
        ("(?>a)", "atomic groups"),
        ("(?#c)a", "comments"),
        ("a*+", "possessive"),
        ("a**", "multiple repeat"),
        ("*a", "nothing to repeat"),
        ("^*", "anchor"),
        ("a{256}", "above 255"),
        ("a{3,2}", "reversed"),
        ("a{2", "quantifier"),
        ("[[:alpha:]]", "POSIX classes"),
        ("[a", "missing ']'"),
        ("(a", "missing ')'"),
        ("a)", "unbalanced"),
        ("[z-a]", "reversed"),
        (r"[\d-z]", "single character"),
        (r"\p{L}", "Unicode properties"),
        (r"\x00", "values can hold"),
        (r"\ud800", "values can hold"),
        (r"\q", "escape \\q"),
        (r"[^\s\S]", "no character"),
        ("a\\", "lone backslash"),
        ("((a{200}){200})", "automaton states"),
        ("(" * 60 + ")" * 60, "nest deeper"),
    ],
)
def test_constructs_outside_the_dialect_are_refused_by_name(pattern: str, named: str) -> None:
    with pytest.raises(RegexSyntaxError, match=re.escape(named)):
        compile_regex(pattern)


def test_a_refused_pattern_is_a_query_error_naming_the_field() -> None:
    spec = IndexSpec((IndexedField("title", "str"),))
    with pytest.raises(QueryError, match=r"invalid regex for title: lookahead") as info:
        resolve_query(QB["title"].regex("^(?=secret).*"), spec)
    assert info.value.path == "title"


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("^a.c$", "abc", True),
        ("^a.c$", "a\nc", False),  # . never matches a newline
        ("a$", "a\n", False),  # $ is the end of the value, not before a final newline
        ("a\\n$", "a\n", True),
        (r"^\d+$", "123", True),
        (r"^\d+$", "١٢٣", False),  # \d is ASCII 0-9 only
        (r"\w", "é", False),  # \w is ASCII
        (r"\W", "é", True),
        (r"^\s$", "\u00a0", False),  # \s is ASCII whitespace
        ("[^a]", "\n", True),  # a negated class includes the newline
        ("", "", True),
        ("a|", "zzz", True),  # an empty branch matches everywhere
        ("^$", "", True),
        ("^$", "x", False),
        ("(^a|b$)", "xab", True),
        ("x(^a)", "xa", False),
        ("a{0}b", "b", True),
        ("(?:ab){2,3}$", "ababab", True),
        ("^(?:ab){2}$", "ababab", False),
        ("[]a]", "]", True),
        ("[a-]", "-", True),
        (r"\u00e9|\x41", "A", True),
        ("😀+", "x😀😀", True),
        ("a*?b", "aab", True),
    ],
)
def test_meaning(pattern: str, value: str, expected: bool) -> None:
    assert compile_regex(pattern).search(value) is expected


@settings(max_examples=300, deadline=None)
@given(
    pattern=regex_patterns(),
    values=st.lists(st.text(alphabet="ab B%_.é$\nAx1", max_size=10), min_size=1, max_size=8),
)
def test_agrees_with_python_re_in_ascii_mode(pattern: str, values: list[str]) -> None:
    """Python's ``re`` (ASCII classes) means the same wherever no ``$`` meets a value ending
    in a newline (``re``'s ``$`` also matches before it)."""
    compiled = compile_regex(pattern)
    for value in values:
        if "$" in pattern and value.endswith("\n"):
            continue
        assert compiled.search(value) is (re.search(pattern, value, re.ASCII) is not None), value


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(a|aa)*b", "^(.*.*.*.*)*!", "(a*)*$x"])
@pytest.mark.parametrize("length", [28, 5000])
def test_catastrophic_patterns_take_one_step_per_character(
    monkeypatch: pytest.MonkeyPatch, pattern: str, length: int
) -> None:
    """A search computes at most one automaton step per character (each step visits at most
    ``size`` states), whatever the pattern: no backtracking."""
    steps = 0
    original = Regex._step

    def counted(self: Regex, state: Any, char: str) -> Any:
        nonlocal steps
        steps += 1
        return original(self, state, char)

    monkeypatch.setattr(Regex, "_step", counted)
    compiled = Regex(pattern)  # fresh: an empty transition cache
    assert compiled.search("a" * length + "!") is pattern.endswith("!")
    assert steps <= length + 1
    assert compiled.size < 50


def test_the_transition_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("specstar.core.query._regex.DFA_CACHE_LIMIT", 8)
    compiled = Regex("(a|b)*a(a|b){6}c")  # a DFA of 2**7 states
    value = "ab" * 200 + "aababab" + "c"
    assert compiled.search(value) is True
    assert len(compiled._cache) <= 8
    assert compiled.search("ab" * 200) is False
    monkeypatch.setattr("specstar.core.query._regex.DFA_CACHE_WEIGHT", 60)
    heavy = Regex("(a|b)*a(a|b){6}c")
    assert heavy.search(value) is True
    assert sum(len(states) for states, _ in heavy._cache) <= 60 + heavy.size


def test_posix_translation_spells_out_classes_and_escapes_literals() -> None:
    posix = compile_regex(r"^a.b[^x-z]\d+(c|d|)$ é{2,3}\.").to_posix()
    assert posix == (
        "^a[\\u0001-\\u0009\\u000b-\\ud7ff\\ue000-\\U0010ffff]b"
        "[\\u0001-w\\{-\\ud7ff\\ue000-\\U0010ffff][0-9]+(?:c|d|(?:))$\\u0020\\u00e9{2,3}\\."
    )
