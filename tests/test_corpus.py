"""Tests for `policyrules.corpus`: examples, scoring, thresholds, diff, sweep chunks, JUnit.

Figures are checked against counts computed independently in the test (plain regexes
over the posts), never against the module's own arithmetic.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from sample_ruleset import TWO_POLICIES

import policyrules
from policyrules import corpus

SOURCE = TWO_POLICIES

THREAT = re.compile(r"\b(kill|shoot)\s+you\b", re.IGNORECASE)
SPAM = re.compile(r"\b(free\s+money|click\s+here)\b", re.IGNORECASE)
SHADOW = re.compile(r"\bwin\s+big\b", re.IGNORECASE)

TEXTS = [
    ("p1", "I will kill you", ["violent_speech"]),
    ("p2", "click here for free money", ["spam"]),
    ("p3", "we should shoot you a message", []),  # a false positive of vs_threat
    ("p4", "I am going to hurt you badly", ["violent_speech"]),  # a false negative
    ("p5", "win big today", ["spam"]),  # only the shadow rule sees it
    ("p6", "lovely weather", []),
    ("p7", "free money, kill you", ["spam"]),  # spam TP, violent FP
    ("p8", "nothing here", ["spam"]),  # spam FN
]


@pytest.fixture(scope="module")
def rs() -> policyrules.Ruleset:
    """The small two-policy ruleset used throughout."""
    return policyrules.compile(SOURCE, name="corpus_test.policy")


def _records(rows: list[tuple[str, str, list[str]]]) -> list[corpus.Record]:
    return [corpus.Record(i, {"id": pid, "text": text, "labels": labels})
            for i, (pid, text, labels) in enumerate(rows, 1)]


def _expected(rows: list[tuple[str, str, list[str]]], pattern: re.Pattern[str], policy: str) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for _, text, labels in rows:
        pred = bool(pattern.search(text))
        actual = policy in labels
        tp += pred and actual
        fp += pred and not actual
        fn += (not pred) and actual
        tn += (not pred) and not actual
    return tp, fp, fn, tn


class TestConfusion:
    """Tests for `Confusion`."""

    def test_figures(self) -> None:
        """Precision, recall and F1 follow their textbook definitions."""
        c = corpus.Confusion(tp=3, fp=1, fn=2, tn=10)
        assert c.precision == pytest.approx(3 / 4)
        assert c.recall == pytest.approx(3 / 5)
        assert c.f1 == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))

    def test_undefined(self) -> None:
        """Figures with a zero denominator are None, not 0 or a crash."""
        c = corpus.Confusion(tn=5)
        assert (c.precision, c.recall, c.f1) == (None, None, None)


class TestReadJsonl:
    """Tests for `read_jsonl`."""

    def test_streams_and_limits(self, tmp_path: Path) -> None:
        """Bad lines become error records with their line number; limit stops early."""
        path = tmp_path / "c.jsonl"
        path.write_text('{"id": 1, "text": "a"}\nnot json\n[1, 2]\n\n{"id": 5}\n', encoding="utf-8")
        records = list(corpus.read_jsonl(path))
        assert [r.line for r in records] == [1, 2, 3, 4, 5]
        assert records[0].data == {"id": 1, "text": "a"}
        assert records[1].error is not None and "JSON" in records[1].error
        assert records[2].error is not None and "object" in records[2].error
        assert records[3].error == "empty line"
        assert [r.line for r in corpus.read_jsonl(path, limit=2)] == [1, 2]


class TestRunExamples:
    """Tests for `run_examples`."""

    def test_all_pass(self, rs: policyrules.Ruleset) -> None:
        """Every example of the fixture ruleset passes, the shadow rule's included."""
        results = corpus.run_examples(rs)
        assert len(results) == 5
        assert all(r.passed for r in results), [r for r in results if not r.passed]
        assert {(r.rule, r.kind) for r in results} >= {("spam_shadow", "match"), ("vs_threat", "no_match")}

    def test_failures_are_reported(self) -> None:
        """A wrong match and a wrong no_match both fail with a message saying which."""
        rs = policyrules.compile("""
policy p { title: "P" action: remove }
rule r {
  policy: p
  when: any(["bad"])
  examples {
    match: "good"
    no_match: "bad"
  }
}
""")
        results = corpus.run_examples(rs)
        assert [r.passed for r in results] == [False, False]
        assert "expected a match" in results[0].message
        assert "expected no match" in results[1].message

    def test_active_window_runs_at_start(self) -> None:
        """A rule with an active window in the past still has its examples pass (run at the start)."""
        rs = policyrules.compile("""
policy p { title: "P" action: remove }
rule r {
  policy: p
  active: 2020-01-01 .. 2020-01-02
  when: any(["bad"])
  examples { match: "bad" }
}
""")
        [result] = corpus.run_examples(rs)
        assert result.passed
        assert result.at == datetime(2020, 1, 1, tzinfo=UTC)
        assert rs.evaluate("bad").action == "none"  # outside the window now

    def test_helper_rule_examples(self) -> None:
        """Examples of a helper rule (action: none) are judged by whether its condition held."""
        rs = policyrules.compile("""
policy p { title: "P" action: remove }
rule helper {
  policy: p
  action: none
  when: any(["bad"])
  examples {
    match: "bad"
    no_match: "fine"
  }
}
rule r { policy: p when: rule(helper) }
""")
        results = corpus.run_examples(rs)
        assert [r.passed for r in results] == [True, True]


class TestScoreCorpus:
    """Tests for `score_corpus`."""

    def test_policy_figures_match_independent_counts(self, rs: policyrules.Ruleset) -> None:
        """Per-policy TP/FP/FN/TN equal counts computed with plain regexes (enforced only)."""
        report = corpus.score_corpus(rs, _records(TEXTS), corpus.LabelMapping(), name="t")
        assert report.records == report.scored == len(TEXTS)
        vs = report.policy("violent_speech")
        sp = report.policy("spam")
        assert vs is not None and sp is not None
        c = vs.confusion
        assert (c.tp, c.fp, c.fn, c.tn) == _expected(TEXTS, THREAT, "violent_speech")
        c = sp.confusion
        assert (c.tp, c.fp, c.fn, c.tn) == _expected(TEXTS, SPAM, "spam")

    def test_shadow_counted_apart(self, rs: policyrules.Ruleset) -> None:
        """Shadow matches do not predict a policy, but appear in with_shadow and shadow_only."""
        report = corpus.score_corpus(rs, _records(TEXTS), corpus.LabelMapping())
        sp = report.policy("spam")
        assert sp is not None
        either = re.compile(f"{SPAM.pattern}|{SHADOW.pattern}", re.IGNORECASE)
        c = sp.with_shadow
        assert (c.tp, c.fp, c.fn, c.tn) == _expected(TEXTS, either, "spam")
        only = sum(1 for _, t, _ in TEXTS if SHADOW.search(t) and not SPAM.search(t))
        assert sp.shadow_only == only

    def test_rule_figures_judged_against_policy(self, rs: policyrules.Ruleset) -> None:
        """A rule's TP/FP use its policy's label; shadow rules are scored on their shadow matches."""
        report = corpus.score_corpus(rs, _records(TEXTS), corpus.LabelMapping())
        for rule, pattern, policy in (("vs_threat", THREAT, "violent_speech"),
                                      ("spam_links", SPAM, "spam"),
                                      ("spam_shadow", SHADOW, "spam")):
            score = report.rule(rule)
            assert score is not None
            c = score.confusion
            assert (c.tp, c.fp, c.fn, c.tn) == _expected(TEXTS, pattern, policy), rule
        assert report.rule("spam_shadow").mode == "shadow"  # type: ignore[union-attr]

    def test_samples(self, rs: policyrules.Ruleset) -> None:
        """False positives and negatives are sampled with ids and texts, capped by *samples*."""
        report = corpus.score_corpus(rs, _records(TEXTS), corpus.LabelMapping(), samples=1)
        vs = report.policy("violent_speech")
        assert vs is not None
        assert [s.id for s in vs.false_positives] == ["p3"]
        assert [s.id for s in vs.false_negatives] == ["p4"]
        assert vs.false_negatives[0].text == "I am going to hurt you badly"

    def test_label_mapping_and_unlabeled(self, rs: policyrules.Ruleset) -> None:
        """A data-set label field maps to policies; unknown label values are counted, not scored."""
        rows = [
            corpus.Record(1, {"id": "a", "text": "I will kill you", "label": "threat"}),
            corpus.Record(2, {"id": "b", "text": "kill you", "label": "neither"}),
            corpus.Record(3, {"id": "c", "text": "hello", "label": "mystery"}),
            corpus.Record(4, {"id": "d", "text": "hello"}),
            corpus.Record(5, None, "not valid JSON"),
        ]
        mapping = corpus.LabelMapping("label", {"threat": ("violent_speech",), "neither": ()},
                                      ("violent_speech",))
        report = corpus.score_corpus(rs, rows, mapping)
        assert (report.records, report.scored, report.unlabeled, report.rejected) == (5, 2, 2, 1)
        assert [p.policy for p in report.policies] == ["violent_speech"]
        assert [r.rule for r in report.rules] == ["vs_threat"]
        c = report.policies[0].confusion
        assert (c.tp, c.fp, c.fn, c.tn) == (1, 1, 0, 0)

    def test_label_fields_are_hidden_from_rules(self) -> None:
        """The label field is removed before evaluation, so a rule cannot read the answer."""
        rs = policyrules.compile("""
policy p { title: "P" action: remove }
rule cheat { policy: p when: post.label == "bad" }
""")
        mapping = corpus.LabelMapping("label", {"bad": ("p",), "ok": ()})
        report = corpus.score_corpus(rs, [corpus.Record(1, {"text": "x", "label": "bad"})], mapping)
        assert report.policies[0].confusion.tp == 0

    def test_post_error_rejected(self, rs: policyrules.Ruleset) -> None:
        """A record that is not a valid post (text not a string) is rejected, not fatal."""
        report = corpus.score_corpus(rs, [corpus.Record(1, {"text": 3, "labels": []})],
                                     corpus.LabelMapping())
        assert report.rejected == 1 and report.scored == 0
        assert report.errors and report.errors[0].startswith("line 1:")


class TestThresholds:
    """Tests for `parse_thresholds` and `check_thresholds`."""

    def test_pass_fail_unknown_undefined(self, rs: policyrules.Ruleset) -> None:
        """Thresholds pass at or above the minimum; unknown targets and undefined figures fail."""
        report = corpus.score_corpus(rs, _records(TEXTS), corpus.LabelMapping(), name="c")
        results = corpus.check_thresholds(report, {
            "violent_speech": {"precision": 0.33, "recall": 0.9},
            "spam_links": {"precision": 1.0},
            "nonexistent": {"f1": 0.1},
        })
        by = {(r.target, r.metric): r for r in results}
        assert by[("violent_speech", "precision")].passed  # 1 of 3 >= 0.33
        assert by[("violent_speech", "precision")].value == pytest.approx(1 / 3)
        assert not by[("violent_speech", "recall")].passed
        assert by[("spam_links", "precision")].passed and by[("spam_links", "precision")].kind == "rule"
        assert not by[("nonexistent", "f1")].passed
        empty = corpus.score_corpus(rs, _records([("x", "hello", [])]), corpus.LabelMapping())
        [undefined] = corpus.check_thresholds(empty, {"spam": {"recall": 0.1}})
        assert not undefined.passed and "undefined" in undefined.message

    def test_parse_rejects_bad_values(self) -> None:
        """Unknown metrics and values outside [0, 1] are configuration problems."""
        good, problems = corpus.parse_thresholds(
            {"p": {"precision": 0.5, "accuracy": 0.9, "recall": 2}}, "thresholds")
        assert good == {"p": {"precision": 0.5}}
        assert len(problems) == 2


class TestCorporaFromConfig:
    """Tests for `corpora_from_config`."""

    def test_reads_tables(self, tmp_path: Path) -> None:
        """A [[corpus]] table becomes a spec with a root-relative path, mapping, limit and thresholds."""
        raw = {"corpus": [{
            "name": "d", "path": "data/d.jsonl", "label_field": "label",
            "policies": ["spam"], "limit": 10,
            "labels": {"spam": ["spam"], "ham": []},
            "thresholds": {"spam": {"precision": 0.5}},
        }]}
        [spec] = corpus.corpora_from_config(raw, tmp_path)
        assert spec.path == str(tmp_path / "data/d.jsonl")
        assert spec.mapping.label_field == "label"
        assert dict(spec.mapping.labels) == {"spam": ("spam",), "ham": ()}
        assert spec.mapping.policies == ("spam",)
        assert spec.limit == 10
        assert spec.thresholds == {"spam": {"precision": 0.5}}
        assert spec.problems == ()

    def test_problems(self, tmp_path: Path) -> None:
        """Missing path and a bad limit are reported as problems, not ignored."""
        [spec] = corpus.corpora_from_config({"corpus": [{"name": "d", "limit": -1}]}, tmp_path)
        assert any("path" in p for p in spec.problems)
        assert any("limit" in p for p in spec.problems)


class TestDiffCorpus:
    """Tests for `diff_corpus`."""

    def test_categories(self) -> None:
        """Posts are classified as newly matched, no longer matched, action or rules changed."""
        old = policyrules.compile("""
policy p { title: "P" action: label }
rule a { policy: p when: any(["alpha"]) }
rule b { policy: p when: any(["beta"]) }
""")
        new = policyrules.compile("""
policy p { title: "P" action: label }
rule a { policy: p when: any(["alpha"]) action: remove }
rule c { policy: p when: any(["gamma", "beta"]) }
rule d { policy: p when: any(["delta"]) }
""")
        rows = [corpus.Record(i, {"id": f"r{i}", "text": t}) for i, t in enumerate(
            ["alpha", "beta", "delta", "nothing", "epsilon"], 1)]
        report = corpus.diff_corpus(old, new, rows)
        assert report.posts == 5
        assert report.counts == {"newly_matched": 1, "no_longer_matched": 0,
                                 "action_changed": 1, "rules_changed": 1}
        assert [e.id for e in report.newly_matched] == ["r3"]
        assert report.newly_matched[0].evidence[0][1:4] == ("d", "text", "delta")
        changed = report.action_changed[0]
        assert (changed.id, changed.old_action, changed.new_action) == ("r1", "label", "remove")
        assert report.rules_changed[0].old_rules == ("b",) and report.rules_changed[0].new_rules == ("c",)
        assert report.rule_delta == {"b": (0, 1), "c": (1, 0), "d": (1, 0)}


class TestSweepChunk:
    """Tests for `sweep_chunk` and `SweepSummary`."""

    def test_one_line_per_input_line(self, rs: policyrules.Ruleset) -> None:
        """Every input line yields one output line, in order, errors included, ids kept."""
        chunk = [(1, '{"id": "a", "text": "I will kill you"}'), (2, "oops"),
                 (3, '{"id": 7, "text": 5}'), (4, '{"id": "d", "text": "hi"}')]
        text, summary = corpus.sweep_chunk(rs, chunk)
        lines = text.splitlines()
        assert text.endswith("\n") and len(lines) == 4
        objs = [json.loads(x) for x in lines]
        assert [o["line"] for o in objs] == [1, 2, 3, 4]
        assert [o["id"] for o in objs] == ["a", None, 7, "d"]
        assert objs[0]["verdict"]["action"] == "remove"
        assert objs[0]["verdict"]["matches"][0]["evidence"][0]["text"] == "kill you"
        assert "error" in objs[1] and "error" in objs[2]
        assert objs[3]["verdict"] == {"schema_version": 1, "action": "none"}
        assert (summary.lines_in, summary.verdicts, summary.rejected) == (4, 2, 2)
        assert summary.by_action == {"remove": 1, "none": 1}
        assert summary.by_rule == {"vs_threat": 1}
        assert summary.by_policy == {"violent_speech": 1}

    def test_full_keeps_to_dict(self, rs: policyrules.Ruleset) -> None:
        """With full=True each verdict is exactly verdict.to_dict()."""
        text, _ = corpus.sweep_chunk(rs, [(1, '{"text": "hello"}')], full=True)
        assert json.loads(text)["verdict"] == rs.evaluate("hello").to_dict()

    def test_summary_merge(self) -> None:
        """Merging summaries adds every counter."""
        a = corpus.SweepSummary()
        a.add_record({"verdict": {"action": "remove", "severity": "high",
                                  "matches": [{"rule": "r", "policy": "p"}]}})
        b = corpus.SweepSummary()
        b.add_record({"error": "bad"})
        a.merge(b)
        d = a.to_dict()
        assert (d["lines_in"], d["lines_out"], d["verdicts"], d["rejected"]) == (2, 2, 1, 1)
        assert d["by_severity"] == {"high": 1}


class TestJunit:
    """Tests for `junit_xml`."""

    def test_cases_and_failures(self, rs: policyrules.Ruleset) -> None:
        """One testcase per example and per threshold; failures and skips are marked."""
        examples = corpus.run_examples(rs)
        report = corpus.score_corpus(rs, _records(TEXTS), corpus.LabelMapping(), name="c")
        thresholds = corpus.check_thresholds(report, {"spam": {"precision": 0.1, "recall": 0.99}})
        xml = corpus.junit_xml(examples, thresholds, suite="s", skipped=[("gone", "missing")],
                               problems=["bad config"])
        root = ET.fromstring(xml.split("?>", 1)[1])
        cases = root.findall(".//testcase")
        assert len(cases) == len(examples) + 2 + 1 + 1
        assert len(root.findall(".//failure")) == 2  # recall threshold + config problem
        assert len(root.findall(".//skipped")) == 1


DAVIDSON = Path("/work/shared/data/davidson2017/labeled_data.jsonl")


@pytest.mark.skipif(not DAVIDSON.is_file(), reason="shared corpora not present (run from .ci/run)")
def test_real_corpus_figures_match_independent_count(tmp_path: Path) -> None:
    """On 2,000 real tweets (davidson2017), figures equal an independent regex count."""
    rs = policyrules.compile("""
policy abuse { title: "Abuse" action: label }
rule abuse_words { policy: abuse when: any(["bitch", "hoe", "fuck"]) }
""")
    rows: list[dict[str, Any]] = []
    with DAVIDSON.open(encoding="utf-8") as fh:
        for line in fh:
            rows.append(json.loads(line))
            if len(rows) == 2000:
                break
    # the independent prediction needs no normalization: keep ASCII-only posts
    rows = [r for r in rows if r["text"].isascii()]
    mapping = corpus.LabelMapping("label", {"offensive_language": ("abuse",), "hate_speech": ("abuse",),
                                            "neither": ()})
    records = [corpus.Record(i, r) for i, r in enumerate(rows, 1)]
    report = corpus.score_corpus(rs, records, mapping)
    word = re.compile(r"(?<![\w])(bitch|hoe|fuck)(?![\w])", re.IGNORECASE)
    tp = fp = fn = tn = 0
    for r in rows:
        pred = bool(word.search(r["text"]))
        actual = r["label"] != "neither"
        tp += pred and actual
        fp += pred and not actual
        fn += (not pred) and actual
        tn += (not pred) and not actual
    c = report.policies[0].confusion
    assert (c.tp, c.fp, c.fn, c.tn) == (tp, fp, fn, tn)
    assert tp > 100  # the corpus really exercises the rule
