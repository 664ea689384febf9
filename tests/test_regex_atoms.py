"""Tests for regex atom extraction (a prefilter that must never lose a match) and ReDoS checks."""

from __future__ import annotations

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyrules.regex_atoms import MAX_ATOMS, backtracking_risk, extract_atoms, required_class

# --------------------------------------------------------------------------- extract_atoms


@pytest.mark.parametrize(
    ("pattern", "flags", "expected"),
    [
        ("hello", "", {"hello"}),
        ("HeLLo world", "", {"hello world"}),
        ("colou?r", "", {"color", "colour"}),
        ("foo|bar", "", {"foo", "bar"}),
        (r"\bfree\s*money\b", "", {"money"}),
        (r"\.com\b", "", {".com"}),
        ("ab[cd]ef", "", {"abcef", "abdef"}),
        ("(?:ab)+cd", "", {"abcd"}),
        ("x(?=yz)yz", "", {"xyz"}),
        ("(?<!no )thanks", "", {"thanks"}),
        ("abc(?<name>def)", "", {"abcdef"}),
        ("(?P<w>abc)(?P=w)", "", {"abc"}),
        ("كلب", "", {"كلب"}),
        ("(?:kill|hurt) (?:you|u)", "", {"ll you", "ll u", "hurt you", "hurt u"}),
    ],
)
def test_extract_atoms_examples(pattern: str, flags: str, expected: set[str]) -> None:
    """Typical patterns give the expected casefolded atom sets."""
    assert extract_atoms(pattern, flags) == frozenset(expected)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\d+",
        r"\w+@\w+",
        "a",
        "foo|.",
        "(?:foo)?",
        "(?:foo)*b?",
        r"(a)\1",
        # regex-only syntax: parse refuses it, or it reads differently in `re`
        "x{e<=1}",
        "(?:kill){e<=1}",
        r"\p{L}+abc",
        r"\L<words>",
        "(?r)abc",
        "(?V1)[[a-z]--[aeiou]]abc",
        "[[:alpha:]]abc",
        "[a-z&&[^x]]abc",
        "(?|(abc)|(def))",
        "abc{",
    ],
)
def test_extract_atoms_none(pattern: str) -> None:
    """Patterns without a required literal (or in regex-only syntax) give None."""
    assert extract_atoms(pattern) is None


def test_turkic_i_splits_atoms() -> None:
    """'I' never enters an atom, nor 'i' in a case-insensitive pattern (ı, İ, Turkic folding)."""
    assert extract_atoms("Istanbul", "i") == frozenset({"stanbul"})
    assert extract_atoms("bir gun", "i") == frozenset({"r gun"})
    assert extract_atoms("abci") == frozenset({"abc"})
    # a case-sensitive pattern keeps a lower-case i, never an upper-case I
    assert extract_atoms("bird", case_sensitive=True) == frozenset({"bird"})
    assert extract_atoms("bIrd", case_sensitive=True) == frozenset({"rd"})
    assert extract_atoms("bird", "i", case_sensitive=True) == frozenset({"rd"})


def test_characters_standard_rewrites_are_excluded() -> None:
    """Backquotes and Arabic letters that `standard` rewrites (أ, ى) split atoms."""
    assert extract_atoms("abc`def") == frozenset({"abc"})
    assert extract_atoms("أكل") == frozenset({"كل"})
    assert extract_atoms("على") == frozenset({"عل"})


def test_raw_text_patterns_get_no_atoms() -> None:
    """A pattern on raw text is not gated: NFKC may compose what it matched (n + ◌̃ → ñ)."""
    assert extract_atoms("hello", text="raw") is None
    assert extract_atoms("hello", text="folded") == frozenset({"hello"})


def test_scoped_flags_tracked() -> None:
    """An inline (?-i:...) group turns case-insensitivity off inside it."""
    assert extract_atoms("(?-i:xbirdx)", "i") == frozenset({"xbirdx"})


def test_atoms_bounded() -> None:
    """A huge alternation is not turned into a huge gate."""
    words = "|".join(f"q{n:02d}z" for n in range(40))
    assert extract_atoms(words) is None
    small = "|".join(f"w{n:02d}xy" for n in range(MAX_ATOMS))
    atoms = extract_atoms(small)
    assert atoms is not None and len(atoms) == MAX_ATOMS


def test_ascii_case_oddities_measured() -> None:
    """Re-measure which ASCII characters regex IGNORECASE matches to non-ASCII ones."""
    found: dict[str, set[int]] = {}
    for flags in (regex.I, regex.I | regex.F, regex.I | regex.V1):
        for code in range(32, 127):
            ch = chr(code)
            compiled = regex.compile(regex.escape(ch), flags)
            for other in range(128, 0x3000):
                if compiled.fullmatch(chr(other)):
                    found.setdefault(ch, set()).add(other)
            for other in (0x212A, 0xFB00, 0xFB01, 0xFB05, 0xFB06):
                if compiled.fullmatch(chr(other)):
                    found.setdefault(ch, set()).add(other)
    assert found == {
        "K": {0x212A}, "k": {0x212A}, "S": {0x17F}, "s": {0x17F}, "i": {0x130}, "I": {0x131},
    }
    # Kelvin sign and long s casefold to plain ASCII, so only i/I need special care
    assert "\u212a".casefold() == "k" and "\u017f".casefold() == "s"
    assert "\u0130".casefold() == "i\u0307" and "\u0131".casefold() == "\u0131"


# --------------------------------------------------------------------------- soundness property

_ALPHABET = ["a", "b", "k", "s", "i", "I", "ß", "\u0130", "\u0131", "\u212a", "\u017f",
             "ﬁ", " ", "-", "ب", "é", "A", "S", "K", "f", "\n", "1", "`", "'", "\u0303", "n",
             "أ", "ا", "\t", "\u200b", "ﻻ", "ل"]

_atom_chars = st.sampled_from(["a", "b", "k", "s", "i", "I", "f", "ss", "fi", " ", "-", "ب", "é", "1",
                               "ab", "ka", "sa", "`", "'", "n", "أ", "ا", "ل", "لا"])


def _regex_strategy() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        _atom_chars.map(regex.escape),
        st.sampled_from([".", r"\w", r"\s", r"\d", "[ab]", "[a-c]", "[^a]", "[ik]", "[sS]",
                         r"\b", "^", "$", "(?=a)", "(?!b)", "(?<=s)", r"\B"]),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.lists(inner, min_size=2, max_size=4).map("".join),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(?:" + "|".join(xs) + ")"),
            st.tuples(inner, st.sampled_from(["?", "*", "+", "{2}", "{0,2}", "{1,3}", "{2,}", "+?", "*+"]))
            .map(lambda t: "(?:" + t[0] + ")" + t[1]),
            inner.map(lambda x: "(" + x + ")"),
            inner.map(lambda x: "(?i:" + x + ")"),
            inner.map(lambda x: "(?-i:" + x + ")"),
            inner.map(lambda x: "(?>" + x + ")"),
            inner.map(lambda x: "(" + x + r")\1"),
        )

    return st.recursive(leaf, extend, max_leaves=10)


_texts = st.lists(st.sampled_from(_ALPHABET), max_size=14).map("".join)
_ENGINE_FLAGS = [regex.I, regex.I | regex.F, regex.I | regex.V1, regex.V0, regex.I | regex.F | regex.V1]


def _check_sound(pattern: str, texts: list[str], case_sensitive: bool) -> None:
    atoms = extract_atoms(pattern, "" if case_sensitive else "i", case_sensitive=case_sensitive)
    if atoms is None:
        return
    assert all(len(a) >= 2 and a == a.casefold() for a in atoms)
    flag_sets = [regex.V0] if case_sensitive else _ENGINE_FLAGS
    for flags in flag_sets:
        try:
            compiled = regex.compile(pattern, flags)
        except regex.error:
            return
        for text in texts:
            for m in compiled.finditer(text, overlapped=True):
                folded = m.group().casefold()
                assert any(a in folded for a in atoms), (pattern, text, m.group(), atoms, flags)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_regex_strategy(), st.lists(_texts, min_size=1, max_size=6), st.booleans())
def test_atoms_sound_on_generated_patterns(pattern: str, texts: list[str], case_sensitive: bool) -> None:
    """Whenever a generated pattern matches a string, the match contains one of its atoms."""
    _check_sound(pattern, texts, case_sensitive)


@settings(max_examples=300, deadline=None)
@given(_regex_strategy())
def test_atoms_sound_on_strings_built_from_the_pattern(pattern: str) -> None:
    """Strings made to match (literal pieces of the pattern, case-mangled) keep the property."""
    pieces = regex.findall(r"[a-zA-Zß ]+", pattern.replace("(?i:", "").replace("(?-i:", ""))
    texts = []
    for piece in pieces:
        texts += [piece, piece.upper(), piece.replace("i", "\u0130").replace("I", "\u0131"),
                  piece.replace("k", "\u212a").replace("s", "\u017f"), "x" + piece + piece + "y"]
    texts.append("".join(pieces))
    _check_sound(pattern, texts, case_sensitive=False)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_regex_strategy(), st.lists(_texts, min_size=1, max_size=6))
def test_atoms_sound_for_the_standard_gate(pattern: str, texts: list[str]) -> None:
    """A pattern matching a post's light text implies an atom in its standard text (both foldings)."""
    from policyrules import normalize as nz

    atoms = extract_atoms(pattern, "i")
    if atoms is None:
        return
    for flags in (regex.I, regex.I | regex.F, regex.I | regex.V1):
        try:
            compiled = regex.compile(pattern, flags)
        except regex.error:
            return
        for text in texts:
            if compiled.search(nz.normalize(text, nz.LIGHT)) is None:
                continue
            for turkic in (False, True):
                gate = nz.normalize(text, nz.STANDARD, turkic=turkic)
                assert any(a in gate for a in atoms), (pattern, text, gate, atoms)
            folded = nz.normalize(text, nz.STANDARD)
            if compiled.search(folded) is not None:
                assert any(a in folded for a in atoms)


# --------------------------------------------------------------------------- backtracking_risk


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+$",
        "([a-zA-Z]+)*$",
        "(a|aa)+$",
        "(a|a?)+$",
        "(.*a){12}",
        r"^(\w+\s?)*$",
        r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$",
        r"^(([a-z])+.)+[A-Z]([a-z])+$",
        r"(\d+)*x",
        r"(?:\s*,\s*)*;",
        r"(x+x+)+y",
        r".*.*=.*;",
    ],
)
def test_backtracking_risk_flags_redos(pattern: str) -> None:
    """Known catastrophic-backtracking patterns (OWASP and friends) are flagged."""
    message = backtracking_risk(pattern)
    assert message is not None and len(message) < 120


@pytest.mark.parametrize(
    "pattern",
    [
        "hello",
        r"\bfree\s*money\b",
        r"\bi(?:'ll| will| am going to|'m gonna) (?:kill|hurt|stab|shoot) (?:you|u)\b",
        r"(?:\w+\s)+end",
        r"[a-z]+@[a-z]+\.com",
        r"k+i+l+",
        r"(?:ab|cd)+",
        r"(?:https?://)?\S+",
        r"\d{3}-\d{4}",
        r"(?:[a-z]+\.)+[a-z]{2,}",
        r"\w+(?:-\w+)*",
        r".*foo",
    ],
)
def test_backtracking_risk_accepts_safe(pattern: str) -> None:
    """Ordinary, linear-time patterns are not flagged."""
    assert backtracking_risk(pattern) is None


# --------------------------------------------------------------------------- required class

_CLASS_LEAVES = st.sampled_from(["#", "@", r"\$", "€", "1", r"\d", "[#@]", "[0-9]", "[-.]", "a", r"\w",
                                 ".", "٣", "[^#]", r"\D", "ß", "[a#]", r"\s", "[!-/]", "(?<=#)", r"\b"])
_CLASS_TEXTS = st.lists(st.sampled_from(["#", "@", "$", "€", "1", "٣", "a", "A", "ß", "ss", " ", "-", ".",
                                         "x", "!", "/", "𝟙", "\u0130"]), max_size=12).map("".join)


def _class_patterns() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.lists(inner, min_size=2, max_size=4).map("".join),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(?:" + "|".join(xs) + ")"),
            st.tuples(inner, st.sampled_from(["?", "*", "+", "{2}", "{0,2}", "{1,3}", "+?", "*+"]))
            .map(lambda t: "(?:" + t[0] + ")" + t[1]),
            inner.map(lambda x: "(?i:" + x + ")"),
            inner.map(lambda x: "(?>" + x + ")"),
        )

    return st.recursive(_CLASS_LEAVES, extend, max_leaves=8)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_class_patterns(), st.lists(_CLASS_TEXTS, min_size=1, max_size=6))
def test_required_class_is_in_every_match(pattern: str, texts: list[str]) -> None:
    """Every non-empty match of a pattern contains a character of its required class (same flags)."""
    source = required_class(pattern)
    if source is None:
        return
    for flags in _ENGINE_FLAGS:
        compiled = regex.compile(pattern, flags)
        need = regex.compile(source, flags)
        for text in texts:
            for m in compiled.finditer(text, overlapped=True):
                if m.end() > m.start():
                    assert need.search(m.group()) is not None, (pattern, source, text, m.group(), flags)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"(?<!\w)@\w+", "[\\U00000040]"),
        (r"(?<![\w&])#[^\W\d_]\w*", "[\\U00000023]"),
        (r"(?:£|\$|€)\s?\d+", "[\\U00000024\\U000000a3\\U000020ac]"),
        (r"\+?\d{3}[ .-]?\d{4}", "[\\d]"),
        (r"\w+", None),
        (r"(?:#|a)", None),
        (r"x #?", None),
        (r"[ -]\w", None),
    ],
)
def test_required_class_examples(pattern: str, expected: str | None) -> None:
    """Punctuation and symbols are preferred to digits; letters, spaces and optional parts give nothing."""
    assert required_class(pattern) == expected
