"""Tests for ``policyrules.formatter``: canonical layout, kept comments, idempotence, round trip.

Golden files: ``tests/fixtures/formatter/NAME.policy`` → ``NAME.expected``. Regenerate with
``UPDATE_GOLDEN=1 pytest tests/test_formatter.py``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from strategies import ruleset_specs

from policyrules import nodes
from policyrules.formatter import format_module, format_source
from policyrules.syntax import parse_source

FIXTURES = Path(__file__).parent / "fixtures"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
FMT_FILES = sorted((FIXTURES / "formatter").glob("*.policy"))
ALL_FILES = FMT_FILES + sorted((FIXTURES / "syntax").glob("*.policy"))


def fmt(src: str) -> str:
    """Format a snippet."""
    return format_source(src, "t.policy")


def assert_stable(src: str) -> str:
    """Format, then check idempotence and that the tree survives; return the output."""
    module = parse_source(src, "t.policy")
    once = format_module(module)
    again = parse_source(once, "t.policy")
    assert again == module
    assert [c.text for c in again.comments] == [c.text for c in module.comments]
    assert format_module(again) == once
    return once


class TestFormatModule:
    """Tests for ``format_module`` and ``format_source``."""

    @pytest.mark.parametrize("path", FMT_FILES, ids=[p.stem for p in FMT_FILES])
    def test_golden(self, path: Path) -> None:
        """Each fixture formats to its .expected file, which formats to itself."""
        out = format_source(path.read_text(encoding="utf-8"), path.name)
        expected = path.with_suffix(".expected")
        if UPDATE or not expected.exists():
            expected.write_text(out, encoding="utf-8")
        assert out == expected.read_text(encoding="utf-8")
        assert format_source(out, path.name) == out

    @pytest.mark.parametrize("path", ALL_FILES, ids=[f"{p.parent.name}-{p.stem}" for p in ALL_FILES])
    def test_idempotent_and_round_trip(self, path: Path) -> None:
        """format(parse(format(parse(s)))) == format(parse(s)) and parse(format(m)) == m."""
        assert_stable(path.read_text(encoding="utf-8"))

    def test_canonical_layout(self) -> None:
        """Spacing, indentation and one property per line are fixed."""
        assert fmt('policy  p{title:"T"  severity :high}\nrule r{policy:p when:any( a,b )}') == (
            'policy p {\n  title: "T"\n  severity: high\n}\n\n'
            "rule r {\n  policy: p\n  when: any(a, b)\n}\n"
        )

    @pytest.mark.parametrize(
        ("src", "expected"),
        [
            ("(a or b) or c", "a or b or c"),
            ("(a and b) or c", "(a and b) or c"),
            ("a and b or c", "(a and b) or c"),
            ("a and (b or c)", "a and (b or c)"),
            ("not (a and b)", "not (a and b)"),
            ("not (not a)", "not not a"),
            ("((any(a)))", "any(a)"),
            ("author.bio has (any(a))", "author.bio has any(a)"),
            ("author.bio has (a or b)", "author.bio has (a or b)"),
            ('post.lang in ["tr", "pt-BR", "in"]', 'post.lang in [tr, "pt-BR", "in"]'),
            ("post.t > 2026-11-20T00:00Z", "post.t > 2026-11-20"),
            ("post.t > 2026-11-20T10:00:00+01:00", "post.t > 2026-11-20T09:00Z"),
        ],
    )
    def test_minimal_parentheses_and_values(self, src: str, expected: str) -> None:
        """Parentheses appear only where precedence needs them; values print canonically."""
        assert fmt(f"rule r {{ when: {src} }}") == f"rule r {{\n  when: {expected}\n}}\n"

    def test_strings_re_escaped(self) -> None:
        """Strings are re-escaped; invisible characters become \\u{X} escapes."""
        out = fmt('terms t = ["a\\"b\\\\c\\n\\t\u200bd\u00e9"]')
        assert out == 'terms t = ["a\\"b\\\\c\\n\\t\\u{200B}dé"]\n'

    def test_regex_slashes(self) -> None:
        """A slash inside a regex is written as \\/ and other escapes are untouched."""
        assert fmt(r"pattern p = /a\/b\d\\/i") == "pattern p = /a\\/b\\d\\\\/i\n"

    def test_comments_kept_in_place(self) -> None:
        """Own-line and trailing comments stay where they were."""
        src = (
            "# head\n\n"
            "rule r {  # opens\n"
            "  # about when\n"
            "  when: any(a)  # trailing\n"
            "  # last\n"
            "}  # closes\n"
            "# end\n"
        )
        assert assert_stable(src) == src

    def test_long_list_breaks(self) -> None:
        """A term list longer than the width is written one term a line."""
        terms = ", ".join(f'"term number {i}"' for i in range(10))
        out = assert_stable(f"terms t = [{terms}]")
        assert out.splitlines()[0] == "terms t = ["
        assert out.splitlines()[1] == '  "term number 0",'
        assert out.splitlines()[-1] == "]"

    def test_commented_condition_breaks(self) -> None:
        """A top-level or-chain with comments inside is broken one operand a line."""
        src = "rule r {\n  when: any(a)  # first\n    or any(b)  # second\n}\n"
        assert assert_stable(src) == src

    def test_adjacent_terms_stay_together(self) -> None:
        """Consecutive one-line terms keep no blank line; a blank line in the source stays."""
        src = 'terms a = ["x"]\nterms b = ["y"]\n\npattern p = /z/\n'
        assert assert_stable(src) == src

    def test_hand_built_module(self) -> None:
        """A module built without spans or source formats too, and parses back equal."""
        module = nodes.Module("m", (
            nodes.TermsDecl("t", (), (nodes.TermListLit((nodes.StrLit("a"),)),)),
            nodes.RuleDecl("r", (
                nodes.Property("policy", "p"),
                nodes.Property("active", nodes.ActiveWindow(
                    datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))),
                nodes.Property("when", nodes.And((
                    nodes.Or((nodes.BareItem(nodes.NameItem("t")), nodes.RuleRef("q"))),
                    nodes.FieldCmp(nodes.FieldPath(("post", "score")), ">", 0.5),
                ))),
                nodes.Property("examples", (nodes.Example("match", {"text": "x", "n": [1, True]}),)),
            )),
        ))
        out = format_module(module)
        assert parse_source(out, "m") == module

    def test_empty_module(self) -> None:
        """An empty file formats to an empty string."""
        assert fmt("") == ""
        assert fmt("# only\n") == "# only\n"

    @settings(max_examples=25)
    @given(ruleset_specs())
    def test_generated_rulesets_round_trip(self, spec: object) -> None:
        """Generated rulesets (tests/strategies.py) format stably and parse back equal."""
        assert_stable(spec.source)  # type: ignore[attr-defined]
