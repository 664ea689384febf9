"""Tests for policyrules.normalize (language.md §3, §5)."""

from __future__ import annotations

import pytest

from policyrules.normalize import (
    LIGHT,
    NONE,
    RAW,
    STANDARD,
    View,
    boundary_ok,
    normalize,
    normalize_mapped,
    normalize_term,
    word_spans,
)


class TestNormalize:
    """Tests for `normalize`."""

    @pytest.mark.parametrize(
        ("text", "view", "turkic", "expected"),
        [
            ("Hello  World", RAW, False, "Hello  World"),
            ("Hello \t World", NONE, False, "hello world"),
            ("Ｋｉｌｌ\u200b you", LIGHT, False, "Kill you"),
            ("Ｋİ\u200bLL  Straße", STANDARD, False, "kill strasse"),
            ("IŞIK", STANDARD, True, "ısık"),
            ("año café", STANDARD, False, "año cafe"),
            ("café", View("standard", fold_accents=False), False, "café"),
            ("قَتَلَ قـــتل", STANDARD, False, "قتل قتل"),
            ("l’homme", STANDARD, False, "l'homme"),
            ("٣۴", STANDARD, False, "34"),
        ],
        ids=[
            "raw",
            "none",
            "light",
            "standard",
            "turkic",
            "enye",
            "keep",
            "arabic",
            "apos",
            "digits",
        ],
    )
    def test_views(self, text: str, view: View, turkic: bool, expected: str) -> None:
        """Each view applies exactly its steps."""
        assert normalize(text, view, turkic) == expected


class TestNormalizeMapped:
    """Tests for `normalize_mapped`."""

    def test_maps_back(self) -> None:
        """Spans of a normalized match point at the original characters, invisibles included."""
        m = normalize_mapped("A K\u200bİLL!", STANDARD)
        assert m.text == normalize("A K\u200bİLL!", STANDARD)
        start = m.text.index("kill")
        assert m.to_original(start, start + 4) == (2, 7)


class TestTerms:
    """Tests for `normalize_term`."""

    def test_umlaut_variants(self) -> None:
        """ä/ö/ü terms also yield ae/oe/ue; the ae/oe/ue spelling does not yield umlauts."""
        assert normalize_term("Mörder", STANDARD) == ("morder", "moerder")
        assert normalize_term("moerder", STANDARD) == ("moerder",)


class TestWords:
    """Tests for word boundaries and word spans."""

    def test_boundary(self) -> None:
        """A term inside a longer word is not a whole word; punctuation is a boundary."""
        text = "#freemoney, kill! skill"
        assert boundary_ok(text, 12, 16, "k", "l")
        assert not boundary_ok(text, 19, 23, "k", "l")

    def test_word_spans(self) -> None:
        """Apostrophes split words; each unspaced-script character is a word."""
        assert word_spans("l'homme 殺す ok") == [(0, 1), (2, 7), (8, 9), (9, 10), (11, 13)]
