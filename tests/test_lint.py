"""Tests for lint warnings: each code triggered by a small ruleset, a clean negative, suppression."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from policyrules.errors import Diagnostic
from policyrules.lint import LINT_CODES, lint_modules, lint_path
from policyrules.syntax import parse_source

NOW = datetime(2026, 6, 1, tzinfo=UTC)
HEAD = 'policy p { title: "P" action: remove }'
EX = 'examples { match: "kill you" }'


def _ruleset(tmp_path: Path, source: str, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "rs"
    root.mkdir()
    (root / "main.policy").write_text(source, encoding="utf-8")
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _lint(tmp_path: Path, source: str, files: dict[str, str] | None = None) -> list[Diagnostic]:
    return lint_path(_ruleset(tmp_path, source, files), now=NOW)


def _where(diags: list[Diagnostic], code: str) -> list[tuple[str, int, int]]:
    return [(Path(d.span.path).name, d.span.line, d.span.column) for d in diags
            if d.code == code and d.span is not None]


def _src(*lines: str) -> str:
    return "\n".join([HEAD, *lines]) + "\n"


# (code, source lines after the policy header, extra files, expected (file, line, column))
CASES = [
    ("W101", ['terms used = ["kill you"]', 'terms spare = ["hello there"]',
              f"rule r {{ policy: p when: any(used) {EX} }}"], None, [("main.policy", 3, 7)]),
    ("W101", ['pattern spare = /kill you/', 'terms used = ["kill you"]',
              f"rule r {{ policy: p when: any(used) {EX} }}"], None, [("main.policy", 2, 9)]),
    ("W102", ['terms a = ["kill you", "hurt you"]', 'terms b = ["kill you"]',
              f"rule r {{ policy: p when: any(a) or any(b) {EX} }}"], None, [("main.policy", 3, 12)]),
    ("W103", ['terms t = ["kill you", "\\u{200B}"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 24)]),
    ("W103", ['terms t (normalize: aggressive) = ["kill you", "-.-"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 48)]),
    ("W103", ['terms t = ["kill you", "kill!*"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 24)]),
    ("W104", ['terms t (match: substring) = ["kill you", "ki"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 43)]),
    ("W104", ['terms t (match: substring) = ["kill you", "the"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 43)]),
    ("W104", ['terms t = ["kill you", "as*"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 24)]),
    ("W105", ['terms t = ["kill you", "ass*"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 24)]),
    ("W105", ['terms t = file("lists/t.txt")', f"rule r {{ policy: p when: any(t) {EX} }}"],
     {"lists/t.txt": "kill you\n*hell\n"}, [("t.txt", 2, 1)]),
    ("W106", ['pattern digits = /\\d{3}-\\d{4}/', 'terms t = ["kill you"]',
              f"rule r {{ policy: p when: any(t) or any(digits) {EX} }}"], None, [("main.policy", 2, 18)]),
    ("W106", ['terms t = ["kill you"]',
              f"rule r {{ policy: p when: any(t) or any(/\\w+@\\w+/) {EX} }}"], None, [("main.policy", 3, 40)]),
    ("W107", ['pattern bad = /kill(a+)+$/', 'terms t = ["kill you"]',
              f"rule r {{ policy: p when: any(t) or any(bad) {EX} }}"], None, [("main.policy", 2, 15)]),
    ("W108", ['terms t = ["kill you"]', "rule r { policy: p when: any(t) }"], None,
     [("main.policy", 3, 6)]),
    ("W109", ['terms t = ["kill you"]',
              'rule r { policy: p lang: en when: any(t) examples { match: "kill you" '
              'match: { text: "kill you", lang: "fr" } } }'], None, [("main.policy", 3, 71)]),
    ("W109", ['terms t = ["kill you"]',
              f"rule r {{ policy: p lang: en, es when: any(t) {EX} }}"], None, [("main.policy", 3, 20)]),
    ("W110", ['terms t = ["kill you"]',
              f"rule r {{ policy: p active: 2026-01-01 .. 2026-02-01 when: any(t) {EX} }}"], None,
     [("main.policy", 3, 20)]),
    ("W111", ['terms t = ["kill"] except ["kill time", "hello world"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 41)]),
    ("W112", ['terms insult_tr = ["kill you", "KIZ"]',
              f"rule r {{ policy: p when: any(insult_tr) {EX} }}"], None, [("main.policy", 2, 32)]),
    ("W112", ['terms t = ["kill you", "İt"]',
              f"rule r {{ policy: p when: any(t) {EX} }}"], None, [("main.policy", 2, 24)]),
    ("W113", ['pattern f (text: folded) = /kill café/', 'terms t = ["kill you"]',
              f"rule r {{ policy: p when: any(t) or any(f) {EX} }}"], None, [("main.policy", 2, 28)]),
]


@pytest.mark.parametrize(("code", "lines", "files", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_lint_triggers(tmp_path: Path, code: str, lines: list[str], files: dict[str, str] | None,
                       expected: list[tuple[str, int, int]]) -> None:
    """Each lint fires on its small ruleset, at the exact file, line and column."""
    diags = _lint(tmp_path, _src(*lines), files)
    assert _where(diags, code) == expected, [d.render() for d in diags]
    for d in diags:
        if d.code == code:
            assert d.severity == "warning" and d.source_line is not None
            assert d.render().count("^") >= 1


# (source lines after the header) that must produce no warning at all
CLEAN = [
    ['terms t = ["kill you", "murder*"] except ["kill you not"]',
     f"rule r {{ policy: p when: any(t) {EX} }}"],
    ['terms a = ["kill you"]', 'terms b = ["hurt you"]',
     f"rule r {{ policy: p when: any(a) or any(b) {EX} }}"],
    ['terms t (match: substring) = ["scunthorpe"]', f"rule r {{ policy: p when: any(t) {EX} }}"],
    ['terms t = ["kill"] except ["kill time"]', f"rule r {{ policy: p when: any(t) {EX} }}"],
    ['terms insult_tr = ["kız", "kill you"]', f"rule r {{ policy: p when: any(insult_tr) {EX} }}"],
    ['pattern f (text: folded) = /kill cafe/', 'pattern g = /\\bkill\\w*\\b/',
     f"rule r {{ policy: p when: any(f) or any(g) or any(/\\w+\\s\\w+ you/) {EX} }}"],
    ['terms t = ["kill you"]',
     'rule r { policy: p lang: en, es active: 2026-01-01 .. 2027-01-01 when: any(t) examples { '
     'match: "kill you" match: { text: "kill you", lang: "es-MX" } } }'],
    ['terms t = ["kill you"]', 'rule helper { policy: p action: none when: any(t) }',
     f"rule r {{ policy: p when: rule(helper) {EX} }}"],
]


@pytest.mark.parametrize("lines", CLEAN)
def test_lint_clean(tmp_path: Path, lines: list[str]) -> None:
    """Ordinary, well-written rules produce no warning."""
    diags = _lint(tmp_path, _src(*lines))
    assert diags == [], [d.render() for d in diags]


def test_ignore_comment_silences_one_statement(tmp_path: Path) -> None:
    """`# policyrules: ignore[CODE]` on the line before a statement silences that code there only."""
    source = _src(
        "# policyrules: ignore[W101]",
        'terms spare1 = ["hello there"]',
        'terms spare2 = ["hello you"]',
        'terms t = ["kill you"]',
        f"rule r {{ policy: p when: any(t) {EX} }}",
    )
    assert _where(_lint(tmp_path, source), "W101") == [("main.policy", 4, 7)]


def test_ignore_comment_several_codes_and_other_codes(tmp_path: Path) -> None:
    """Several codes may be listed; a code not listed still warns."""
    source = _src(
        'terms t = ["kill you"]',
        "# a comment about the rule",
        "# policyrules: ignore[W108, W110]",
        "rule r { policy: p active: 2026-01-01 .. 2026-02-01 when: any(t) }",
        "# policyrules: ignore[W110]",
        "rule s { policy: p when: any(t) }",
    )
    diags = _lint(tmp_path, source)
    assert [(d.code, d.span.line if d.span else 0) for d in diags] == [("W108", 7)]


def test_ignore_comment_in_list_file(tmp_path: Path) -> None:
    """In a list file, the ignore comment goes on the line before the term."""
    source = _src('terms t = file("lists/t.txt")', f"rule r {{ policy: p when: any(t) {EX} }}")
    lists = {"lists/t.txt": "kill you\n# policyrules: ignore[W105]\n*hell\nass*\n"}
    assert _where(_lint(tmp_path, source, lists), "W105") == [("t.txt", 4, 1)]


def test_compile_errors_come_back_with_module_lints(tmp_path: Path) -> None:
    """When the ruleset does not compile, its errors are returned plus the lints that still run."""
    source = _src('terms spare = ["hello there"]', 'terms t = ["kill you"]',
                  f"rule r {{ policy: p when: any(tt) {EX} }}")
    diags = _lint(tmp_path, source)
    codes = [d.code for d in diags]
    assert "E191" in codes and "W101" in codes
    assert diags[0].severity == "error"


def test_lint_modules_without_resolution() -> None:
    """lint_modules works from the syntax tree alone (resolved=None)."""
    source = _src('terms t (match: substring) = ["ki", "kill you"]', "rule r { policy: p when: any(t) }")
    module = parse_source(source, "inline.policy")
    diags = lint_modules([module], None, now=NOW)
    assert sorted(d.code for d in diags) == ["W104", "W108"]


def test_every_code_documented() -> None:
    """Every code the tests trigger is in the public table of codes."""
    assert {c[0] for c in CASES} == set(LINT_CODES)
