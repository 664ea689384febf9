"""Tests for the `(typos: one)` list option (typo-tolerant matching)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import policyrules
from policyrules.normalize import word_spans
from policyrules.typos import TypoMatcher, damerau_at_most_one

SRC = '''policy p { title: "P" action: label }
terms g (typos: one) = ["women", "refugees", "kill"] except ["woman"]
terms plain = ["immigrants"]
rule r { policy: p when: any(g, plain) }
'''


def evidence(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """(text, steps) of every piece of evidence for *text*."""
    v = policyrules.compile(SRC).evaluate(text)
    return [(e.text, e.steps) for m in v.matches for e in m.evidence]


class TestTypos:
    """Words one edit away match single-word terms of 5+ letters, and say so."""

    def test_swapped_missing_added(self) -> None:
        """A swap, a deletion and an insertion each match with step 'typo'."""
        assert evidence("I hate wmoen") == [("wmoen", ("typo",))]
        assert evidence("womn are") == [("womn", ("typo",))]
        assert evidence("wommen") == [("wommen", ("typo",))]
        assert evidence("refugese go home") == [("refugese", ("typo",))]

    def test_replaced_letter_is_not_a_typo(self) -> None:
        """A replaced letter turns real words into each other, so it never matches."""
        assert evidence("refugess go home") == []
        assert evidence("wemen") == []

    def test_exact_match_has_no_typo_step(self) -> None:
        """An exact occurrence is an ordinary match."""
        assert evidence("WOMEN!") == [("WOMEN", ())]

    def test_short_terms_and_two_edits_do_not_match(self) -> None:
        """Terms under 5 letters and words two edits away do not match."""
        assert evidence("kil you") == []
        assert evidence("wmeon") == []

    def test_excepts_match_exactly(self) -> None:
        """Except terms are not typo-tolerant (so 'woman' does not suppress 'women')."""
        assert evidence("woman") == []
        assert evidence("women") == [("women", ())]

    def test_lists_without_the_option_are_exact(self) -> None:
        """Lists that do not opt in keep exact matching."""
        assert evidence("imigrants") == []

    def test_unknown_value_is_compile_error(self) -> None:
        """typos takes none or one."""
        try:
            policyrules.compile('policy p { title: "P" action: label }\nterms g (typos: two) = ["women"]\nrule r { policy: p when: g }')
        except policyrules.PolicyCompileError as exc:
            assert "not one of none, one" in str(exc)
        else:
            raise AssertionError("expected a compile error")


def _one_edit(word: str, data: st.DataObject) -> str:
    i = data.draw(st.integers(0, len(word) - 1))
    kind = data.draw(st.sampled_from(["del", "ins", "sub", "swap"]))
    c = data.draw(st.sampled_from("abcxyz"))
    if kind == "del":
        return word[:i] + word[i + 1 :]
    if kind == "ins":
        return word[:i] + c + word[i:]
    if kind == "sub":
        return word[:i] + c + word[i + 1 :]
    if i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word


@given(st.text("abcdefgh", min_size=1, max_size=10), st.data())
def test_distance_one_is_symmetric_and_true_for_one_edit(word: str, data: st.DataObject) -> None:
    """Any single edit is at distance one, in both directions."""
    other = _one_edit(word, data)
    assert damerau_at_most_one(word, other)
    assert damerau_at_most_one(other, word)


@given(st.text("ab", max_size=6), st.text("ab", max_size=6), st.booleans())
def test_distance_matches_brute_force(a: str, b: str, substitution: bool) -> None:
    """damerau_at_most_one agrees with a brute-force set of one-edit neighbours."""
    neighbours = {a}
    for i in range(len(a) + 1):
        for c in "ab":
            neighbours.add(a[:i] + c + a[i:])
        if i < len(a):
            neighbours.add(a[:i] + a[i + 1 :])
            if substitution:
                for c in "ab":
                    neighbours.add(a[:i] + c + a[i + 1 :])
        if i + 1 < len(a):
            neighbours.add(a[:i] + a[i + 1] + a[i] + a[i + 2 :])
    assert damerau_at_most_one(a, b, substitution=substitution) == (b in neighbours)


_MATCHER = TypoMatcher([(0, "women"), (1, "morder"), (2, "kadın"), (3, "殺人者殺人")])


@given(st.lists(st.sampled_from(["wmoen", "women", "womn", "morder", "moerder", "kadn", "kadin",
                                 "ok", "abc", "殺人者", "wommen", "x"]), max_size=8),
       st.sampled_from([" ", ", ", "  ", "'", "-"]))
def test_find_equals_a_plain_word_scan_whatever_the_caches_hold(words: list[str], sep: str) -> None:
    """find gives what one lookup per word_spans word gives, on a matcher whose caches persist."""
    text = sep.join(words)
    expected = [(tid, s, e) for s, e in word_spans(text)
                if 4 <= e - s <= _MATCHER.max_len for tid in _MATCHER._lookup(text[s:e])]
    assert _MATCHER.find(text) == expected
    assert _MATCHER.find(text) == expected  # second call: served from the word caches
