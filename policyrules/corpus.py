"""Corpus tooling behind ``test``, ``diff`` and ``sweep`` (plain functions, no I/O policy).

Consumes a compiled ``Ruleset`` and streams of JSONL records; produces value objects
(:class:`ExampleResult`, :class:`CorpusReport`, :class:`ThresholdResult`,
:class:`DiffReport`, :class:`SweepSummary`) that the CLI renders as text, JSON or JUnit.
Label mappings and thresholds come from ``ruleset.toml`` (never from code).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import attrs

from .errors import PolicyError

if TYPE_CHECKING:
    from .runtime import Ruleset
    from .verdict import Verdict

__all__ = [
    "METRICS",
    "Confusion",
    "CorpusReport",
    "CorpusSpec",
    "DiffEntry",
    "DiffReport",
    "ExampleResult",
    "LabelMapping",
    "PolicyScore",
    "Record",
    "RuleScore",
    "Sample",
    "SweepSummary",
    "ThresholdResult",
    "check_thresholds",
    "compact_verdict",
    "corpora_from_config",
    "decode_line",
    "diff_corpus",
    "example_time",
    "global_thresholds",
    "junit_xml",
    "parse_thresholds",
    "read_jsonl",
    "run_examples",
    "score_corpus",
    "sweep_chunk",
]

METRICS = ("precision", "recall", "f1")
SAMPLE_TEXT_CHARS = 200


# --------------------------------------------------------------------------- reading


@attrs.frozen
class Record:
    """One JSONL line: its 1-based line number and the decoded object, or why it is unusable."""

    line: int
    data: dict[str, Any] | None
    error: str | None = None

    @property
    def id(self) -> Any:
        """The record's ``id`` field (None when absent or unparsable)."""
        return self.data.get("id") if self.data is not None else None


def decode_line(line_no: int, raw: str) -> Record:
    """Decode one JSONL line into a :class:`Record`; a bad line becomes an error record."""
    text = raw.strip()
    if not text:
        return Record(line_no, None, "empty line")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return Record(line_no, None, f"not valid JSON: {exc}")
    except RecursionError:
        return Record(line_no, None, "not valid JSON: nested too deeply")
    if not isinstance(data, dict):
        return Record(line_no, None, f"not a JSON object (got {type(data).__name__})")
    return Record(line_no, data)


def read_jsonl(path: str | os.PathLike[str], limit: int | None = None) -> Iterator[Record]:
    """Stream the records of a JSONL file (never reads it whole); stops after *limit* lines."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line_no, raw in enumerate(fh, 1):
            if limit is not None and line_no > limit:
                return
            yield decode_line(line_no, raw)


# --------------------------------------------------------------------------- examples


@attrs.frozen
class ExampleResult:
    """The outcome of one ``match:`` / ``no_match:`` example of a rule."""

    rule: str
    index: int  # 1-based position among the rule's examples
    kind: str  # match | no_match
    post: Any
    passed: bool
    message: str
    at: datetime | None = None
    path: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "rule": self.rule,
            "index": self.index,
            "kind": self.kind,
            "post": self.post,
            "passed": self.passed,
            "message": self.message,
            "at": self.at.isoformat() if self.at else None,
            "path": self.path,
            "line": self.line,
        }


def example_time(rule: Any) -> datetime | None:
    """When a rule's examples run: the start of its ``active`` window (None: no window).

    A window open at the start runs its examples one second before its end.
    """
    window = getattr(rule, "active", None)
    if window is None:
        return None
    if window.start is not None:
        return window.start  # type: ignore[no-any-return]
    if window.end is not None:
        return window.end - timedelta(seconds=1)  # type: ignore[no-any-return]
    return None


def _rule_fired(ruleset: Ruleset, rule: Any, post: Any, at: datetime | None) -> bool:
    """Whether *rule* matched *post* as if it were enforced (helper rules included).

    Uses the runtime's single-rule evaluation, which forces enforce mode.
    """
    verdict = ruleset.evaluate_rule(post, rule.name, at=at)
    return any(m.rule == rule.name for m in (*verdict.matches, *verdict.shadow_matches))


def run_examples(ruleset: Ruleset) -> list[ExampleResult]:
    """Run every rule's embedded examples (language.md §2) and say which passed."""
    results: list[ExampleResult] = []
    for rule in ruleset.rules:
        at = example_time(rule)
        for index, example in enumerate(getattr(rule, "examples", ()), 1):
            span = getattr(example, "span", None)
            where = {"path": span.path, "line": span.line} if span is not None else {}
            try:
                fired = _rule_fired(ruleset, rule, example.post, at)
            except PolicyError as exc:
                results.append(ExampleResult(
                    rule.name, index, example.kind, example.post, False,
                    f"the example is not a valid post: {exc}", at, **where))
                continue
            want = example.kind == "match"
            if fired == want:
                message = "matched" if fired else "did not match"
            elif want:
                message = "expected a match of this rule, got none"
            else:
                message = "expected no match of this rule, but it matched"
            results.append(ExampleResult(
                rule.name, index, example.kind, example.post, fired == want, message, at, **where))
    return results


# --------------------------------------------------------------------------- scoring


@attrs.frozen
class Confusion:
    """A confusion matrix and the figures derived from it (None when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None when nothing was predicted."""
        d = self.tp + self.fp
        return self.tp / d if d else None

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN); None when the corpus has no positives."""
        d = self.tp + self.fn
        return self.tp / d if d else None

    @property
    def f1(self) -> float | None:
        """2TP / (2TP + FP + FN); None when there are neither positives nor predictions."""
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else None

    def metric(self, name: str) -> float | None:
        """One of :data:`METRICS` by name."""
        value: float | None = getattr(self, name)
        return value

    def to_dict(self) -> dict[str, Any]:
        """Counts and figures."""
        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
            "precision": self.precision, "recall": self.recall, "f1": self.f1,
        }


class _Tally:
    """A mutable confusion counter (turned into a frozen :class:`Confusion` at the end)."""

    __slots__ = ("fn", "fp", "tn", "tp")

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.tn = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    def freeze(self) -> Confusion:
        return Confusion(self.tp, self.fp, self.fn, self.tn)


@attrs.frozen
class Sample:
    """A sample post for a report: its id, line and (shortened) text."""

    id: Any
    line: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {"id": self.id, "line": self.line, "text": self.text}


@attrs.frozen
class PolicyScore:
    """Per-policy figures: predicted = an ENFORCED match under the policy.

    *with_shadow* scores "enforced or shadow", i.e. what the policy would do if its shadow
    rules were promoted; *shadow_only* counts posts only shadow rules flagged.
    """

    policy: str
    confusion: Confusion
    with_shadow: Confusion
    shadow_only: int
    false_positives: tuple[Sample, ...] = ()
    false_negatives: tuple[Sample, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "policy": self.policy,
            **self.confusion.to_dict(),
            "with_shadow": self.with_shadow.to_dict(),
            "shadow_only": self.shadow_only,
            "false_positives": [s.to_dict() for s in self.false_positives],
            "false_negatives": [s.to_dict() for s in self.false_negatives],
        }


@attrs.frozen
class RuleScore:
    """Per-rule figures, judged against the label of the rule's policy.

    A rule "fires" when it is in the verdict's matches, or in its shadow matches for a
    rule in shadow mode (so shadow rules are measured too).
    """

    rule: str
    policy: str
    mode: str
    confusion: Confusion
    false_positives: tuple[Sample, ...] = ()
    false_negatives: tuple[Sample, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "rule": self.rule,
            "policy": self.policy,
            "mode": self.mode,
            **self.confusion.to_dict(),
            "false_positives": [s.to_dict() for s in self.false_positives],
            "false_negatives": [s.to_dict() for s in self.false_negatives],
        }


@attrs.frozen
class LabelMapping:
    """How a corpus's records say which policies a post violates.

    With *label_field* None a record's ``labels`` is a list of policy names. Otherwise the
    value of *label_field* (a scalar, or a list of scalars) is looked up in *labels*
    (data-set label → policy names). Only *policies* are judged (None: every policy of the
    ruleset that has rules in a verdict).
    """

    label_field: str | None = None
    labels: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, hash=False)
    policies: tuple[str, ...] | None = None

    def policies_of(self, data: Mapping[str, Any]) -> frozenset[str] | None:
        """The policies a record violates, or None when it carries no usable label."""
        if self.label_field is None:
            value = data.get("labels")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return None
            return frozenset(value)
        if self.label_field not in data:
            return None
        value = data[self.label_field]
        values = value if isinstance(value, list) else [value]
        out: set[str] = set()
        for v in values:
            key = _label_key(v)
            if key not in self.labels:
                return None
            out.update(self.labels[key])
        return frozenset(out)

    @property
    def hidden_fields(self) -> tuple[str, ...]:
        """Fields stripped from a record before it is evaluated (rules must not see labels)."""
        return ("labels",) if self.label_field is None else ("labels", self.label_field)


def _label_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@attrs.frozen
class CorpusReport:
    """Scores of one ruleset on one labeled corpus."""

    name: str
    path: str | None
    records: int  # lines read
    scored: int  # records with a usable label that evaluated
    unlabeled: int  # no label, or a label value the mapping does not know
    rejected: int  # not JSON, not an object, or not a valid post
    policies: tuple[PolicyScore, ...]
    rules: tuple[RuleScore, ...]
    errors: tuple[str, ...] = ()  # a few rejection messages, for the report

    def policy(self, name: str) -> PolicyScore | None:
        """The score of policy *name* (None when not judged)."""
        return next((p for p in self.policies if p.policy == name), None)

    def rule(self, name: str) -> RuleScore | None:
        """The score of rule *name* (None when not judged)."""
        return next((r for r in self.rules if r.rule == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "name": self.name,
            "path": self.path,
            "records": self.records,
            "scored": self.scored,
            "unlabeled": self.unlabeled,
            "rejected": self.rejected,
            "errors": list(self.errors),
            "policies": [p.to_dict() for p in self.policies],
            "rules": [r.to_dict() for r in self.rules],
        }


def _sample(record: Record, data: Mapping[str, Any]) -> Sample:
    text = data.get("text")
    text = text if isinstance(text, str) else json.dumps(data, ensure_ascii=False)
    if len(text) > SAMPLE_TEXT_CHARS:
        text = text[: SAMPLE_TEXT_CHARS - 1] + "…"
    return Sample(data.get("id"), record.line, text)


def _scorable_rules(ruleset: Ruleset, judged: Iterable[str]) -> list[Any]:
    wanted = set(judged)
    return [r for r in ruleset.rules if r.action != "none" and r.policy in wanted]


def score_corpus(
    ruleset: Ruleset,
    records: Iterable[Record],
    mapping: LabelMapping,
    *,
    name: str = "corpus",
    path: str | None = None,
    samples: int = 5,
    at: datetime | None = None,
) -> CorpusReport:
    """Evaluate every labeled record and count TP/FP/FN/TN per policy and per rule.

    A post is predicted for a policy when it gets an enforced match under that policy.
    Records without a usable label are counted as unlabeled and skipped; bad records as
    rejected. The label fields are removed from a record before it is evaluated.
    """
    policy_names = [p.name for p in ruleset.policies]
    judged = [p for p in (mapping.policies or policy_names) if p in policy_names]
    rules = _scorable_rules(ruleset, judged)
    pol_tally = {p: _Tally() for p in judged}
    shadow_tally = {p: _Tally() for p in judged}
    shadow_only = dict.fromkeys(judged, 0)
    rule_tally = {r.name: _Tally() for r in rules}
    pol_fp: dict[str, list[Sample]] = {p: [] for p in judged}
    pol_fn: dict[str, list[Sample]] = {p: [] for p in judged}
    rule_fp: dict[str, list[Sample]] = {r.name: [] for r in rules}
    rule_fn: dict[str, list[Sample]] = {r.name: [] for r in rules}
    n_records = scored = unlabeled = rejected = 0
    errors: list[str] = []
    hidden = mapping.hidden_fields
    for record in records:
        n_records += 1
        data = record.data
        if data is None:
            rejected += 1
            if len(errors) < samples:
                errors.append(f"line {record.line}: {record.error}")
            continue
        actual = mapping.policies_of(data)
        if actual is None:
            unlabeled += 1
            continue
        post = {k: v for k, v in data.items() if k not in hidden}
        try:
            verdict = ruleset.evaluate(post, at=at)
        except PolicyError as exc:
            rejected += 1
            if len(errors) < samples:
                errors.append(f"line {record.line}: {exc}")
            continue
        scored += 1
        enforced_pol = {m.policy for m in verdict.matches}
        shadow_pol = {m.policy for m in verdict.shadow_matches}
        fired = {m.rule for m in verdict.matches} | {m.rule for m in verdict.shadow_matches}
        sample: Sample | None = None
        for p in judged:
            is_pos = p in actual
            pred = p in enforced_pol
            pol_tally[p].add(pred, is_pos)
            shadow_tally[p].add(pred or p in shadow_pol, is_pos)
            if not pred and p in shadow_pol:
                shadow_only[p] += 1
            if pred != is_pos:
                bucket = pol_fp[p] if pred else pol_fn[p]
                if len(bucket) < samples:
                    sample = sample or _sample(record, data)
                    bucket.append(sample)
        for r in rules:
            is_pos = r.policy in actual
            pred = r.name in fired
            rule_tally[r.name].add(pred, is_pos)
            if pred != is_pos:
                bucket = rule_fp[r.name] if pred else rule_fn[r.name]
                if len(bucket) < samples:
                    sample = sample or _sample(record, data)
                    bucket.append(sample)
    return CorpusReport(
        name=name,
        path=path,
        records=n_records,
        scored=scored,
        unlabeled=unlabeled,
        rejected=rejected,
        policies=tuple(
            PolicyScore(p, pol_tally[p].freeze(), shadow_tally[p].freeze(), shadow_only[p],
                        tuple(pol_fp[p]), tuple(pol_fn[p]))
            for p in judged
        ),
        rules=tuple(
            RuleScore(r.name, r.policy, r.mode, rule_tally[r.name].freeze(),
                      tuple(rule_fp[r.name]), tuple(rule_fn[r.name]))
            for r in rules
        ),
        errors=tuple(errors),
    )


# --------------------------------------------------------------------------- configuration


@attrs.frozen
class CorpusSpec:
    """One ``[[corpus]]`` table of ``ruleset.toml`` (or a ``--corpus`` file)."""

    name: str
    path: str
    mapping: LabelMapping
    limit: int | None = None
    thresholds: Mapping[str, Mapping[str, float]] = attrs.field(factory=dict, hash=False)
    problems: tuple[str, ...] = ()  # configuration mistakes, reported as failures


def parse_thresholds(table: Any, where: str) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Validate a ``thresholds`` table: ``{target: {metric: minimum}}``, minimums in [0, 1]."""
    out: dict[str, dict[str, float]] = {}
    problems: list[str] = []
    if table is None:
        return out, problems
    if not isinstance(table, dict):
        return out, [f"{where}: thresholds must be a table of tables"]
    for target, metrics in table.items():
        if not isinstance(metrics, dict):
            problems.append(f"{where}.{target}: must be a table like {{ precision = 0.5 }}")
            continue
        for metric, value in metrics.items():
            if metric not in METRICS:
                problems.append(
                    f"{where}.{target}.{metric}: unknown metric (use {', '.join(METRICS)})")
            elif (not isinstance(value, (int, float)) or isinstance(value, bool)
                  or not 0 <= value <= 1):
                problems.append(f"{where}.{target}.{metric}: must be a number between 0 and 1")
            else:
                out.setdefault(target, {})[metric] = float(value)
    return out, problems


def global_thresholds(raw: Mapping[str, Any]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """The top-level ``[thresholds.X]`` tables, which apply to ``--corpus`` files."""
    return parse_thresholds(raw.get("thresholds"), "thresholds")


def corpora_from_config(raw: Mapping[str, Any], root: str | os.PathLike[str] | None) -> list[CorpusSpec]:
    """The ``[[corpus]]`` tables of ``ruleset.toml``; paths are relative to the ruleset root.

    A malformed table still yields a spec whose *problems* say what is wrong, so the
    ``test`` command reports it as a failure instead of silently skipping it.
    """
    tables = raw.get("corpus", [])
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list):
        return [CorpusSpec("corpus", "", LabelMapping(), problems=("'corpus' must be [[corpus]] tables",))]
    base = Path(root) if root is not None else Path.cwd()
    specs = []
    for i, table in enumerate(tables, 1):
        if not isinstance(table, dict):
            specs.append(CorpusSpec(f"corpus#{i}", "", LabelMapping(),
                                    problems=(f"corpus #{i} must be a table",)))
            continue
        problems: list[str] = []
        name = table.get("name", f"corpus#{i}")
        name = str(name)
        where = f"corpus {name!r}"
        path = table.get("path")
        if not isinstance(path, str) or not path:
            problems.append(f"{where}: 'path' is required (relative to the ruleset root)")
            path = ""
        label_field = table.get("label_field")
        if label_field is not None and not isinstance(label_field, str):
            problems.append(f"{where}: 'label_field' must be a string")
            label_field = None
        labels: dict[str, tuple[str, ...]] = {}
        raw_labels = table.get("labels", {})
        if not isinstance(raw_labels, dict):
            problems.append(f"{where}: [corpus.labels] must be a table of label = [policies]")
        else:
            for key, value in raw_labels.items():
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    problems.append(f"{where}: labels.{key} must be a list of policy names")
                    continue
                labels[str(key)] = tuple(value)
        if label_field is not None and not labels:
            problems.append(f"{where}: label_field is set but [corpus.labels] maps no label")
        policies = table.get("policies")
        if policies is not None and (
            not isinstance(policies, list) or not all(isinstance(p, str) for p in policies)
        ):
            problems.append(f"{where}: 'policies' must be a list of policy names")
            policies = None
        limit = table.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            problems.append(f"{where}: 'limit' must be a positive integer")
            limit = None
        thresholds, tproblems = parse_thresholds(table.get("thresholds"), f"{where}: thresholds")
        problems.extend(tproblems)
        full = os.path.normpath(base / path) if path else ""
        specs.append(CorpusSpec(
            name=name,
            path=full,
            mapping=LabelMapping(label_field, labels, tuple(policies) if policies is not None else None),
            limit=limit,
            thresholds=thresholds,
            problems=tuple(problems),
        ))
    return specs


# --------------------------------------------------------------------------- thresholds


@attrs.frozen
class ThresholdResult:
    """One threshold check: ``metric(target) >= minimum`` on one corpus."""

    corpus: str
    target: str  # a policy or rule name
    kind: str  # policy | rule | unknown
    metric: str
    minimum: float
    value: float | None
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return attrs.asdict(self)


def check_thresholds(
    report: CorpusReport, thresholds: Mapping[str, Mapping[str, float]]
) -> list[ThresholdResult]:
    """Compare a report with ``{policy-or-rule: {metric: minimum}}``.

    A target the report does not judge (a typo, or a policy the corpus is not mapped to)
    fails; so does a metric that is undefined (no predictions, or no positives).
    """
    out: list[ThresholdResult] = []
    for target, metrics in sorted(thresholds.items()):
        pscore = report.policy(target)
        rscore = report.rule(target)
        confusion: Confusion | None
        if pscore is not None:
            kind, confusion = "policy", pscore.confusion
        elif rscore is not None:
            kind, confusion = "rule", rscore.confusion
        else:
            kind, confusion = "unknown", None
        for metric, minimum in sorted(metrics.items()):
            if confusion is None:
                out.append(ThresholdResult(
                    report.name, target, kind, metric, minimum, None, False,
                    f"{target!r} is not a policy or rule judged on corpus {report.name!r}"))
                continue
            value = confusion.metric(metric)
            if value is None:
                why = "no predictions" if metric == "precision" else "no positives"
                if metric == "f1":
                    why = "no positives and no predictions"
                out.append(ThresholdResult(
                    report.name, target, kind, metric, minimum, None, False,
                    f"{metric} of {target} is undefined ({why}); needed >= {minimum:g}"))
                continue
            passed = value >= minimum or math.isclose(value, minimum)
            rel = ">=" if passed else "<"
            out.append(ThresholdResult(
                report.name, target, kind, metric, minimum, value, passed,
                f"{metric} of {target} is {value:.3f} {rel} {minimum:g}"))
    return out


# --------------------------------------------------------------------------- diff


@attrs.frozen
class DiffEntry:
    """One post whose outcome changed between two rulesets."""

    line: int
    id: Any
    text: str
    old_action: str
    new_action: str
    old_rules: tuple[str, ...]
    new_rules: tuple[str, ...]
    evidence: tuple[tuple[str, str, str, str, int, int], ...]  # (side, rule, field, text, start, end)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "line": self.line,
            "id": self.id,
            "text": self.text,
            "old_action": self.old_action,
            "new_action": self.new_action,
            "old_rules": list(self.old_rules),
            "new_rules": list(self.new_rules),
            "evidence": [
                {"side": s, "rule": r, "field": f, "text": t, "start": a, "end": b}
                for s, r, f, t, a, b in self.evidence
            ],
        }


@attrs.frozen
class DiffReport:
    """What a ruleset change does to a corpus (enforced matches only)."""

    posts: int
    rejected: int
    newly_matched: tuple[DiffEntry, ...]
    no_longer_matched: tuple[DiffEntry, ...]
    action_changed: tuple[DiffEntry, ...]
    rules_changed: tuple[DiffEntry, ...]  # same action, different rules
    counts: Mapping[str, int] = attrs.field(factory=dict, hash=False)
    rule_delta: Mapping[str, tuple[int, int]] = attrs.field(factory=dict, hash=False)  # +new, -gone

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "posts": self.posts,
            "rejected": self.rejected,
            "counts": dict(self.counts),
            "rule_delta": {k: {"added": a, "removed": r} for k, (a, r) in self.rule_delta.items()},
            "newly_matched": [e.to_dict() for e in self.newly_matched],
            "no_longer_matched": [e.to_dict() for e in self.no_longer_matched],
            "action_changed": [e.to_dict() for e in self.action_changed],
            "rules_changed": [e.to_dict() for e in self.rules_changed],
        }


def _evidence(side: str, verdict: Verdict, rules: Iterable[str]) -> list[tuple[str, str, str, str, int, int]]:
    wanted = set(rules)
    return [
        (side, m.rule, e.field, e.text, e.start, e.end)
        for m in verdict.matches if m.rule in wanted
        for e in m.evidence
    ]


def diff_corpus(
    old: Ruleset,
    new: Ruleset,
    records: Iterable[Record],
    *,
    keep: int | None = 50,
    at: datetime | None = None,
) -> DiffReport:
    """Evaluate every record under both rulesets and classify the posts whose outcome changed.

    Counts are complete; at most *keep* entries per category are kept (None: all).
    """
    buckets: dict[str, list[DiffEntry]] = {
        "newly_matched": [], "no_longer_matched": [], "action_changed": [], "rules_changed": []}
    counts: Counter[str] = Counter()
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    posts = rejected = 0
    for record in records:
        if record.data is None:
            rejected += 1
            continue
        post = {k: v for k, v in record.data.items() if k not in ("labels",)}
        try:
            v_old = old.evaluate(post, at=at)
            v_new = new.evaluate(post, at=at)
        except PolicyError:
            rejected += 1
            continue
        posts += 1
        r_old = tuple(sorted({m.rule for m in v_old.matches}))
        r_new = tuple(sorted({m.rule for m in v_new.matches}))
        if r_old == r_new and v_old.action == v_new.action:
            continue
        for r in set(r_new) - set(r_old):
            added[r] += 1
        for r in set(r_old) - set(r_new):
            removed[r] += 1
        if not r_old:
            kind = "newly_matched"
        elif not r_new:
            kind = "no_longer_matched"
        elif v_old.action != v_new.action:
            kind = "action_changed"
        else:
            kind = "rules_changed"
        counts[kind] += 1
        if keep is not None and len(buckets[kind]) >= keep:
            continue
        gone = set(r_old) - set(r_new)
        came = set(r_new) - set(r_old)
        evidence = _evidence("old", v_old, gone or r_old) + _evidence("new", v_new, came or r_new)
        text = record.data.get("text")
        buckets[kind].append(DiffEntry(
            record.line, record.data.get("id"), text if isinstance(text, str) else "",
            v_old.action, v_new.action, r_old, r_new, tuple(evidence)))
    names = sorted(set(added) | set(removed))
    return DiffReport(
        posts=posts,
        rejected=rejected,
        newly_matched=tuple(buckets["newly_matched"]),
        no_longer_matched=tuple(buckets["no_longer_matched"]),
        action_changed=tuple(buckets["action_changed"]),
        rules_changed=tuple(buckets["rules_changed"]),
        counts={k: counts.get(k, 0) for k in buckets},
        rule_delta={n: (added.get(n, 0), removed.get(n, 0)) for n in names},
    )


# --------------------------------------------------------------------------- sweep summary


@attrs.define
class SweepSummary:
    """Running totals of a sweep, built from verdict dictionaries (so resumed lines count too).

    *lines_in* = *verdicts* + *rejected*; every input line produces exactly one output line.
    """

    lines_in: int = 0
    verdicts: int = 0
    rejected: int = 0
    resumed: int = 0
    by_action: Counter[str] = attrs.field(factory=Counter)
    by_severity: Counter[str] = attrs.field(factory=Counter)
    by_policy: Counter[str] = attrs.field(factory=Counter)
    by_rule: Counter[str] = attrs.field(factory=Counter)
    by_shadow_rule: Counter[str] = attrs.field(factory=Counter)
    incomplete: int = 0

    def add_record(self, record: Mapping[str, Any]) -> None:
        """Count one output record (a verdict line or an error line)."""
        self.lines_in += 1
        verdict = record.get("verdict")
        if not isinstance(verdict, Mapping):
            self.rejected += 1
            return
        self.verdicts += 1
        self.by_action[str(verdict.get("action", "none"))] += 1
        severity = verdict.get("severity")
        if severity is not None:
            self.by_severity[str(severity)] += 1
        matches = verdict.get("matches") or ()
        for policy in {m.get("policy") for m in matches if isinstance(m, Mapping)}:
            self.by_policy[str(policy)] += 1
        for rule in {m.get("rule") for m in matches if isinstance(m, Mapping)}:
            self.by_rule[str(rule)] += 1
        shadow = verdict.get("shadow_matches") or ()
        for rule in {m.get("rule") for m in shadow if isinstance(m, Mapping)}:
            self.by_shadow_rule[str(rule)] += 1
        if verdict.get("incomplete"):
            self.incomplete += 1

    def add_quiet(self, action: str) -> None:
        """Count a verdict with no matches, no notes and nothing incomplete (the fast path)."""
        self.lines_in += 1
        self.verdicts += 1
        self.by_action[action] += 1

    def merge(self, other: SweepSummary) -> None:
        """Add another summary's totals (a worker's chunk) to this one."""
        self.lines_in += other.lines_in
        self.verdicts += other.verdicts
        self.rejected += other.rejected
        self.resumed += other.resumed
        self.incomplete += other.incomplete
        self.by_action.update(other.by_action)
        self.by_severity.update(other.by_severity)
        self.by_policy.update(other.by_policy)
        self.by_rule.update(other.by_rule)
        self.by_shadow_rule.update(other.by_shadow_rule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form (counters sorted by count, then name)."""
        def ordered(c: Counter[str]) -> dict[str, int]:
            return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
        return {
            "lines_in": self.lines_in,
            "lines_out": self.verdicts + self.rejected,
            "verdicts": self.verdicts,
            "rejected": self.rejected,
            "resumed": self.resumed,
            "incomplete": self.incomplete,
            "by_action": ordered(self.by_action),
            "by_severity": ordered(self.by_severity),
            "by_policy": ordered(self.by_policy),
            "by_rule": ordered(self.by_rule),
            "by_shadow_rule": ordered(self.by_shadow_rule),
        }


def _compact(value: Any) -> Any:
    """Drop None and empty containers from a verdict dict (recursively, keys only)."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def compact_verdict(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's compact verdict: no ``ruleset`` block (it is in the summary), no empty fields.

    A reader treats a missing key as empty (``[]``) or null.
    """
    out: dict[str, Any] = _compact({k: v for k, v in verdict.items() if k != "ruleset"})
    return out


def sweep_chunk(
    ruleset: Ruleset,
    chunk: Sequence[tuple[int, str]],
    *,
    at: datetime | None = None,
    full: bool = False,
) -> tuple[str, SweepSummary]:
    """Evaluate raw JSONL lines ``(line number, text)``; one output line per input line.

    Returns the output text (whole lines, each ending in a newline) and the chunk's
    summary. A line that is not a JSON object, or not a valid post, becomes
    ``{"line": n, "id": ..., "error": "..."}``; so does an unexpected engine failure on
    one post, so a long sweep never dies on one bad record.
    """
    out: list[str] = []
    summary = SweepSummary()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    loads = json.loads
    evaluate = ruleset.evaluate
    quiet: dict[str, str] = {}  # action -> encoded compact verdict with nothing in it
    for line_no, raw in chunk:
        try:
            data = loads(raw)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            record = decode_line(line_no, raw)
            obj: dict[str, Any] = {"line": line_no, "id": None, "error": record.error}
            summary.add_record(obj)
            out.append(dumps(obj))
            continue
        ident = data.get("id")
        try:
            verdict = evaluate(data, at=at)
        except PolicyError as exc:
            obj = {"line": line_no, "id": ident, "error": f"not a valid post: {exc}"}
        except Exception as exc:  # one post must not kill a sweep; it is reported
            obj = {"line": line_no, "id": ident,
                   "error": f"internal error: {type(exc).__name__}: {exc}"}
        else:
            if (not full and not verdict.matches and not verdict.shadow_matches
                    and not verdict.incomplete and not verdict.notes):
                # the common case (nothing matched): same bytes, without building dicts
                encoded = quiet.get(verdict.action)
                if encoded is None:
                    encoded = quiet[verdict.action] = dumps(compact_verdict(verdict.to_dict()))
                summary.add_quiet(verdict.action)
                out.append(f'{{"line":{line_no},"id":{dumps(ident)},"verdict":{encoded}}}')
                continue
            d = verdict.to_dict()
            obj = {"line": line_no, "id": ident, "verdict": d if full else compact_verdict(d)}
        summary.add_record(obj)
        out.append(dumps(obj))
    out.append("")
    text = "\n".join(out)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from JSON escapes in the input
            text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text, summary


_SURROGATE = re.compile("[\ud800-\udfff]")


# --------------------------------------------------------------------------- junit


def junit_xml(
    examples: Sequence[ExampleResult],
    thresholds: Sequence[ThresholdResult],
    *,
    suite: str = "policyrules",
    skipped: Sequence[tuple[str, str]] = (),
    problems: Sequence[str] = (),
) -> str:
    """JUnit XML: one testcase per example and per threshold.

    Skipped corpora become skipped cases; configuration *problems* become failed cases.
    """
    root = ET.Element("testsuites", name=suite)

    def add_suite(name: str, cases: list[tuple[str, str, str | None, bool]]) -> None:
        failures = sum(1 for _, _, msg, skip in cases if msg is not None and not skip)
        skips = sum(1 for *_, skip in cases if skip)
        el = ET.SubElement(root, "testsuite", name=name, tests=str(len(cases)),
                           failures=str(failures), errors="0", skipped=str(skips))
        for classname, case_name, message, skip in cases:
            case = ET.SubElement(el, "testcase", classname=classname, name=case_name)
            if skip:
                ET.SubElement(case, "skipped", message=message or "skipped")
            elif message is not None:
                fail = ET.SubElement(case, "failure", message=message)
                fail.text = message

    ex_cases = [
        (f"{suite}.examples.{e.rule}", f"{e.kind} #{e.index}",
         None if e.passed else f"{e.message}: {json.dumps(e.post, ensure_ascii=False, default=str)}",
         False)
        for e in examples
    ]
    add_suite(f"{suite}.examples", ex_cases)
    by_corpus: dict[str, list[tuple[str, str, str | None, bool]]] = {}
    for t in thresholds:
        by_corpus.setdefault(t.corpus, []).append(
            (f"{suite}.corpus.{t.corpus}", f"{t.target} {t.metric} >= {t.minimum:g}",
             None if t.passed else t.message, False))
    for corpus, why in skipped:
        by_corpus.setdefault(corpus, []).append(
            (f"{suite}.corpus.{corpus}", "corpus", why, True))
    for corpus, cases in by_corpus.items():
        add_suite(f"{suite}.corpus.{corpus}", cases)
    if problems:
        add_suite(f"{suite}.config", [
            (f"{suite}.config", f"problem #{i}", p, False) for i, p in enumerate(problems, 1)])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
