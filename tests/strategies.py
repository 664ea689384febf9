"""Hypothesis strategies: random policy SOURCE text and adversarial posts (G13).

Rulesets are generated as source text so they go through the real parser and resolver.
Terms come from a small vocabulary, and posts are built from the same vocabulary (in
disguise: case, accents, invisible characters, fullwidth forms, Turkic dotted/dotless i,
Arabic harakat and tatweel, apostrophe variants) plus noise (emoji, RTL overrides, Han and
Thai, lone surrogates, whitespace runs), so that hits, near-misses and boundary cases are
frequent.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import attrs
from hypothesis import strategies as st

__all__ = [
    "AT_TIMES",
    "WORDS",
    "RulesetSpec",
    "cases",
    "eval_times",
    "posts",
    "ruleset_specs",
    "texts",
]

# --------------------------------------------------------------------------- vocabulary

#: Term vocabulary (lower case, as the lint asks).
WORDS = (
    "kill", "you", "kill you", "shoot", "hate", "murder", "mörder", "straße", "strasse",
    "café", "año", "ano", "sık", "sik", "istanbul", "don't", "'tis", "l'homme", "homme", "#freemoney",
    "free money", "money", "قتل", "殺す", "ok", "a", "k1ll", "über", "ueber", "naïve", "x_y",
)
#: Wildcard terms (the stem is in the post vocabulary).
WILDCARDS = ("murder*", "*phobic", "*hate*", "kill*", "*you")
#: Except terms: each contains some vocabulary word.
EXCEPTS = ("skill", "kill you", "murder mystery", "hate crime", "l'homme", "free money", "you")
#: Post-only words that make wildcards and excepts fire.
EXTRA = (
    "murdered", "homophobic", "hateful", "self-hatescape", "skill", "killer", "murder mystery",
    "hate crime", "youyou", "okay", "kills", "moerder", "MÖRDER", "STRASSE", "Straẞe", "cafe",
    "cafe\u0301", "ISTANBUL", "İstanbul", "SIK", "sıK", "قَتَلَ", "قـتـل", "殺す人", "ฆ่า",
)

INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e",
             "\u202c", "\u2066", "\u061c")
APOSTROPHE_VARIANTS = ("'", "\u2019", "\u02bc", "\u2018", "`")
SEPARATORS = (
    " ", " ", " ", "  ", "\n", "\t", "\u00a0", "\u3000", " \u200b ", ", ", "! ", ". ", "-",
    "'", "\u2019", "_", "", "\u202e", "\u2066 ", " #", "@", "/", " \r\n ",
)
NOISE = (
    "😀", "👍🏽", "👨\u200d👩\u200d👧", "\ud800", "\udfff", "漢字", "ฆ่า", "٣", "½", "ﬁ", "Ⅻ",
    "²", "\u0301", "\u0651", "ـ", "ı", "İ", "ẞ", "ß", "Ｋｉｌｌ", "1", "42", "\x00", "$",
    "a\u0308", "\U0001d566", "x" * 3,
)
_FULLWIDTH = {c: chr(ord(c) - 0x21 + 0xFF01) for c in map(chr, range(0x21, 0x7F))}


def _fullwidth(word: str) -> str:
    return "".join(_FULLWIDTH.get(c, c) for c in word)


_HOW = ("same", "same", "upper", "title", "invisible", "mark", "fullwidth", "turkic", "umlaut",
        "apostrophe", "nfd", "arabic", "suffix", "leet", "spaced", "repeat", "confusable")
_LEET = str.maketrans({"a": "@", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7", "l": "|"})
_CONFUSABLE = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у"})
_MARKS = ("\u0301", "\u0308", "\u0327", "\u0303")
_ARABIC_MARKS = ("\u064e", "\u0640", "\u0651", "\u0670")
_SUFFIXES = ("s", "ed", "ing", "x", "1", "_", "'s", "’s")


def _disguise(draw: st.DrawFn, word: str) -> str:
    """*word* as an evader or a careless typist would write it."""
    how = draw(st.sampled_from(_HOW))
    if how == "upper":
        return word.upper()
    if how == "title":
        return word.title()
    if how == "invisible" and len(word) > 1:
        i = draw(st.integers(1, len(word) - 1))
        return word[:i] + draw(st.sampled_from(INVISIBLE)) + word[i:]
    if how == "mark" and word:
        i = draw(st.integers(1, len(word)))
        return word[:i] + draw(st.sampled_from(_MARKS)) + word[i:]
    if how == "fullwidth":
        return _fullwidth(word)
    if how == "turkic":
        return word.replace("i", draw(st.sampled_from(("ı", "İ", "I")))).replace("I", "İ")
    if how == "umlaut":
        return word.replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    if how == "apostrophe":
        return word.replace("'", draw(st.sampled_from(APOSTROPHE_VARIANTS)))
    if how == "nfd":
        return unicodedata.normalize("NFD", word)
    if how == "arabic" and word and not word.isascii():
        return draw(st.sampled_from(_ARABIC_MARKS)).join(word)
    if how == "suffix":
        return word + draw(st.sampled_from(_SUFFIXES))
    if how == "leet":
        return word.translate(_LEET)
    if how == "spaced":
        return draw(st.sampled_from((".", " ", "-", "_", "*", ". "))).join(word)
    if how == "repeat" and word:
        i = draw(st.integers(0, len(word) - 1))
        return word[:i] + word[i] * draw(st.integers(2, 4)) + word[i + 1 :]
    if how == "confusable":
        return word.translate(_CONFUSABLE)
    return word


_POST_WORDS = st.sampled_from(WORDS + EXTRA)
_TERM_WORDS = st.sampled_from(WORDS)
_NOISE = st.sampled_from(NOISE)
_SEPARATORS = st.sampled_from(SEPARATORS)
_TAIL = st.text(max_size=8)
_KIND = st.integers(0, 4)
_ONE_IN_4 = st.integers(0, 3).map(lambda i: i == 0)
_ONE_IN_10 = st.integers(0, 9).map(lambda i: i == 0)


@st.composite
def texts(
    draw: st.DrawFn, words: tuple[str, ...] = (), min_tokens: int = 0, max_tokens: int = 12
) -> str:
    """A post text: words (the ruleset's own, when given) in disguise, separators and noise."""
    own = st.sampled_from(words) if words else _TERM_WORDS
    out = []
    for _ in range(draw(st.integers(min_tokens, max_tokens))):
        kind = draw(_KIND)
        if kind == 4:
            out.append(draw(_NOISE))
        else:
            source = own if kind < 2 else _POST_WORDS if kind == 2 else _TERM_WORDS
            out.append(_disguise(draw, draw(source)))
        out.append(draw(_SEPARATORS))
    if draw(_ONE_IN_10):
        out.append(draw(_TAIL))
    return "".join(out)


# --------------------------------------------------------------------------- times

AT_TIMES = (
    datetime(2026, 11, 19, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 11, 20, tzinfo=UTC),
    datetime(2026, 11, 25, 12, tzinfo=UTC),
    datetime(2026, 12, 1, 18, tzinfo=UTC),
    datetime(2027, 1, 1, tzinfo=UTC),
)
WINDOWS = (
    ("2026-11-20", "2026-12-01T18:00Z"),
    ("2026-01-01", "2026-11-20"),
    ("2026-11-25T12:00Z", "2027-01-01"),
)


def eval_times() -> st.SearchStrategy[datetime]:
    """Evaluation times around the window edges (start inclusive, end exclusive)."""
    return st.sampled_from(AT_TIMES)


# --------------------------------------------------------------------------- posts

LANGS = ("en", "EN", "tr", "TR-tr", "az", "de", "de-AT", "ar", "ja", "es", "pt-BR", "")


_AT = eval_times()
_LANGS = st.sampled_from(LANGS)
_FOLLOWERS = st.one_of(st.integers(0, 20), st.just("12"), st.just(3.5))
_VERIFIED = st.one_of(st.booleans(), st.just(1))
_IS_REPLY = st.one_of(st.booleans(), st.just("yes"))
_CREATED = st.sampled_from(
    ("2026-11-20T00:00:00Z", "2026-11-25T12:00:00+02:00", "2026-12-01T18:00:00",
     "2026-11-19T23:59:59Z", "not a date")
)


@functools.cache
def _post_texts(words: tuple[str, ...]) -> tuple[st.SearchStrategy[str], ...]:
    tiny = texts(words, min_tokens=1, max_tokens=2)
    return texts(words, min_tokens=1), texts(words, min_tokens=1, max_tokens=4), tiny, st.lists(tiny, max_size=3)


@st.composite
def posts(draw: st.DrawFn, words: tuple[str, ...] = ()) -> tuple[Any, datetime | None]:
    """A post (str or mapping) and the ``at`` time to evaluate it at (None: use created_at)."""
    _text, _short_text, _tiny_text, _hashtags = _post_texts(words)
    text = draw(_text)
    at: datetime | None = draw(_AT)
    if draw(st.integers(0, 3)) == 0:
        return text, at
    post: dict[str, Any] = {"text": text}
    if draw(st.booleans()):
        post["lang"] = draw(_LANGS)
    if not draw(_ONE_IN_4):
        author: dict[str, Any] = {}
        if not draw(_ONE_IN_4):
            author["bio"] = draw(_short_text)
        if draw(st.booleans()):
            author["name"] = draw(_tiny_text)
        if draw(st.booleans()):
            author["followers"] = draw(_FOLLOWERS)
        if draw(st.booleans()):
            author["account_age_days"] = draw(st.integers(0, 30))
        if draw(st.booleans()):
            author["verified"] = draw(_VERIFIED)
        post["author"] = author
    if not draw(_ONE_IN_4):
        post["hashtags"] = draw(_hashtags)
    if draw(st.booleans()):
        post["has_media"] = draw(st.booleans())
    if draw(st.booleans()):
        post["is_reply"] = draw(_IS_REPLY)
    if draw(st.booleans()):
        post["created_at"] = draw(_CREATED)
        if post["created_at"] != "not a date" and draw(st.booleans()):
            at = None
    return post, at


# --------------------------------------------------------------------------- rulesets


def _q(s: str) -> str:
    """A policy string literal; some characters written as ``\\u{...}`` escapes."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) > 0x7F and ord(ch) % 3 == 0:
            out.append(f"\\u{{{ord(ch):X}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


PATTERNS = (
    (r"k+i+l+", "i"),
    (r"\bsh(?:oo)+t\b", ""),
    (r"[0-9]+", ""),
    (r"(?:kill|hate) you", "i"),
    (r"m[öo]e?rder\w*", ""),
    (r"\w+phobic", ""),
    (r"x*", ""),
    (r"ka|k", "x"),
    (r"ı+", ""),
    (r"stra(?:ss|ß)e", "i"),
    (r"#\w+", ""),
    (r"you\b", "m"),
    (r"café", ""),
    (r"straße", "i"),
    (r"İstanbul", ""),
    (r"ﬁne|½", ""),
    (r"don[’']t", ""),
    (r"[\u200b\u00ad]", ""),
    (r"^\w+", "m"),
)
OPS = (">=", ">", "<=", "<", "==", "!=")
ACTIONS = ("none", "log", "label", "limit_visibility", "restrict_replies", "remove", "suspend")
SEVERITY = ("low", "medium", "high", "critical")


@attrs.frozen
class RulesetSpec:
    """A generated ruleset: its source text, its number of rules, and the words it names."""

    source: str
    rules: int
    words: tuple[str, ...] = ()


_BOOL = st.booleans()
_ONE_IN_3 = st.integers(0, 2).map(lambda i: i == 0)
_TERM_OPTIONS = (
    ("match", st.sampled_from(("word", "substring"))),
    ("case", st.sampled_from(("insensitive", "sensitive"))),
    ("normalize", st.sampled_from(("none", "standard", "aggressive"))),
    ("accents", st.sampled_from(("fold", "keep"))),
)
_PATTERN_OPTIONS = (
    ("case", st.sampled_from(("insensitive", "sensitive"))),
    ("text", st.sampled_from(("light", "folded", "raw"))),
)
_LIST_TERMS = st.lists(st.sampled_from(WORDS + WILDCARDS), min_size=1, max_size=4, unique=True)
_EXCEPT_TERMS = st.lists(st.sampled_from(EXCEPTS), min_size=1, max_size=2, unique=True)
_PATTERN_SRC = st.sampled_from(PATTERNS)
_EXTRA_FLAG = st.sampled_from(("", "i", "s", "m"))


@st.composite
def _term_list(draw: st.DrawFn, index: int) -> str:
    opts = [f"{name}: {draw(values)}" for name, values in _TERM_OPTIONS if draw(_BOOL)]
    terms = draw(_LIST_TERMS)
    parts = ["[" + ", ".join(_q(t) for t in terms) + "]"]
    if index and draw(_BOOL):
        parts.append(f"t{draw(st.integers(0, index - 1))}")
    src = f"terms t{index}"
    if opts:
        src += " (" + ", ".join(opts) + ")"
    src += " = " + " + ".join(parts)
    if draw(_ONE_IN_3):
        ex = draw(_EXCEPT_TERMS)
        src += " except [" + ", ".join(_q(t) for t in ex) + "]"
    return src


@st.composite
def _pattern(draw: st.DrawFn, index: int) -> str:
    pat, flags = draw(_PATTERN_SRC)
    if draw(_BOOL):
        flags = "".join(sorted(set(flags + draw(_EXTRA_FLAG))))
    opts = [f"{name}: {draw(values)}" for name, values in _PATTERN_OPTIONS if draw(_BOOL)]
    src = f"pattern p{index}"
    if opts:
        src += " (" + ", ".join(opts) + ")"
    return src + f" = /{pat}/{flags}"


@functools.cache
def _items(n_lists: int, n_patterns: int) -> st.SearchStrategy[str]:
    names = [f"t{i}" for i in range(n_lists)] + [f"p{i}" for i in range(n_patterns)]
    return st.one_of(
        st.sampled_from(names),
        st.sampled_from(names),
        st.sampled_from(WORDS + WILDCARDS).map(_q),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3, unique=True).map(
            lambda ts: "[" + ", ".join(_q(t) for t in ts) + "]"
        ),
        st.sampled_from(PATTERNS).map(lambda p: f"/{p[0]}/{p[1]}"),
    )


@functools.cache
def _match_expr(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One match form of §4 (any, all, N of, count, distinct, near, before, bare item)."""
    item_lists = st.lists(items, min_size=1, max_size=3)
    any_of = item_lists.map(lambda xs: "any(" + ", ".join(xs) + ")")
    near = st.tuples(st.sampled_from(("near", "before")), items, items, st.integers(0, 4)).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]}, {t[3]})"
    )
    # any() and bare items are weighted up so that rules fire and carry evidence often.
    return st.one_of(
        any_of, any_of, any_of, items, items, near, near,
        item_lists.map(lambda xs: "all(" + ", ".join(xs) + ")"),
        st.tuples(st.integers(1, 3), item_lists).map(
            lambda t: f"{min(t[0], len(t[1]))} of ({', '.join(t[1])})"
        ),
        st.tuples(item_lists, st.sampled_from(OPS), st.integers(0, 3)).map(
            lambda t: f"count({', '.join(t[0])}) {t[1]} {t[2]}"
        ),
        st.tuples(item_lists, st.sampled_from(OPS), st.integers(0, 3)).map(
            lambda t: f"distinct({', '.join(t[0])}) {t[1]} {t[2]}"
        ),
    )


FIELD_TESTS = (
    "author.followers > 10", "author.followers <= 3", "author.account_age_days < 7",
    "post.lang in [tr, az]", 'post.lang == "EN"', "post.lang != de", 'post.lang == "de-AT"', "post.has_media",
    "author.verified", "author.verified == true", "post.is_reply != false",
    "post.created_at >= 2026-11-20", "post.created_at < 2026-11-25T10:00Z",
    "post.author.followers in [0, 1, 2, 12]", "author.name == \"ok\"", "post.missing_field",
)
HAS_FIELDS = ("author.bio", "post.hashtags", "author.name", "post.author.bio", "post.text")


@functools.cache
def _condition(items: st.SearchStrategy[str], rule_refs: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Strategies are built once per (items, refs) shape: building them per draw is slow."""
    has = st.tuples(st.sampled_from(HAS_FIELDS), _match_expr(items)).map(
        lambda t: f"{t[0]} has {t[1]}"
    )
    leaves = [
        _match_expr(items),
        _match_expr(items),
        _match_expr(items),
        st.sampled_from(FIELD_TESTS),
        has,
        has,
    ]
    if rule_refs:
        leaves.append(st.sampled_from(rule_refs).map(lambda r: f"rule({r})"))
    leaf = st.one_of(*leaves)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            inner.map(lambda c: f"not ({c})"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]}) and ({t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]}) or ({t[1]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]}) or ({t[1]}) and not ({t[2]})"),
        ),
        max_leaves=4,
    )


_TERM_LISTS = [_term_list(i) for i in range(4)]
_PATTERN_DECLS = [_pattern(i) for i in range(2)]
_POLICY = st.sampled_from(("p_main", "p_other"))
_MAIN_ACTION = st.sampled_from((*ACTIONS, None))
_ACTION = st.sampled_from(ACTIONS)
_SEVERITY = st.sampled_from(SEVERITY)
_ONE_IN_5 = st.integers(0, 4).map(lambda i: i == 0)
_RULE_LANGS = st.lists(st.sampled_from(("en", "tr", "de", "ar", "pt")), min_size=1, max_size=2,
                       unique=True)
_WINDOW = st.sampled_from(WINDOWS)


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(u\{([0-9A-Fa-f]+)\}|.)")


def _words_of(source: str) -> tuple[str, ...]:
    """The string literals of *source* (wildcards stripped): the words posts should use."""
    out = set()
    for m in _STRING.finditer(source):
        text = _ESCAPE.sub(lambda e: chr(int(e.group(2), 16)) if e.group(2) else e.group(1),
                           m.group(1))
        out.add(text.strip("*"))
    out -= {"Main", "Other", "queue", ""}
    return tuple(sorted(out))


@st.composite
def ruleset_specs(draw: st.DrawFn) -> RulesetSpec:
    """A small ruleset as policy source text: 1-4 term lists, 0-2 patterns, 1-5 rules."""
    n_lists = draw(st.integers(1, 4))
    n_patterns = draw(st.integers(0, 2))
    lines = [
        'policy p_main {\n  title: "Main"\n  action: remove\n}',
        'policy p_other {\n  title: "Other"\n  severity: high\n}',
    ]
    lines += [draw(_TERM_LISTS[i]) for i in range(n_lists)]
    lines += [draw(_PATTERN_DECLS[i]) for i in range(n_patterns)]
    items = _items(n_lists, n_patterns)
    n_rules = draw(st.integers(1, 5))
    for i in range(n_rules):
        props = []
        policy = draw(_POLICY)
        props.append(f"policy: {policy}")
        action = draw(_MAIN_ACTION if policy == "p_main" else _ACTION)
        if action is not None:
            props.append(f"action: {action}")
        if draw(_BOOL):
            props.append(f"severity: {draw(_SEVERITY)}")
        if draw(_ONE_IN_4):
            props.append("mode: shadow")
        if draw(_ONE_IN_4):
            props.append("lang: " + ", ".join(draw(_RULE_LANGS)))
        if draw(_ONE_IN_5):
            start, end = draw(_WINDOW)
            props.append(f"active: {start} .. {end}")
        if draw(_BOOL):
            props.append("tags: t, u")
        if draw(_ONE_IN_5):
            props.append('escalate: "queue"')
        refs = tuple(f"r{j}" for j in range(i))
        props.append("when: " + draw(_condition(items, refs)))
        if draw(_ONE_IN_4):
            props.append("unless: " + draw(_condition(items, refs)))
        order = draw(st.permutations(props))
        lines.append(f"rule r{i} {{\n  " + "\n  ".join(order) + "\n}")
    source = "\n\n".join(lines) + "\n"
    return RulesetSpec(source, n_rules, _words_of(source))


def cases(max_posts: int = 4) -> st.SearchStrategy[tuple[RulesetSpec, list[Any]]]:
    """A ruleset and 1..max_posts (post, at) pairs written mostly with the ruleset's words."""
    return ruleset_specs().flatmap(
        lambda spec: st.tuples(
            st.just(spec), st.lists(posts(spec.words), min_size=1, max_size=max_posts)
        )
    )
