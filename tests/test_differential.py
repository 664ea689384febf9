"""Differential tests: the compiled engine against the naive reference evaluator (G13).

Random rulesets are generated as policy source text (so they go through the real parser
and resolver), random posts carry adversarial Unicode, and the compiled ruleset must agree
with ``tests/reference.py`` on every verdict, every match and every evidence span.
"""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
import reference as ref
import strategies as S
from hypothesis import example, given, note, settings
from hypothesis.control import currently_in_test_context

import policyrules
from policyrules import nodes as n

#: At least 1,000 generated (ruleset, posts) cases in every profile (the brief's CI floor).
DIFFERENTIAL_EXAMPLES = 1000


# --------------------------------------------------------------------------- helpers


def _field_value(post: Any, label: str) -> Any:
    """The original value an evidence label (``text``, ``author.bio``, ``hashtags[1]``) names."""
    data = {"text": post} if isinstance(post, str) else post
    index = None
    if label.endswith("]"):
        label, _, idx = label[:-1].rpartition("[")
        index = int(idx)
    cur: Any = data
    for part in label.split("."):
        cur = cur[part]
    return cur[index] if index is not None else cur


def _ev_tuple(e: Any) -> tuple[Any, ...]:
    return (e.field, e.item, e.term, e.start, e.end, e.text)


def _match_summary(m: Any) -> tuple[Any, ...]:
    return (m.rule, m.policy, m.severity, m.action, m.escalate, tuple(m.tags))


def _describe(v: Any, r: ref.RefVerdict) -> str:
    lines = [f"engine: action={v.action} severity={v.severity}",
             f"ref   : action={r.action} severity={r.severity}"]
    for label, ms in (("engine", v.matches), ("engine shadow", v.shadow_matches),
                      ("ref", r.matches), ("ref shadow", r.shadow_matches)):
        for m in ms:
            lines.append(f"  {label}: {_match_summary(m)}")
            lines.extend(f"      {_ev_tuple(e)!r}" for e in m.evidence)
    lines.append(f"ref rules held: {dict(r.held)}")
    return "\n".join(lines)


def assert_agrees(rs: policyrules.Ruleset, post: Any, at: datetime | None) -> None:
    """The engine's verdict for *post* equals the reference's, evidence spans included."""
    v = rs.evaluate(post, at=at)
    r = ref.evaluate(rs.resolved, post, at=at)
    why = f"post={post!r} at={at!r}\n{_describe(v, r)}"
    if currently_in_test_context():
        note(why)
    assert v.incomplete == (), why
    for m in (*v.matches, *v.shadow_matches):
        for e in m.evidence:
            assert e.text == _field_value(post, e.field)[e.start : e.end], f"{e}\n{why}"
    assert (v.action, v.severity) == (r.action, r.severity), why
    assert [_match_summary(m) for m in v.matches] == [_match_summary(m) for m in r.matches], why
    assert [_match_summary(m) for m in v.shadow_matches] == [
        _match_summary(m) for m in r.shadow_matches
    ], why
    for mv, mr in zip((*v.matches, *v.shadow_matches), (*r.matches, *r.shadow_matches),
                      strict=True):
        got = [_ev_tuple(e) for e in mv.evidence]
        want = [_ev_tuple(e) for e in mr.evidence]
        assert sorted(got) == sorted(want), f"evidence of {mv.rule}\n{why}"
        # §4 fixes the order by field, then start; ties may come in any order.
        assert [(e[0], e[3]) for e in got] == [(e[0], e[3]) for e in want], (
            f"evidence order of {mv.rule}\n{why}"
        )


def _compile(source: str) -> policyrules.Ruleset:
    note(source)
    return policyrules.compile(source, name="generated.policy")


# --------------------------------------------------------------------------- the reference itself


def _rs(*rules: n.ResolvedRule, lists: tuple[n.TermItem, ...] = ()) -> n.ResolvedRuleset:
    return n.ResolvedRuleset(
        name="t", version=None, digest="", policies=(n.ResolvedPolicy("p", "P", action="remove"),),
        rules=rules, term_lists=lists, patterns=(),
        actions=("none", "log", "label", "limit_visibility", "restrict_replies", "remove", "suspend"),
    )


def _terms(name: str, *texts: str, **opts: str) -> n.TermItem:
    return n.TermItem(name, tuple(n.Term(t, n.TermOptions(**opts)) for t in texts))


class TestReference:
    """The oracle checked against the worked examples of language.md."""

    @pytest.mark.parametrize(
        ("term", "text", "spans"),
        [
            ("murder*", "they murdered him", [(5, 13)]),
            ("*phobic", "so homophobic!", [(3, 13)]),
            ("*hate*", "hateful self-hatescape", [(0, 7), (13, 22)]),
            ("#freemoney", "#FreeMoney, kill!", [(0, 10)]),
            ("kill", "#FreeMoney, kill!", [(12, 16)]),
            ("homme", "l'homme", [(2, 7)]),
            ("sik", "sık", []),
            ("mörder", "moerder Mörder", [(0, 7), (8, 14)]),
            ("moerder", "mörder", []),
            ("ano", "año", []),
            ("kill you", "KILL \n\t you", [(0, 11)]),
            ("kill", "skill kill\u200bs kill", [(13, 17)]),
            ("殺す", "彼を殺すと", [(2, 4)]),
        ],
    )
    def test_term_spans(self, term: str, text: str, spans: list[tuple[int, int]]) -> None:
        """Whole-word matching, wildcards, folding and unspaced scripts follow §3 and §5."""
        assert ref.term_spans(n.Term(term), text) == spans

    def test_except_is_per_occurrence(self) -> None:
        """An except occurrence suppresses only the occurrences inside it."""
        term = n.Term("kill", excepts=(n.Term("kill time"),))
        assert ref.term_spans(term, "kill time, then kill") == [(16, 20)]

    def test_turkic_folding_depends_on_the_post(self) -> None:
        """'I' folds to 'ı' in tr/az posts only, so 'sik' is not found in a Turkish 'SIK'."""
        assert ref.term_spans(n.Term("sik"), "SIK") == [(0, 3)]
        assert ref.term_spans(n.Term("sik"), "SIK", turkic=True) == []

    def test_word_distance_example(self) -> None:
        """In 'i will shoot all of you', shoot and you are 3 apart (§4)."""
        a, b = _terms("a", "shoot"), _terms("b", "you")
        rule = n.ResolvedRule("r", "p", "medium", "remove", n.Before(a, b, 3))
        rule2 = n.ResolvedRule("r2", "p", "medium", "remove", n.Near(b, a, 2))
        verdict = ref.evaluate(_rs(rule, rule2, lists=(a, b)), "i will shoot all of you")
        assert [m.rule for m in verdict.matches] == ["r"]
        assert [e.text for e in verdict.matches[0].evidence] == ["shoot", "you"]

    def test_evidence_never_through_not(self) -> None:
        """A rule 'a and not b' carries a's evidence only; a helper rule is never reported."""
        a, b = _terms("a", "kill"), _terms("b", "game")
        helper = n.ResolvedRule("h", "p", "medium", "none", n.AnyOf((a,)))
        rule = n.ResolvedRule(
            "r", "p", "high", "remove", n.And((n.RuleRef("h"), n.Not(n.AnyOf((b,)))))
        )
        verdict = ref.evaluate(_rs(helper, rule, lists=(a, b)), "kill kill")
        assert verdict.action == "remove"
        assert [(m.rule, [e.start for e in m.evidence]) for m in verdict.matches] == [("r", [0, 5])]


# --------------------------------------------------------------------------- pinned cases

_P = 'policy p { title: "P" action: remove }\n'

#: Cases the random search found, or that sit on a line language.md draws; each must agree.
KNOWN_CASES = [
    pytest.param(
        'terms t0 = ["kill"]\nrule r { policy: p when: not (post.hashtags has count(t0) < 3) }',
        {"text": "x", "hashtags": []},
        id="empty-list-field-has-is-false",  # §6: a list field matches when an element does
    ),
    pytest.param(
        'terms t0 = ["kill"]\nrule r { policy: p when: not (author.bio has count(t0) >= 0) }',
        "x",
        id="missing-field-has-is-false",
    ),
    pytest.param(
        'terms t0 = ["murder*", "*hate"]\nrule r { policy: p when: any(t0) }',
        "murderฆ่า and 殺hate",
        id="wildcard-stops-at-unspaced-script",  # §4: each Thai/Han character is a word
    ),
    pytest.param(
        'rule r { policy: p when: (any(["a"]) and any(["b"])) or any(["c"]) }',
        "a c",
        id="no-evidence-from-a-false-and",
    ),
    pytest.param(
        'rule r { policy: p when: near(["kill you"], ["you"], 0) }\n'
        'rule s { policy: p when: before(["shoot"], ["you"], 3) and not near(["shoot"], ["you"], 2) }',
        "kill you. i will shoot all of you",
        id="near-overlap-and-word-distance",
    ),
    pytest.param(
        'rule h { policy: p action: none lang: tr when: any(["a"]) unless: any(["b"]) }\n'
        "rule r { policy: p when: rule(h) }",
        {"text": "a", "lang": "TR-tr"},
        id="rule-ref-carries-evidence",
    ),
    pytest.param(
        'terms k = ["kill"]\nrule r { policy: p when: post.hashtags has any(k) or '
        "author.name has any(k) or author.bio has k or any(k) }",
        {"text": "kill", "author": {"name": "kill", "bio": "kill"}, "hashtags": ["kill", "a kill"]},
        id="evidence-field-order",
    ),
    pytest.param(
        'rule r { policy: p when: any(["#freemoney", "kill!", "ok", "l\'homme", "殺す"]) }',
        "a#freemoney kill!x kill!! ok\u0301 L\u2019HOMME 彼を殺すと",
        id="boundaries",
    ),
    pytest.param(
        'terms t = ["istanbul", "sık", "mörder", "straße", "año"]\nrule r { policy: p when: any(t) }',
        {"text": "ISTANBUL İSTANBUL SIK moerder STRASSE ano año", "lang": "tr"},
        id="turkic-umlaut-eszett-enye",
    ),
    pytest.param(
        'pattern q (text: raw) = /KILL/\npattern q2 (text: folded) = /strasse/\n'
        "pattern q3 (text: light, case: sensitive) = /Kill/\n"
        "rule r { policy: p when: any(q, q2, q3) }",
        "Kill Stra\u00dfe \uff2b\uff29\uff2c\uff2c",
        id="pattern-text-modes",
    ),
    pytest.param(
        'rule r { policy: p active: 2026-11-20 .. 2026-12-01T18:00Z when: any(["a"]) }',
        {"text": "a", "created_at": "2026-12-01T19:00:00+02:00"},
        id="created-at-with-offset-inside-window",
    ),
]


class TestKnownCases:
    """Pinned disagreements and boundary cases: the engine must agree with the reference."""

    @pytest.mark.parametrize(("source", "post"), KNOWN_CASES)
    def test_agrees(self, source: str, post: Any) -> None:
        """The engine's verdict and evidence equal the reference's on a pinned case."""
        assert_agrees(policyrules.compile(_P + source), post, None)

    def test_own_term_is_not_suppressed_by_a_referenced_lists_except(self) -> None:
        """§2: a referenced list's except suppresses only its own terms, not the same word listed directly."""
        rs = policyrules.compile(
            _P + 'terms t0 = ["you"] except ["kill you"]\nterms t1 = t0 + ["you"]\n'
            "rule r { policy: p when: any(t1) }"
        )
        assert [e.text for m in rs.evaluate("kill you").matches for e in m.evidence] == ["you"]


# --------------------------------------------------------------------------- engine vs reference


class TestDifferential:
    """The compiled engine agrees with the naive reference on generated rulesets and posts."""

    @settings(max_examples=DIFFERENTIAL_EXAMPLES)
    @given(case=S.cases())
    @example(
        case=(S.RulesetSpec(
            'policy p { title: "P" action: remove }\n'
            'terms t0 = ["kill you", "murder*", "mörder"] except ["kill you now"]\n'
            "rule r0 { policy: p when: any(t0) }\n",
            1,
        ), [
            ("KİLL\u200b  you, kill you now, Moerder MURDERED", None),
            ({"text": "KILL you", "lang": "tr"}, S.AT_TIMES[0]),
        ]),
    )
    def test_engine_agrees_with_reference(self, case: tuple[S.RulesetSpec, list[Any]]) -> None:
        """Every verdict, match and evidence span of the engine equals the reference's."""
        spec, cases = case
        rs = _compile(spec.source)
        for post, at in cases:
            assert_agrees(rs, post, at)

    @settings(max_examples=150)
    @given(case=S.cases(max_posts=3))
    def test_pickle_round_trip_keeps_verdicts(self, case: tuple[S.RulesetSpec, list[Any]]) -> None:
        """A compiled ruleset shipped through pickle gives identical, JSON-serializable verdicts."""
        spec, cases = case
        rs = _compile(spec.source)
        copy = pickle.loads(pickle.dumps(rs))
        for post, at in cases:
            verdict = rs.evaluate(post, at=at).to_dict()
            assert copy.evaluate(post, at=at).to_dict() == verdict
            assert json.loads(json.dumps(verdict)) == verdict

    @settings(max_examples=150)
    @given(case=S.cases(max_posts=5))
    def test_evaluate_many_equals_evaluate(self, case: tuple[S.RulesetSpec, list[Any]]) -> None:
        """evaluate_many keeps order and gives the same verdict as evaluate, post by post."""
        spec, cases = case
        rs = _compile(spec.source)
        at = datetime(2026, 11, 25, tzinfo=UTC)
        posts = [p for p, _ in cases]
        many = [v.to_dict() for v in rs.evaluate_many(posts, at=at)]
        assert many == [rs.evaluate(p, at=at).to_dict() for p in posts]
