"""Pickled rulesets: the compiled state is loaded as it was, with the resolved model loaded lazily.

A pickle carries the scanners (automata included), the rule programs as plain tuples and
the resolved model as a separate blob (compiler.dump_plan / load_plan). These tests check
that a loaded ruleset is indistinguishable from the compiled one: verdicts, explanations,
introspection, re-pickling, other format versions, threads and a fresh process.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import strategies as S
from hypothesis import given, note, settings

import policyrules
from policyrules import compiler
from policyrules.errors import PolicyError
from policyrules.runtime import _load, _rebuild

ROOT = Path(__file__).resolve().parents[1]
AT = datetime(2026, 11, 25, 12, tzinfo=UTC)

SRC = '''
policy p { title: "P" action: remove severity: high }
policy q { title: "Q" action: label }
terms threats = ["kill you", "shoot you", "murder*"] except ["kill you in minecraft"]
terms games = ["minecraft", "fortnite"]
terms insults (typos: one) = ["idiot", "moron", "imbecile"]
terms slurs (normalize: aggressive) = ["faggot", "retard"]
terms frag (match: substring) = ["cunt"] except ["scunthorpe"]
terms exact (case: sensitive, normalize: none) = ["BUY NOW"]
terms accents (accents: keep) = ["café"]
pattern money = /\\$\\d{3,}/
pattern phone (text: raw) = /(?<!\\d)\\d{3}-\\d{4}(?!\\d)/
pattern noatom = /[a-z]{2}\\d{3}[a-z]{2,}[!?]{2}/
pattern shout (case: sensitive, text: folded) = /\\bZQ+X\\b/
rule threat { policy: p when: any(threats) and not any(games) reason: "threat: {evidence} ({terms})" }
rule insult { policy: q when: near(insults, ["you"], 3) or before(["stupid"], insults, 2) }
rule slur { policy: p when: slurs or frag lang: en, es }
rule spam { policy: q action: log when: money or phone or post.hashtags has any(["#freemoney"]) or exact }
rule counting { policy: q when: count(insults, games) >= 2 and distinct(insults, games) >= 2 }
rule newbie { policy: q severity: low when: author.account_age_days < 7 and rule(insult) }
rule bio { policy: p when: author.bio has (any(threats) or noatom) }
rule helper { policy: q action: none when: 2 of (games, accents, shout) }
rule uses_helper { policy: q mode: shadow when: rule(helper) unless: post.lang in ["fr", "de"] }
rule flagged { policy: q when: post.flagged and not any(games) }
rule window { policy: q active: 2026-11-20 .. 2026-12-01T18:00Z when: any(["launch day"]) }
'''

POSTS: list[Any] = [
    "I will kill you tonight",
    "I will kill you in minecraft",
    "you are such an idoit, you",
    "stupid moron and minecraft fortnite idiot",
    "f4gg0t and r.e.t.a.r.d",
    "cunt scunthorpe",
    {"text": "send $500 now, call 555-1234", "hashtags": ["#FreeMoney", "#x"]},
    {"text": "BUY NOW buy now", "lang": "en"},
    {"text": "what a moron you are", "author": {"account_age_days": 2}},
    {"text": "nothing here", "author": {"bio": "i will shoot you ab123cd!!"}},
    {"text": "minecraft café ZQQX", "lang": "en"},
    {"text": "minecraft café ZQQX", "lang": "fr"},
    {"text": "plain", "flagged": True},
    {"text": "it is launch day", "created_at": "2026-11-21T00:00:00Z"},
    {"text": "te voy a matar", "lang": "es"},
    "MURDERERS everywhere, İstanbul",
    {"text": "kill you", "lang": "tr"},
    "",
]


def _verdicts(rs: policyrules.Ruleset, posts: list[Any]) -> list[dict[str, Any]]:
    return [rs.evaluate(p, at=AT).to_dict() for p in posts]


def _explains(rs: policyrules.Ruleset, posts: list[Any]) -> list[str]:
    return [rs.explain(p, at=AT) for p in posts] + [rs.explain(p, rule="uses_helper", at=AT) for p in posts]


def _posts_file() -> list[Any]:
    posts = []
    for line in (ROOT / "examples" / "posts.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            post = json.loads(line)
        except json.JSONDecodeError:
            continue  # the file has deliberately bad lines and posts (for sweep's error handling)
        if isinstance(post.get("text", ""), str) and isinstance(post.get("author", {}), dict):
            posts.append(post)
    return posts


@pytest.fixture(scope="module")
def compiled() -> policyrules.Ruleset:
    return policyrules.compile(SRC)


def test_loaded_ruleset_gives_identical_verdicts_and_explanations(compiled: policyrules.Ruleset) -> None:
    """Verdicts and explanations of a loaded ruleset equal the compiled one's, on every kind of item."""
    loaded = pickle.loads(pickle.dumps(compiled, protocol=pickle.HIGHEST_PROTOCOL))
    expected = _verdicts(compiled, POSTS)
    assert sum(bool(v["matches"]) for v in expected) >= 10  # the posts exercise the rules
    assert _verdicts(loaded, POSTS) == expected
    assert _explains(loaded, POSTS) == _explains(compiled, POSTS)


def test_evaluating_does_not_load_the_resolved_model(compiled: policyrules.Ruleset) -> None:
    """Evaluating, even posts that match, leaves the resolved model pickled; introspection loads it."""
    loaded = pickle.loads(pickle.dumps(compiled))
    model = loaded._plan.model
    assert isinstance(model, compiler.LazyModel)
    verdicts = _verdicts(loaded, POSTS)
    assert loaded.name == compiled.name and loaded.digest == compiled.digest
    assert loaded.version == compiled.version and loaded.actions == compiled.actions
    assert model._value is None
    assert verdicts == _verdicts(compiled, POSTS)
    assert loaded.resolved == compiled.resolved
    assert loaded.rules == compiled.rules and loaded.terms == compiled.terms
    assert loaded.patterns == compiled.patterns and loaded.policies == compiled.policies
    assert model._value is not None


def test_rule_heads_read_the_rest_from_the_model(compiled: policyrules.Ruleset) -> None:
    """A loaded program's rule answers every ResolvedRule attribute, the same as the compiled one."""
    loaded = pickle.loads(pickle.dumps(compiled))
    for a, b in zip(compiled._plan.programs, loaded._plan.programs, strict=True):
        assert isinstance(b.rule, compiler.RuleHead)
        for name in ("name", "policy", "severity", "action", "escalate", "tags", "mode", "active", "reason",
                     "lang", "is_helper", "when", "unless", "examples", "span"):
            assert getattr(b.rule, name) == getattr(a.rule, name), name


@pytest.mark.parametrize("explain_first", [False, True])
def test_a_loaded_ruleset_pickles_again(compiled: policyrules.Ruleset, explain_first: bool) -> None:
    """A loaded ruleset pickles again (model loaded or not) and the copy still agrees."""
    loaded = pickle.loads(pickle.dumps(compiled))
    if explain_first:
        _explains(loaded, POSTS)  # materializes the nodes and the model
    again = pickle.loads(pickle.dumps(loaded))
    assert _verdicts(again, POSTS) == _verdicts(compiled, POSTS)
    assert _explains(again, POSTS) == _explains(compiled, POSTS)
    assert again.rules == compiled.rules


def test_the_real_ruleset_round_trips_in_a_fresh_process(tmp_path: Path) -> None:
    """rulesets/x and the starter ruleset, pickled, give identical verdicts in a fresh process."""
    posts = _posts_file() + POSTS
    for name in ("x", "starter"):
        rs = policyrules.load(ROOT / "rulesets" / name)
        path = tmp_path / f"{name}.pickle"
        path.write_bytes(pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL))
        (tmp_path / "posts.json").write_text(json.dumps(posts), encoding="utf-8")
        code = (
            "import json, pickle, sys; from datetime import datetime, UTC; "
            "at = datetime(2026, 11, 25, 12, tzinfo=UTC); "
            "rs = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "posts = json.load(open(sys.argv[2], encoding='utf-8')); "
            "print(json.dumps([rs.evaluate(p, at=at).to_dict() for p in posts]))"
        )
        proc = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "posts.json")],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        expected = _verdicts(rs, posts)
        assert sum(bool(v["matches"]) for v in expected) > 0
        assert json.loads(proc.stdout) == json.loads(json.dumps(expected))


def test_other_format_versions_are_recompiled(compiled: policyrules.Ruleset) -> None:
    """A pickle of another format version (older or newer) is recompiled from its resolved model."""
    _core, model = compiler.dump_plan(compiled._plan)
    for version in (compiler.FORMAT_VERSION - 1, compiler.FORMAT_VERSION + 1):
        rs = _load(version, b"not a plan", model, compiled.limits, compiled.root)
        assert rs._plan.model == compiled.resolved  # compiled, not lazily loaded
        assert _verdicts(rs, POSTS) == _verdicts(compiled, POSTS)
    old = _rebuild(compiled.resolved, compiled.limits, compiled.root)  # what format 1 pickles call
    assert _verdicts(old, POSTS) == _verdicts(compiled, POSTS)


def test_an_unreadable_pickle_of_another_version_is_refused(compiled: policyrules.Ruleset) -> None:
    """A pickle of another version whose model cannot be read raises PolicyError saying to recompile."""
    with pytest.raises(PolicyError, match="compile it again"):
        _load(compiler.FORMAT_VERSION + 1, b"", b"garbage", compiled.limits, compiled.root)


def test_limits_travel_with_the_pickle() -> None:
    """Limits set at compile time are those of the loaded ruleset, regex timeout included."""
    rs = policyrules.compile(SRC, limits=policyrules.Limits(regex_timeout=0.5, max_evidence=2))
    loaded = pickle.loads(pickle.dumps(rs))
    assert loaded.limits == rs.limits
    assert all(s.pattern_timeout == 0.5 for _, _, s in loaded._plan.scanners)
    assert _verdicts(loaded, POSTS) == _verdicts(rs, POSTS)


def test_threads_share_a_freshly_loaded_ruleset(compiled: policyrules.Ruleset) -> None:
    """Threads evaluating and explaining one freshly loaded ruleset at once all get the compiled results."""
    loaded = pickle.loads(pickle.dumps(compiled))
    expected_v = _verdicts(compiled, POSTS)
    expected_e = [compiled.explain(p, at=AT) for p in POSTS]
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def work(explain: bool) -> None:
        barrier.wait()
        if explain:
            results.append([loaded.explain(p, at=AT) for p in POSTS] == expected_e)
        else:
            results.append(_verdicts(loaded, POSTS) == expected_v)

    threads = [threading.Thread(target=work, args=(i % 2 == 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 6


@settings(max_examples=100, deadline=None)
@given(case=S.cases(max_posts=3))
def test_generated_rulesets_explain_the_same_after_a_round_trip(case: tuple[S.RulesetSpec, list[Any]]) -> None:
    """On generated rulesets and posts, a loaded ruleset's verdicts and explanations equal the compiled one's."""
    spec, cases = case
    note(spec.source)
    rs = policyrules.compile(spec.source, name="generated.policy")
    loaded = pickle.loads(pickle.dumps(rs))
    for post, at in cases:
        assert loaded.evaluate(post, at=at).to_dict() == rs.evaluate(post, at=at).to_dict()
        assert loaded.explain(post, at=at) == rs.explain(post, at=at)


def test_aggressive_matcher_state_without_compiled_parts_is_rebuilt() -> None:
    """An AggressiveMatcher state holding only its terms (older pickles) is built again and finds the same."""
    from policyrules.evasion import AggressiveMatcher

    m = AggressiveMatcher([(0, "kill", "word"), (1, "ass", "substring")])
    old = object.__new__(AggressiveMatcher)
    old.__setstate__({"terms": m._terms})
    new = pickle.loads(pickle.dumps(m))
    for text in ("k.i.l.l u", "KiIl, a$$", "nothing", "k1ll 4ss"):
        assert old.find(text) == m.find(text) == new.find(text)


def test_loaded_ruleset_keeps_the_post_regex_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A freshly loaded ruleset (no regex compiled yet) still gives its patterns the per-post budget."""
    from policyrules import matchers

    made: list[float] = []

    class Recording(matchers.RegexBudget):
        def __init__(self, seconds: float) -> None:
            made.append(seconds)
            super().__init__(seconds)

    src = 'policy p { title: "P" action: remove }\npattern digits = /[0-9]+/\nrule r { policy: p when: digits }\n'
    rs = policyrules.compile(src, limits=policyrules.Limits(regex_timeout=2.0, regex_post_budget=0.05))
    loaded = pickle.loads(pickle.dumps(rs))
    monkeypatch.setattr(matchers, "RegexBudget", Recording)
    assert loaded.evaluate("call 555").action == "remove"
    assert made == [0.05]
