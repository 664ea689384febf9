"""Evaluation: a compiled :class:`Ruleset` applied to posts, returning :class:`Verdict` values.

Per post: coerce and check the post (``PostError`` on bad input), scan each field that
some rule reads (one normalization and one automaton pass per view), look up the rules
triggered by what was found plus the rules that need no text match, evaluate them in
dependency order with short-circuiting, then build the verdict. Evidence and explanations
are computed only for rules that matched, or on request.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from . import normalize as nz
from .compiler import Plan, RuleProgram
from .errors import PolicyError, PostError
from .logic import _MISSING, field_value
from .matchers import (
    EMPTY_SCAN,
    SETTLED_NO_HIT,
    FieldScanner,
    FirstPass,
    Occurrence,
    RegexBudget,
    ScanResult,
)
from .verdict import Evidence, ExplainNode, Match, Verdict, render_explain

__all__ = ["Limits", "Ruleset"]

_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


REGEX_FAILURE = ("open", "closed")


@attrs.frozen
class Limits:
    """Input limits; beyond them evaluation is cut short and the verdict says what was cut.

    Set them in code (``policyrules.load(path, limits=Limits(...))``, which replaces the
    ruleset's own) or in the ``[limits]`` table of ``ruleset.toml`` (see docs/security.md).
    """

    max_text_chars: int = 100_000  # per text value (text, bio, each list element)
    max_list_items: int = 1_000  # elements scanned per list field
    max_fields: int = 1_000  # keys read per mapping (the post, its author)
    max_evidence: int = 1_000  # evidence items per match
    regex_timeout: float | None = 0.05  # CPU seconds per pattern per field value
    regex_post_budget: float | None = 0.25  # CPU seconds of regex time per post, all patterns
    regex_failure: str = "open"  # open: an undecided rule does not match; closed: it matches

    def __attrs_post_init__(self) -> None:
        problems = _limit_problems(attrs.asdict(self))
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Limits:
        """Limits from a ``[limits]`` table; unknown keys and bad values raise ValueError."""
        if not isinstance(table, Mapping):
            raise ValueError("[limits] must be a table")
        known = [f.name for f in attrs.fields(cls)]
        problems = []
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                problems.append(f"unknown limit '{key}'{hint} (known: {', '.join(known)})")
        values = {k: v for k, v in table.items() if k in known}
        problems.extend(_limit_problems(values))
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**values)


def _limit_problems(values: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, v in values.items():
        if key in ("regex_timeout", "regex_post_budget"):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 3600):
                problems.append(f"{key} must be a number of seconds > 0, got {v!r}")
        elif key == "regex_failure":
            if v not in REGEX_FAILURE:
                problems.append(f"regex_failure must be \"open\" or \"closed\", got {v!r}")
        elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
            problems.append(f"{key} must be a whole number >= 1, got {v!r}")
    return problems


class _PostContext:
    """Per-post state the operators read; never shared between calls."""

    __slots__ = ("_rule_ev", "_rule_val", "_words", "excepted", "occ", "plan", "post", "primary", "ruleset",
                 "timed_out", "values", "when_at")

    def __init__(self, ruleset: Ruleset, post: dict[str, Any], primary: str | None) -> None:
        self.ruleset = ruleset
        self.plan = ruleset._plan
        self.post = post
        self.primary = primary
        self.occ: dict[tuple[str, int], list[Occurrence]] = {}
        # occurrences an `except` cancelled (explain says so): (scope, item) -> [(occurrence, except term)]
        self.excepted: dict[tuple[str, int], list[tuple[Occurrence, str]]] = {}
        self.values: dict[str, str] = {}
        self._rule_val: dict[int, bool] = {}
        self._rule_ev: dict[int, list[Occurrence]] = {}
        self._words: dict[str, list[tuple[int, int]]] = {}
        self.when_at: datetime | None = None
        self.timed_out: set[tuple[str, int]] = set()  # (scope, pattern item) out of time budget

    def rule_holds(self, index: int) -> bool:
        v = self._rule_val.get(index)
        if v is None:
            v = self._rule_val[index] = self.ruleset._holds(self.plan.programs[index], self)
        return v

    def rule_evidence(self, index: int) -> list[Occurrence]:
        ev = self._rule_ev.get(index)
        if ev is None:
            ev = []
            prog = self.plan.programs[index]
            if prog.when is not None and self.rule_holds(index):
                prog.when.collect(self, ev)
            self._rule_ev[index] = ev
        return ev

    def words(self, label: str) -> list[tuple[int, int]]:
        w = self._words.get(label)
        if w is None:
            value = self.values.get(label, "")
            turkic = self.primary in ("tr", "az")
            mapped = nz.normalize_mapped(value, nz.STANDARD, turkic)
            w = [mapped.to_original(s, e) for s, e in nz.word_spans(mapped.text)]
            self._words[label] = w
        return w

    def explain_rule(self, index: int) -> ExplainNode:
        return self.ruleset._explain_program(self.plan.programs[index], self)


def _coerce(post: Any) -> dict[str, Any]:
    if isinstance(post, str):
        return {"text": post}
    if isinstance(post, Mapping):
        text = post.get("text", "")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise PostError(f"post 'text' must be a string, got {type(text).__name__}")
        author = post.get("author")
        if author is not None and not isinstance(author, Mapping):
            raise PostError(f"post 'author' must be a mapping, got {type(author).__name__}")
        if type(post) is dict and post.get("text") is text and (author is None or type(author) is dict):
            return post  # never mutated: no copy needed
        d = dict(post)
        d["text"] = text
        if author is not None and not isinstance(author, dict):
            d["author"] = dict(author)
        return d
    raise PostError(f"a post must be a str or a mapping, got {type(post).__name__}")


_NO_INDICES: frozenset[int] = frozenset()
_NO_AUTHOR: dict[str, Any] = {}  # what evaluate's fast path reads when a post has no author
# lang tag as written -> is it Turkic (tr, az: Turkic case folding); filled on first sight
_TURKIC_TAGS: dict[str, bool] = {}


def _turkic_tag(lang: str) -> bool:
    """``_primary_lang`` of a post with *lang* is tr or az (remembered for the first tags)."""
    turkic = _primary_lang({"lang": lang}) in ("tr", "az")
    if len(_TURKIC_TAGS) < 4096:
        _TURKIC_TAGS[lang] = turkic
    return turkic


def _primary_lang(post: dict[str, Any]) -> str | None:
    lang = post.get("lang")
    if not lang or not isinstance(lang, str):
        return None
    if len(lang) == 2:
        return lang.lower()
    lang = lang.strip().replace("_", "-").split("-", 1)[0].lower()
    return lang or None


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        v = value.strip()
        if v.endswith(("Z", "z")):
            v = v[:-1] + "+00:00"
        try:
            d = datetime.fromisoformat(v)
        except ValueError:
            return None
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return None


class Ruleset:
    """A compiled ruleset: immutable, thread-safe, picklable.

    Build one with :func:`policyrules.load` or :func:`policyrules.compile`.
    """

    __slots__ = ("_always", "_empty", "_first_pass", "_has_windows", "_pattern_readers", "_pattern_reads", "_plan",
                 "_rank", "_text_only", "_triggers", "limits", "root")
    _plan: Plan
    _always: tuple[int, ...]
    _triggers: dict[tuple[str, int], tuple[int, ...]]
    _rank: dict[str, int]
    _empty: Verdict
    _pattern_reads: dict[int, frozenset[tuple[str, int]]]
    _pattern_readers: dict[tuple[str, int], tuple[int, ...]]
    _text_only: FieldScanner | None
    _first_pass: FirstPass | None
    _has_windows: bool
    limits: Limits
    root: str | None

    def __init__(self, plan: Plan, limits: Limits | None = None, root: str | None = None) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "_plan", plan)
        setattr_(self, "_always", plan.always)
        setattr_(self, "_triggers", plan.triggers)
        setattr_(self, "limits", limits or Limits())
        setattr_(self, "root", root)
        setattr_(self, "_rank", {a: i for i, a in enumerate(plan.actions)})
        setattr_(self, "_empty", Verdict(
            action="none", severity=None, matches=(), ruleset=plan.name,
            version=plan.version, digest=plan.digest,
        ))
        setattr_(self, "_pattern_reads", plan.pattern_reads)
        setattr_(self, "_pattern_readers", plan.pattern_readers)
        # A ruleset whose rules read only `text` and none of them on every post can skip
        # the general path for posts with no hit (see evaluate).
        only_text = len(plan.scanners) == 1 and plan.scanners[0][0] == "text" and not plan.always
        setattr_(self, "_text_only", plan.scanners[0][2] if only_text else None)
        setattr_(self, "_first_pass", self._text_only.first_pass if self._text_only is not None else None)
        # Without `active` windows no rule needs the evaluation time (see _verdict).
        setattr_(self, "_has_windows", any(prog.rule.active is not None for prog in plan.programs))

    def __reduce__(self) -> tuple[Any, ...]:
        from .compiler import FORMAT_VERSION, dump_plan

        core, model = dump_plan(self._plan)
        return (_load, (FORMAT_VERSION, core, model, self.limits, self.root))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a compiled Ruleset is immutable")

    # ------------------------------------------------------------------ introspection
    @property
    def resolved(self) -> Any:
        """The resolved model (nodes.ResolvedRuleset) this ruleset was compiled from."""
        return self._plan.resolved

    @property
    def rules(self) -> tuple[Any, ...]:
        """Every rule (nodes.ResolvedRule), helper rules included, in dependency order."""
        return self._plan.resolved.rules

    @property
    def policies(self) -> tuple[Any, ...]:
        """Every policy (nodes.ResolvedPolicy)."""
        return self._plan.resolved.policies

    @property
    def terms(self) -> tuple[Any, ...]:
        """Every named term list (nodes.TermItem with its resolved terms)."""
        return self._plan.resolved.term_lists

    @property
    def patterns(self) -> tuple[Any, ...]:
        """Every named pattern (nodes.PatternItem)."""
        return self._plan.resolved.patterns

    @property
    def name(self) -> str:
        """The ruleset's name (ruleset.toml, or the directory/file name)."""
        return str(self._plan.name)

    @property
    def version(self) -> str | None:
        """``version`` from ruleset.toml."""
        return self._plan.version

    @property
    def digest(self) -> str:
        """sha256 of the sources and list files."""
        return str(self._plan.digest)

    @property
    def config(self) -> Any:
        """The ruleset configuration (loader.RulesetConfig)."""
        return self._plan.resolved.config

    @property
    def actions(self) -> tuple[str, ...]:
        """Actions, least severe first."""
        return tuple(self._plan.actions)

    def __repr__(self) -> str:
        return f"<Ruleset {self.name!r} rules={len(self.rules)} digest={self.digest[:15]}>"

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, post: Any, at: datetime | None = None) -> Verdict:
        """Evaluate one post (a str or a mapping, language.md §6) and return its verdict.

        Raises:
            PostError: the post is not a str or a mapping with a string ``text``.
        """
        try:
            scanned: ScanResult | None = None
            fast = self._text_only
            if fast is not None:
                # The common case: a ruleset that only reads `text`, a plain post, no hit.
                turkic = False
                if type(post) is str:
                    text: Any = post
                elif (type(post) is dict and (at is not None or "created_at" not in post)
                      and type(post.get("author", _NO_AUTHOR)) is dict):  # else _coerce has to complain
                    text = post.get("text")
                    lang = post.get("lang")
                    if isinstance(lang, str):  # str subclasses too (numpy.str_), as _primary_lang reads them
                        known = _TURKIC_TAGS.get(lang)
                        turkic = _turkic_tag(lang) if known is None else known
                else:
                    text = None
                limits = self.limits
                if type(text) is str and len(text) <= limits.max_text_chars:
                    # The regex budget object is made only if some pattern runs.
                    first = self._first_pass
                    if first is not None:  # FieldScanner.scan, without a call for most posts
                        normalized = (first.scan_text_turkic if turkic else first.scan_text)(text)
                        emits = list(first.emits(normalized))
                        if not emits:
                            return self._empty
                        settled = first.settle(emits, normalized)
                        if settled == SETTLED_NO_HIT:
                            return self._empty
                        scanned = fast.scan_emits(text, normalized, emits, "text", turkic, None,
                                                  limits.regex_post_budget, settled)
                    else:
                        scanned = fast.scan(text, "text", turkic, None, limits.regex_post_budget)
                    if scanned is EMPTY_SCAN or (not scanned.by_item and not scanned.incomplete):
                        return self._empty
                    if type(post) is str or (len(post) <= limits.max_fields
                                             and len(post.get("author", ())) <= limits.max_fields):
                        # A hit: the post needs no copying or cutting, and `text` is scanned.
                        data = {"text": post} if type(post) is str else post
                        ctx = _PostContext(self, data, None if type(post) is str else _primary_lang(post))
                        ctx.values["text"] = text
                        for item, found in scanned.by_item.items():
                            ctx.occ[("text", item)] = found
                        if scanned.excepted:
                            for item, cancelled in scanned.excepted.items():
                                ctx.excepted[("text", item)] = cancelled
                        if scanned.timed_out:
                            ctx.timed_out.update(("text", item) for item in scanned.timed_out)
                        return self._verdict(ctx, at, [], list(scanned.incomplete), force_enforce=False)
            data = {"text": post} if type(post) is str else _coerce(post)
            ctx, notes, incomplete = self._scan(data, scanned)
            if not ctx.occ and not self._always and not incomplete:
                if at is None and "created_at" in data:
                    self._time(ctx, at, notes)
                if not notes:
                    return self._empty  # most posts match nothing: one shared verdict
            return self._verdict(ctx, at, notes, incomplete, force_enforce=False)
        except PolicyError:
            raise
        except Exception as exc:  # a hostile post object (custom Mapping/str/int) raised
            raise _post_failure(exc) from exc

    def evaluate_many(self, posts: Iterable[Any], at: datetime | None = None, *,
                      workers: int | None = 1) -> Iterator[Verdict]:
        """Evaluate posts in order, one verdict per post (lazy; a bad post raises PostError).

        *workers* is the number of processes: 1 (the default) evaluates in this thread;
        N > 1 spawns N worker processes that each load the ruleset once; None uses every
        core. Verdicts are the same either way, in input order, with at most ``4 * N``
        chunks of posts in flight. Workers pay a start-up (spawn, import, unpickle), so
        they help on long iterables only.
        """
        if workers is None:
            from .parallel import cores

            workers = cores()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number >= 1 or None, got {workers!r}")
        if workers == 1:
            return (self.evaluate(post, at=at) for post in posts)
        from .parallel import evaluate_parallel

        return evaluate_parallel(self, posts, at, workers, self._from_worker)

    def _from_worker(self, post: Any, portable: tuple[Verdict, bool, datetime | None]) -> Verdict:
        """A verdict from a worker process, with the lazy explainer it could not carry."""
        verdict, explained, when = portable
        if not explained:
            return self._empty if verdict == self._empty else verdict
        rules = tuple(m.rule for m in (*verdict.matches, *verdict.shadow_matches))
        return attrs.evolve(verdict, explainer=_Explainer(self, post, when, rules))

    def _scan(self, data: dict[str, Any], text_scanned: ScanResult | None = None,
              ) -> tuple[_PostContext, list[str], list[str]]:
        """Scan every field some rule reads; *text_scanned* is `text` already scanned by the fast path."""
        limits = self.limits
        notes: list[str] = []
        incomplete: list[str] = []
        if len(data) > limits.max_fields:
            data = _cut_fields(data, limits.max_fields, "post", incomplete)
        author = data.get("author")
        if type(author) is dict and len(author) > limits.max_fields:
            data = {**data, "author": _cut_fields(author, limits.max_fields, "author", incomplete)}
        primary = _primary_lang(data)
        ctx = _PostContext(self, data, primary)
        turkic = primary in ("tr", "az")
        occ = ctx.occ
        seconds = limits.regex_post_budget
        budget = RegexBudget(seconds) if seconds is not None and self._pattern_readers else None
        for scope, key, scanner in self._plan.scanners:
            value = data["text"] if scope == "text" else field_value(data, key)
            if value is _MISSING or value is None:
                continue
            if isinstance(value, str):
                elements: list[tuple[str, str]] = [(scope, value)]
            elif isinstance(value, (list, tuple)):
                if len(value) > limits.max_list_items:
                    incomplete.append(f"field {scope}: only the first {limits.max_list_items} of {len(value)} elements were scanned")
                    value = value[: limits.max_list_items]
                elements = [(f"{scope}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str)]
            else:
                continue
            for label, text in elements:
                if len(text) > limits.max_text_chars:
                    incomplete.append(
                        f"field {label}: only the first {limits.max_text_chars} of {len(text)} characters were scanned"
                    )
                    text = text[: limits.max_text_chars]
                ctx.values[label] = text
                if text_scanned is not None and label == "text":
                    result = text_scanned
                else:
                    result = scanner.scan(text, label, turkic, budget)
                if result.incomplete:
                    incomplete.extend(result.incomplete)
                    ctx.timed_out.update((scope, item) for item in result.timed_out)
                if result.excepted:
                    for item, cancelled in result.excepted.items():
                        ctx.excepted.setdefault((scope, item), []).extend(cancelled)
                for item, found in result.by_item.items():
                    k = (scope, item)
                    if k in occ:
                        occ[k].extend(found)
                    else:
                        occ[k] = found
        return ctx, notes, incomplete

    def _time(self, ctx: _PostContext, at: datetime | None, notes: list[str]) -> datetime:
        if ctx.when_at is not None:
            return ctx.when_at
        when = None
        if at is not None:
            when = at if at.tzinfo else at.replace(tzinfo=UTC)
        else:
            raw = ctx.post.get("created_at")
            if raw is not None:
                when = _parse_time(raw)
                if when is None:
                    notes.append(f"created_at {raw!r} could not be parsed; evaluated at the current time")
        if when is None:
            when = datetime.now(UTC)
        ctx.when_at = when
        return when

    def _in_scope(self, prog: RuleProgram, ctx: _PostContext) -> bool:
        if prog.lang and ctx.primary is not None and ctx.primary not in prog.lang:
            return False
        window = prog.rule.active
        if window is not None:
            when = ctx.when_at
            assert when is not None
            if window.start is not None and when < window.start:
                return False
            if window.end is not None and when >= window.end:
                return False
        return True

    def _holds(self, prog: RuleProgram, ctx: _PostContext) -> bool:
        """The rule matched, whatever its mode: in scope, ``when`` true, ``unless`` false."""
        if not self._in_scope(prog, ctx):
            return False
        assert prog.when is not None
        if not prog.when.value(ctx):
            return False
        return not (prog.unless is not None and prog.unless.value(ctx))

    def _verdict(self, ctx: _PostContext, at: datetime | None, notes: list[str],
                 incomplete: list[str], force_enforce: bool, only: int | None = None) -> Verdict:
        plan = self._plan
        programs = plan.programs
        if only is not None:
            candidates: Iterable[int] = [only]
        elif len(ctx.occ) == 1 and not self._always:  # one item found: its rules, in order already
            candidates = self._triggers.get(next(iter(ctx.occ)), ())
        elif ctx.occ:
            triggered = set(self._always)
            triggers = self._triggers
            for k in ctx.occ:
                hit = triggers.get(k)
                if hit:
                    triggered.update(hit)
            candidates = sorted(triggered)
        else:
            candidates = self._always
        undecided: frozenset[int] | set[int] = _NO_INDICES
        if ctx.timed_out:
            undecided = set()
            for key in ctx.timed_out:
                undecided.update(self._pattern_readers.get(key, ()))
            if only is not None:
                undecided &= {only}
            candidates = sorted({*candidates, *undecided})
        if self._has_windows or at is not None or "created_at" in ctx.post:
            self._time(ctx, at, notes)  # else no rule reads the time, and no note can come of it
        matches: list[Match] = []
        shadow: list[Match] = []
        for index in candidates:
            prog = programs[index]
            rule = prog.rule
            if rule.action == "none" and only is None:
                continue
            if index in undecided:
                if not self._in_scope(prog, ctx):
                    continue  # out of scope: decided whatever the patterns say
                closed = self.limits.regex_failure == "closed"
                names = ", ".join(sorted(
                    plan.item_names[item] for key in self._pattern_reads[index] & ctx.timed_out
                    for item in (key[1],)
                ))
                incomplete.append(
                    f"rule {rule.name}: could not be decided (pattern {names} ran out of the regex "
                    f"time budget); treated as {'matched' if closed else 'not matched'} "
                    f"(regex_failure = {self.limits.regex_failure})"
                )
                if not closed:
                    continue
            elif not ctx.rule_holds(index):
                continue
            match = self._match(prog, ctx, incomplete)
            if rule.mode == "shadow" and not force_enforce:
                shadow.append(match)
            else:
                matches.append(match)
        return self._build_verdict(ctx, matches, shadow, notes, incomplete)

    def _build_verdict(self, ctx: _PostContext, matches: list[Match], shadow: list[Match],
                       notes: list[str], incomplete: list[str]) -> Verdict:
        resolved = self._plan  # its name, version and digest: the model may not be loaded
        if len(matches) > 1 or len(shadow) > 1:
            rank = self._rank
            key = lambda m: (-rank.get(m.action, -1), -_SEVERITY_RANK.get(m.severity, -1), m.rule)  # noqa: E731
            matches.sort(key=key)
            shadow.sort(key=key)
        action = matches[0].action if matches else "none"
        if len(matches) == 1:
            severity: str | None = matches[0].severity
        else:
            severity = max((m.severity for m in matches), key=lambda s: _SEVERITY_RANK.get(s, -1)) if matches else None
        rules = (matches[0].rule,) if len(matches) == 1 and not shadow else tuple(m.rule for m in (*matches, *shadow))
        # positional: a frozen attrs class is a third cheaper to make that way
        return Verdict(action, severity, tuple(matches), tuple(shadow), tuple(incomplete), tuple(notes),
                       resolved.name, resolved.version, resolved.digest,
                       _Explainer(self, ctx.post, ctx.when_at, rules))

    def _match(self, prog: RuleProgram, ctx: _PostContext, incomplete: list[str]) -> Match:
        rule = prog.rule
        occs = ctx.rule_evidence(prog.index)
        evidence, cut = self._evidence(prog, ctx, occs)
        if cut:
            incomplete.append(
                f"rule {rule.name}: only the first {self.limits.max_evidence} pieces of evidence are listed"
            )
        return Match(rule.name, rule.policy, rule.severity, rule.action, rule.escalate, rule.tags,
                     _render_reason(rule, evidence), evidence, rule.mode)

    def _evidence(self, prog: RuleProgram, ctx: _PostContext,
                  occs: list[Occurrence]) -> tuple[tuple[Evidence, ...], bool]:
        """Deduplicated, ordered evidence (language.md §4), and whether max_evidence cut it."""
        names = self._plan.item_names
        if len(occs) == 1:  # the usual hit: nothing to order or deduplicate
            o = occs[0]
            start, end = o.span()
            return (Evidence(o.field, names[o.item], o.term, start, end, ctx.values[o.field][start:end], o.steps),), False
        order = {"text": 0}
        for scope in prog.scopes:
            order.setdefault(scope, len(order))
        seen = set()
        out = []
        for o in occs:
            base = o.field.split("[", 1)[0]
            idx = int(o.field[len(base) + 1 : -1]) if "[" in o.field else -1
            start, end = o.span()
            k = (order.get(base, math.inf), base, idx, start, end, names[o.item], o.term)
            if k in seen:
                continue
            seen.add(k)
            out.append((k, o))
        out.sort(key=lambda pair: pair[0])
        values = ctx.values
        keep = self.limits.max_evidence
        evidence = tuple(
            Evidence(o.field, names[o.item], o.term, k[3], k[4], values[o.field][k[3] : k[4]], o.steps)
            for k, o in out[:keep]
        )
        return evidence, len(out) > keep

    # ------------------------------------------------------------------ explanations
    def explain(self, post: Any, rule: str | None = None, at: datetime | None = None) -> str:
        """Why each rule (or the named *rule*) did or did not match *post*, as a tree."""
        try:
            data = _coerce(post)
            ctx, notes, incomplete = self._scan(data)
            self._time(ctx, at, notes)
            if rule is not None:
                prog = self._program(rule)
                return render_explain(self._explain_program(prog, ctx))
            verdict = self._verdict(ctx, at, notes, incomplete, force_enforce=False)
            return verdict.explain()
        except PolicyError:
            raise
        except Exception as exc:
            raise _post_failure(exc) from exc

    def explain_tree(self, post: Any, rule: str, at: datetime | None = None) -> ExplainNode:
        """The explanation of one rule as a tree of :class:`ExplainNode`."""
        try:
            data = _coerce(post)
            ctx, notes, _ = self._scan(data)
            self._time(ctx, at, notes)
            return self._explain_program(self._program(rule), ctx)
        except PolicyError:
            raise
        except Exception as exc:
            raise _post_failure(exc) from exc

    def evaluate_rule(self, post: Any, rule: str, at: datetime | None = None, *, enforce: bool = True) -> Verdict:
        """Evaluate a single rule as if enforced (used to run a rule's examples)."""
        try:
            data = _coerce(post)
            ctx, notes, incomplete = self._scan(data)
            prog = self._program(rule)
            return self._verdict(ctx, at, notes, incomplete, force_enforce=enforce, only=prog.index)
        except PolicyError:
            raise
        except Exception as exc:
            raise _post_failure(exc) from exc

    def _program(self, name: str) -> RuleProgram:
        for prog in self._plan.programs:
            if prog.rule.name == name:
                return prog
        import difflib

        close = difflib.get_close_matches(name, [p.rule.name for p in self._plan.programs], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownRuleError(f"no rule named '{name}'{hint}")

    def _explain_program(self, prog: RuleProgram, ctx: _PostContext) -> ExplainNode:
        rule = prog.rule
        children = []
        if prog.lang:
            in_lang = ctx.primary is None or ctx.primary in prog.lang
            children.append(ExplainNode(f"lang in [{', '.join(sorted(prog.lang))}]", in_lang, (), f"post lang = {ctx.primary or 'unknown'}"))
        if rule.active is not None:
            w = rule.active
            when = ctx.when_at or datetime.now(UTC)
            ok = (w.start is None or when >= w.start) and (w.end is None or when < w.end)
            children.append(ExplainNode(
                f"active {w.start.isoformat() if w.start else ''} .. {w.end.isoformat() if w.end else ''}", ok, (),
                f"evaluated at {when.isoformat()}",
            ))
        assert prog.when is not None
        when_node = prog.when.explain(ctx)
        children.append(ExplainNode("when", when_node.value, (when_node,)))
        if prog.unless is not None:
            unless_node = prog.unless.explain(ctx)
            children.append(ExplainNode("unless", unless_node.value, (unless_node,)))
        holds = self._holds(prog, ctx)
        label = f"rule {rule.name} [{rule.policy}] {rule.action}/{rule.severity}" + (" (shadow)" if rule.mode == "shadow" else "")
        why = "matched" if holds else _why_not(children)
        return ExplainNode(label, holds, tuple(children), why)


class UnknownRuleError(PolicyError, LookupError):
    """An unknown rule name was given to ``explain`` or ``evaluate_rule``."""


def _why_not(children: list[ExplainNode]) -> str:
    for c in children:
        if c.label == "unless" and c.value:
            return "did not match: unless is true"
        if c.label != "unless" and c.value is False:
            return f"did not match: {c.label} is false"
    return "did not match"


class _Explainer:
    """Computes a verdict's explanation lazily (most verdicts are never explained).

    A plain slotted class: every hit makes one, and a frozen attrs class costs three times
    as much to make."""

    __slots__ = ("at", "post", "rules", "ruleset")

    def __init__(self, ruleset: Ruleset, post: dict[str, Any], at: datetime | None, rules: tuple[str, ...]) -> None:
        self.ruleset = ruleset
        self.post = post
        self.at = at
        self.rules = rules

    def __call__(self) -> str:
        parts = []
        for name in self.rules:
            parts.append(render_explain(self.ruleset.explain_tree(self.post, name, self.at)))
        return "\n".join(parts) if parts else "no rule matched"


def _render_reason(rule: Any, evidence: tuple[Evidence, ...]) -> str | None:
    template = rule.reason
    if template is None:
        return None
    quoted = []
    terms = []
    for e in evidence:
        q = '"' + e.text + '"'
        if q not in quoted:
            quoted.append(q)
        if e.term not in terms:
            terms.append(e.term)
    try:
        return str(template.format(evidence=", ".join(quoted), terms=", ".join(terms), rule=rule.name, policy=rule.policy))
    except (KeyError, ValueError, IndexError):
        return str(template)


def _cut_fields(mapping: dict[str, Any], keep: int, what: str, incomplete: list[str]) -> dict[str, Any]:
    """The first *keep* keys of *mapping* (``text`` always kept), noting what was cut."""
    incomplete.append(f"{what}: only the first {keep} of {len(mapping)} fields were read (max_fields)")
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        if len(out) >= keep:
            break
        out[k] = v
    if "text" in mapping:
        out["text"] = mapping["text"]
    return out


def _post_failure(exc: BaseException) -> PostError:
    """A PostError for an exception raised while reading a post's own objects."""
    try:
        detail = f"{type(exc).__name__}: {exc}"
    except Exception:
        detail = type(exc).__name__
    return PostError(f"the post could not be evaluated ({detail[:200]}); "
                     "give plain str/int/float/bool/list/dict values")


def _rebuild(resolved: Any, limits: Limits, root: str | None) -> Ruleset:
    """Recompile from the resolved model (format 1 pickles, and any other format's fallback)."""
    from .compiler import compile_plan

    return Ruleset(compile_plan(resolved, limits.regex_timeout), limits, root)


def _load(version: int, core: bytes, model: bytes, limits: Limits, root: str | None) -> Ruleset:
    """Unpickle a ruleset: its compiled state as it was, or recompiled when its format differs."""
    import pickle

    from .compiler import FORMAT_VERSION, gc_paused, load_plan

    if version == FORMAT_VERSION:
        return Ruleset(load_plan(core, model), limits, root)
    try:
        with gc_paused():
            resolved = pickle.loads(model)
    except Exception as exc:
        raise PolicyError(
            f"this ruleset was pickled by an incompatible policyrules (format {version}, this one "
            f"reads {FORMAT_VERSION}) and cannot be recompiled from it ({type(exc).__name__}); "
            "compile it again from its source"
        ) from exc
    return _rebuild(resolved, limits, root)
