"""The optional RE2 Set prefilter (policyrules.multiregex): sound translation, same verdicts.

The prefilter may only skip a pattern ``regex`` would not match, so the central property is
*soundness*: whenever ``regex`` finds a non-empty match, the RE2 translation matches too.
Tests that need google-re2 are skipped (with the reason) when it is not installed; CI
installs the ``re2`` extra, so they run there.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import regex
import strategies as S
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import policyrules
from policyrules import multiregex as mr

try:
    import re2
except ImportError:  # the tests below that need it are skipped
    re2 = None

needs_re2 = pytest.mark.skipif(re2 is None, reason="google-re2 is not installed (pip install 'policyrules[re2]')")

_V0I = int(regex.V0 | regex.I)
_V0 = int(regex.V0)


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set POLICYRULES_REGEX_BACKEND for the test."""

    def use(value: str) -> None:
        monkeypatch.setenv(mr.BACKEND_ENV, value)

    yield use


def _scanner_prefilters(rs: policyrules.Ruleset) -> list[Any]:
    return [scanner.regex_prefilter() for _scope, _key, scanner in rs._plan.scanners]


def _matches(translated: str, text: str) -> bool:
    assert re2 is not None
    return re2.search(translated, text) is not None


# --------------------------------------------------------------------------- translation (no re2 needed)


@pytest.mark.parametrize(
    ("pattern", "flags", "expected"),
    [
        (r"\bsh(?:oo)+t\b", _V0, "sh(?:oo)+t"),
        ("(?<!no )thanks(?=!)", _V0, "thanks"),
        (r"(a)\1", _V0, "(?:a)(?s:.*)"),
        ("a++b*?(?>c)", _V0, "(?:a)+(?:b)*(?:c)"),
        ("^a$", _V0, "(?m:^)a(?m:$)"),
        (r"\Aa\Z", _V0, r"\Aa\z"),
        ("a{2000}", _V0, "(?:a){1000,}"),
        ("a{3,2000}", _V0, "(?:a){3,}"),
        ("(x)?(?(1)a|b)", _V0, "(?:(?:x))?(?:a|b)"),
        (".", _V0, r"[^\n]"),
        (".", int(regex.V0 | regex.S), "(?s:.)"),
    ],
)
def test_translation_examples(pattern: str, flags: int, expected: str) -> None:
    """Assertions are dropped, repeats made greedy, backreferences widened, anchors made multi-line."""
    assert mr.to_re2(pattern, flags) == expected


def test_case_insensitive_literals_use_regex_case_table() -> None:
    """Under IGNORECASE a literal becomes the class of every case variant regex accepts (K, ſ, İ, ı)."""
    assert mr.to_re2("k", _V0I) == r"[\x{4B}\x{6B}\x{212A}]"
    assert mr.to_re2("s", _V0I) == r"[\x{53}\x{73}\x{17F}]"
    assert mr.to_re2("(?-i:k)", _V0I) == "(?:k)"


@pytest.mark.parametrize(
    "pattern",
    ["x{e<=1}", r"\p{L}+", "(?V1)[[a-z]--[aeiou]]", "(?f)ss", "[[:alpha:]]", "(?a)\\w", "(?a:x)\\w", "(?r)abc",
     r"\L<words>"],
)
def test_regex_only_syntax_is_left_out(pattern: str) -> None:
    """Syntax `re`'s parser does not read like `regex` (or ASCII mode) gives None: the pattern always runs."""
    assert mr.to_re2(pattern, _V0I) is None


def test_unknown_engine_flags_are_left_out() -> None:
    """FULLCASE, VERSION1 or ASCII in the compiled flags keep the pattern out of the Set."""
    for extra in (regex.F, regex.V1, regex.A):
        assert mr.to_re2("abc", int(regex.I | extra)) is None


def test_backend_env_choices(backend: Any) -> None:
    """auto follows availability, regex turns it off, anything else is refused."""
    backend("regex")
    assert mr.backend_enabled() is False
    backend("auto")
    assert mr.backend_enabled() is mr.available()
    backend("pcre")
    with pytest.raises(ValueError, match="auto, regex or re2"):
        mr.backend_enabled()


def test_without_re2_everything_runs_as_before(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With re2 unimportable, auto compiles no prefilter, re2 is refused, and a pickled ruleset loads."""
    backend("auto")
    src = 'policy p { title: "P" action: remove }\npattern d = /[0-9]{3}/\nrule r { policy: p when: any(d) }\n'
    shipped = pickle.dumps(policyrules.compile(src))
    monkeypatch.setitem(sys.modules, "re2", None)  # import re2 -> ImportError
    mr.available.cache_clear()
    try:
        rs = pickle.loads(shipped)
        assert _scanner_prefilters(rs) == [None]
        assert [e.text for m in rs.evaluate("call 555 now").matches for e in m.evidence] == ["555"]
        backend("re2")
        with pytest.raises(ImportError, match="google-re2"):
            policyrules.compile(src)
    finally:
        mr.available.cache_clear()


# --------------------------------------------------------------------------- character tables (re2)


@needs_re2
@pytest.mark.parametrize("escape", [r"\w", r"\W", r"\d", r"\D", r"\s", r"\S", "."])
def test_categories_cover_every_code_point_regex_matches(escape: str) -> None:
    """Every code point regex's \\w, \\d, \\s (and negations, and '.') match is matched by the translation."""
    translated = mr.to_re2(escape, _V0)
    assert translated is not None
    wanted = "".join(regex.findall(escape + "+", mr._all_chars(), flags=regex.V0))
    assert len(wanted) > 20
    assert re2.fullmatch(f"(?:{translated})*", wanted) is not None


@needs_re2
def test_case_table_misses_no_cased_code_point() -> None:
    """Every code point with case variants in regex's table is among the prefilter's candidates."""
    import importlib

    _regex = importlib.import_module("regex._regex")
    core = importlib.import_module("regex._regex_core")
    mode = core.IGNORECASE | core.UNICODE
    keys, _table = mr._case_table()
    known = set(keys)
    missing = [cp for cp in range(0x110000) if len(_regex.get_all_cases(mode, cp)) > 1 and cp not in known]
    assert missing == []


@needs_re2
def test_case_insensitive_classes_cover_regex() -> None:
    """Case-insensitive literals, ranges and negated classes match every cased character regex does."""
    keys, _table = mr._case_table()
    text = "".join(map(chr, keys)) + "az09_-\n ß"
    for pattern in ["k", "ß", "σ", "ǆ", "i", "I", "[a-z]", "[A-Z]", "[^a-z]", "[^k]", r"[\w]", r"[^\W]", "[Σ-Ϋ]",
                    "[ᏸ-ᏽ]", "[\u1c80-\u1c88]", "[^s]"]:
        translated = mr.to_re2(pattern, _V0I)
        assert translated is not None, pattern
        want = set(regex.findall(pattern, text, flags=regex.V0 | regex.I))
        got = set(re2.findall(translated, text))
        assert want <= got, (pattern, sorted(want - got)[:10])


# --------------------------------------------------------------------------- soundness (re2)

_ALPHABET = ["a", "b", "k", "K", "s", "S", "i", "I", "z", "ß", "ẞ", "ſ", "\u212a", "\u0130", "\u0131", "ﬁ",
             "Σ", "σ", "ς", "ǅ", " ", "\t", "\n", "\r", "\u00a0", "\u2028", "-", "_", "!", "?", "1", "9",
             "٣", "𝟙", "Ａ", "é", "e\u0301", "\u0303", "ب", "殺", "😀", "\u200b", "\u200d", "\x00", "ⓐ", "Ⅻ"]

_LEAF = st.one_of(
    st.sampled_from(_ALPHABET).map(regex.escape),
    st.sampled_from([".", r"\w", r"\W", r"\d", r"\D", r"\s", r"\S", "[ab]", "[a-z]", "[^a]", "[^a-z]",
                     r"[^\w]", r"[\d!?]", r"[^\s\d]", "[K-k]", "[σς]", "[ß-ſ]", r"[\u0100-\u024f]", r"\b", r"\B",
                     "^", "$", r"\A", r"\Z", "(?=a)", "(?!b)", "(?<=s)", r"(?<!\w)", "\\x00"]),
)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(inner, min_size=2, max_size=4).map("".join),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(?:" + "|".join(xs) + ")"),
        st.tuples(inner, st.sampled_from(["?", "*", "+", "{2}", "{0,2}", "{1,3}", "{2,}", "+?", "*+", "??"]))
        .map(lambda t: "(?:" + t[0] + ")" + t[1]),
        inner.map(lambda x: "(" + x + ")"),
        inner.map(lambda x: "(?i:" + x + ")"),
        inner.map(lambda x: "(?-i:" + x + ")"),
        inner.map(lambda x: "(?s:" + x + ")"),
        inner.map(lambda x: "(?>" + x + ")"),
        inner.map(lambda x: "(" + x + r")\1"),
        st.tuples(inner, inner).map(lambda t: "(" + t[0] + ")(?(1)" + t[1] + "|b)"),
    )


# counts over RE2's 1,000 only around a leaf: nested big counts make regex itself crash
_BIG_COUNT = st.tuples(_LEAF, st.sampled_from(["{1001}", "{0,1500}", "{1200,}"])).map(lambda t: "(?:" + t[0] + ")" + t[1])
_PATTERNS = st.recursive(st.one_of(_LEAF, _BIG_COUNT), _extend, max_leaves=8)
_FLAGS = st.sampled_from([regex.V0, regex.V0 | regex.I, regex.V0 | regex.I | regex.S, regex.V0 | regex.M,
                          regex.V0 | regex.I | regex.M | regex.S]).map(int)
_TEXTS = st.lists(st.sampled_from(_ALPHABET), max_size=12).map("".join)


def _check_sound(pattern: str, flags: int, texts: list[str]) -> None:
    try:
        compiled = regex.compile(pattern, flags)
    except (regex.error, OverflowError):
        return
    translated = mr.to_re2(pattern, flags)
    if translated is None:
        return
    note(f"translated: {translated[:300]}")
    try:
        re2.compile(translated)
    except re2.error:  # over RE2's limits (nested counts): the prefilter leaves such a pattern out
        return
    for text in texts:
        if any(m.end() > m.start() for m in compiled.finditer(text)):
            assert _matches(translated, text), (pattern, text)


@needs_re2
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PATTERNS, _FLAGS, st.lists(_TEXTS, min_size=1, max_size=6))
def test_translation_is_sound_on_generated_patterns(pattern: str, flags: int, texts: list[str]) -> None:
    """Whenever regex finds a non-empty match, the RE2 translation matches the same text."""
    _check_sound(pattern, flags, texts)


@needs_re2
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PATTERNS, _FLAGS, st.data())
def test_translation_is_sound_on_matching_texts(pattern: str, flags: int, data: st.DataObject) -> None:
    """Texts drawn to match the pattern (hypothesis from_regex, re semantics) keep the property."""
    try:
        strategy = st.from_regex(pattern)
        texts = [data.draw(strategy) for _ in range(3)]
    except Exception:  # from_regex refuses some constructs; the other test covers them
        return
    texts += [t.upper() for t in texts] + [t.casefold() for t in texts]
    _check_sound(pattern, flags, texts)


# --------------------------------------------------------------------------- the prefilter in the engine (re2)

_SRC = """policy p { title: "P" action: remove }
pattern digits = /(?<!\\d)\\d{3}(?!\\d)/
pattern shout (text: raw) = /[A-Z]{4,}!+/
pattern twice (case: sensitive) = /(\\w)\\1\\1/
pattern fuzzy = /(?:kill){e<=1}/
pattern eszett (text: folded) = /stra(?:ss|ß)e/
rule r { policy: p when: any(digits, shout, twice, fuzzy, eszett) }
"""


@needs_re2
def test_scanner_filters_what_cannot_match(backend: Any) -> None:
    """With the backend on, untranslatable patterns stay out and a value runs only the patterns that may match."""
    backend("re2")
    rs = policyrules.compile(_SRC)
    (pre,) = _scanner_prefilters(rs)
    assert pre is not None and len(pre) == 4  # the fuzzy pattern is left out
    scanner = rs._plan.scanners[0][2]
    by_name = {rs._plan.item_names[p.item]: p for p in scanner.patterns}
    picked = pre.select(scanner.patterns, lambda kind: "call 555 now")
    # shout (raw text) and eszett (folded) cannot match; twice's backreference was widened to .*
    assert {rs._plan.item_names[p.item] for p in picked} == {"digits", "fuzzy", "twice"}
    assert by_name["fuzzy"].id not in pre.index


@needs_re2
def test_lone_surrogate_runs_everything(backend: Any) -> None:
    """A text RE2 cannot take (a lone surrogate) makes every pattern run, as without the backend."""
    backend("re2")
    rs = policyrules.compile(_SRC)
    scanner = rs._plan.scanners[0][2]
    assert scanner.regex_prefilter().select(scanner.patterns, lambda kind: "x\ud800") == scanner.patterns
    assert rs.evaluate("\ud800 call 555").action == "remove"


@needs_re2
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=S.cases(max_posts=4))
def test_same_verdicts_with_and_without_the_prefilter(case: tuple[S.RulesetSpec, list[Any]]) -> None:
    """A ruleset compiled with the RE2 prefilter gives the same verdicts as one without it."""
    spec, cases = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(mr.BACKEND_ENV, "regex")
        plain = policyrules.compile(spec.source)
        mp.setenv(mr.BACKEND_ENV, "re2")
        fast = policyrules.compile(spec.source)
    for post, at in cases:
        assert fast.evaluate(post, at=at).to_dict() == plain.evaluate(post, at=at).to_dict()


@needs_re2
def test_differential_suite_runs_with_the_prefilter() -> None:
    """With re2 installed and no override, compiled rulesets use the prefilter (test_differential covers it)."""
    if mr.backend_enabled() is False:
        pytest.skip(f"{mr.BACKEND_ENV}=regex is set for this run")
    rs = policyrules.compile(_SRC)
    assert _scanner_prefilters(rs)[0] is not None


@needs_re2
def test_redos_pattern_that_cannot_match_is_skipped(backend: Any) -> None:
    """A ReDoS pattern RE2 proves cannot match is skipped: decided, where regex alone runs out of budget."""
    src = 'policy p { title: "P" action: remove }\npattern bad = /(a+)+$/\nrule r { policy: p when: bad }\n'
    limits = policyrules.Limits(regex_timeout=0.01, regex_post_budget=0.05)
    hostile = "a" * 5000 + "!"
    backend("regex")
    plain = policyrules.compile(src, limits=limits).evaluate(hostile)
    assert any("regex time budget exceeded" in n for n in plain.incomplete)
    backend("re2")
    fast = policyrules.compile(src, limits=limits)
    assert fast.evaluate(hostile).incomplete == ()
    assert fast.evaluate(hostile).action == "none"
    assert fast.evaluate("aaa").action == "remove"  # a value it can match still runs through regex


@needs_re2
def test_pickled_ruleset_rebuilds_its_prefilter(backend: Any) -> None:
    """A ruleset whose prefilter was built pickles (the Set is left out) and builds it again on first use."""
    backend("re2")
    rs = policyrules.compile(_SRC)
    before = rs.evaluate("call 555 now").to_dict()
    assert _scanner_prefilters(rs)[0] is not None  # built
    loaded = pickle.loads(pickle.dumps(rs))
    assert loaded.evaluate("call 555 now").to_dict() == before
    assert _scanner_prefilters(loaded)[0] is not None


@needs_re2
def test_prefilter_is_decided_where_the_ruleset_is_loaded(backend: Any) -> None:
    """A ruleset compiled with the prefilter off gets it when loaded where re2 is on (and back)."""
    backend("regex")
    shipped = pickle.dumps(policyrules.compile(_SRC))
    backend("re2")
    loaded = pickle.loads(shipped)
    assert _scanner_prefilters(loaded)[0] is not None
    backend("regex")
    assert _scanner_prefilters(pickle.loads(pickle.dumps(loaded)))[0] is None
