"""Keep the documentation honest: its rulesets compile, its examples run, its results hold.

- every ```policy block in docs/*.md compiles (plain ``` blocks are fragments and are not);
- a block preceded by ``<!-- file: PATH -->`` shows exactly the file PATH of the repository;
- the tutorial's rulesets (docs/tutorial/) load, pass their examples and corpus thresholds,
  and behave as docs/tutorial.md says; the commands it shows in sections 5-9, re-run in a
  scratch copy, print what the page shows (timing lines aside);
- the README's Python example runs, and every ``expr   # literal`` line of it holds;
- the doctests of policyrules/__init__.py pass.
"""

from __future__ import annotations

import ast
import doctest
import io
import json
import re
import shlex
import shutil
import textwrap
import tokenize
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import policyrules
from policyrules import cli, corpus

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial"
STORM = TUTORIAL / "storm"
STORM_SHADOW = TUTORIAL / "storm_shadow"
RULE = "storm_threat_to_responders"
IN_WINDOW = datetime(2026, 11, 26, 12, tzinfo=UTC)

# A fenced block, possibly indented (inside a list item), with an optional
# `<!-- file: PATH -->` marker on the line before it.
FENCE = re.compile(
    r"^(?:(?P<indent0>[ \t]*)<!--\s*file:\s*(?P<file>\S+)\s*-->\n)?"
    r"(?P<indent>[ \t]*)```(?P<tag>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.S | re.M,
)


def fenced_blocks(path: Path) -> list[dict[str, Any]]:
    """Every fenced block of a Markdown file: tag, dedented body, line, file marker."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        indent = m.group("indent")
        body = "".join(
            line[len(indent):] if line.startswith(indent) else line
            for line in m.group("body").splitlines(keepends=True)
        )
        blocks.append({
            "tag": m.group("tag"),
            "body": body,
            "line": text.count("\n", 0, m.start("tag")) + 1,
            "file": m.group("file"),
            "where": f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start('tag')) + 1}",
        })
    return blocks


def doc_files() -> list[Path]:
    """The Markdown pages under docs/."""
    return sorted(DOCS.glob("*.md"))


def policy_blocks() -> list[dict[str, Any]]:
    """Every ```policy block of docs/*.md."""
    return [b for p in doc_files() for b in fenced_blocks(p) if b["tag"] == "policy"]


def file_blocks() -> list[dict[str, Any]]:
    """Every block of docs/*.md that claims to show a file of the repository."""
    return [b for p in doc_files() for b in fenced_blocks(p) if b["file"]]


def invoke(*args: str) -> Any:
    """Run the CLI in-process and return click's result."""
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


# --------------------------------------------------------------------------- docs/*.md


def test_docs_have_policy_blocks() -> None:
    """The language reference and the tutorial both carry compilable ```policy blocks."""
    pages = {b["where"].split(":")[0] for b in policy_blocks()}
    assert "docs/language.md" in pages
    assert "docs/tutorial.md" in pages


@pytest.mark.parametrize("block", policy_blocks(), ids=lambda b: b["where"])
def test_policy_block_compiles(block: dict[str, Any]) -> None:
    """A ```policy block is a complete ruleset that compiles (file() resolves next to its file)."""
    base_dir = (ROOT / block["file"]).parent if block["file"] else None
    rs = policyrules.compile(block["body"], name="block.policy", base_dir=base_dir)
    assert rs.policies or rs.terms or rs.patterns


def test_file_markers_exist() -> None:
    """The tutorial shows its files through `<!-- file: -->` markers that this module checks."""
    shown = {b["file"] for b in file_blocks()}
    assert "docs/tutorial/storm_shadow/storm.policy" in shown
    assert "docs/tutorial/storm/ruleset.toml" in shown


@pytest.mark.parametrize("block", file_blocks(), ids=lambda b: b["where"])
def test_file_block_matches_file(block: dict[str, Any]) -> None:
    """A block marked `<!-- file: PATH -->` shows PATH exactly as it is on disk."""
    on_disk = (ROOT / block["file"]).read_text(encoding="utf-8")
    assert block["body"].rstrip("\n") == on_disk.rstrip("\n")


def test_tutorial_links_resolve() -> None:
    """Every relative link of docs/tutorial.md and docs/index.md names an existing path."""
    for page in (DOCS / "tutorial.md", DOCS / "index.md"):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


# --------------------------------------------------------------------------- the tutorial


@pytest.mark.parametrize("path", [STORM_SHADOW, STORM], ids=lambda p: p.name)
def test_tutorial_ruleset_examples_pass(path: Path) -> None:
    """Both versions of the tutorial ruleset load and every embedded example passes."""
    rs = policyrules.load(path)
    results = corpus.run_examples(rs)
    assert len(results) == 8
    assert [r for r in results if not r.passed] == []


@pytest.mark.parametrize("path", [STORM_SHADOW, STORM], ids=lambda p: p.name)
def test_tutorial_check_strict_and_formatted(path: Path) -> None:
    """The tutorial rulesets are lint-clean under --strict and in canonical format."""
    assert invoke("check", "--strict", str(path)).exit_code == 0
    assert invoke("fmt", "--check", str(path)).exit_code == 0


@pytest.mark.parametrize(
    ("path", "thresholds"), [(STORM_SHADOW, 2), (STORM, 4)], ids=["storm_shadow", "storm"]
)
def test_tutorial_corpus_test_passes(path: Path, thresholds: int) -> None:
    """`policyrules test` passes: examples, the labeled sample and every threshold."""
    result = invoke("test", str(path), "--require-corpora", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["examples"]["failed"] == 0
    [scored] = report["corpora"]
    assert scored["name"] == "storm_sample"
    assert len(scored["thresholds"]) == thresholds
    assert all(t["passed"] for t in scored["thresholds"])


def test_tutorial_shadow_then_enforce() -> None:
    """In shadow the rule only reports; enforced, the same post is removed and escalated."""
    post = {"text": "Burn the shelter down tonight", "lang": "en"}
    shadow = policyrules.load(STORM_SHADOW).evaluate(post, at=IN_WINDOW)
    assert shadow.action == "none"
    assert [m.rule for m in shadow.shadow_matches] == [RULE]
    enforced = policyrules.load(STORM).evaluate(post, at=IN_WINDOW)
    assert enforced.action == "remove"
    [match] = enforced.matches
    assert (match.severity, match.escalate) == ("critical", "crisis-desk")
    assert [(e.term, e.text, e.start, e.end) for e in match.evidence] == [
        ("burn*", "Burn", 0, 4), ("shelter", "shelter", 9, 16)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "The volunteers are burned out after three days at the shelter",  # except
        "Someone wrote 'burn the shelter' and I reported it",  # unless
        "The shelter needs blankets, the storm will burn through our supplies",  # too far
    ],
)
def test_tutorial_non_matches(text: str) -> None:
    """The tutorial's except, counter-speech and distance examples do not fire."""
    assert policyrules.load(STORM).evaluate(text, at=IN_WINDOW).action == "none"


def test_tutorial_except_is_per_occurrence() -> None:
    """An occurrence inside `burned out` is ignored, a later `burn` in the same post counts."""
    v = policyrules.load(STORM).evaluate(
        "the volunteers are burned out, so burn the shelter", at=IN_WINDOW
    )
    assert [e.text for e in v.matches[0].evidence] == ["burn", "shelter"]


def test_tutorial_active_window() -> None:
    """The rule matches inside its window and not after it closes."""
    rs = policyrules.load(STORM)
    text = "Burn the shelter down tonight"
    assert rs.evaluate(text, at=datetime(2026, 11, 24, tzinfo=UTC)).action == "remove"
    assert rs.evaluate(text, at=datetime(2026, 12, 8, tzinfo=UTC)).action == "none"
    late = datetime(2026, 12, 10, tzinfo=UTC)
    assert "did not match: active" in rs.explain(text, rule=RULE, at=late)


def test_tutorial_sweep_results() -> None:
    """The tutorial's sweep removes p01, p03, p04 and p08 (p06 predates the window)."""
    result = invoke("sweep", str(STORM), str(TUTORIAL / "posts.jsonl"), "--workers", "1")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    removed = [line["id"] for line in lines if line["verdict"]["action"] == "remove"]
    assert removed == ["p01", "p03", "p04", "p08"]


def test_tutorial_diff_counts() -> None:
    """Enforcing the rule newly matches four posts and takes none away."""
    result = invoke(
        "diff", str(STORM_SHADOW), str(STORM), "--corpus", str(TUTORIAL / "posts.jsonl"),
        "--format", "json",
    )
    assert result.exit_code == 0
    counts = json.loads(result.stdout)["counts"]
    assert counts["newly_matched"] == 4
    assert counts["no_longer_matched"] == 0


# --------------------------------------------------------------------------- README


def readme_example() -> str:
    """The first ```python block of README.md (the short example)."""
    [block, *_] = [
        b for b in fenced_blocks(ROOT / "README.md") if b["tag"] == "python"
    ]
    return str(block["body"])


def _comment_on_line(source: str) -> dict[int, str]:
    """Trailing comments of a source, by line number."""
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string[1:].strip()
    return comments


def test_readme_example_runs_and_its_comments_hold(capsys: pytest.CaptureFixture[str]) -> None:
    """Each `expr   # literal` line of README's example evaluates to that literal."""
    source = textwrap.dedent(readme_example())
    comments = _comment_on_line(source)
    namespace: dict[str, Any] = {}
    checked = 0
    for stmt in ast.parse(source).body:
        code = ast.Module(body=[stmt], type_ignores=[])
        if isinstance(stmt, ast.Expr) and stmt.end_lineno in comments:
            try:
                expected = ast.literal_eval(comments[stmt.end_lineno])
            except (ValueError, SyntaxError):
                expected = None  # a prose comment, not a result
            else:
                value = eval(compile(ast.Expression(stmt.value), "README.md", "eval"), namespace)
                assert value == expected, ast.unparse(stmt)
                checked += 1
                continue
        exec(compile(code, "README.md", "exec"), namespace)
    assert checked >= 3
    assert "when: true" in capsys.readouterr().out  # print(v.explain()) printed the tree


# --------------------------------------------------------------------------- doctests


def test_package_doctests() -> None:
    """The doctests in policyrules/__init__.py run and pass."""
    result = doctest.testmod(policyrules)
    assert result.attempted > 0
    assert result.failed == 0


# --------------------------------------------------------------------------- language.md


def term_table_rows() -> list[tuple[str, str, bool]]:
    """(term, text, should match) from the table of language.md §3."""
    text = (DOCS / "language.md").read_text(encoding="utf-8")
    section = text[text.index("## 3. What a term matches"):text.index("## 4.")]
    rows = []
    for term, yes, no in re.findall(r'^\| `(".*?")` \|(.*?)\|(.*?)\|$', section, re.M):
        rows += [(term, json.loads(t), True) for t in re.findall(r'`(".*?")`', yes)]
        rows += [(term, json.loads(t), False) for t in re.findall(r'`(".*?")`', no)]
    return rows


def test_term_table_found() -> None:
    """The §3 table of language.md is found and has both kinds of rows."""
    rows = term_table_rows()
    assert len(rows) >= 10
    assert {should for _, _, should in rows} == {True, False}


@pytest.mark.parametrize(("term", "text", "should"), term_table_rows())
def test_term_table_row_holds(term: str, text: str, should: bool) -> None:
    """Each row of language.md §3 ("term matches in / does not match in") holds."""
    rs = policyrules.compile(
        f'policy p {{ title: "p" action: log }}\nrule r {{ policy: p when: any([{term}]) }}'
    )
    assert (rs.evaluate(text).action == "log") is should


def test_language_except_example() -> None:
    """language.md's except example: in "Scunthorpe cunt" only the second occurrence counts."""
    rs = policyrules.compile(
        'policy p { title: "p" action: log }\n'
        'terms frag (match: substring) = ["cunt"] except ["scunthorpe"]\n'
        "rule r { policy: p when: any(frag) }"
    )
    [match] = rs.evaluate("Scunthorpe cunt").matches
    assert [(e.text, e.start) for e in match.evidence] == [("cunt", 11)]


# --------------------------------------------------------------------------- tutorial outputs

# Sections of docs/tutorial.md whose commands run on the launched (shadow) ruleset, and on
# the enforced one next to a copy of the shadow one. Sections 4 and 10 show drafts that are
# not kept on disk, so they are not replayed.
SHADOW_SECTIONS = ("5.", "6.", "7.")
ENFORCE_SECTIONS = ("8.", "9.")


def tutorial_transcripts() -> list[tuple[str, str, str, str]]:
    """(section, command, expected output, where) for each `$ ...` shown in the tutorial."""
    text = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    found = []
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        number = section.split(" ", 1)[0]
        for block in re.findall(r"^```\n(\$ .*?)^```$", section, re.S | re.M):
            for chunk in re.split(r"^(?=\$ )", block, flags=re.M):
                if chunk:
                    command, _, output = chunk.partition("\n")
                    found.append((number, command[2:], output.rstrip("\n"), command))
    return found


def replay_cases() -> list[tuple[str, str, str]]:
    """The transcripts of the sections that can be replayed from the files on disk."""
    return [
        (number, command, output)
        for number, command, output, _ in tutorial_transcripts()
        if number in SHADOW_SECTIONS + ENFORCE_SECTIONS
    ]


def _comparable(output: str, scratch: Path) -> list[str]:
    """Output lines without the timing line, with the scratch path spelled as in the doc."""
    text = output.replace(str(scratch), "/tmp/crisis")
    return [line for line in text.splitlines() if " posts/s " not in line]


def test_tutorial_transcripts_found() -> None:
    """The tutorial shows commands with outputs in every replayed section."""
    sections = {number for number, _, _ in replay_cases()}
    assert sections == set(SHADOW_SECTIONS + ENFORCE_SECTIONS)


@pytest.mark.parametrize(("section", "command", "expected"), replay_cases())
def test_tutorial_transcript_is_real(
    section: str, command: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-running a command of the tutorial in a scratch copy prints what the page shows."""
    for name in ("labeled.jsonl", "posts.jsonl"):
        shutil.copy(TUTORIAL / name, tmp_path / name)
    if section in SHADOW_SECTIONS:
        shutil.copytree(STORM_SHADOW, tmp_path / "storm")
    else:
        shutil.copytree(STORM_SHADOW, tmp_path / "storm_shadow")
        shutil.copytree(STORM, tmp_path / "storm")
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(command)
    if argv[0] == "head":  # `head -n 2 verdicts.jsonl` after the sweep
        run_policyrules(["sweep", "storm", "posts.jsonl", "-o", "verdicts.jsonl"])
        lines = (tmp_path / argv[-1]).read_text(encoding="utf-8").splitlines()
        actual = "\n".join(lines[: int(argv[2])])
    else:
        assert argv[0] == "policyrules"
        actual = run_policyrules(argv[1:])
    want = _comparable(expected, tmp_path)
    got = _comparable(actual, tmp_path)
    if any(line.strip() == "..." for line in want):  # trimmed: the lines shown, in order
        rest = iter(got)
        missing = [w for w in want if w.strip() != "..." and w not in rest]
        assert missing == []
    else:
        assert got == want


def run_policyrules(args: list[str]) -> str:
    """Run the command line in-process; stdout and stderr interleaved as a terminal shows them.

    A sweep runs with one worker: the worker count only changes the timing line.
    """
    if args[0] == "sweep":
        args = [*args, "--workers", "1"]
    result = CliRunner().invoke(cli.main, args, catch_exceptions=False, env={"NO_COLOR": "1"})
    return result.output
