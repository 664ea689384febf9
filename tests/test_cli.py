"""Tests for `policyrules.cli`: every command through CliRunner, a few through the real script.

Rulesets are built in tmp_path; nothing here depends on rulesets/ of the repository.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner
from sample_ruleset import TWO_POLICIES

import policyrules
from policyrules import cli, corpus

POLICY = TWO_POLICIES

POSTS = [
    {"id": "p1", "text": "I will kill you", "labels": ["violent_speech"]},
    {"id": "p2", "text": "click here for free money", "labels": ["spam"]},
    {"id": "p3", "text": "we should shoot you a message", "labels": []},
    {"id": "p4", "text": "I am going to hurt you", "labels": ["violent_speech"]},
    {"id": "p5", "text": "win big today", "labels": ["spam"]},
    {"id": "p6", "text": "lovely weather", "labels": []},
]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[Any]) -> Path:
    return _write(path, "".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    """A ruleset directory with one policy file."""
    root = tmp_path / "rs"
    _write(root / "main.policy", POLICY)
    return root


@pytest.fixture
def runner() -> CliRunner:
    """A CliRunner (stdout and stderr kept apart)."""
    return CliRunner()


def _run(runner: CliRunner, *args: Any, input: str | None = None) -> Any:
    return runner.invoke(cli.main, [str(a) for a in args], input=input, catch_exceptions=False)


SCRIPT = Path(sys.executable).parent / "policyrules"


class TestCheck:
    """Tests for `policyrules check`."""

    def test_clean(self, runner: CliRunner, ruleset: Path) -> None:
        """A good ruleset exits 0 and says ok."""
        result = _run(runner, "check", ruleset)
        assert result.exit_code == 0, result.stderr
        assert "ok (3 rules, 2 policies" in result.stderr

    def test_error_rendered_and_continues(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """A broken ruleset gives file:line:col: error[CODE] with a caret; the next ruleset is still checked."""
        bad = _write(tmp_path / "bad" / "x.policy", 'policy p { title: "P" action: remove }\n'
                     "rule r {\n  policy: p\n  when: any(nope)\n}\n")
        result = _run(runner, "check", bad.parent, ruleset)
        assert result.exit_code == 1
        assert f"{bad.as_posix()}:4:" in result.stderr
        assert "error[" in result.stderr and "^" in result.stderr
        assert f"{ruleset}: ok" in result.stderr

    def test_syntax_error_json(self, runner: CliRunner, tmp_path: Path) -> None:
        """--format json prints one document with each diagnostic's position."""
        bad = _write(tmp_path / "bad.policy", "rule {\n")
        result = _run(runner, "check", "--format", "json", bad)
        assert result.exit_code == 1
        doc = json.loads(result.stdout)
        assert doc["ok"] is False and doc["errors"] >= 1
        diag = doc["rulesets"][0]["diagnostics"][0]
        assert diag["severity"] == "error" and diag["line"] == 1 and diag["code"].startswith("E")

    def test_strict_and_github(self, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Warnings pass without --strict, fail with it, and become ::warning annotations."""
        import policyrules.lint

        path = _write(tmp_path / "w" / "w.policy", POLICY)
        span = policyrules.errors.Span(path.as_posix(), 0, 6, 1, 1, 1, 7)
        warning = policyrules.errors.Diagnostic("warning", "W999", "something odd, here", span,
                                                source_line="policy violent_speech {")
        monkeypatch.setattr(policyrules.lint, "lint_path", lambda p: [warning])
        result = _run(runner, "check", path.parent)
        assert result.exit_code == 0
        assert "warning[W999]" in result.stderr
        result = _run(runner, "check", "--strict", path.parent)
        assert result.exit_code == 1 and "error[W999]" in result.stderr
        result = _run(runner, "check", "--format", "github", path.parent)
        assert result.exit_code == 0
        assert result.stdout.strip() == (
            f"::warning file={path.as_posix()},line=1,col=1,endLine=1,title=W999::something odd, here")

    def test_usage_error(self, runner: CliRunner, tmp_path: Path) -> None:
        """A path that does not exist is a usage error (exit 2)."""
        result = _run(runner, "check", tmp_path / "missing")
        assert result.exit_code == 2


class TestExplain:
    """Tests for `policyrules explain`."""

    def test_text_highlights_evidence(self, runner: CliRunner, ruleset: Path) -> None:
        """The verdict, the highlighted text and the condition tree are printed."""
        result = _run(runner, "explain", ruleset, "well I will kill you now")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("text: well I will [[kill you]] now\n")
        assert "verdict: action=remove severity=high" in result.stdout
        assert "vs_threat" in result.stdout

    def test_color(self, runner: CliRunner, ruleset: Path) -> None:
        """With --color the evidence is styled with ANSI codes instead of brackets."""
        result = runner.invoke(cli.main, ["--color", "explain", str(ruleset), "kill you"], color=True)
        assert "\x1b[" in result.stdout and "[[kill you]]" not in result.stdout

    def test_json_and_post_file(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """--post reads a JSON post, --lang sets its language, --format json gives verdict and explanation."""
        post = _write(tmp_path / "post.json", json.dumps({"text": "free money, click here"}))
        result = _run(runner, "explain", ruleset, "--post", post, "--lang", "en", "--format", "json")
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["verdict"]["action"] == "label"
        assert doc["post"]["lang"] == "en"
        assert isinstance(doc["explanation"], str) and doc["explanation"]
        assert {h["text"] for h in doc["highlights"]} == {"free money", "click here"}

    def test_rule_and_unknown_rule(self, runner: CliRunner, ruleset: Path) -> None:
        """--rule explains one rule; an unknown name is a usage error with a suggestion."""
        result = _run(runner, "explain", ruleset, "hello", "--rule", "vs_threat")
        assert result.exit_code == 0
        assert result.stdout.startswith("verdict: none\ntext: hello\n")
        assert "rule vs_threat" in result.stdout and "spam_links" not in result.stdout
        result = _run(runner, "explain", ruleset, "hello", "--rule", "vs_thret")
        assert result.exit_code == 2
        assert "vs_threat" in result.stderr

    def test_needs_text_or_post(self, runner: CliRunner, ruleset: Path) -> None:
        """Neither TEXT nor --post is a usage error."""
        assert _run(runner, "explain", ruleset).exit_code == 2

    def test_broken_ruleset_exit_1(self, runner: CliRunner, tmp_path: Path) -> None:
        """A ruleset that does not compile prints diagnostics and exits 1."""
        bad = _write(tmp_path / "bad.policy", "rule {\n")
        result = _run(runner, "explain", bad, "x")
        assert result.exit_code == 1 and "error[" in result.stderr


class TestTest:
    """Tests for `policyrules test`."""

    def test_examples_pass(self, runner: CliRunner, ruleset: Path) -> None:
        """Passing examples exit 0."""
        result = _run(runner, "test", ruleset)
        assert result.exit_code == 0, result.stdout
        assert "examples: 5 passed, 0 failed" in result.stdout

    def test_failing_example(self, runner: CliRunner, tmp_path: Path) -> None:
        """A failing example exits 1 and names the rule and the post."""
        path = _write(tmp_path / "f.policy", POLICY.replace('no_match: "hello there"', 'no_match: "kill you"'))
        result = _run(runner, "test", path)
        assert result.exit_code == 1
        assert "FAIL vs_threat no_match #2" in result.stdout
        assert '"kill you"' in result.stdout

    def test_corpus_thresholds_junit_json(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """--corpus files are scored, global thresholds apply, JUnit and JSON carry the figures."""
        _write(ruleset / "ruleset.toml", """
name = "demo"
version = "1.2"
[thresholds.violent_speech]
precision = 0.5
recall = 0.9
""")
        data = _jsonl(tmp_path / "labeled.jsonl", POSTS)
        junit = tmp_path / "junit.xml"
        result = _run(runner, "test", ruleset, "--corpus", data, "--junit", junit, "--format", "json")
        assert result.exit_code == 1  # recall of violent_speech is 1/2 < 0.9
        doc = json.loads(result.stdout)
        [rep] = doc["corpora"]
        vs = next(p for p in rep["policies"] if p["policy"] == "violent_speech")
        assert (vs["tp"], vs["fp"], vs["fn"], vs["tn"]) == (1, 1, 1, 3)
        sp = next(p for p in rep["policies"] if p["policy"] == "spam")
        assert (sp["tp"], sp["fp"], sp["fn"], sp["tn"]) == (1, 0, 1, 4)
        assert sp["shadow_only"] == 1 and sp["with_shadow"]["tp"] == 2
        assert {(t["metric"], t["passed"]) for t in rep["thresholds"]} == {("precision", True), ("recall", False)}
        root = ET.parse(junit).getroot()
        assert len(root.findall(".//testcase")) == 5 + 2
        assert len(root.findall(".//failure")) == 1

    def test_config_corpus_mapping_and_skip(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """[[corpus]] tables map data-set labels; a missing file is skipped unless --require-corpora."""
        rows = [{"id": i, "text": t, "label": lab} for i, (t, lab) in enumerate(
            [("I will kill you", "threat"), ("kill you", "ok"), ("fine", "ok"), ("x", "other")])]
        _jsonl(ruleset / "data" / "d.jsonl", rows)
        _write(ruleset / "ruleset.toml", """
[[corpus]]
name = "mine"
path = "data/d.jsonl"
label_field = "label"
policies = ["violent_speech"]
[corpus.labels]
threat = ["violent_speech"]
ok = []
[corpus.thresholds.vs_threat]
precision = 0.5

[[corpus]]
name = "absent"
path = "data/nope.jsonl"
""")
        result = _run(runner, "test", ruleset)
        assert result.exit_code == 0, result.stdout
        assert "corpus mine: 4 records, 3 scored, 1 unlabeled" in result.stdout
        assert "corpus absent: skipped" in result.stdout
        assert "PASS threshold precision of vs_threat is 0.500 >= 0.5" in result.stdout
        result = _run(runner, "test", ruleset, "--require-corpora")
        assert result.exit_code == 1

    def test_limit(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """--limit reads only the first N records of a corpus."""
        data = _jsonl(tmp_path / "labeled.jsonl", POSTS)
        result = _run(runner, "test", ruleset, "--corpus", data, "--limit", "2", "--format", "json")
        assert json.loads(result.stdout)["corpora"][0]["records"] == 2


class TestSweep:
    """Tests for `policyrules sweep`."""

    def _input(self, tmp_path: Path, n: int = 50) -> Path:
        lines = []
        for i in range(1, n + 1):
            if i % 10 == 3:
                lines.append("{not json")
            elif i % 10 == 7:
                lines.append(json.dumps({"id": f"x{i}", "text": 42}))
            else:
                text = ["I will kill you", "free money", "hello", "win big"][i % 4]
                lines.append(json.dumps({"id": f"x{i}", "text": text}))
        return _write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")

    def test_output_order_errors_summary(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """One line per input line, in order, ids kept, bad lines as error records, exit 1."""
        src = self._input(tmp_path)
        out = tmp_path / "out.jsonl"
        result = _run(runner, "sweep", ruleset, src, "-o", out, "--workers", "1", "--chunk-size", "7")
        assert result.exit_code == 1  # lines were rejected
        rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert [r["line"] for r in rows] == list(range(1, 51))
        assert rows[0]["id"] == "x1"
        assert all(("error" in r) == (r["line"] % 10 in (3, 7)) for r in rows)
        assert "50 lines in, 50 out (40 verdicts, 10 rejected)" in result.stderr
        assert "posts/s" in result.stderr and "vs_threat" in result.stderr

    def test_workers_agree(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """Two worker processes produce exactly the bytes one process does."""
        src = self._input(tmp_path, 230)
        one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
        _run(runner, "sweep", ruleset, src, "-o", one, "--workers", "1", "--chunk-size", "16")
        _run(runner, "sweep", ruleset, src, "-o", two, "--workers", "2", "--chunk-size", "16")
        assert one.read_bytes() == two.read_bytes()

    def test_stdin_stdout_json_summary(self, runner: CliRunner, ruleset: Path) -> None:
        """'-' reads stdin; verdicts go to stdout and the JSON summary to stderr."""
        data = "\n".join(json.dumps(p) for p in POSTS) + "\n"
        result = _run(runner, "sweep", ruleset, "-", "--workers", "1", "--format", "json", input=data)
        assert result.exit_code == 0, result.stderr
        assert len(result.stdout.splitlines()) == len(POSTS)
        summary = json.loads(result.stderr)
        assert summary["lines_in"] == summary["lines_out"] == len(POSTS)
        assert summary["by_action"] == {"none": 3, "remove": 2, "label": 1}
        assert summary["by_shadow_rule"] == {"spam_shadow": 1}

    def test_resume(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """--resume keeps whole valid lines, drops a torn last line and appends the rest once."""
        src = self._input(tmp_path, 40)
        full = tmp_path / "full.jsonl"
        _run(runner, "sweep", ruleset, src, "-o", full, "--workers", "1")
        lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
        part = tmp_path / "part.jsonl"
        part.write_text("".join(lines[:17]) + lines[17][:10], encoding="utf-8")
        result = _run(runner, "sweep", ruleset, src, "-o", part, "--resume", "--workers", "1",
                      "--format", "json")
        assert part.read_bytes() == full.read_bytes()
        summary = json.loads(result.stdout)
        assert summary["resumed"] == 17 and summary["lines_in"] == 40 and summary["rejected"] == 8

    def test_resume_needs_output(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """--resume without -o is a usage error."""
        src = self._input(tmp_path, 3)
        assert _run(runner, "sweep", ruleset, src, "--resume").exit_code == 2

    def test_dead_worker_detected(self, tmp_path: Path) -> None:
        """A worker process killed mid-sweep stops the run with an error, not silent loss."""
        rs = _DyingRuleset()
        lines = [json.dumps({"text": "die" if i == 40 else "ok"}) + "\n" for i in range(1, 101)]
        out = tmp_path / "o.jsonl"
        summary = corpus.SweepSummary()
        with out.open("wb", buffering=0) as fh, pytest.raises(cli._WorkerDied):
            cli._run_sweep(rs, lines, cli._Sink(fh, True), skip=0, workers=2, chunk_size=10, at=None, full=False,
                           summary=summary, progress=cli._Progress(False, None))
        written = out.read_text(encoding="utf-8").splitlines()
        assert len(written) < 40
        assert [json.loads(x)["line"] for x in written] == list(range(1, len(written) + 1))


class _DyingVerdict:
    action = "none"
    matches = shadow_matches = incomplete = notes = ()

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, "action": "none"}


class _DyingRuleset:
    """A stand-in ruleset whose worker process dies on the post "die" (simulates a kill -9)."""

    def evaluate(self, post: Any, at: Any = None) -> _DyingVerdict:
        if post.get("text") == "die":
            os._exit(9)
        return _DyingVerdict()


class TestDiff:
    """Tests for `policyrules diff`."""

    def test_counts_and_entries(self, runner: CliRunner, ruleset: Path, tmp_path: Path) -> None:
        """Counts come first, then per-rule changes and posts with ids and evidence."""
        new = _write(tmp_path / "new" / "main.policy",
                     POLICY.replace('terms spammy = ["free money", "click here"]',
                                    'terms spammy = ["free money", "click here", "lovely"]')
                     .replace("  reason: \"Threat: {evidence}\"", "  action: label\n  reason: \"Threat: {evidence}\""))
        data = _jsonl(tmp_path / "posts.jsonl", POSTS)
        result = _run(runner, "diff", ruleset, new.parent, "--corpus", data)
        assert result.exit_code == 0, result.stderr
        first = result.stdout.splitlines()
        assert first[0] == "posts: 6 (rejected 0)"
        assert first[1].startswith("newly matched: 1  no longer matched: 0  action changed: 2")
        assert "p6: none -> label" in result.stdout
        assert 'new spam_links: "lovely"' in result.stdout
        result = _run(runner, "diff", ruleset, new.parent, "--corpus", data, "--format", "json")
        doc = json.loads(result.stdout)
        assert doc["counts"]["newly_matched"] == 1
        assert doc["newly_matched"][0]["id"] == "p6"


class TestFmt:
    """Tests for `policyrules fmt`."""

    def _canonical(self, text: str, path: str) -> str:
        from policyrules.formatter import format_source

        return format_source(text, path)

    def test_check_write_diff(self, runner: CliRunner, tmp_path: Path) -> None:
        """--check lists unformatted files (exit 1); --diff prints a diff; plain fmt rewrites in place."""
        messy = POLICY.replace("policy spam {\n  title", "policy   spam{\n      title")
        path = _write(tmp_path / "r" / "a.policy", messy)
        canonical = self._canonical(messy, path.as_posix())
        assert canonical != messy
        result = _run(runner, "fmt", "--check", path.parent)
        assert result.exit_code == 1 and f"would reformat {path.as_posix()}" in result.stderr
        result = _run(runner, "fmt", "--diff", path)
        assert result.stdout.startswith(f"--- a/{path.as_posix()}")
        assert path.read_text(encoding="utf-8") == messy
        result = _run(runner, "fmt", path.parent)
        assert result.exit_code == 0
        assert path.read_text(encoding="utf-8") == canonical
        assert _run(runner, "fmt", "--check", path.parent).exit_code == 0

    def test_syntax_error(self, runner: CliRunner, tmp_path: Path) -> None:
        """A file that does not parse is reported and fails the run."""
        path = _write(tmp_path / "bad.policy", "rule {\n")
        result = _run(runner, "fmt", "--check", path)
        assert result.exit_code == 1 and "error[" in result.stderr


class TestScript:
    """Through the real console script and ``python -m policyrules`` (subprocess)."""

    def test_help_everywhere(self) -> None:
        """--help works for the group and every command, with examples."""
        for cmd in ([], ["check"], ["explain"], ["test"], ["sweep"], ["diff"], ["fmt"]):
            proc = subprocess.run([str(SCRIPT), *cmd, "--help"], capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            assert "Examples:" in proc.stdout

    def test_python_m(self, ruleset: Path) -> None:
        """python -m policyrules behaves like the script (explain, exit 0)."""
        proc = subprocess.run([sys.executable, "-m", "policyrules", "explain", str(ruleset), "kill you"],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "[[kill you]]" in proc.stdout

    def test_usage_exit_2(self) -> None:
        """An unknown command exits 2 with the usage on stderr."""
        proc = subprocess.run([str(SCRIPT), "nope"], capture_output=True, text=True, check=False)
        assert proc.returncode == 2 and "Usage:" in proc.stderr

    def test_sweep_workers_script(self, ruleset: Path, tmp_path: Path) -> None:
        """The script's multi-process sweep writes every line in order."""
        src = _jsonl(tmp_path / "in.jsonl", [{"id": i, "text": "kill you" if i % 3 else "hi"} for i in range(2000)])
        out = tmp_path / "out.jsonl"
        proc = subprocess.run([str(SCRIPT), "sweep", str(ruleset), str(src), "-o", str(out), "-j", "2",
                               "--chunk-size", "100"], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert [r["id"] for r in rows] == list(range(2000))
        assert "2,000 lines in, 2,000 out" in proc.stderr

    def test_sigint_leaves_valid_prefix_then_resume(self, ruleset: Path, tmp_path: Path) -> None:
        """Ctrl-C mid-sweep leaves whole lines only; --resume then completes without duplicates."""
        n = 8_000
        rows = [json.dumps({"id": i, "text": "I will kill you" if i % 5 == 0 else "hello there"}) + "\n"
                for i in range(n)]
        src = _write(tmp_path / "all.jsonl", "".join(rows))
        out = tmp_path / "out.jsonl"
        args = [str(SCRIPT), "sweep", str(ruleset), "-o", str(out), "-j", "2", "--chunk-size", "100"]
        # the sweep reads a pipe that stays open, so it is surely mid-run when interrupted
        proc = subprocess.Popen([*args[:3], "-", *args[3:]], stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdin is not None
        proc.stdin.write("".join(rows[:3000]))
        proc.stdin.flush()
        _wait_for(lambda: out.exists() and out.stat().st_size > 0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "--resume" in err
        data = out.read_bytes()
        assert data.endswith(b"\n")
        lines = [json.loads(x) for x in data.decode("utf-8").splitlines()]
        assert 0 < len(lines) <= 3000
        assert [r["line"] for r in lines] == list(range(1, len(lines) + 1))
        proc2 = subprocess.run([*args[:3], str(src), *args[3:], "--resume"],
                               capture_output=True, text=True, check=False)
        assert proc2.returncode == 0, proc2.stderr
        ids = [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()]
        assert ids == list(range(n))


def _wait_for(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_ruleset_helpers_are_real() -> None:
    """The fixture policy compiles with the real library (guards the other tests' premise)."""
    rs = policyrules.compile(POLICY)
    assert [r.name for r in rs.rules] == ["vs_threat", "spam_links", "spam_shadow"]


def test_test_workers_agree(ruleset: Path, tmp_path: Path) -> None:
    """Scoring several corpora in worker processes gives the same report as in-process."""
    runner = CliRunner()
    a = _jsonl(tmp_path / "a.jsonl", POSTS)
    b = _jsonl(tmp_path / "b.jsonl", POSTS[::-1] + POSTS[:2])
    docs = []
    for j in ("1", "2"):
        result = _run(runner, "test", ruleset, "--corpus", a, "--corpus", b, "-j", j, "--format", "json")
        assert result.exit_code == 0, result.stdout
        docs.append(json.loads(result.stdout)["corpora"])
    assert docs[0] == docs[1]
    assert [c["records"] for c in docs[0]] == [6, 8]
