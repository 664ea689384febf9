"""Compilation: a resolved ruleset → a :class:`Plan` of scanners, rule programs and a trigger index.

Every term of every rule goes into one Aho-Corasick automaton per (field, view); regexes
are gated by literal atoms found by that same scan wherever an atom can be extracted, and
run unconditionally only when none can. Conditions are lowered to operators (cheapest
first). The trigger index maps each (field, item) to the rules that read it, so a post
costs what it matches, not what the ruleset contains; rules that can be true without any
text match (pure field comparisons, ``not any(...)``) are evaluated on every post.
"""

from __future__ import annotations

import contextlib
import gc
import pickle
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import attrs

from . import nodes as n
from .logic import NodeRef, NotOp, Op, OrOp, RuleRefOp, dump_op, load_op, lower, node_paths
from .matchers import FieldScanner, PatternSpec, TermSpec, view_key
from .regex_atoms import extract_atoms
from .resolve import regex_flags

__all__ = ["FORMAT_VERSION", "LazyModel", "Plan", "RuleHead", "RuleProgram", "compile_plan", "dump_plan",
           "gc_paused", "load_plan"]

#: Version of the pickled compiled state (dump_plan/load_plan). A pickle of another version
#: is recompiled from its resolved model instead of loaded.
FORMAT_VERSION = 3


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Compiling or loading a big ruleset allocates millions of objects that all survive; each
    full collection walks all of them again, which made compile about twice as slow at 10k
    rules and unpickling the resolved model three times as slow. Nothing built here is
    cyclic garbage, so nothing is lost by collecting later.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class LazyModel:
    """The resolved model of a loaded ruleset, unpickled on first use (thread-safe).

    Evaluating posts never needs it; introspection (``Ruleset.rules``, ``explain``, lint)
    does.
    """

    __slots__ = ("_blob", "_lock", "_value")

    def __init__(self, blob: bytes) -> None:
        self._blob: bytes | None = blob
        self._lock = threading.Lock()
        self._value: n.ResolvedRuleset | None = None

    def get(self) -> n.ResolvedRuleset:
        """The resolved model."""
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    assert self._blob is not None
                    with gc_paused():
                        value = self._value = pickle.loads(self._blob)
                    self._blob = None
        return value

    def blob(self) -> bytes:
        """The model pickled: the stored bytes until it is loaded."""
        with self._lock:
            if self._blob is not None:
                return self._blob
        return pickle.dumps(self.get(), protocol=pickle.HIGHEST_PROTOCOL)


#: Rule fields a loaded program keeps without the resolved model (what evaluation reads).
_HEAD = ("name", "policy", "severity", "action", "escalate", "tags", "mode", "active", "reason", "lang")


class RuleHead(NamedTuple):
    """A loaded rule's metadata; anything else (conditions, examples, spans) is read from
    the resolved model, which is loaded on first such read.

    A tuple, so that loading builds one with ``tuple.__new__``.
    """

    name: str
    policy: str
    severity: str
    action: str
    escalate: str | None
    tags: tuple[str, ...]
    mode: str
    active: n.ActiveWindow | None
    reason: str | None
    lang: tuple[str, ...]
    rule_index: int
    model: LazyModel

    @property
    def is_helper(self) -> bool:
        """A helper rule (``action: none``) never appears in a verdict."""
        return self.action == "none"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.model.get().rules[self.rule_index], name)

    def __repr__(self) -> str:
        return f"RuleHead({self.name!r})"


class RuleProgram:
    """One rule, lowered: its operators, scope, window and what triggers it."""

    __slots__ = ("_items", "_possible", "index", "lang", "rule", "scopes", "unless", "when")

    def __init__(self, index: int, rule: n.ResolvedRule | RuleHead) -> None:
        self.index = index
        self.rule = rule
        self.lang = frozenset(rule.lang)
        self.when: Op | None = None
        self.unless: Op | None = None
        self.scopes: tuple[str, ...] = ()
        self._items: list[tuple[str, int]] | None = None
        self._possible: bool | None = None

    def trigger_items(self) -> list[tuple[str, int]]:
        """Every (scope, item) the rule's ``when`` reads, through ``rule()`` too."""
        if self._items is None:
            self._items = []  # guards against re-entry; cycles are rejected by resolve
            assert self.when is not None
            self._items = self.when.items()
        return self._items

    def possible_without_hits(self) -> bool:
        """True when the rule could match a post on which nothing was found."""
        if self._possible is None:
            assert self.when is not None
            self._possible = self.when.possible_without_hits()
        return self._possible


@attrs.frozen
class Plan:
    """The compiled form of a ruleset: plain and immutable; pickled by :func:`dump_plan`."""

    model: n.ResolvedRuleset | LazyModel
    name: str
    version: str | None
    digest: str
    actions: tuple[str, ...]
    item_names: tuple[str, ...]
    scanners: tuple[tuple[str, tuple[str, ...], FieldScanner], ...]  # (scope, field key, scanner)
    programs: tuple[RuleProgram, ...]
    triggers: dict[tuple[str, int], tuple[int, ...]]
    always: tuple[int, ...]  # rule indexes evaluated on every post
    pattern_sources: dict[int, str]
    # which (scope, pattern item) pairs each rule reads, through rule() too, and the inverse:
    # a pattern that runs out of its time budget leaves exactly these rules undecided
    pattern_reads: dict[int, frozenset[tuple[str, int]]]
    pattern_readers: dict[tuple[str, int], tuple[int, ...]]
    format_version: int = FORMAT_VERSION

    @property
    def resolved(self) -> n.ResolvedRuleset:
        """The resolved model (loaded on first use in a ruleset that was unpickled)."""
        model = self.model
        return model.get() if isinstance(model, LazyModel) else model


class _Builder:
    def __init__(self, resolved: n.ResolvedRuleset, pattern_timeout: float | None) -> None:
        self.resolved = resolved
        self.pattern_timeout = pattern_timeout
        self.items: dict[Any, int] = {}  # structural key -> id
        self.item_names: list[str] = []
        self.item_objs: list[Any] = []
        self.scope_items: dict[str, set[int]] = {}
        self.scope_order: list[str] = []

    def item_id(self, item: Any) -> int:
        key = (type(item).__name__, item)
        found = self.items.get(key)
        if found is None:
            found = self.items[key] = len(self.item_names)
            self.item_names.append(item.name)
            self.item_objs.append(item)
        return found

    def build(self) -> Plan:
        resolved = self.resolved
        programs = [RuleProgram(i, r) for i, r in enumerate(resolved.rules)]
        index_of = {p.rule.name: p for p in programs}

        def rule_index(name: str) -> tuple[int, Any]:
            target = index_of[name]
            return target.index, target

        for prog in programs:  # rules are in dependency order: referenced rules first
            prog.when = lower(prog.rule.when, "text", self.item_id, rule_index)
            if prog.rule.unless is not None:
                prog.unless = lower(prog.rule.unless, "text", self.item_id, rule_index)
            scopes: list[str] = []
            for op in (prog.when, prog.unless):
                if op is None:
                    continue
                for scope, item in op.items():
                    self.scope_items.setdefault(scope, set()).add(item)
                    if scope not in scopes:
                        scopes.append(scope)
            prog.scopes = tuple(scopes)
        # scanners per scope
        scanners = []
        pattern_sources: dict[int, str] = {}
        scopes = sorted(self.scope_items, key=lambda s: (s != "text", s))
        for scope in scopes:
            term_specs: list[TermSpec] = []
            pattern_specs: list[PatternSpec] = []
            except_ids: dict[tuple[str, n.TermOptions], int] = {}
            next_id = 0
            for item_id in sorted(self.scope_items[scope]):
                obj = self.item_objs[item_id]
                if isinstance(obj, n.PatternItem):
                    atoms = extract_atoms(
                        obj.pattern, obj.flags, case_sensitive=obj.case == "sensitive", text=obj.text,
                    )
                    if atoms is not None and any("`" in a for a in atoms):
                        atoms = None
                    pattern_specs.append(PatternSpec(
                        item_id, item_id, obj.pattern, regex_flags(obj), obj.text, atoms or None,
                    ))
                    pattern_sources[item_id] = obj.pattern
                    continue
                for term in obj.terms:
                    xs = []
                    for x in term.excepts:
                        key = (x.text, x.options)
                        if key not in except_ids:
                            except_ids[key] = next_id
                            term_specs.append(_term_spec(next_id, -1, x, ()))
                            next_id += 1
                        xs.append(except_ids[key])
                    term_specs.append(_term_spec(next_id, item_id, term, tuple(xs)))
                    next_id += 1
            field_key: tuple[str, ...] = tuple(scope.split("."))
            scanners.append((scope, field_key, FieldScanner(term_specs, pattern_specs, self.pattern_timeout)))
        triggers: dict[tuple[str, int], list[int]] = {}
        always = []
        for prog in programs:
            if prog.possible_without_hits():
                always.append(prog.index)
                continue
            for pair in set(prog.trigger_items()):
                triggers.setdefault(pair, []).append(prog.index)
        reads, readers = _pattern_index(programs, pattern_sources)
        return Plan(
            model=resolved,
            name=resolved.name,
            version=resolved.version,
            digest=resolved.digest,
            actions=tuple(resolved.actions),
            item_names=tuple(self.item_names),
            scanners=tuple(scanners),
            programs=tuple(programs),
            triggers={k: tuple(sorted(v)) for k, v in triggers.items()},
            always=tuple(always),
            pattern_sources=pattern_sources,
            pattern_reads=reads,
            pattern_readers=readers,
        )


def _term_spec(tid: int, item: int, term: n.Term, excepts: tuple[int, ...]) -> TermSpec:
    text = term.text
    return TermSpec(
        id=tid, item=item, written=text, view=view_key(term.options),
        wild_left=text.startswith("*"), wild_right=text.endswith("*"),
        substring=term.options.match == "substring", excepts=excepts,
        typos=term.options.typos == "one" and item >= 0,  # except terms match exactly
    )


def _pattern_index(programs: Sequence[RuleProgram], patterns: dict[int, str],
                   ) -> tuple[dict[int, frozenset[tuple[str, int]]], dict[tuple[str, int], tuple[int, ...]]]:
    """Which (scope, pattern item) pairs each rule reads (through rule() too), and the inverse.

    A pattern that runs out of its time budget leaves exactly these rules undecided.
    """
    if not patterns:
        return {}, {}
    reads: dict[int, frozenset[tuple[str, int]]] = {}
    readers: dict[tuple[str, int], list[int]] = {}
    for prog in programs:
        found: set[tuple[str, int]] = set()
        seen_rules = {prog.index}
        stack: list[Op] = [op for op in (prog.when, prog.unless) if op is not None]
        while stack:
            op = stack.pop()
            if isinstance(op, RuleRefOp):
                if op.index not in seen_rules:
                    seen_rules.add(op.index)
                    target = programs[op.index]
                    stack.extend(o for o in (target.when, target.unless) if o is not None)
            elif isinstance(op, OrOp):  # and AndOp
                stack.extend(op.children)
            elif isinstance(op, NotOp):
                stack.append(op.child)
            else:
                found.update(key for key in op.items() if key[1] in patterns)
        if found:
            reads[prog.index] = frozenset(found)
            for key in found:
                readers.setdefault(key, []).append(prog.index)
    return reads, {k: tuple(v) for k, v in readers.items()}


def compile_plan(resolved: n.ResolvedRuleset, pattern_timeout: float | None = None) -> Plan:
    """Lower a resolved ruleset into scanners, rule programs and a trigger index."""
    with gc_paused():
        return _Builder(resolved, pattern_timeout).build()


def dump_plan(plan: Plan) -> tuple[bytes, bytes]:
    """A plan as (compiled state, resolved model), each pickled; :func:`load_plan` reverses it.

    The compiled state holds plain tuples (rule metadata, operator trees whose condition
    nodes are paths into the model, trigger tables) and the scanners with their automata,
    so loading builds no automaton and lowers no condition; the model is loaded only when
    something asks for it.
    """
    model = plan.model
    blob = model.blob() if isinstance(model, LazyModel) else pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    rows = []
    for prog in plan.programs:
        rule = prog.rule
        rows.append((
            tuple(getattr(rule, f) for f in _HEAD), prog.scopes,
            dump_op(prog.when, _Paths(prog, 0)) if prog.when is not None else None,
            dump_op(prog.unless, _Paths(prog, 1)) if prog.unless is not None else None,
        ))
    core = (plan.name, plan.version, plan.digest, plan.actions, plan.item_names, tuple(rows),
            plan.scanners, plan.triggers, plan.always, plan.pattern_sources, plan.pattern_reads,
            plan.pattern_readers)
    return pickle.dumps(core, protocol=pickle.HIGHEST_PROTOCOL), blob


class _Paths:
    """An operator's node as a path from its rule's ``when`` (0) or ``unless`` (1)."""

    def __init__(self, prog: RuleProgram, which: int) -> None:
        self.prog = prog
        self.which = which
        self.paths: dict[int, tuple[int, ...]] | None = None

    def __call__(self, op: Op) -> tuple[int, ...]:
        node = op._node
        if type(node) is NodeRef:  # loaded and never explained: the path it came with
            return node.path
        if self.paths is None:
            rule = self.prog.rule
            self.paths = node_paths(rule.when if self.which == 0 else rule.unless)
        return self.paths[id(node)]


def load_plan(core: bytes, blob: bytes) -> Plan:
    """The plan :func:`dump_plan` wrote, with its resolved model left pickled until used."""
    model = LazyModel(blob)
    with gc_paused():
        (name, version, digest, actions, item_names, rows, scanners, triggers, always,
         pattern_sources, reads, readers) = pickle.loads(core)
        new = tuple.__new__
        programs = [RuleProgram(i, new(RuleHead, (*row[0], i, model))) for i, row in enumerate(rows)]
        for i, (prog, row) in enumerate(zip(programs, rows, strict=True)):
            prog.scopes = row[1]
            if row[2] is not None:
                prog.when = load_op(row[2], model, i, 0, programs)
            if row[3] is not None:
                prog.unless = load_op(row[3], model, i, 1, programs)
    return Plan(
        model=model, name=name, version=version, digest=digest, actions=actions, item_names=item_names,
        scanners=scanners, programs=tuple(programs), triggers=triggers, always=always,
        pattern_sources=pattern_sources, pattern_reads=reads, pattern_readers=readers,
    )
