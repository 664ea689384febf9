"""Tests for policyrules.evasion: the `aggressive` matcher (language.md §5)."""

from __future__ import annotations

import pickle
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyrules import evasion
from policyrules.evasion import LEET, SEPARATORS, AggressiveMatcher, confusable_map
from policyrules.normalize import STANDARD, boundary_ok, is_unspaced, is_word_char, normalize

TERMS = [
    (0, "kill", "word"),
    (1, "ass", "word"),
    (2, "murder*", "word"),
    (3, "*phobic", "word"),
    (4, "hate", "substring"),
    (5, "kill you", "word"),
    (6, "mörder", "word"),
    (7, "sık", "word"),
    (8, "matar", "word"),
]
MATCHER = AggressiveMatcher(TERMS)


def found(text: str, turkic: bool = False) -> list[tuple[int, str, tuple[str, ...]]]:
    """(term id, original substring, steps) for every occurrence in the standard text."""
    std = normalize(text, STANDARD, turkic)
    return [(i, std[s:e], steps) for i, s, e, steps in MATCHER.find(std, turkic)]


class TestRules:
    """Each §5 aggressive rule, with the steps it reports."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("kill", [(0, "kill", ())]),
            ("kiiiilll", [(0, "kiiiilll", ("repeat",))]),
            ("k1ll", [(0, "k1ll", ("leet",))]),
            ("k|ll", [(0, "k|ll", ("leet",))]),
            ("@$$", [(1, "@$$", ("leet",))]),
            ("k.i.l.l", [(0, "k.i.l.l", ("separator",))]),
            ("k i l l u", [(0, "k i l l", ("separator",))]),
            ("k-i_l*l", [(0, "k-i_l*l", ("separator",))]),
            ("kill!", [(0, "kill", ())]),
            ("kіll", [(0, "kіll", ("confusable", "mixed_script"))]),
            ("ⓚⓘⓛⓛ", [(0, "kill", ())]),
        ],
        ids=[
            "literal",
            "repeat",
            "leet-1",
            "leet-bar",
            "leet-ass",
            "dots",
            "spaces",
            "mixed-seps",
            "punct",
            "cyrillic",
            "enclosed",
        ],
    )
    def test_finds(self, text: str, expected: list[tuple[int, str, tuple[str, ...]]]) -> None:
        """Evasive spellings are found, with the steps they needed."""
        assert found(text) == expected

    @pytest.mark.parametrize("text", ["as", "skill", "killer", "k....i.l.l", "sk1ll", "bass"])
    def test_no_match(self, text: str) -> None:
        """Fewer repeats, longer words and more than 3 separators do not match."""
        assert [i for i, *_ in found(text) if i in (0, 1)] == []

    def test_wildcards(self) -> None:
        """`*` extends the occurrence over the rest of the word."""
        assert found("they murdered") == [(2, "murdered", ())]
        assert found("homophobic") == [(3, "homophobic", ())]

    def test_substring(self) -> None:
        """Substring terms match inside words and report their own span."""
        assert found("self-h4tescape") == [(4, "h4te", ("leet",))]

    def test_multiword(self) -> None:
        """A space in a term matches a whitespace run."""
        assert (5, "kill you", ()) in found("i will kill   you")

    def test_umlaut_variant(self) -> None:
        """Umlaut terms also match their ae/oe/ue spelling under aggressive."""
        assert found("MOERDER") == [(6, "moerder", ())]
        assert found("m0rder") == [(6, "m0rder", ("leet",))]

    def test_turkish_dotless_i(self) -> None:
        """In tr posts ı is left alone: sık matches sık but not sik."""
        assert found("SIK", turkic=True) == [(7, "sık", ())]
        assert found("sik", turkic=True) == []

    def test_spanish(self) -> None:
        """Spanish terms match with leet and accents folded."""
        assert found("te voy a M4TÁR") == [(8, "m4tar", ("leet",))]


class TestData:
    """Tests for the pinned confusables data."""

    def test_single_letter_targets(self) -> None:
        """Cyrillic and Greek look-alikes map to Latin letters; ASCII is left to leet."""
        table = confusable_map()
        assert table["а"] == "a" and table["о"] == "o" and table["ο"] == "o"
        assert "0" not in table and "1" not in table
        assert all(len(v) == 1 for v in table.values())

    def test_turkic_keeps_dotless_i(self) -> None:
        """Under Turkic folding ı is not a confusable of i."""
        assert confusable_map()["ı"] == "i"
        assert "ı" not in confusable_map(turkic=True)

    def test_leet_table(self) -> None:
        """The leet table has at least the forms §5 lists."""
        assert {"a", "e", "i", "l", "o", "s", "t", "g", "b"} <= set(LEET)


class TestMatcher:
    """Tests for the matcher object."""

    def test_pickle(self) -> None:
        """A matcher survives pickling and finds the same occurrences."""
        clone = pickle.loads(pickle.dumps(MATCHER))
        std = normalize("k1ll you, @$$", STANDARD)
        assert clone.find(std) == MATCHER.find(std)

    def test_bar_as_letter_and_separator_in_one_match(self) -> None:
        """'|' read as a letter and as a separator in the same match still passes the prefilter."""
        assert AggressiveMatcher([(1, "kiss", "word")]).find("k|s|s") == [(1, 0, 5, ("leet", "separator"))]
        found = AggressiveMatcher([(1, "kill", "word"), (2, "you", "word")]).find("k|ll yo|u")
        assert [(i, s, e) for i, s, e, _ in found] == [(1, 0, 4), (2, 5, 9)]

    def test_run_lengths_gate_candidates(self) -> None:
        """A short key is a candidate only where the runs its collapse removed are there too."""
        compiled = AggressiveMatcher([(1, "kkk", "word")])._get(False)
        assert compiled.candidates("k.k.k") and compiled.candidates("kkkk")
        assert not compiled.candidates("kick the ball, ok")

    def test_empty(self) -> None:
        """No terms and empty text give no occurrences."""
        assert AggressiveMatcher([]).find("kill") == []
        assert MATCHER.find("") == []

    @settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.text(max_size=80), st.booleans())
    def test_never_raises(self, text: str, turkic: bool) -> None:
        """Any standard text is accepted; offsets are in bounds and ordered."""
        std = normalize(text, STANDARD, turkic)
        prev = (-1, -1)
        for _i, s, e, _steps in MATCHER.find(std, turkic):
            assert 0 <= s < e <= len(std)
            assert (s, e) >= prev
            prev = (s, e)

    @settings(max_examples=200, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.sampled_from(["kill", "ass", "matar"]), st.text(max_size=20), st.text(max_size=20))
    def test_literal_term_found(self, term: str, before: str, after: str) -> None:
        """A term inserted as a word is always found."""
        std = normalize(f"{before} {term} {after}", STANDARD)
        ids = {i for i, t, _m in TERMS if t == term}
        assert any(i in ids for i, *_ in MATCHER.find(std))


# The matcher as it was before the faster run collapse and the cached script lookup:
# skeleton candidates, then an overlapped verifier pass over the whole text.
_OLD_COLLAPSE = re.compile(r"(.)\1+", re.DOTALL)


def _candidates_reference(compiled: Any, text: str) -> set[int]:
    found: set[int] = set()
    if not len(compiled.automaton):
        return found
    tables = [compiled.skeleton_table]
    if "|" in text:
        tables.append(compiled.no_bar_table)
    for table in tables:
        skel = text.translate(table)
        skel = _OLD_COLLAPSE.sub(r"\1", skel) if len(skel) > 1 else skel
        for _end, idxs in compiled.automaton.iter(skel):
            found.update(idxs)
    return found


def _find_reference(
    matcher: AggressiveMatcher, text: str, turkic: bool = False
) -> list[tuple[int, int, int, tuple[str, ...]]]:
    compiled = matcher._get(turkic)
    cands = _candidates_reference(compiled, text)
    if not cands:
        return []
    ctext = text.translate(compiled.conf_table) if not text.isascii() else text
    results: set[tuple[int, int, int, tuple[str, ...]]] = set()
    for idx in sorted(cands):
        term = compiled.variants[idx]
        for m in term.pattern.finditer(ctext, overlapped=True):
            start, end = m.span()
            if start == end:
                continue
            if term.left_wild:
                while (
                    start > 0 and is_word_char(text[start - 1]) and not is_unspaced(text[start - 1])
                ):
                    start -= 1
            if term.right_wild:
                while end < len(text) and is_word_char(text[end]) and not is_unspaced(text[end]):
                    end += 1
            if term.mode != "substring" and not boundary_ok(
                text, start, end, term.first, term.last,
                check_left=not term.left_wild, check_right=not term.right_wild,
            ):  # fmt: skip
                continue
            results.add((term.term_id, start, end, evasion._steps(m, text, ctext, start, end)))
    return evasion._prune(results)


EQ_TERMS = [
    "kill", "ass", "murder*", "*phobic", "kill you", "mörder", "lab", "b|tch", "-ass", ".net",
    "x-rated", "tit", "sex", "a", "ii", "sık", "中国", "fuck*", "*hole", "pussy", "bitch",
]  # fmt: skip
EQ_MATCHERS = {
    mode: AggressiveMatcher([(i, t, mode) for i, t in enumerate(EQ_TERMS)])
    for mode in ("word", "substring")
}
_CONFUSABLE = {"a": "а", "e": "е", "i": "і", "o": "о", "s": "ѕ", "c": "с", "x": "х", "p": "р"}
_FILLER = (
    "aeiloustkbhx ñüéı中'!?" + SEPARATORS + "".join(LEET.values()) + "".join(_CONFUSABLE.values())
)


@st.composite
def _obfuscated(draw: Any) -> str:
    """A term spelled letter by letter with leet, confusables, repeats and separators."""
    term = draw(st.sampled_from(EQ_TERMS)).strip("*")
    out = []
    for ch in term:
        form = draw(st.sampled_from([ch, *LEET.get(ch, ""), _CONFUSABLE.get(ch, ch), ch.upper()]))
        out.append(form * draw(st.integers(1, 3)))
        out.append(draw(st.text(alphabet=SEPARATORS, max_size=4)))
    return "".join(out)


_PIECES = st.one_of(
    _obfuscated(),
    st.sampled_from([t.strip("*") for t in EQ_TERMS]),
    st.text(alphabet=_FILLER, max_size=4),
)


class TestSameAsReference:
    """The optimized matcher finds exactly what the reference implementation found."""

    @settings(max_examples=1500, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.lists(_PIECES, max_size=8), st.booleans(), st.sampled_from(["word", "substring"]))
    def test_same_as_reference(self, pieces: list[str], turkic: bool, mode: str) -> None:
        """find equals the reference implementation on evasive texts, word and substring."""
        std = normalize("".join(pieces), STANDARD, turkic)
        matcher = EQ_MATCHERS[mode]
        assert matcher.find(std, turkic) == _find_reference(matcher, std, turkic)

    @settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.text(alphabet=_FILLER + "lbtchn", max_size=60))
    def test_collapse_same_as_reference(self, text: str) -> None:
        """The faster run collapse equals the old (.)\\1+ substitution."""
        assert evasion._collapse(text) == (
            _OLD_COLLAPSE.sub(r"\1", text) if len(text) > 1 else text
        )

    @settings(max_examples=200, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.text(max_size=20))
    def test_cached_script_same_as_uncached(self, text: str) -> None:
        """The cached per-character script lookup returns what the uncached one does."""
        assert [evasion._script(c) for c in text] == [evasion._script.__wrapped__(c) for c in text]
