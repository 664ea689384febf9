"""Tests for policyrules.evasion: the `aggressive` matcher (language.md §5)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyrules.evasion import LEET, AggressiveMatcher, confusable_map
from policyrules.normalize import STANDARD, normalize

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
