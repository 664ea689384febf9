"""Compilation: a resolved ruleset → a :class:`Plan` of scanners, rule programs and a trigger index.

Every term of every rule goes into one Aho-Corasick automaton per (field, view); regexes
are gated by literal atoms found by that same scan wherever an atom can be extracted, and
run unconditionally only when none can. Conditions are lowered to operators (cheapest
first). The trigger index maps each (field, item) to the rules that read it, so a post
costs what it matches, not what the ruleset contains; rules that can be true without any
text match (pure field comparisons, ``not any(...)``) are evaluated on every post.
"""

from __future__ import annotations

from typing import Any

import attrs

from . import nodes as n
from .logic import Op, lower
from .matchers import FieldScanner, PatternSpec, TermSpec, view_key
from .regex_atoms import extract_atoms
from .resolve import regex_flags

__all__ = ["FORMAT_VERSION", "Plan", "RuleProgram", "compile_plan"]

FORMAT_VERSION = 1


class RuleProgram:
    """One rule, lowered: its operators, scope, window and what triggers it."""

    __slots__ = ("_items", "_possible", "index", "lang", "rule", "scopes", "unless", "when")

    def __init__(self, index: int, rule: n.ResolvedRule) -> None:
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
    """The compiled form of a ruleset: plain, immutable, rebuilt from the resolved model."""

    resolved: n.ResolvedRuleset
    item_names: tuple[str, ...]
    scanners: tuple[tuple[str, tuple[str, ...], FieldScanner], ...]  # (scope, field key, scanner)
    programs: tuple[RuleProgram, ...]
    triggers: dict[tuple[str, int], tuple[int, ...]]
    always: tuple[int, ...]  # rule indexes evaluated on every post
    pattern_sources: dict[int, str]
    format_version: int = FORMAT_VERSION


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
        return Plan(
            resolved=resolved,
            item_names=tuple(self.item_names),
            scanners=tuple(scanners),
            programs=tuple(programs),
            triggers={k: tuple(sorted(v)) for k, v in triggers.items()},
            always=tuple(always),
            pattern_sources=pattern_sources,
        )


def _term_spec(tid: int, item: int, term: n.Term, excepts: tuple[int, ...]) -> TermSpec:
    text = term.text
    return TermSpec(
        id=tid, item=item, written=text, view=view_key(term.options),
        wild_left=text.startswith("*"), wild_right=text.endswith("*"),
        substring=term.options.match == "substring", excepts=excepts,
        typos=term.options.typos == "one" and item >= 0,  # except terms match exactly
    )


def compile_plan(resolved: n.ResolvedRuleset, pattern_timeout: float | None = None) -> Plan:
    """Lower a resolved ruleset into scanners, rule programs and a trigger index."""
    return _Builder(resolved, pattern_timeout).build()
