"""Reliability and security: regex budgets, input limits, hostile rule files, threads, reloads, pickles.

Issue #7. Posts here are hand-written; no test reads /work/shared. Timing is measured and
printed (``-s``) but never asserted.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policyrules
from policyrules import Limits, PolicyCompileError, PolicyError, PostError, RulesetHandle

__all__: list[str] = []

HEADER = 'policy p { title: "P" action: remove }\n'


@pytest.fixture(autouse=True)
def _plain_regex_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Budgets are tested on texts the ReDoS patterns cannot match: the optional RE2 prefilter would skip them."""
    monkeypatch.setenv("POLICYRULES_REGEX_BACKEND", "regex")  # see policyrules/multiregex.py

REDOS = [  # (pattern, hostile text): classic catastrophic-backtracking shapes
    (r"(a+)+$", "a" * 5000 + "!"),
    (r"(a|aa)+$", "a" * 60 + "!"),
    (r"(x+x+)+y", "x" * 5000),
    (r"(\w+\s?)+$", "a" * 5000 + "!"),
    (r"(.*,){20}z", ",z " + "a," * 3000),  # its atom ',z' must occur, or the prefilter skips it
    (r"^(a+)+b", "a" * 5000 + "c ab"),  # atom 'ab'

]

ENGINE_SRC = HEADER + '''
terms threats = ["kill you", "shoot you", "murder*"]
terms games = ["minecraft", "fortnite"]
terms insults = ["idiot", "moron"]
pattern money = /\\$\\d{3,}/
rule threat { policy: p when: any(threats) and not any(games) reason: "threat: {evidence}" }
rule insult { policy: p action: label when: near(insults, ["you"], 3) }
rule spam { policy: p action: log when: money or post.hashtags has any(["#freemoney"]) }
rule newbie { policy: p action: label severity: low when: author.account_age_days < 7 and any(insults) }
rule bio { policy: p when: author.bio has any(threats) }
'''

POSTS: list[Any] = [  # hand-written, shaped like the shared corpora
    "I will kill you tonight",
    "this boss will kill you in minecraft",
    "you are such an idiot",
    "send $500 now #FreeMoney",
    {"text": "what a moron you are", "author": {"account_age_days": 2}},
    {"text": "hello", "hashtags": ["#freemoney", "#x"]},
    {"text": "nothing here", "author": {"bio": "i will shoot you"}},
    {"text": "te voy a matar", "lang": "es"},
    {"text": "murdered the exam", "lang": "en"},
    "",
]


def _ruleset(src: str = ENGINE_SRC, **limits: Any) -> policyrules.Ruleset:
    return policyrules.compile(src, limits=Limits(**limits) if limits else None)


def _dicts(rs: policyrules.Ruleset, posts: list[Any]) -> list[dict[str, Any]]:
    return [rs.evaluate(p).to_dict() for p in posts]


# ---------------------------------------------------------------- 1. regex safety


@pytest.mark.parametrize(("pattern", "text"), REDOS)
@pytest.mark.parametrize("mode", ["open", "closed"])
def test_redos_names_the_undecided_rule(pattern: str, text: str, mode: str) -> None:
    """A ReDoS pattern out of budget leaves its rule undecided, named in incomplete; open/closed decide it."""
    src = HEADER + f"pattern bad = /{pattern}/\nrule r_bad {{ policy: p when: bad }}\n" \
        'rule r_ok { policy: p action: log when: any(["zzz"]) }\n'
    rs = _ruleset(src, regex_timeout=0.01, regex_post_budget=0.05, regex_failure=mode)
    started = time.process_time()
    v = rs.evaluate(text)
    spent = time.process_time() - started
    notes = [n for n in v.incomplete if n.startswith("rule r_bad:")]
    assert notes, v.incomplete
    assert "could not be decided" in notes[0] and f"regex_failure = {mode}" in notes[0]
    assert any("regex time budget exceeded" in n for n in v.incomplete)
    assert ("r_bad" in [m.rule for m in v.matches]) == (mode == "closed")
    assert v.to_dict()["incomplete"] == list(v.incomplete)
    print(f"\nReDoS /{pattern}/ on {len(text)} chars ({mode}): {spent * 1000:.0f} ms CPU")


def test_regex_budget_is_per_post_across_fields_and_list_elements() -> None:
    """Many list elements × a ReDoS pattern stop at the per-post budget instead of adding up."""
    src = HEADER + "pattern bad = /(a+)+$/\nrule r { policy: p when: post.hashtags has bad }\n"
    rs = _ruleset(src, regex_timeout=0.02, regex_post_budget=0.06)
    started = time.process_time()
    v = rs.evaluate({"text": "x", "hashtags": ["a" * 3000 + "!"] * 200})
    spent = time.process_time() - started
    timeouts = [n for n in v.incomplete if "regex time budget exceeded" in n]
    assert len(timeouts) == 200  # every element is reported, most without running at all
    assert any(n.startswith("rule r:") for n in v.incomplete)
    print(f"\n200 hostile hashtags: {spent * 1000:.0f} ms CPU (budget 60 ms, per pattern 20 ms)")


def test_undecided_rule_through_helper_and_unless() -> None:
    """A timed-out pattern read through rule() or unless: also leaves the reading rule undecided."""
    src = HEADER + (
        "pattern bad = /(a+)+$/\n"
        "rule helper { policy: p action: none when: bad }\n"
        'rule via_ref { policy: p when: rule(helper) or any(["zzz"]) }\n'
        'rule via_unless { policy: p when: any(["aaa"]) unless: bad }\n'
        'rule untouched { policy: p action: log when: any(["aaa"]) }\n'
    )
    rs = _ruleset(src, regex_timeout=0.01, regex_post_budget=0.05, regex_failure="closed")
    v = rs.evaluate("aaa " + "a" * 4000 + "!")
    undecided = {n.split(":")[0] for n in v.incomplete if n.startswith("rule ")}
    assert undecided == {"rule via_ref", "rule via_unless"}
    assert {m.rule for m in v.matches} == {"via_ref", "via_unless", "untouched"}


def test_out_of_scope_rule_is_decided_despite_timeout() -> None:
    """A rule out of its lang scope is false whatever its pattern says: no undecided note."""
    src = HEADER + "pattern bad = /(a+)+$/\nrule r { policy: p lang: de when: bad }\n"
    rs = _ruleset(src, regex_timeout=0.01, regex_failure="closed")
    v = rs.evaluate({"text": "a" * 4000 + "!", "lang": "en"})
    assert not v.matches
    assert not any(n.startswith("rule r:") for n in v.incomplete)


def test_fast_patterns_are_complete() -> None:
    """Ordinary patterns on ordinary posts finish well within budget: no incomplete note."""
    rs = _ruleset()
    for post in POSTS:
        assert rs.evaluate(post).incomplete == ()


def test_limits_from_ruleset_toml(tmp_path: Path) -> None:
    """[limits] in ruleset.toml sets Limits (regex_failure included); an explicit limits= wins."""
    (tmp_path / "r.policy").write_text(HEADER + "pattern bad = /(a+)+$/\nrule r { policy: p when: bad }\n")
    (tmp_path / "ruleset.toml").write_text(
        'name = "t"\n[limits]\nregex_failure = "closed"\nregex_timeout = 0.01\nmax_text_chars = 9000\n'
    )
    rs = policyrules.load(tmp_path)
    assert rs.limits == Limits(regex_failure="closed", regex_timeout=0.01, max_text_chars=9000)
    assert [m.rule for m in rs.evaluate("a" * 5000 + "!").matches] == ["r"]
    assert policyrules.load(tmp_path, limits=Limits()).limits.regex_failure == "open"


@pytest.mark.parametrize("table", [
    'regex_failure = "maybe"', "max_text_chars = 0", "max_fields = 1.5", 'regex_timeout = "1"',
    "regex_timeout = -1", "regex_failur = \"open\"", "max_list_items = true",
])
def test_bad_limits_table_is_a_compile_error(tmp_path: Path, table: str) -> None:
    """A bad [limits] value is a PolicyCompileError naming ruleset.toml, never a crash."""
    (tmp_path / "r.policy").write_text(HEADER + 'rule r { policy: p when: any(["x"]) }\n')
    (tmp_path / "ruleset.toml").write_text(f"[limits]\n{table}\n")
    with pytest.raises(PolicyCompileError, match=r"ruleset.toml \[limits\]"):
        policyrules.load(tmp_path)


# ---------------------------------------------------------------- 2. input limits, hostile posts


def test_long_text_and_list_are_cut_with_a_note() -> None:
    """Text beyond max_text_chars and lists beyond max_list_items are cut, and the verdict says so."""
    rs = _ruleset(max_text_chars=1000, max_list_items=5)
    v = rs.evaluate({"text": "x " * 2000 + "kill you", "hashtags": ["#a"] * 10 + ["#freemoney"]})
    assert not v.matches  # the threat and the hashtag lie beyond the limits
    assert any("field text: only the first 1000 of 4008 characters" in n for n in v.incomplete)
    assert any("field hashtags: only the first 5 of 11 elements" in n for n in v.incomplete)


def test_field_count_guard() -> None:
    """A post with more than max_fields keys is read up to the limit, text always, with a note."""
    rs = _ruleset(max_fields=10)
    post: dict[str, Any] = {"author": {"bio": "x", **{f"a{i}": i for i in range(50)}}}
    post.update({f"k{i}": i for i in range(5000)})
    post["text"] = "I will kill you"
    v = rs.evaluate(post)
    assert [m.rule for m in v.matches] == ["threat"]
    assert any(n.startswith("post: only the first 10 of 5002 fields") for n in v.incomplete)
    assert any(n.startswith("author: only the first 10 of 51 fields") for n in v.incomplete)


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    cur = root
    for _ in range(depth):
        cur["a"] = {}
        cur = cur["a"]
    return root


class _HostileMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise ValueError("boom")

    def __iter__(self) -> Any:
        raise RuntimeError("no iteration")

    def __len__(self) -> int:
        return 3


class _HostileInt(int):
    def __lt__(self, other: object) -> bool:
        raise ZeroDivisionError


class _HostileStr(str):
    def lower(self) -> str:
        raise ZeroDivisionError


def _cyclic() -> dict[str, Any]:
    d: dict[str, Any] = {"text": "I will kill you"}
    d["self"] = d
    d["author"] = {"bio": "x"}
    d["author"]["post"] = d
    return d


HOSTILE_POSTS: list[Any] = [
    None, 1, 2.5, b"kill you", bytearray(b"x"), ["kill you"], ("kill you",), {"kill you"}, object(),
    {"text": 3}, {"text": b"x"}, {"text": ["kill you"]}, {"text": None}, {"author": "x"},
    {"author": ["x"]}, {"text": "kill you", "author": {"bio": 5, "account_age_days": "3"}},
    {"text": "\ud800 kill you \udfff", "lang": "\ud800"}, {"text": "x" * 10_000_000},
    {"text": "kill you" + "\u0301" * 100_000}, {"text": "\u0301" * 100_000},
    {"text": "a", "x": _nested(100_000)}, {"text": "a", "author": _nested(100_000)}, _cyclic(),
    {1: "x", None: "y", (1, 2): "z", "text": "kill you"}, {"text": "x", "author": {3: 4}},
    {"text": "idiot", "author": {"account_age_days": 10**100_000 if False else 10**5000}},
    {"text": "idiot", "author": {"account_age_days": math.nan}},
    {"text": "idiot", "author": {"account_age_days": -math.inf}},
    {"text": "idiot", "author": {"account_age_days": True}},
    {"text": "x", "created_at": math.nan}, {"text": "x", "created_at": "9999-99-99T99:99"},
    {"text": "x", "created_at": 10**5000}, {"text": "x", "lang": ["tr"]}, {"text": "x", "lang": 5},
    {"text": "x", "hashtags": "#freemoney"}, {"text": "x", "hashtags": [None, 1, ["#freemoney"], {}]},
    {"text": "x", "hashtags": ["#freemoney"] * 100_000}, _HostileMapping(),
    {"text": "x", "author": _HostileMapping()}, {"text": "idiot", "author": {"account_age_days": _HostileInt(3)}},
    {"text": _HostileStr("kill you")}, {"text": "x", "lang": _HostileStr("en")},
]


@pytest.mark.parametrize("post", HOSTILE_POSTS, ids=lambda p: type(p).__name__)
def test_hostile_posts_give_a_verdict_or_post_error(post: Any) -> None:
    """Any post gives a JSON-able verdict (and explanation) or raises PostError; nothing else escapes."""
    import json

    rs = _ruleset()
    for call in (lambda: rs.evaluate(post), lambda: rs.explain(post), lambda: rs.explain(post, rule="newbie")):
        try:
            result = call()
        except PostError:
            continue
        if isinstance(result, policyrules.Verdict):
            json.dumps(result.to_dict())
            assert isinstance(result.explain(), str)


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(alphabet=st.characters(codec=None), max_size=40),
    st.sampled_from(["kill you", "idiot", "#freemoney", "you", "$999", "tr", "en", "2026-11-25T10:00Z"]),
)
json_like = st.recursive(
    json_leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=6),
        st.dictionaries(
            st.one_of(st.sampled_from(["text", "lang", "author", "bio", "hashtags", "account_age_days",
                                       "created_at", "urls"]), st.text(max_size=5)),
            kids, max_size=6,
        ),
    ),
    max_leaves=30,
)


@settings(max_examples=400)
@given(post=st.one_of(json_like, st.text(max_size=200)))
def test_fuzz_evaluate_with_hypothesis(post: Any) -> None:
    """Fuzz: JSON-like posts (wrong types, nesting, surrogates, NaN) give a verdict or PostError."""
    rs = _fuzz_ruleset()
    try:
        v = rs.evaluate(post)
    except PostError:
        return
    assert v.action in rs.actions
    v.to_dict()
    for m in v.matches:
        for e in m.evidence:
            assert 0 <= e.start <= e.end


_FUZZ_RS: list[policyrules.Ruleset] = []


def _fuzz_ruleset() -> policyrules.Ruleset:
    if not _FUZZ_RS:
        _FUZZ_RS.append(_ruleset())
    return _FUZZ_RS[0]


# ---------------------------------------------------------------- 3. hostile rule files


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "rs"
    outside = tmp_path / "outside"
    (root / "lists").mkdir(parents=True)
    (outside / "sub").mkdir(parents=True)
    (outside / "secret.txt").write_text("SECRET-TERM\n")
    (outside / "sub" / "x.policy").write_text(HEADER.replace("p {", "q {") + 'rule leak { policy: q when: any(["SECRET"]) }\n')
    (root / "lists" / "ok.txt").write_text("hello\n")
    return root, outside


def _write_main(root: Path, ref: str) -> None:
    (root / "main.policy").write_text(HEADER + f'terms t = file("{ref}")\nrule r {{ policy: p when: any(t) }}\n')


@pytest.mark.parametrize("ref", [
    "../outside/secret.txt", "lists/../../outside/secret.txt", "/etc/passwd",
    "C:/x.txt", "lists/link.txt", "linkdir/secret.txt", "lists/loop.txt", "lists", "lists/missing.txt",
])
def test_file_cannot_leave_the_root(tmp_path: Path, ref: str) -> None:
    """file() with '..', absolute paths, symlinks (file or directory) out, loops, dirs: compile error."""
    root, outside = _tree(tmp_path)
    os.symlink(outside / "secret.txt", root / "lists" / "link.txt")
    os.symlink(outside, root / "linkdir")
    os.symlink(root / "lists" / "loop.txt", root / "lists" / "loop.txt")
    _write_main(root, ref)
    with pytest.raises(PolicyCompileError) as info:
        policyrules.load(root)
    assert "SECRET" not in str(info.value)


def test_symlink_inside_the_root_is_allowed(tmp_path: Path) -> None:
    """A symlink that stays inside the ruleset root is an ordinary list file."""
    root, _ = _tree(tmp_path)
    os.symlink(root / "lists" / "ok.txt", root / "lists" / "alias.txt")
    _write_main(root, "lists/alias.txt")
    assert policyrules.load(root).evaluate("hello").action == "remove"


@pytest.mark.parametrize("name", ["evil.policy", "ruleset.toml"])
def test_symlinked_policy_file_or_config_out_of_root(tmp_path: Path, name: str) -> None:
    """A .policy file or ruleset.toml that is a symlink out of the root is refused, unread."""
    root, outside = _tree(tmp_path)
    _write_main(root, "lists/ok.txt")
    os.symlink(outside / "secret.txt", root / name)
    with pytest.raises(PolicyCompileError, match="E108") as info:
        policyrules.load(root)
    assert "SECRET" not in str(info.value)


def test_symlinked_directory_is_not_followed(tmp_path: Path) -> None:
    """A symlinked directory pointing out of the root contributes no .policy files."""
    root, outside = _tree(tmp_path)
    _write_main(root, "lists/ok.txt")
    os.symlink(outside / "sub", root / "linkdir")
    assert [r.name for r in policyrules.load(root).rules] == ["r"]


def test_rule_content_is_never_executed(tmp_path: Path) -> None:
    """Strings, reasons and patterns that look like code or format attacks stay data."""
    marker = tmp_path / "pwned"
    src = HEADER + (
        f'terms t = ["__import__(\'os\').system(\'touch {marker}\')", "{{evidence.__class__}}"]\n'
        'rule r { policy: p when: any(t) reason: "{evidence} {rule}" }\n'
        'rule r2 { policy: p when: any(["x"]) reason: "{0.__class__}" }\n'
    )
    with pytest.raises(PolicyCompileError, match="E241"):
        policyrules.compile(src)
    rs = policyrules.compile(src.replace('reason: "{0.__class__}"', 'reason: "{{0.__class__}}"'))
    v = rs.evaluate(f"__import__('os').system('touch {marker}') x")
    assert not marker.exists()
    assert {m.rule: m.reason for m in v.matches}["r2"] == "{0.__class__}"


def test_hundred_thousand_term_list(tmp_path: Path) -> None:
    """A 100,000-term list file compiles, pickles and matches."""
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "big.txt").write_text("\n".join(f"term{i:06d}" for i in range(100_000)) + "\n")
    (tmp_path / "r.policy").write_text(HEADER + 'terms big = file("lists/big.txt")\nrule r { policy: p when: any(big) }\n')
    rs = policyrules.load(tmp_path)
    assert rs.evaluate("say term099999 now").matches[0].evidence[0].text == "term099999"
    assert pickle.loads(pickle.dumps(rs)).evaluate("term000000").action == "remove"


def test_ten_thousand_rules() -> None:
    """A 10,000-rule ruleset compiles and evaluates (50,000 rules: benchmarks/bench_compile.py in CI)."""
    src = HEADER + "\n".join(f'rule r{i} {{ policy: p when: any(["w{i}x"]) }}' for i in range(10_000))
    rs = policyrules.compile(src)
    assert len(rs.rules) == 10_000
    assert [m.rule for m in rs.evaluate("w9999x and w7x").matches] == ["r7", "r9999"]


@pytest.mark.parametrize("depth", [99, 101, 1000, 10_000])
def test_deep_condition_compiles_or_policy_error(depth: int) -> None:
    """Conditions nested 99…100,000 deep (not/has/parens) compile or raise a PolicyError, never RecursionError."""
    for opener, closer in (("not ", ""), ("post.text has (", ")"), ("(", ")"), ("not (", ")")):
        src = HEADER + "rule r { policy: p when: " + opener * depth + 'any(["x"])' + closer * depth + " }\n"
        try:
            rs = policyrules.compile(src)
        except PolicyError:
            continue
        rs2 = pickle.loads(pickle.dumps(rs))
        assert rs2.evaluate("x").to_dict() == rs.evaluate("x").to_dict()
        assert rs.explain("x", rule="r")


@pytest.mark.parametrize("length", [50, 99, 101, 3000])
def test_rule_chains(length: int) -> None:
    """rule() chains evaluate, explain and pickle when accepted; too deep is E251, not RecursionError."""
    src = HEADER + "\n".join(
        f'rule r{i} {{ policy: p action: none when: rule(r{i + 1}) and not any(["z{i}"]) }}' for i in range(length)
    ) + f'\nrule r{length} {{ policy: p action: none when: any(["kill you"]) }}\nrule top {{ policy: p when: rule(r0) }}\n'
    try:
        rs = policyrules.compile(src)
    except PolicyCompileError as exc:
        assert length > 99 and "E251" in str(exc)
        return
    assert length <= 99
    result: dict[str, Any] = {}

    def work() -> None:  # a thread, as in a service: its own (smaller) stack
        result["v"] = rs.evaluate("kill you")
        result["explain"] = rs.evaluate("kill you").explain()
        result["pickled"] = pickle.loads(pickle.dumps(rs)).evaluate("kill you")

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert result["v"].action == "remove" and result["pickled"].to_dict() == result["v"].to_dict()
    assert "rule top" in result["explain"]


@settings(max_examples=300)
@given(data=st.binary(max_size=400))
def test_fuzz_parser_bytes(data: bytes) -> None:
    """Fuzz: any byte string (decoded) compiles or raises a PolicyError."""
    with contextlib.suppress(PolicyError):
        policyrules.compile(data.decode("utf-8", "replace"))


_TOKENS = ["policy", "rule", "terms", "pattern", "when:", "unless:", "any(", "all(", ")", "(", "{", "}",
           "[", "]", ",", '"x"', "/a+/i", "p", "t", "not", "and", "or", "2 of", "count(", ">=", "3",
           "near(", "rule(", "post.lang", "in", "has", "=", "+", "file(", 'title: "T"', "action: remove",
           "policy: p", "\n", "#c\n", "except", "author.bio", "(match: substring)", "\\", '"\\u{110000}"']


@settings(max_examples=400)
@given(parts=st.lists(st.sampled_from(_TOKENS), max_size=60))
def test_fuzz_parser_tokens(parts: list[str]) -> None:
    """Fuzz: token soup near the grammar compiles or raises a PolicyError (reaches resolve/compile)."""
    src = HEADER + " ".join(parts)
    try:
        rs = policyrules.compile(src)
    except PolicyError:
        return
    rs.evaluate("x")


# ---------------------------------------------------------------- 4. threads and reloads


def test_threads_agree_with_one_thread() -> None:
    """8 threads sharing one compiled ruleset give exactly the verdicts of one thread."""
    rs = _ruleset()
    posts = POSTS * 40
    expected = _dicts(rs, posts)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda chunk: _dicts(rs, chunk), [posts[i::8] for i in range(8)]))
    for i in range(8):
        assert results[i] == expected[i::8]


def _handle_dir(tmp_path: Path, term: str) -> Path:
    (tmp_path / "r.policy").write_text(HEADER + f'rule r {{ policy: p when: any(["{term}"]) }}\n')
    return tmp_path


def test_handle_reload_swaps_and_keeps_old_on_failure(tmp_path: Path) -> None:
    """reload() swaps in a new ruleset; a broken edit keeps the old one serving and sets last_error."""
    root = _handle_dir(tmp_path, "alpha")
    seen: list[Any] = []
    handle = RulesetHandle(root, on_reload=lambda rs, err: seen.append(err))
    first = handle.ruleset
    assert handle.evaluate("alpha").action == "remove"
    assert handle.reload() is False  # nothing changed
    _handle_dir(tmp_path, "beta")
    assert handle.reload() is True and handle.last_error is None
    assert handle.evaluate("beta").action == "remove" and handle.evaluate("alpha").action == "none"
    assert handle.ruleset is not first and handle.reloads == 1
    (root / "r.policy").write_text("rule broken {")
    assert handle.reload() is False
    assert isinstance(handle.last_error, PolicyError)
    assert handle.evaluate("beta").action == "remove"  # still the last good ruleset
    (root / "r.policy").unlink()
    assert handle.reload() is False and isinstance(handle.last_error, PolicyError)
    assert seen[0] is None and all(isinstance(e, PolicyError) for e in seen[1:])


def test_handle_first_load_raises(tmp_path: Path) -> None:
    """The first load of a handle raises PolicyError like policyrules.load."""
    (tmp_path / "r.policy").write_text("rule {")
    with pytest.raises(PolicyError):
        RulesetHandle(tmp_path)


def test_handle_readers_never_see_a_half_built_ruleset(tmp_path: Path) -> None:
    """While reloads alternate two versions, 8 readers only ever see verdicts of one or the other."""
    root = _handle_dir(tmp_path, "alpha")
    handle = RulesetHandle(root)
    versions = {
        "alpha": HEADER + 'rule r { policy: p when: any(["alpha"]) }\n',
        "beta": HEADER + 'rule r { policy: p action: label when: any(["alpha"]) }\nrule s { policy: p when: any(["zz"]) }\n',
    }
    allowed = {("remove",), ("label",)}
    stop = threading.Event()
    bad: list[Any] = []

    def reader() -> None:
        while not stop.is_set():
            rs = handle.ruleset
            v = rs.evaluate("alpha")
            if (v.action,) not in allowed or len(rs.rules) not in (1, 2):
                bad.append((v.action, len(rs.rules)))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    swaps = 0
    for i in range(10):
        (root / "r.policy").write_text(versions["beta" if i % 2 == 0 else "alpha"])
        swaps += handle.reload()
        if i == 5:
            (root / "r.policy").write_text("rule half-written {")
            assert handle.reload() is False
    stop.set()
    for t in threads:
        t.join()
    assert not bad and swaps == 10


def test_handle_watch_polls_changes(tmp_path: Path) -> None:
    """watch() reloads after a file changes (polling mtime/size) and stop() ends the thread."""
    root = _handle_dir(tmp_path, "alpha")
    with RulesetHandle(root) as handle:
        thread = handle.watch(0.05)
        assert thread.daemon
        (root / "r.policy").write_text(HEADER + 'rule r { policy: p when: any(["gamma"]) }\n')
        for _ in range(200):
            if handle.reloads:
                break
            time.sleep(0.05)
        assert handle.evaluate("gamma").action == "remove"
    assert not thread.is_alive()


# ---------------------------------------------------------------- 6. pickles


def test_pickle_round_trip_gives_identical_verdicts(tmp_path: Path) -> None:
    """A pickled ruleset (limits included) gives identical verdicts, in this and a fresh process."""
    import subprocess
    import sys

    rs = _ruleset(regex_failure="closed", max_text_chars=5000)
    blob = pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL)
    rs2 = pickle.loads(blob)
    assert rs2.limits == rs.limits and rs2.digest == rs.digest
    assert _dicts(rs2, POSTS) == _dicts(rs, POSTS)
    (tmp_path / "rs.pickle").write_bytes(blob)
    code = (
        "import json, pickle, sys; sys.path.insert(0, sys.argv[2]); from test_reliability import POSTS; "
        "rs = pickle.load(open(sys.argv[1], 'rb')); print(json.dumps([rs.evaluate(p).to_dict() for p in POSTS]))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "rs.pickle"), str(Path(__file__).parent)],
                         capture_output=True, text=True, check=True).stdout
    import json

    assert json.loads(out) == _dicts(rs, POSTS)


# --------------------------------------------------------------------------- evaluate_many on every core

_MANY_SRC = '''policy p { title: "P" action: label }
policy q { title: "Q" action: remove severity: high }
terms slurs (normalize: aggressive) = ["idiot", "kill"]
terms greet = ["hello"] except ["hello kitty"]
pattern handle = /(?<!\\w)@\\w+/
rule r_slur { policy: q when: any(slurs) reason: "{evidence}" }
rule r_greet { policy: p when: any(greet) and handle }
rule r_shadow { policy: p mode: shadow when: "weather" }
'''
_MANY_POSTS: list[Any] = [
    "1d10t!", "hello @bob", "hello kitty @cat", "nice weather", "k.i.l.l them", "nothing here",
    {"text": "HELLO @ann", "lang": "en"}, {"text": "ıdiot değil", "lang": "tr"}, "",
    {"text": "weather", "created_at": "2026-01-01T00:00:00Z"},
] * 70  # 700 posts: three chunks per worker


def test_evaluate_many_with_workers_equals_one_process() -> None:
    """workers=2 yields the same verdicts in the same order, explanations included."""
    rs = policyrules.compile(_MANY_SRC)
    one = list(rs.evaluate_many(_MANY_POSTS))
    two = list(rs.evaluate_many(iter(_MANY_POSTS), workers=2))
    assert len(two) == len(_MANY_POSTS)
    assert one == two
    assert [v.explain() for v in one[:10]] == [v.explain() for v in two[:10]]
    assert [v is rs._empty for v in one] == [v is rs._empty for v in two]


def test_evaluate_many_raises_post_error_in_place() -> None:
    """A bad post raises PostError after the verdicts of every post before it, as in one process."""
    rs = policyrules.compile(_MANY_SRC)
    posts = [*_MANY_POSTS[:300], {"text": 5}, *_MANY_POSTS[:50]]
    for workers in (1, 2):
        got = []
        with pytest.raises(PostError):
            for verdict in rs.evaluate_many(posts, workers=workers):
                got.append(verdict)
        assert len(got) == 300


def test_evaluate_many_stops_early_and_takes_unpicklable_posts() -> None:
    """Closing the iterator early stops the workers; a post that cannot be pickled is evaluated here."""
    rs = policyrules.compile(_MANY_SRC)
    it = rs.evaluate_many(_MANY_POSTS, workers=2)
    first = [next(it) for _ in range(5)]
    it.close()  # type: ignore[attr-defined]
    assert first == list(rs.evaluate_many(_MANY_POSTS[:5]))
    odd = [{"text": "hello @x", "extra": lambda: 1}] * 300
    assert list(rs.evaluate_many(odd, workers=2)) == list(rs.evaluate_many(odd))


def _only_here(fields: dict[str, Any]) -> dict[str, Any]:
    """Unpickles in the test process and raises in a worker process (like a class from a notebook)."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        raise ImportError("this post's class is not importable here")
    return fields


class _PostOnlyHere(dict):  # type: ignore[type-arg]
    def __reduce__(self) -> Any:
        return (_only_here, (dict(self),))


def test_evaluate_many_evaluates_here_what_a_worker_cannot_unpickle() -> None:
    """A chunk a worker cannot unpickle is evaluated in the calling process, in its place."""
    rs = policyrules.compile(_MANY_SRC)
    posts = [*_MANY_POSTS[:300], *[_PostOnlyHere(text="hello @x")] * 300, *_MANY_POSTS[:300]]
    assert list(rs.evaluate_many(posts, workers=2)) == list(rs.evaluate_many(posts))


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2"])
def test_evaluate_many_rejects_bad_worker_counts(workers: Any) -> None:
    """workers must be a whole number >= 1 or None."""
    rs = policyrules.compile(_MANY_SRC)
    with pytest.raises(ValueError, match="workers"):
        rs.evaluate_many(["x"], workers=workers)
