"""Hypothesis strategies: random policy SOURCE text and adversarial posts (G13).

Rulesets are generated as source text so they go through the real parser and resolver.
Terms come from a small vocabulary, and posts are built from the same vocabulary (in
disguise: case, accents, invisible characters, fullwidth forms, Turkic dotted/dotless i,
Arabic harakat and tatweel, apostrophe variants) plus noise (emoji, RTL overrides, Han and
Thai, lone surrogates, whitespace runs), so that hits, near-misses and boundary cases are
frequent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
from hypothesis import strategies as st

__all__ = [
    "AT_TIMES",
    "WORDS",
    "RulesetSpec",
    "eval_times",
    "posts",
    "ruleset_specs",
    "rulesets",
    "texts",
]

# --------------------------------------------------------------------------- vocabulary

#: Term vocabulary (lower case, as the lint asks).
WORDS = (
    "kill", "you", "kill you", "shoot", "hate", "murder", "mörder", "straße", "strasse",
    "café", "año", "ano", "sık", "sik", "istanbul", "don't", "l'homme", "homme", "#freemoney",
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


@st.composite
def disguised(draw: st.DrawFn, word: str) -> str:
    """*word* as an evader or a careless typist would write it."""
    how = draw(st.sampled_from(
        ("same", "same", "upper", "title", "invisible", "mark", "fullwidth", "turkic",
         "umlaut", "apostrophe", "nfd", "arabic", "suffix")
    ))
    if how == "upper":
        return word.upper()
    if how == "title":
        return word.title()
    if how == "invisible" and len(word) > 1:
        i = draw(st.integers(1, len(word) - 1))
        return word[:i] + draw(st.sampled_from(INVISIBLE)) + word[i:]
    if how == "mark" and word:
        i = draw(st.integers(1, len(word)))
        return word[:i] + draw(st.sampled_from(("\u0301", "\u0308", "\u0327", "\u0303"))) + word[i:]
    if how == "fullwidth":
        return _fullwidth(word)
    if how == "turkic":
        return word.replace("i", draw(st.sampled_from(("ı", "İ", "I")))).replace("I", "İ")
    if how == "umlaut":
        return word.replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    if how == "apostrophe":
        return word.replace("'", draw(st.sampled_from(APOSTROPHE_VARIANTS)))
    if how == "nfd":
        import unicodedata

        return unicodedata.normalize("NFD", word)
    if how == "arabic" and word and not word.isascii():
        mark = draw(st.sampled_from(("\u064e", "\u0640", "\u0651", "\u0670")))
        return mark.join(word)
    if how == "suffix":
        return word + draw(st.sampled_from(("s", "ed", "ing", "x", "1", "_", "'s", "’s")))
    return word


@st.composite
def texts(draw: st.DrawFn, max_tokens: int = 10) -> str:
    """A post text: vocabulary words in disguise, separators and noise."""
    token = st.one_of(
        st.sampled_from(WORDS + EXTRA).flatmap(disguised),
        st.sampled_from(WORDS).flatmap(disguised),
        st.sampled_from(NOISE),
    )
    parts = draw(st.lists(st.tuples(token, st.sampled_from(SEPARATORS)), max_size=max_tokens))
    text = "".join(t + s for t, s in parts)
    if draw(st.integers(0, 9)) == 0:
        text += draw(st.text(max_size=8))
    return text


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


@st.composite
def posts(draw: st.DrawFn) -> tuple[Any, datetime | None]:
    """A post (str or mapping) and the ``at`` time to evaluate it at (None: use created_at)."""
    text = draw(texts())
    at: datetime | None = draw(eval_times())
    if draw(st.integers(0, 3)) == 0:
        return text, at
    post: dict[str, Any] = {"text": text}
    if draw(st.booleans()):
        post["lang"] = draw(st.sampled_from(LANGS))
    if draw(st.booleans()):
        author: dict[str, Any] = {}
        if draw(st.booleans()):
            author["bio"] = draw(texts(max_tokens=4))
        if draw(st.booleans()):
            author["name"] = draw(texts(max_tokens=2))
        if draw(st.booleans()):
            author["followers"] = draw(st.one_of(st.integers(0, 20), st.just("12"), st.just(3.5)))
        if draw(st.booleans()):
            author["account_age_days"] = draw(st.integers(0, 30))
        if draw(st.booleans()):
            author["verified"] = draw(st.one_of(st.booleans(), st.just(1)))
        post["author"] = author
    if draw(st.booleans()):
        post["hashtags"] = draw(st.lists(texts(max_tokens=2), max_size=3))
    if draw(st.booleans()):
        post["has_media"] = draw(st.booleans())
    if draw(st.booleans()):
        post["is_reply"] = draw(st.one_of(st.booleans(), st.just("yes")))
    if draw(st.booleans()):
        post["created_at"] = draw(st.sampled_from(
            ("2026-11-20T00:00:00Z", "2026-11-25T12:00:00+02:00", "2026-12-01T18:00:00",
             "2026-11-19T23:59:59Z", "not a date")
        ))
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
)
OPS = (">=", ">", "<=", "<", "==", "!=")
ACTIONS = ("none", "log", "label", "limit_visibility", "restrict_replies", "remove", "suspend")
SEVERITY = ("low", "medium", "high", "critical")


@attrs.frozen
class RulesetSpec:
    """A generated ruleset: its source text, and the number of rules for reporting."""

    source: str
    rules: int


@st.composite
def _term_list(draw: st.DrawFn, index: int) -> str:
    opts = []
    if draw(st.booleans()):
        opts.append("match: " + draw(st.sampled_from(("word", "substring"))))
    if draw(st.booleans()):
        opts.append("case: " + draw(st.sampled_from(("insensitive", "sensitive"))))
    if draw(st.booleans()):
        opts.append("normalize: " + draw(st.sampled_from(("none", "standard"))))
    if draw(st.booleans()):
        opts.append("accents: " + draw(st.sampled_from(("fold", "keep"))))
    terms = draw(st.lists(st.sampled_from(WORDS + WILDCARDS), min_size=1, max_size=4, unique=True))
    parts = ["[" + ", ".join(_q(t) for t in terms) + "]"]
    if index and draw(st.booleans()):
        parts.append(f"t{draw(st.integers(0, index - 1))}")
    src = f"terms t{index}"
    if opts:
        src += " (" + ", ".join(opts) + ")"
    src += " = " + " + ".join(parts)
    if draw(st.integers(0, 2)) == 0:
        ex = draw(st.lists(st.sampled_from(EXCEPTS), min_size=1, max_size=2, unique=True))
        src += " except [" + ", ".join(_q(t) for t in ex) + "]"
    return src


@st.composite
def _pattern(draw: st.DrawFn, index: int) -> str:
    pat, flags = draw(st.sampled_from(PATTERNS))
    if draw(st.booleans()):
        flags = "".join(sorted(set(flags + draw(st.sampled_from(("", "i", "s", "m"))))))
    opts = []
    if draw(st.booleans()):
        opts.append("case: " + draw(st.sampled_from(("insensitive", "sensitive"))))
    if draw(st.booleans()):
        opts.append("text: " + draw(st.sampled_from(("light", "folded", "raw"))))
    src = f"pattern p{index}"
    if opts:
        src += " (" + ", ".join(opts) + ")"
    return src + f" = /{pat}/{flags}"


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


def _match_expr(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One match form of §4 (any, all, N of, count, distinct, near, before, bare item)."""
    item_lists = st.lists(items, min_size=1, max_size=3)
    return st.one_of(
        item_lists.map(lambda xs: "any(" + ", ".join(xs) + ")"),
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
        st.tuples(st.sampled_from(("near", "before")), items, items, st.integers(0, 4)).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]}, {t[3]})"
        ),
        items,
    )


FIELD_TESTS = (
    "author.followers > 10", "author.followers <= 3", "author.account_age_days < 7",
    "post.lang in [tr, az]", 'post.lang == "EN"', "post.lang != de", "post.has_media",
    "author.verified", "author.verified == true", "post.is_reply != false",
    "post.created_at >= 2026-11-20", "post.created_at < 2026-11-25T10:00Z",
    "post.author.followers in [0, 1, 2, 12]", "author.name == \"ok\"", "post.missing_field",
)
HAS_FIELDS = ("author.bio", "post.hashtags", "author.name", "post.author.bio", "post.text")


def _condition(items: st.SearchStrategy[str], rule_refs: list[str]) -> st.SearchStrategy[str]:
    leaves = [
        _match_expr(items),
        _match_expr(items),
        st.sampled_from(FIELD_TESTS),
        st.tuples(st.sampled_from(HAS_FIELDS), _match_expr(items)).map(
            lambda t: f"{t[0]} has {t[1]}"
        ),
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


@st.composite
def ruleset_specs(draw: st.DrawFn) -> RulesetSpec:
    """A small ruleset as policy source text: 1-4 term lists, 0-2 patterns, 1-5 rules."""
    n_lists = draw(st.integers(1, 4))
    n_patterns = draw(st.integers(0, 2))
    lines = [
        'policy p_main {\n  title: "Main"\n  action: remove\n}',
        'policy p_other {\n  title: "Other"\n  severity: high\n}',
    ]
    lines += [draw(_term_list(i)) for i in range(n_lists)]
    lines += [draw(_pattern(i)) for i in range(n_patterns)]
    items = _items(n_lists, n_patterns)
    n_rules = draw(st.integers(1, 5))
    for i in range(n_rules):
        props = []
        policy = draw(st.sampled_from(("p_main", "p_other")))
        props.append(f"policy: {policy}")
        action = draw(st.sampled_from((*ACTIONS, None))) if policy == "p_main" else draw(
            st.sampled_from(ACTIONS)
        )
        if action is not None:
            props.append(f"action: {action}")
        if draw(st.booleans()):
            props.append(f"severity: {draw(st.sampled_from(SEVERITY))}")
        if draw(st.integers(0, 3)) == 0:
            props.append("mode: shadow")
        if draw(st.integers(0, 3)) == 0:
            langs = draw(st.lists(st.sampled_from(("en", "tr", "de", "ar", "pt")), min_size=1,
                                  max_size=2, unique=True))
            props.append("lang: " + ", ".join(langs))
        if draw(st.integers(0, 4)) == 0:
            start, end = draw(st.sampled_from(WINDOWS))
            props.append(f"active: {start} .. {end}")
        if draw(st.booleans()):
            props.append("tags: t, u")
        if draw(st.integers(0, 4)) == 0:
            props.append('escalate: "queue"')
        refs = [f"r{j}" for j in range(i)]
        props.append("when: " + draw(_condition(items, refs)))
        if draw(st.integers(0, 3)) == 0:
            props.append("unless: " + draw(_condition(items, refs)))
        order = draw(st.permutations(props))
        lines.append(f"rule r{i} {{\n  " + "\n  ".join(order) + "\n}")
    return RulesetSpec("\n\n".join(lines) + "\n", n_rules)


def rulesets() -> st.SearchStrategy[RulesetSpec]:
    """Alias kept short for test signatures."""
    return ruleset_specs()
