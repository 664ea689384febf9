"""A deliberately naive reference evaluator: the oracle of the differential tests (G13).

It walks a resolved ruleset (``nodes.ResolvedRuleset``) and, for every term, tries one
``regex`` match at EVERY position of the normalized field text: no automaton, no
prefilter, no short-circuit, no caching beyond memoizing normalized texts. It reuses
``policyrules.normalize`` only for the text transformations (tested on their own); word
boundaries, wildcards, ``except``, conditions, word distance, evidence and verdict order are
written here again, straight from language.md §3-§7, so that a shortcut taken by the
compiled engine shows up as a disagreement.

Semantics chosen where language.md leaves room (each one is listed in ``DECISIONS``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import regex

from policyrules import nodes as n

__all__ = [
    "DECISIONS",
    "RefEvidence",
    "RefMatch",
    "RefVerdict",
    "evaluate",
    "term_spans",
]

DECISIONS = (
    "evidence flows only through TRUE and/or nodes (a true leaf under a false 'and' adds none)",
    "an occurrence may pair with any occurrence of the other item in near/before; "
    "overlapping spans are 0 words apart (near: qualifies; before: never, A must end "
    "before B starts in original offsets); an occurrence covering no word sits just before "
    "the next word (engine choice, the spec is silent)",
    "rule(X) is true when X matches (when, not unless, window, lang), whatever its mode",
    "field order for evidence: 'text', then the fields of `has` nodes in a depth-first walk "
    "of the condition (rule(X) expands to X's when:; comparisons name no evidence field), "
    "list elements by index",
    "boundaries: the occurrence is neither preceded nor followed by a word character, "
    "whatever its own first/last character is (skipped for unspaced scripts)",
    "a '*' extends over word characters that are not of an unspaced script (possibly none)",
    "patterns: IGNORECASE unless case: sensitive and no i flag, for every text: mode",
    "distinct counts term texts as written (a pattern counts as its source text, so the "
    "pattern /kill/ and the term 'kill' are one)",
    "post.lang compared with a value without a subtag compares the primary subtag "
    "(engine extension: `post.lang == pt` holds for pt-BR); booleans only take == and !=",
    "a list field with no elements: `has` is false (no element matches)",
)

SEVERITIES = ("low", "medium", "high", "critical")
_MISSING = object()


# --------------------------------------------------------------------------- results


@attrs.frozen(order=True)
class RefEvidence:
    """One piece of evidence, as the engine's ``Evidence`` should report it."""

    field: str
    item: str
    term: str
    start: int
    end: int
    text: str


@attrs.frozen
class RefMatch:
    """One rule that matched."""

    rule: str
    policy: str
    severity: str
    action: str
    escalate: str | None
    tags: tuple[str, ...]
    evidence: tuple[RefEvidence, ...]


@attrs.frozen
class RefVerdict:
    """What ``Ruleset.evaluate`` should return."""

    action: str
    severity: str | None
    matches: tuple[RefMatch, ...]
    shadow_matches: tuple[RefMatch, ...]
    held: Mapping[str, bool] = attrs.field(factory=dict, eq=False)  # every rule, helpers too


# --------------------------------------------------------------------------- normalization glue


def _nz() -> Any:
    import policyrules.normalize as nz

    return nz


def _term_view(options: n.TermOptions) -> Any:
    nz = _nz()
    casefold = options.case == "insensitive"
    if options.normalize == "none":
        return nz.View("none", casefold=casefold)
    return nz.View("standard", casefold=casefold, fold_accents=options.accents == "fold")


def _std_view() -> Any:
    return _nz().STANDARD


def _light_view() -> Any:
    return _nz().LIGHT


class _Texts:
    """Memoized normalized texts of one post (the only 'cleverness': it changes no result)."""

    def __init__(self, turkic: bool) -> None:
        self.turkic = turkic
        self._cache: dict[tuple[str, Any], Any] = {}

    def mapped(self, value: str, view: Any) -> Any:
        key = (value, view)
        if key not in self._cache:
            self._cache[key] = _nz().normalize_mapped(value, view, self.turkic)
        return self._cache[key]


# --------------------------------------------------------------------------- term matching


def _is_word(ch: str) -> bool:
    return bool(_nz().is_word_char(ch))


def _unspaced(ch: str) -> bool:
    return bool(_nz().is_unspaced(ch))


def _left_ok(text: str, s: int) -> bool:
    if s == 0 or not _is_word(text[s - 1]):
        return True
    return _unspaced(text[s - 1]) or (s < len(text) and _unspaced(text[s]))


def _right_ok(text: str, e: int) -> bool:
    if e >= len(text) or not _is_word(text[e]):
        return True
    return _unspaced(text[e]) or (e > 0 and _unspaced(text[e - 1]))


def _extends(ch: str) -> bool:
    return _is_word(ch) and not _unspaced(ch)


@functools.lru_cache(maxsize=4096)
def _term_regex(variant: str) -> regex.Pattern[str]:
    return regex.compile(r"\s+".join(regex.escape(p) for p in variant.split()))


def _raw_term_spans(term: n.Term, value: str, texts: _Texts) -> set[tuple[int, int]]:
    """Original spans of *term* in *value*, before its excepts are applied."""
    opts = term.options
    lead = term.text.startswith("*")
    trail = term.text.endswith("*") and len(term.text) > 1
    core = term.text[1 if lead else 0 : len(term.text) - 1 if trail else len(term.text)]
    if opts.normalize == "aggressive":
        return _aggressive_spans(term, core, value, texts)
    view = _term_view(opts)
    mapped = texts.mapped(value, view)
    ntext: str = mapped.text
    out: set[tuple[int, int]] = set()
    for variant in _nz().normalize_term(core, view):
        if not variant.strip():
            continue
        pat = _term_regex(variant)
        for i in range(len(ntext)):
            m = pat.match(ntext, i)
            if m is None:
                continue
            s, e = m.span()
            if lead:
                while s > 0 and _extends(ntext[s - 1]):
                    s -= 1
            if trail:
                while e < len(ntext) and _extends(ntext[e]):
                    e += 1
            if opts.match == "word" and not (_left_ok(ntext, s) and _right_ok(ntext, e)):
                continue
            os_, oe = mapped.to_original(s, e)
            out.add((int(os_), int(oe)))
    return out


@functools.lru_cache(maxsize=1024)
def _aggressive_matcher(text: str, mode: str) -> Any:
    from policyrules.evasion import AggressiveMatcher

    return AggressiveMatcher([(0, text, mode)])


def _aggressive_spans(term: n.Term, core: str, value: str, texts: _Texts) -> set[tuple[int, int]]:
    """Aggressive matching is tested on its own (tests/test_evasion.py): delegate to it.

    What stays naive here is everything around it: the standard text it runs on, the map
    back to the original, excepts, conditions and evidence.
    """
    std = texts.mapped(value, _std_view())
    matcher = _aggressive_matcher(term.text, term.options.match)
    out = set()
    for _tid, s, e, _steps in matcher.find(std.text, texts.turkic):
        os_, oe = std.to_original(s, e)
        out.add((int(os_), int(oe)))
    return out


def term_spans(term: n.Term, value: str, turkic: bool = False) -> list[tuple[int, int]]:
    """Original spans where *term* occurs in *value*, after its ``except`` terms."""
    return sorted(_term_spans(term, value, _Texts(turkic)))


def _term_spans(term: n.Term, value: str, texts: _Texts) -> set[tuple[int, int]]:
    spans = _raw_term_spans(term, value, texts)
    if not term.excepts or not spans:
        return spans
    shields: set[tuple[int, int]] = set()
    for ex in term.excepts:
        shields |= _raw_term_spans(ex, value, texts)
    return {(s, e) for s, e in spans if not any(xs <= s and e <= xe for xs, xe in shields)}


# --------------------------------------------------------------------------- patterns

_FLAG_BITS = {"i": regex.IGNORECASE, "s": regex.DOTALL, "m": regex.MULTILINE, "x": regex.VERBOSE}


@functools.lru_cache(maxsize=1024)
def _pattern_regex(pattern: str, flags: str, case: str) -> regex.Pattern[str]:
    bits = 0
    for f in flags:
        bits |= _FLAG_BITS[f]
    if case != "sensitive":
        bits |= regex.IGNORECASE
    return regex.compile(pattern, bits)


def _pattern_spans(item: n.PatternItem, value: str, texts: _Texts) -> set[tuple[int, int]]:
    pat = _pattern_regex(item.pattern, item.flags, item.case)
    if item.text == "raw":
        return {m.span() for m in pat.finditer(value) if m.end() > m.start()}
    mapped = texts.mapped(value, _light_view() if item.text == "light" else _std_view())
    out = set()
    for m in pat.finditer(mapped.text):
        if m.end() > m.start():
            s, e = mapped.to_original(m.start(), m.end())
            out.add((int(s), int(e)))
    return out


# --------------------------------------------------------------------------- occurrences


@attrs.frozen(order=True)
class _Occ:
    start: int
    end: int
    item: str
    term: str
    key: str  # what `distinct` counts


@attrs.frozen
class _Scope:
    """The field a match expression looks at: ``text``, ``author.bio``, ``hashtags[1]``."""

    label: str
    value: str


def _item_occurrences(item: Any, scope: _Scope, texts: _Texts) -> list[_Occ]:
    if isinstance(item, n.PatternItem):
        return sorted(
            _Occ(s, e, item.name, item.pattern, item.pattern)
            for s, e in _pattern_spans(item, scope.value, texts)
        )
    if isinstance(item, n.TermItem):
        out = set()
        for term in item.terms:
            for s, e in _term_spans(term, scope.value, texts):
                out.add(_Occ(s, e, item.name, term.text, term.text))
        return sorted(out)
    raise TypeError(f"unresolved item {item!r}")


def _evidence(scope: _Scope, occs: Iterable[_Occ]) -> set[RefEvidence]:
    return {
        RefEvidence(scope.label, o.item, o.term, o.start, o.end, scope.value[o.start : o.end])
        for o in occs
    }


# --------------------------------------------------------------------------- word distance


def _word_range(scope: _Scope, occ: _Occ, texts: _Texts) -> tuple[int, int]:
    """First and last word numbers the occurrence covers (§4).

    An occurrence that covers no word (``#`` alone once tatweel is removed) sits just before
    the next word: (k, k) where k words end at or before its start.
    """
    std = texts.mapped(scope.value, _std_view())
    covered = []
    before = 0
    for number, (ws, we) in enumerate(_nz().word_spans(std.text)):
        chars = [std.to_original(i, i + 1) for i in range(ws, we)]
        if any(os_ < occ.end and oe > occ.start for os_, oe in chars):
            covered.append(number)
        if max(oe for _, oe in chars) <= occ.start:
            before += 1
    if not covered:
        return before, before
    return min(covered), max(covered)


def _pairs(
    left: list[_Occ], right: list[_Occ], limit: int, ordered: bool, scope: _Scope, texts: _Texts
) -> set[_Occ]:
    """Occurrences that belong to a qualifying near/before pair."""
    out: set[_Occ] = set()
    for a in left:
        ra = _word_range(scope, a, texts)
        for b in right:
            rb = _word_range(scope, b, texts)
            overlap = a.start < b.end and b.start < a.end
            if ordered:
                if not a.end <= b.start:
                    continue
                dist = rb[0] - ra[1]
            elif overlap:
                dist = 0
            elif a.start < b.start:
                dist = rb[0] - ra[1]
            else:
                dist = ra[0] - rb[1]
            if max(dist, 0) <= limit:
                out.add(a)
                out.add(b)
    return out


# --------------------------------------------------------------------------- conditions

_CMP = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _lookup(post: Mapping[str, Any], key: Sequence[str]) -> Any:
    cur: Any = post
    for part in key:
        if not isinstance(cur, Mapping) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _compare(field: n.FieldPath, actual: Any, op: str, wanted: Any) -> bool:
    if actual is _MISSING or actual is None:
        return False
    if isinstance(wanted, bool):
        if not isinstance(actual, bool) or op not in ("==", "!="):
            return False
    elif isinstance(wanted, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
    elif isinstance(wanted, datetime):
        actual = _as_datetime(actual)
        if actual is None:
            return False
        wanted = wanted if wanted.tzinfo else wanted.replace(tzinfo=UTC)
    elif isinstance(wanted, str):
        if not isinstance(actual, str):
            return False
        if field.key == ("lang",):
            actual, wanted = actual.casefold(), wanted.casefold()
            if "-" not in wanted:  # `post.lang == pt` holds for pt-BR, as lang scopes do
                actual = actual.split("-")[0]
    else:
        return False
    try:
        return bool(_CMP[op](actual, wanted))
    except TypeError:
        return False


class _Evaluator:
    """Evaluates every node of every rule for one post; no short-circuit anywhere."""

    def __init__(self, ruleset: n.ResolvedRuleset, post: Mapping[str, Any], texts: _Texts) -> None:
        self.ruleset = ruleset
        self.post = post
        self.texts = texts
        self.rule_results: dict[str, tuple[bool, set[RefEvidence]]] = {}

    def occ(self, item: Any, scope: _Scope) -> list[_Occ]:
        return _item_occurrences(item, scope, self.texts)

    def eval(self, cond: Any, scope: _Scope) -> tuple[bool, set[RefEvidence]]:
        """(value, evidence); evidence is empty whenever value is false."""
        value, ev = self._eval(cond, scope)
        return value, (ev if value else set())

    def _eval(self, cond: Any, scope: _Scope) -> tuple[bool, set[RefEvidence]]:
        if isinstance(cond, n.And | n.Or):
            results = [self.eval(op, scope) for op in cond.operands]
            values = [v for v, _ in results]
            value = all(values) if isinstance(cond, n.And) else any(values)
            ev: set[RefEvidence] = set()
            for _, e in results:
                ev |= e
            return value, ev
        if isinstance(cond, n.Not):
            inner, _ = self.eval(cond.operand, scope)
            return not inner, set()
        if isinstance(cond, n.BareItem):
            occs = self.occ(cond.item, scope)
            return bool(occs), _evidence(scope, occs)
        if isinstance(cond, n.AnyOf | n.AllOf | n.NOf):
            per_item = [self.occ(item, scope) for item in cond.items]
            hits = sum(1 for occs in per_item if occs)
            if isinstance(cond, n.AnyOf):
                value = hits >= 1
            elif isinstance(cond, n.AllOf):
                value = hits == len(per_item)
            else:
                value = hits >= cond.n
            return value, _evidence(scope, (o for occs in per_item for o in occs))
        if isinstance(cond, n.CountCmp | n.DistinctCmp):
            occs = [o for item in cond.items for o in self.occ(item, scope)]
            if isinstance(cond, n.CountCmp):
                number = len({(o.start, o.end) for o in occs})
            else:
                number = len({o.key for o in occs})
            return bool(_CMP[cond.op](number, cond.n)), _evidence(scope, occs)
        if isinstance(cond, n.Near | n.Before):
            left = self.occ(cond.left, scope)
            right = self.occ(cond.right, scope)
            paired = _pairs(left, right, cond.n, isinstance(cond, n.Before), scope, self.texts)
            return bool(paired), _evidence(scope, paired)
        if isinstance(cond, n.FieldHas):
            return self._eval_has(cond)
        if isinstance(cond, n.FieldCmp):
            actual = _lookup(self.post, cond.field.key)
            return _compare(cond.field, actual, cond.op, cond.value), set()
        if isinstance(cond, n.FieldIn):
            actual = _lookup(self.post, cond.field.key)
            return any(_compare(cond.field, actual, "==", v) for v in cond.values), set()
        if isinstance(cond, n.FieldTruthy):
            return _lookup(self.post, cond.field.key) is True, set()
        if isinstance(cond, n.RuleRef):
            held, ev = self.rule_results[cond.name]
            return held, set(ev)
        raise TypeError(f"unknown condition node {cond!r}")

    def _eval_has(self, cond: n.FieldHas) -> tuple[bool, set[RefEvidence]]:
        actual = _lookup(self.post, cond.field.key)
        name = cond.field.name
        if isinstance(actual, str):
            scopes = [_Scope(name, actual)]
        elif isinstance(actual, list | tuple) and all(isinstance(x, str) for x in actual):
            scopes = [_Scope(f"{name}[{i}]", x) for i, x in enumerate(actual)]
        else:
            return False, set()
        value = False
        ev: set[RefEvidence] = set()
        for scope in scopes:
            v, e = self.eval(cond.condition, scope)
            value = value or v
            ev |= e
        return value, ev


# --------------------------------------------------------------------------- rules and verdict


def _field_order(cond: Any, rules: Mapping[str, n.ResolvedRule], out: list[str]) -> None:
    """Fields of ``has`` nodes in the order the condition names them (rule refs expanded)."""
    if isinstance(cond, n.FieldHas):
        if cond.field.name not in out:
            out.append(cond.field.name)
        _field_order(cond.condition, rules, out)
    elif isinstance(cond, n.And | n.Or):
        for op in cond.operands:
            _field_order(op, rules, out)
    elif isinstance(cond, n.Not):
        _field_order(cond.operand, rules, out)
    elif isinstance(cond, n.RuleRef):
        _field_order(rules[cond.name].when, rules, out)


def _split_label(label: str) -> tuple[str, int]:
    if label.endswith("]") and "[" in label:
        base, _, idx = label[:-1].rpartition("[")
        return base, int(idx)
    return label, -1


def _order_evidence(ev: Iterable[RefEvidence], order: Sequence[str]) -> tuple[RefEvidence, ...]:
    def key(e: RefEvidence) -> tuple[Any, ...]:
        base, idx = _split_label(e.field)
        rank = order.index(base) if base in order else len(order)
        return (rank, base, idx, e.start, e.end, e.item, e.term)

    return tuple(sorted(set(ev), key=key))


def _primary(lang: Any) -> str | None:
    if not isinstance(lang, str) or not lang.strip():
        return None
    return lang.strip().split("-")[0].lower()


def _eval_time(post: Mapping[str, Any], at: datetime | None) -> datetime:
    if at is not None:
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    created = _as_datetime(post.get("created_at"))
    return created if created is not None else datetime.now(UTC)


def _in_window(window: n.ActiveWindow | None, when: datetime) -> bool:
    if window is None:
        return True
    start = window.start if window.start is None or window.start.tzinfo else window.start.replace(tzinfo=UTC)
    end = window.end if window.end is None or window.end.tzinfo else window.end.replace(tzinfo=UTC)
    return (start is None or start <= when) and (end is None or when < end)


def coerce_post(post: Any) -> dict[str, Any]:
    """A str post becomes ``{"text": post}``."""
    if isinstance(post, str):
        return {"text": post}
    if isinstance(post, Mapping):
        return dict(post)
    raise TypeError("a post is a str or a mapping")


def evaluate(ruleset: n.ResolvedRuleset, post: Any, at: datetime | None = None) -> RefVerdict:
    """The verdict language.md says *ruleset* gives *post* (at time *at*)."""
    post = coerce_post(post)
    primary = _primary(post.get("lang"))
    texts = _Texts(turkic=primary in ("tr", "az"))
    now = _eval_time(post, at)
    ev = _Evaluator(ruleset, post, texts)
    rules = {r.name: r for r in ruleset.rules}
    text = post.get("text", "")
    top = _Scope("text", text if isinstance(text, str) else "")
    enforced: list[RefMatch] = []
    shadow: list[RefMatch] = []
    held_by_rule: dict[str, bool] = {}
    for rule in ruleset.rules:
        when, when_ev = ev.eval(rule.when, top)
        unless = ev.eval(rule.unless, top)[0] if rule.unless is not None else False
        in_lang = not rule.lang or primary is None or primary in rule.lang
        held = when and not unless and _in_window(rule.active, now) and in_lang
        ev.rule_results[rule.name] = (held, when_ev if held else set())
        held_by_rule[rule.name] = held
        if not held or rule.is_helper:
            continue
        order: list[str] = ["text"]
        _field_order(rule.when, rules, order)
        match = RefMatch(
            rule.name, rule.policy, rule.severity, rule.action, rule.escalate, rule.tags,
            _order_evidence(when_ev, order),
        )
        (shadow if rule.mode == "shadow" else enforced).append(match)
    actions = list(ruleset.actions)

    def rank(m: RefMatch) -> tuple[int, int, str]:
        a = actions.index(m.action) if m.action in actions else -1
        return (-a, -SEVERITIES.index(m.severity), m.rule)

    enforced.sort(key=rank)
    shadow.sort(key=rank)
    action = enforced[0].action if enforced else "none"
    severity = max((m.severity for m in enforced), key=SEVERITIES.index) if enforced else None
    return RefVerdict(action, severity, tuple(enforced), tuple(shadow), held_by_rule)
