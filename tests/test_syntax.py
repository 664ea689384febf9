"""Tests for ``policyrules.syntax``: parse trees, spans, error messages and recovery.

Golden files live in ``tests/fixtures/syntax``: ``NAME.policy`` → ``NAME.dump`` (the
``nodes.dump`` of the module), ``errors/NAME.policy`` → ``errors/NAME.errors`` (the rendered
error with caret excerpts). Regenerate them with ``UPDATE_GOLDEN=1 pytest tests/test_syntax.py``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyrules import nodes
from policyrules.errors import PolicyError, PolicySyntaxError, Span
from policyrules.syntax import RESERVED_WORDS, SYNTAX_ERRORS, parse_source, unescape_regex

FIXTURES = Path(__file__).parent / "fixtures" / "syntax"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
OK_FILES = sorted(FIXTURES.glob("*.policy"))
ERROR_FILES = sorted((FIXTURES / "errors").glob("*.policy"))


def check_golden(actual: str, path: Path) -> None:
    """Compare with a golden file, or rewrite it when UPDATE_GOLDEN=1."""
    if UPDATE or not path.exists():
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


def parse(src: str) -> nodes.Module:
    """Parse a snippet with a fixed display path."""
    return parse_source(src, "t.policy")


def errors_of(src: str) -> list[tuple[str, int]]:
    """(code, line) of every diagnostic a snippet produces."""
    with pytest.raises(PolicySyntaxError) as info:
        parse(src)
    return [(d.code, d.span.line if d.span else 0) for d in info.value.diagnostics]


def condition(src: str, prop: str = "when") -> object:
    """The condition of a one-rule snippet."""
    module = parse(f"rule r {{ {prop}: {src} }}")
    rule = module.statements[0]
    assert isinstance(rule, nodes.RuleDecl)
    return rule.properties[0].value


def value_of(src: str) -> object:
    """The value of the first property of a one-rule snippet."""
    rule = parse(f"rule r {{ {src} }}").statements[0]
    assert isinstance(rule, nodes.RuleDecl)
    return rule.properties[0].value


class TestGolden:
    """Tests for parse dumps and rendered errors against golden files."""

    @pytest.mark.parametrize("path", OK_FILES, ids=[p.stem for p in OK_FILES])
    def test_dump(self, path: Path) -> None:
        """Each fixture parses to the tree recorded in its .dump file."""
        module = parse_source(path.read_text(encoding="utf-8"), path.name)
        check_golden(nodes.dump(module) + "\n", path.with_suffix(".dump"))

    @pytest.mark.parametrize("path", ERROR_FILES, ids=[p.stem for p in ERROR_FILES])
    def test_errors(self, path: Path) -> None:
        """Each broken fixture reports the messages and carets in its .errors file."""
        with pytest.raises(PolicySyntaxError) as info:
            parse_source(path.read_text(encoding="utf-8"), path.name)
        check_golden(str(info.value) + "\n", path.with_suffix(".errors"))


class TestParseSource:
    """Tests for ``parse_source`` on valid input."""

    def test_language_example(self) -> None:
        """The example of language.md §2 parses with every statement and property."""
        module = parse_source((FIXTURES / "language_example.policy").read_text(), "x.policy")
        kinds = [type(s).__name__ for s in module.statements]
        assert kinds == ["PolicyDecl"] + ["TermsDecl"] * 6 + ["PatternDecl", "RuleDecl"]
        rule = module.statements[-1]
        assert isinstance(rule, nodes.RuleDecl)
        assert [p.name for p in rule.properties] == [
            "policy", "severity", "action", "lang", "tags", "escalate", "mode", "active",
            "when", "unless", "reason", "examples",
        ]
        props = {p.name: p.value for p in rule.properties}
        assert props["lang"] == ("en", "es")
        assert props["escalate"] == nodes.StrLit("le-referrals")
        assert props["active"] == nodes.ActiveWindow(
            datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 12, 1, 18, tzinfo=UTC))
        assert props["examples"][1] == nodes.Example(
            "match", {"text": "te voy a matar, ya verás", "lang": "es"})
        fragments = module.statements[5]
        assert isinstance(fragments, nodes.TermsDecl)
        assert fragments.options == (nodes.Option("match", "substring"),)
        assert fragments.excepts == (nodes.TermListLit((nodes.StrLit("scunthorpe"),)),)

    def test_comments_collected(self) -> None:
        """Comments are kept in order with spans, and '#' inside strings/regexes is not one."""
        module = parse('# a\nterms t = ["#x"]  # b\npattern p = /#y/ # c')
        assert [c.text for c in module.comments] == ["# a", "# b", "# c"]
        assert module.comments[1].span is not None and module.comments[1].span.line == 2

    def test_every_node_has_a_span(self) -> None:
        """Every node below a statement carries a span inside the source."""
        src = (FIXTURES / "conditions.policy").read_text()
        module = parse_source(src, "c.policy")
        for stmt in module.statements:
            assert stmt.name_span is not None
            assert src[stmt.name_span.start : stmt.name_span.end] == stmt.name
            for node in nodes.walk(stmt):
                if attrs.has(type(node)) and not isinstance(node, nodes.FieldPath):
                    assert isinstance(node.span, Span), node
                    assert 0 <= node.span.start <= node.span.end <= len(src)

    def test_span_line_and_column(self) -> None:
        """Spans have 1-based line and column numbers."""
        rule = parse("\n\nrule  r {\n  when: any(a)\n}").statements[0]
        assert isinstance(rule, nodes.RuleDecl)
        assert rule.name_span == Span("t.policy", 8, 9, 3, 7, 3, 8)
        cond = rule.properties[0].value
        assert (cond.span.line, cond.span.column) == (4, 9)

    def test_or_chains_are_flattened(self) -> None:
        """`a or b or c` is one Or, grouped same-operator chains too (so fmt round-trips)."""
        cond = condition("a or (b or c) or d")
        assert isinstance(cond, nodes.Or) and len(cond.operands) == 4
        cond = condition("a and b and (c and d) or e")
        assert isinstance(cond, nodes.Or) and len(cond.operands) == 2
        assert isinstance(cond.operands[0], nodes.And) and len(cond.operands[0].operands) == 4

    def test_precedence(self) -> None:
        """`not` binds tighter than `and`, which binds tighter than `or`."""
        a, b, c = (nodes.BareItem(nodes.NameItem(n)) for n in "abc")
        assert condition("not a and b or c") == nodes.Or((nodes.And((nodes.Not(a), b)), c))
        assert condition("a and (b or c)") == nodes.And((a, nodes.Or((b, c))))

    @pytest.mark.parametrize(
        ("src", "expected"),
        [
            ("any(a, \"b\")", nodes.AnyOf((nodes.NameItem("a"), nodes.StringItem("b")))),
            ("all([\"x\", \"y\"])", nodes.AllOf((nodes.InlineListItem(
                (nodes.StrLit("x"), nodes.StrLit("y"))),))),
            ("2 of (a, /k+/i)", nodes.NOf(2, (nodes.NameItem("a"), nodes.RegexItem("k+", "i")))),
            ("count(a) >= 3", nodes.CountCmp((nodes.NameItem("a"),), ">=", 3)),
            ("distinct(a, b) != 1", nodes.DistinctCmp((nodes.NameItem("a"), nodes.NameItem("b")), "!=", 1)),
            ("near(a, b, 3)", nodes.Near(nodes.NameItem("a"), nodes.NameItem("b"), 3)),
            ("before(a, \"b\", 0)", nodes.Before(nodes.NameItem("a"), nodes.StringItem("b"), 0)),
            ("/k+i+l+/i", nodes.BareItem(nodes.RegexItem("k+i+l+", "i"))),
            ("rule(other)", nodes.RuleRef("other")),
            ("post.has_media", nodes.FieldTruthy(nodes.FieldPath(("post", "has_media")))),
            ("author.followers < 7", nodes.FieldCmp(nodes.FieldPath(("author", "followers")), "<", 7)),
            ("post.score >= -0.5", nodes.FieldCmp(nodes.FieldPath(("post", "score")), ">=", -0.5)),
            ("post.lang == \"pt-BR\"", nodes.FieldCmp(nodes.FieldPath(("post", "lang")), "==", "pt-BR")),
            ("author.verified == true", nodes.FieldCmp(nodes.FieldPath(("author", "verified")), "==", True)),
            ("post.lang in [tr, \"az\", 3, false]",
             nodes.FieldIn(nodes.FieldPath(("post", "lang")), ("tr", "az", 3, False))),
            ("author.bio has slurs", nodes.FieldHas(nodes.FieldPath(("author", "bio")),
                                                    nodes.BareItem(nodes.NameItem("slurs")))),
            ("author.bio has (any(a) and not b)", nodes.FieldHas(
                nodes.FieldPath(("author", "bio")),
                nodes.And((nodes.AnyOf((nodes.NameItem("a"),)),
                           nodes.Not(nodes.BareItem(nodes.NameItem("b"))))))),
        ],
    )
    def test_condition_forms(self, src: str, expected: object) -> None:
        """Each condition form of language.md §4 parses to its node."""
        assert condition(src) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
            ("2026-11-20T10:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
            ("2026-11-20T10:00:30Z", datetime(2026, 11, 20, 10, 0, 30, tzinfo=UTC)),
            ("2026-11-20T10:00+02:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
            ("2026-11-20T23:30-01:00", datetime(2026, 11, 21, 0, 30, tzinfo=UTC)),
            ("2026-11-20T10:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ],
    )
    def test_datetimes_are_utc(self, text: str, expected: datetime) -> None:
        """Dates and datetimes become timezone-aware UTC datetimes."""
        cmp = condition(f"post.created_at > {text}")
        assert isinstance(cmp, nodes.FieldCmp)
        assert cmp.value == expected and cmp.value.utcoffset() is not None
        assert cmp.value.tzinfo == UTC

    def test_active_windows(self) -> None:
        """`active:` takes START .. END, either side may be left open."""
        assert value_of("active: 2026-11-20 .. 2026-12-01T18:00Z") == nodes.ActiveWindow(
            datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 12, 1, 18, tzinfo=UTC))
        assert value_of("active: .. 2026-12-01") == nodes.ActiveWindow(
            None, datetime(2026, 12, 1, tzinfo=UTC))
        assert value_of("active: 2026-12-01 ..") == nodes.ActiveWindow(
            datetime(2026, 12, 1, tzinfo=UTC), None)

    def test_string_escapes(self) -> None:
        """The five escapes decode; any Unicode may appear raw."""
        value = value_of(r'reason: "q\" b\\ n\n t\t u\u{1F600} \u{e9} 漢字"')
        assert value == nodes.StrLit('q" b\\ n\n t\t u\U0001F600 é 漢字')

    def test_regex_escapes(self) -> None:
        r"""`\/` becomes `/`; every other backslash sequence is passed through."""
        item = condition(r"/a\/b\d\\\/c\./ims")
        assert item == nodes.BareItem(nodes.RegexItem(r"a/b\d\\/c\.", "ims"))
        assert unescape_regex(r"\/\\\w") == r"/\\\w"

    def test_words_and_quoted_words(self) -> None:
        """`lang:` and `tags:` take bare words (with '-') or strings."""
        assert value_of('lang: en, "es", pt-BR, zh-Hant-TW, es-419') == (
            "en", "es", "pt-BR", "zh-Hant-TW", "es-419")
        assert value_of('tags: threat, "two words", self-harm') == ("threat", "two words", "self-harm")

    def test_examples(self) -> None:
        """Examples are strings or plain dicts of str/int/float/bool/list/dict values."""
        examples = value_of(
            'examples { match: "a" no_match: { text: "b", lang: "es", author: { followers: 3, '
            'verified: true }, hashtags: ["x", "y"], score: -1.5, "odd key": [] } match: {} }')
        assert examples == (
            nodes.Example("match", "a"),
            nodes.Example("no_match", {"text": "b", "lang": "es",
                                       "author": {"followers": 3, "verified": True},
                                       "hashtags": ["x", "y"], "score": -1.5, "odd key": []}),
            nodes.Example("match", {}),
        )

    def test_property_names_are_not_reserved(self) -> None:
        """A term list may be named like a property and used in a condition."""
        module = parse('terms severity = ["x"]\nrule r { severity: high when: severity or when }')
        rule = module.statements[1]
        assert isinstance(rule, nodes.RuleDecl)
        assert rule.properties[0] == nodes.Property("severity", "high")
        assert rule.properties[1].value == nodes.Or((
            nodes.BareItem(nodes.NameItem("severity")), nodes.BareItem(nodes.NameItem("when"))))

    def test_keyword_prefixes_are_names(self) -> None:
        """Words that merely start with a keyword (`anything`, `notice`) are names."""
        assert condition("anything and notice") == nodes.And((
            nodes.BareItem(nodes.NameItem("anything")), nodes.BareItem(nodes.NameItem("notice"))))

    def test_terms_parts(self) -> None:
        """A terms statement sums lists, files and names, with an except sum."""
        decl = parse('terms t (case: sensitive) = a + file("l.txt") + ["x"] except ["y"] + b').statements[0]
        assert decl == nodes.TermsDecl(
            "t", (nodes.Option("case", "sensitive"),),
            (nodes.NameRef("a"), nodes.FileRef("l.txt"), nodes.TermListLit((nodes.StrLit("x"),))),
            (nodes.TermListLit((nodes.StrLit("y"),)), nodes.NameRef("b")),
        )

    def test_empty_source(self) -> None:
        """An empty file (or only comments) is an empty module."""
        assert parse("").statements == ()
        assert parse("# nothing\n").comments[0].text == "# nothing"

    def test_crlf_and_bom(self) -> None:
        """Windows line endings and a byte-order mark are whitespace."""
        module = parse('\ufeffterms t = ["a"]  # c\r\nterms u = ["b"]\r\n')
        assert [s.name for s in module.statements] == ["t", "u"]
        assert module.comments[0].text == "# c"


class TestSyntaxErrors:
    """Tests for the messages and recovery of ``parse_source`` on broken input."""

    @pytest.mark.parametrize(
        ("code", "message", "example"),
        [(e.code, e.message, x) for e in SYNTAX_ERRORS for x in e.examples],
        ids=[f"{e.code}-{i}" for e in SYNTAX_ERRORS for i in range(len(e.examples))],
    )
    def test_table(self, code: str, message: str, example: str) -> None:
        """Every SYNTAX_ERRORS example produces its code and message first."""
        with pytest.raises(PolicySyntaxError) as info:
            parse(example)
        first = info.value.diagnostics[0]
        assert first.code == code
        assert first.message == message.replace("{prev}", "foo")  # E024's example calls foo()

    def test_all_errors_one_per_line(self) -> None:
        """Errors in several statements are all reported, at most one per line."""
        found = errors_of(
            'policy p {\n  title "x"\n  sevrity: high\n}\n'
            'rule r {\n  when any(a\n  action: remove remove\n}\nterms t ["a"]\n'
        )
        assert [line for _, line in found] == [2, 3, 6, 7, 9]
        assert len({line for _, line in found}) == len(found)

    def test_unknown_property_suggestion(self) -> None:
        """An unknown property name suggests the nearest one."""
        with pytest.raises(PolicySyntaxError) as info:
            parse("rule r {\n  sevrity: high\n}")
        assert info.value.diagnostics[0].message == (
            "unknown rule property 'sevrity'; did you mean 'severity'?")
        assert (info.value.line, info.value.column) == (2, 3)

    def test_error_carries_location_and_caret(self) -> None:
        """The exception has path/line/column and renders the line with a caret."""
        with pytest.raises(PolicySyntaxError) as info:
            parse('terms t = ["a", "b\\q"]')
        err = info.value
        assert (err.path, err.line, err.column, err.code) == ("t.policy", 1, 19, "E004")
        assert str(err).splitlines()[1:] == [
            '   1 | terms t = ["a", "b\\q"]',
            "     |                   ^^",
        ]

    @pytest.mark.parametrize(
        ("src", "code"),
        [
            ('rule r { reason: "abc }', "E003"),
            ('terms t = ["\\x"]', "E004"),
            ("pattern p = /abc", "E005"),
            ("pattern p = /abc/gi", "E006"),
            ('terms any = ["x"]', "E007"),
            ("rule r { when: any(or) }", "E007"),
            ("rule r { when: post.x > 2026-13-01 }", "E008"),
            ("rule r { active: 2026-01-01T25:00Z .. }", "E008"),
            ("rule r { when: foo.bar }", "E009"),
            ('rule r { examples { match: { a: 1, a: 2 } } }', "E039"),
            ("rule r { lang: pt - BR }", "E040"),
            ("rule r { when: post.x > 1e999 }", "E038"),
            ("rule r { when: any(a)", "E014"),
            ("rule r { when: (a or b }", "E014"),
        ],
    )
    def test_codes(self, src: str, code: str) -> None:
        """Lexical and name problems get their own stable codes."""
        assert errors_of(src)[0][0] == code

    def test_reserved_words(self) -> None:
        """No reserved word can name a list, pattern, rule or policy."""
        for word in sorted(RESERVED_WORDS):
            with pytest.raises(PolicySyntaxError):
                parse(f'terms {word} = ["x"]')

    def test_deep_nesting_is_an_error(self) -> None:
        """Absurdly deep conditions are refused with a syntax error, not a crash."""
        with pytest.raises(PolicySyntaxError) as info:
            parse("rule r { when: " + "not " * 300 + "a }")
        assert info.value.code == "E037"
        deep = "(" * 3000 + "a" + ")" * 3000
        parse(f"rule r {{ when: {deep} }}")

    def test_error_pickles(self) -> None:
        """A syntax error survives pickling with its diagnostics (worker processes)."""
        with pytest.raises(PolicySyntaxError) as info:
            parse("rule r {")
        clone = pickle.loads(pickle.dumps(info.value))
        assert clone.diagnostics == info.value.diagnostics and str(clone) == str(info.value)

    def test_too_many_errors_stops(self) -> None:
        """A file with hundreds of bad lines stops after MAX_ERRORS diagnostics with a note."""
        with pytest.raises(PolicySyntaxError) as info:
            parse("".join(f'terms t{i} = ["a" "b"]\n' for i in range(500)))
        assert len(info.value.diagnostics) == 50
        assert "stopped after 50 errors" in info.value.diagnostics[-1].notes[0]

    def test_non_str_source(self) -> None:
        """A non-str source is a PolicySyntaxError, not a TypeError."""
        with pytest.raises(PolicySyntaxError):
            parse_source(b"rule r {}")  # type: ignore[arg-type]


_VOCAB = [
    "policy", "terms", "pattern", "rule", "except", "file", "any", "all", "of", "count",
    "distinct", "near", "before", "has", "in", "not", "and", "or", "true", "false", "when",
    "unless", "severity", "examples", "match", "no_match", "active", "lang", "title", "{", "}",
    "(", ")", "[", "]", ",", ":", "=", "+", "..", "-", ">=", "==", "<", "x", "post.x", "3",
    "2026-11-20", '"s"', '"\\q"', "/r/i", "/", '"', "#c\n", "\n", " ", "\\", "'",
]


class TestNeverCrashes:
    """Property tests: any input gives a Module or PolicySyntaxError, nothing else."""

    @settings(max_examples=300)
    @given(st.text())
    def test_arbitrary_text(self, text: str) -> None:
        """Arbitrary Unicode text never raises anything but PolicySyntaxError."""
        try:
            module = parse_source(text)
        except PolicySyntaxError as exc:
            assert exc.diagnostics and all(d.span is not None for d in exc.diagnostics)
        else:
            assert isinstance(module, nodes.Module)

    @settings(max_examples=300)
    @given(st.binary())
    def test_arbitrary_bytes(self, data: bytes) -> None:
        """Arbitrary bytes decoded leniently never raise anything but PolicySyntaxError."""
        with contextlib.suppress(PolicySyntaxError):
            parse_source(data.decode("utf-8", "surrogateescape"))

    @settings(max_examples=600)
    @given(st.lists(st.sampled_from(_VOCAB), max_size=40).map(" ".join))
    def test_token_soup(self, text: str) -> None:
        """Random sequences of the language's own tokens reach deep parser states safely."""
        try:
            parse_source(text)
        except PolicyError as exc:
            assert isinstance(exc, PolicySyntaxError)
