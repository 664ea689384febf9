"""Name resolution: parsed modules → one :class:`~policyrules.nodes.ResolvedRuleset`.

Merges every module into one namespace, binds names (suggesting the nearest defined name
when one is unknown), applies policy defaults, expands ``+`` / ``file()`` term lists into
:class:`~policyrules.nodes.Term` values with spans into their list files, checks regexes,
wildcards, options, reason templates and ``rule()`` cycles, and orders rules so that a
referenced rule comes first. Every problem is collected; one
:class:`~policyrules.errors.PolicyCompileError` carries them all.
"""

from __future__ import annotations

import difflib
import hashlib
import string
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import regex

from . import nodes as n
from .errors import Diagnostic, PolicyCompileError, Span, source_line_at
from .loader import ListFileError, LoadedSources, parse_list_file, read_list_file

__all__ = ["ACTIONS_DEFAULT", "SEVERITIES", "regex_flags", "resolve_modules", "rule_refs"]

SEVERITIES = ("low", "medium", "high", "critical")
ACTIONS_DEFAULT = ("none", "log", "label", "limit_visibility", "restrict_replies", "remove", "suspend")
MODES = ("enforce", "shadow")
TERM_OPTIONS = {
    "match": ("word", "substring"),
    "case": ("insensitive", "sensitive"),
    "normalize": ("none", "standard", "aggressive"),
    "accents": ("fold", "keep"),
    "typos": ("none", "one"),
}
PATTERN_OPTIONS = {"case": ("insensitive", "sensitive"), "text": ("light", "folded", "raw")}
POLICY_PROPS = ("title", "url", "description", "severity", "action")
RULE_PROPS = (
    "policy", "severity", "action", "lang", "tags", "escalate", "mode", "active", "when",
    "unless", "reason", "examples",
)
REASON_FIELDS = ("evidence", "terms", "rule", "policy")
REGEX_FLAGS = "ismx"
MAX_CONDITION_DEPTH = 200  # levels of and/or/not/has, counted through rule() references


class _Collector:
    """Gathers diagnostics with the source line of each span for the caret excerpt."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, message: str, span: Span | None, notes: Iterable[str] = ()) -> None:
        line = None
        if span is not None and span.path in self.texts:
            line = source_line_at(self.texts[span.path], span.line)
        self.diagnostics.append(Diagnostic("error", code, message, span, line, tuple(notes)))


def _where(span: Span | None) -> str:
    return f"{span.path}:{span.line}:{span.column}" if span else "(unknown place)"


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def rule_refs(cond: Any) -> list[n.RuleRef]:
    """Every ``rule(NAME)`` reference in a condition, in source order.

    Only condition nodes can hold one, so items (term lists of thousands of terms) are not
    walked: ``n.walk`` over them was a seventh of the compile time.
    """
    out: list[n.RuleRef] = []
    stack = [cond]
    while stack:
        node = stack.pop()
        if isinstance(node, n.RuleRef):
            out.append(node)
        elif isinstance(node, (n.Or, n.And)):
            stack.extend(reversed(node.operands))
        elif isinstance(node, n.Not):
            stack.append(node.operand)
        elif isinstance(node, n.FieldHas):
            stack.append(node.condition)
    return out


class _Resolver:
    def __init__(self, modules: Sequence[n.Module], sources: LoadedSources) -> None:
        self.modules = modules
        self.sources = sources
        texts = {f.path: f.text for f in sources.files}
        for m in modules:
            if m.source:
                texts.setdefault(m.path, m.source)
        self.out = _Collector(texts)
        self.config = sources.config
        self.actions = tuple(sources.config.actions) if sources.config.actions else ACTIONS_DEFAULT
        self.decls: dict[str, Any] = {}
        self.term_cache: dict[str, tuple[n.Term, ...]] = {}
        self.term_stack: list[str] = []
        self.list_files: dict[str, str] = {}
        self.used_names: set[str] = set()

    # ------------------------------------------------------------------ namespace
    def collect(self) -> None:
        kinds = {n.PolicyDecl: "policy", n.TermsDecl: "terms", n.PatternDecl: "pattern", n.RuleDecl: "rule"}
        for module in self.modules:
            for stmt in module.statements:
                prev = self.decls.get(stmt.name)
                if prev is not None:
                    span = stmt.name_span or stmt.span
                    self.out.error(
                        "E110",
                        f"'{stmt.name}' is defined twice: as {kinds[type(prev)]} at "
                        f"{_where(prev.name_span or prev.span)} and as {kinds[type(stmt)]} here; "
                        "rename one (all files of a ruleset share one namespace)",
                        span,
                    )
                    continue
                self.decls[stmt.name] = stmt

    def _of(self, kind: type) -> list[Any]:
        return [d for d in self.decls.values() if isinstance(d, kind)]

    # ------------------------------------------------------------------ properties
    def _props(self, decl: Any, allowed: tuple[str, ...], what: str) -> dict[str, n.Property]:
        props: dict[str, n.Property] = {}
        for prop in decl.properties:
            if prop.name not in allowed:
                self.out.error(
                    "E120", f"unknown {what} property '{prop.name}'{_suggest(prop.name, allowed)}"
                    f" (allowed: {', '.join(allowed)})", prop.span,
                )
                continue
            if prop.name in props:
                self.out.error(
                    "E121", f"property '{prop.name}' is given twice in {what} '{decl.name}' "
                    f"(first at {_where(props[prop.name].span)}); keep one", prop.span,
                )
                continue
            props[prop.name] = prop
        return props

    @staticmethod
    def _str(prop: n.Property | None) -> str | None:
        if prop is None:
            return None
        v = prop.value
        if isinstance(v, n.StrLit):
            return v.value
        return str(v)

    def _choice(self, prop: n.Property | None, choices: Sequence[str], what: str) -> str | None:
        value = self._str(prop)
        if value is None or prop is None:
            return None
        if value not in choices:
            self.out.error(
                "E122", f"{what} '{value}' is not one of {', '.join(choices)}{_suggest(value, choices)}",
                prop.span,
            )
            return None
        return value

    # ------------------------------------------------------------------ policies
    def policies(self) -> dict[str, n.ResolvedPolicy]:
        out = {}
        for decl in self._of(n.PolicyDecl):
            props = self._props(decl, POLICY_PROPS, "policy")
            title = self._str(props.get("title"))
            if title is None:
                self.out.error(
                    "E130", f"policy '{decl.name}' needs a title, e.g. title: \"Violent speech\"",
                    decl.name_span or decl.span,
                )
                title = decl.name
            severity = self._choice(props.get("severity"), SEVERITIES, "severity") or "medium"
            action = self._choice(props.get("action"), self.actions, "action")
            out[decl.name] = n.ResolvedPolicy(
                decl.name, title, self._str(props.get("url")), self._str(props.get("description")),
                severity, action, span=decl.span,
            )
        return out

    # ------------------------------------------------------------------ terms
    def _options(
        self, options: Sequence[n.Option], table: dict[str, tuple[str, ...]], what: str
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        for opt in options:
            if opt.name not in table:
                self.out.error(
                    "E140", f"unknown {what} option '{opt.name}'{_suggest(opt.name, table)}"
                    f" (allowed: {', '.join(table)})", opt.span,
                )
                continue
            if opt.value not in table[opt.name]:
                self.out.error(
                    "E141", f"option {opt.name}: '{opt.value}' is not one of "
                    f"{', '.join(table[opt.name])}{_suggest(opt.value, table[opt.name])}", opt.span,
                )
                continue
            if opt.name in out:
                self.out.error("E142", f"option '{opt.name}' is given twice", opt.span)
            out[opt.name] = opt.value
        return out

    def _check_term(self, text: str, span: Span | None) -> bool:
        core = text.strip("*")
        if not text.strip():
            self.out.error("E150", "empty term; remove it", span)
            return False
        if not core.strip():
            self.out.error("E151", f"term '{text}' is only a wildcard; '*' must be attached to a word, e.g. \"murder*\"", span)
            return False
        if "*" in core or text.startswith("**") or text.endswith("**"):
            self.out.error(
                "E152", f"term '{text}': '*' is allowed only at the start or end of a term "
                "(\"murder*\", \"*phobic\", \"*hate*\")", span,
            )
            return False
        if core != core.strip():
            self.out.error("E153", f"term '{text}': a '*' wildcard must touch a word, not a space", span)
            return False
        return True

    def _literal_terms(self, items: Iterable[n.StrLit], options: n.TermOptions,
                       span: Span | None = None) -> list[n.Term]:
        items = tuple(items)
        if not items and span is not None:
            self.out.error("E154", "empty list []: it can never match; add terms or remove it", span)
        out = []
        for lit in items:
            if self._check_term(lit.value, lit.span):
                out.append(n.Term(lit.value, options, span=lit.span))
        return out

    def _file_terms(self, ref: n.FileRef, options: n.TermOptions) -> list[n.Term]:
        policy_path = ref.span.path if ref.span else ""
        try:
            lf = read_list_file(self.sources.root, policy_path, ref.path)
        except ListFileError as exc:
            self.out.error("E160", str(exc), ref.span)
            return []
        self.list_files[lf.path] = lf.text
        self.out.texts[lf.path] = lf.text
        out = []
        line_offsets = [0]
        for raw_line in lf.text.splitlines(keepends=True):
            line_offsets.append(line_offsets[-1] + len(raw_line))
        for term, line, col in parse_list_file(lf.text):
            start = line_offsets[line - 1] + col - 1
            span = Span(lf.path, start, start + len(term), line, col, line, col + len(term))
            if self._check_term(term, span):
                out.append(n.Term(term, options, span=span))
        if not out:
            self.out.error("E161", f"list file '{ref.path}' has no terms", ref.span)
        return out

    def _parts(self, parts: Sequence[n.TermPart], options: n.TermOptions, explicit: dict[str, str]) -> list[n.Term]:
        out: list[n.Term] = []
        for part in parts:
            if isinstance(part, n.TermListLit):
                out.extend(self._literal_terms(part.items, options, part.span))
            elif isinstance(part, n.FileRef):
                out.extend(self._file_terms(part, options))
            else:  # NameRef
                self.used_names.add(part.name)
                ref_terms = self.terms_of(part.name, part.span)
                for t in ref_terms:
                    opts = attrs.evolve(t.options, **explicit) if explicit else t.options
                    out.append(attrs.evolve(t, options=opts))
        return out

    def terms_of(self, name: str, span: Span | None) -> tuple[n.Term, ...]:
        if name in self.term_cache:
            return self.term_cache[name]
        decl = self.decls.get(name)
        if not isinstance(decl, n.TermsDecl):
            lists = [d.name for d in self._of(n.TermsDecl)]
            what = "is not a term list" if decl is not None else "is not defined"
            self.out.error("E170", f"'{name}' {what}{_suggest(name, lists)}", span)
            return ()
        if name in self.term_stack:
            cycle = " -> ".join([*self.term_stack[self.term_stack.index(name):], name])
            self.out.error("E171", f"term lists include each other in a cycle: {cycle}", span)
            return ()
        self.term_stack.append(name)
        explicit = self._options(decl.options, TERM_OPTIONS, "terms")
        options = n.TermOptions(**explicit)
        terms = self._parts(decl.parts, options, explicit)
        excepts = tuple(self._parts(decl.excepts, options, explicit)) if decl.excepts else ()
        self.term_stack.pop()
        # A term listed twice with the same options counts once, but a term taken from another
        # list keeps that list's excepts, so it stays apart from the same word listed here.
        seen: set[tuple[str, n.TermOptions, tuple[n.Term, ...]]] = set()
        unique = []
        for t in terms:
            key = (t.text, t.options, t.excepts)
            if key in seen:
                continue
            seen.add(key)
            unique.append(attrs.evolve(t, excepts=t.excepts + excepts) if excepts else t)
        result = tuple(unique)
        self.term_cache[name] = result
        return result

    # ------------------------------------------------------------------ patterns
    def pattern_item(self, name: str, regex_lit: n.RegexLit, options: dict[str, str], span: Span | None) -> n.PatternItem:
        flags = regex_lit.flags
        for f in flags:
            if f not in REGEX_FLAGS:
                self.out.error("E180", f"unknown regex flag '{f}' (allowed: i s m x)", regex_lit.span)
        case = options.get("case", "insensitive")
        if "i" in flags:
            case = "insensitive"
        item = n.PatternItem(name, regex_lit.pattern, flags, case, options.get("text", "light"), span=span)
        try:
            regex.compile(regex_lit.pattern, regex_flags(item))
        except (regex.error, ValueError, OverflowError, RecursionError) as exc:
            pos = getattr(exc, "pos", None)
            where = f" at position {pos}" if isinstance(pos, int) else ""
            msg = getattr(exc, "msg", None) or str(exc)
            self.out.error("E181", f"bad regex /{regex_lit.pattern}/: {msg}{where}", regex_lit.span or span)
        else:
            if regex.compile(regex_lit.pattern, regex_flags(item)).search("") is not None and not regex_lit.pattern.startswith(("^", "\\A")):
                pass  # empty-matching patterns are allowed; empty matches are ignored at runtime
        return item

    def patterns(self) -> dict[str, n.PatternItem]:
        out = {}
        for decl in self._of(n.PatternDecl):
            options = self._options(decl.options, PATTERN_OPTIONS, "pattern")
            out[decl.name] = self.pattern_item(decl.name, decl.regex, options, decl.span)
        return out

    # ------------------------------------------------------------------ conditions
    def item(self, item: Any, patterns: dict[str, n.PatternItem]) -> Any:
        if isinstance(item, n.NameItem):
            self.used_names.add(item.name)
            decl = self.decls.get(item.name)
            if isinstance(decl, n.TermsDecl):
                return n.TermItem(item.name, self.terms_of(item.name, item.span), span=item.span)
            if isinstance(decl, n.PatternDecl):
                return patterns.get(item.name) or n.PatternItem(item.name, "", span=item.span)
            names = [d.name for d in self.decls.values() if isinstance(d, (n.TermsDecl, n.PatternDecl))]
            if decl is not None:
                self.out.error(
                    "E190", f"'{item.name}' is a {type(decl).__name__.removesuffix('Decl').lower()}, "
                    f"not a term list or pattern{_suggest(item.name, names)}", item.span,
                )
            else:
                self.out.error("E191", f"unknown term list or pattern '{item.name}'{_suggest(item.name, names)}", item.span)
            return n.TermItem(item.name, (), span=item.span)
        if isinstance(item, n.StringItem):
            terms = self._literal_terms([n.StrLit(item.value, span=item.span)], n.TermOptions())
            return n.TermItem(_quote(item.value), tuple(terms), span=item.span)
        if isinstance(item, n.InlineListItem):
            terms = self._literal_terms(item.items, n.TermOptions(), item.span)
            name = "[" + ", ".join(_quote(s.value) for s in item.items) + "]"
            return n.TermItem(name, tuple(terms), span=item.span)
        if isinstance(item, n.RegexItem):
            written = "/" + item.pattern.replace("/", "\\/") + "/" + item.flags
            return self.pattern_item(written, n.RegexLit(item.pattern, item.flags, span=item.span), {}, item.span)
        return item

    def condition(self, cond: Any, patterns: dict[str, n.PatternItem], rules: set[str]) -> Any:
        c = self.condition
        if isinstance(cond, (n.Or, n.And)):
            return attrs.evolve(cond, operands=tuple(c(o, patterns, rules) for o in cond.operands))
        if isinstance(cond, n.Not):
            return attrs.evolve(cond, operand=c(cond.operand, patterns, rules))
        if isinstance(cond, n.BareItem):
            return attrs.evolve(cond, item=self.item(cond.item, patterns))
        if isinstance(cond, (n.AnyOf, n.AllOf, n.NOf, n.CountCmp, n.DistinctCmp)):
            if isinstance(cond, n.NOf) and cond.n > len(cond.items):
                self.out.error(
                    "E200", f"'{cond.n} of' needs at least {cond.n} items but lists {len(cond.items)}; "
                    "it could never be true", cond.span,
                )
            return attrs.evolve(cond, items=tuple(self.item(i, patterns) for i in cond.items))
        if isinstance(cond, (n.Near, n.Before)):
            if cond.n < 0:
                self.out.error("E201", "word distance must be 0 or more", cond.span)
            return attrs.evolve(cond, left=self.item(cond.left, patterns), right=self.item(cond.right, patterns))
        if isinstance(cond, n.FieldHas):
            self._field(cond.field)
            return attrs.evolve(cond, condition=c(cond.condition, patterns, rules))
        if isinstance(cond, (n.FieldCmp, n.FieldIn, n.FieldTruthy)):
            self._field(cond.field)
            return cond
        if isinstance(cond, n.RuleRef):
            if cond.name not in rules:
                self.out.error("E210", f"rule({cond.name}): unknown rule{_suggest(cond.name, rules)}", cond.span)
            return cond
        return cond

    def _field(self, field: n.FieldPath) -> None:
        if not field.parts or field.parts[0] not in ("post", "author") or len(field.parts) < 2:
            self.out.error(
                "E220", f"field '{field.dotted}' must start with 'post.' or 'author.' "
                "(e.g. post.lang, author.followers)", field.span,
            )

    # ------------------------------------------------------------------ rules
    def rules(self, policies: dict[str, n.ResolvedPolicy], patterns: dict[str, n.PatternItem]) -> list[n.ResolvedRule]:
        rule_names = {d.name for d in self._of(n.RuleDecl)}
        out = []
        for decl in self._of(n.RuleDecl):
            props = self._props(decl, RULE_PROPS, "rule")
            where = decl.name_span or decl.span
            policy_name = self._str(props.get("policy"))
            policy = None
            if policy_name is None:
                self.out.error("E230", f"rule '{decl.name}' needs a policy, e.g. policy: violent_speech", where)
            else:
                policy = policies.get(policy_name)
                if policy is None:
                    self.out.error(
                        "E231", f"rule '{decl.name}': unknown policy '{policy_name}'{_suggest(policy_name, policies)}",
                        props["policy"].span,
                    )
            if "when" not in props:
                self.out.error("E232", f"rule '{decl.name}' needs a condition, e.g. when: any(threats)", where)
            severity = self._choice(props.get("severity"), SEVERITIES, "severity") or (
                policy.severity if policy else "medium"
            )
            action = self._choice(props.get("action"), self.actions, "action") or (policy.action if policy else None)
            if action is None and policy is not None and "action" not in props:
                self.out.error(
                    "E233", f"rule '{decl.name}' has no action and its policy '{policy.name}' gives none; "
                    "add e.g. action: remove (or action: none for a helper rule)", where,
                )
            mode = self._choice(props.get("mode"), MODES, "mode") or "enforce"
            when = self.condition(props["when"].value, patterns, rule_names) if "when" in props else n.Or(())
            unless = self.condition(props["unless"].value, patterns, rule_names) if "unless" in props else None
            reason = self._str(props.get("reason"))
            if reason is not None:
                self._check_reason(reason, props["reason"].span)
            lang = tuple(_primary(x) for x in self._tuple(props.get("lang")))
            tags = self._tuple(props.get("tags"))
            active = props["active"].value if "active" in props else None
            if isinstance(active, n.ActiveWindow) and active.start and active.end and active.start >= active.end:
                self.out.error("E234", "active window ends before it starts; write START .. END", props["active"].span)
            examples = props["examples"].value if "examples" in props else ()
            escalate = self._str(props.get("escalate"))
            out.append(
                n.ResolvedRule(
                    decl.name, policy_name or "", severity, action or "none", when, unless, lang, tags,
                    escalate, mode, active, reason, tuple(examples), span=decl.span,
                )
            )
        return self._order(out)

    @staticmethod
    def _tuple(prop: n.Property | None) -> tuple[str, ...]:
        if prop is None:
            return ()
        v = prop.value
        if isinstance(v, (str, n.StrLit)):
            v = (v,)
        return tuple(x.value if isinstance(x, n.StrLit) else str(x) for x in v)

    def _check_reason(self, template: str, span: Span | None) -> None:
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            self.out.error("E240", f"reason template: {exc}; write '{{{{' and '}}}}' for literal braces", span)
            return
        for _, field, spec, conv in parsed:
            if field is None:
                continue
            if field not in REASON_FIELDS or spec or conv:
                self.out.error(
                    "E241", f"reason template: unknown placeholder '{{{field}}}'{_suggest(field, REASON_FIELDS)} "
                    f"(available: {', '.join('{' + f + '}' for f in REASON_FIELDS)})", span,
                )

    def _order(self, rules: list[n.ResolvedRule]) -> list[n.ResolvedRule]:
        """Referenced rules first; cycles and over-deep rule() chains are errors.

        Iterative, so a chain of thousands of rule() references is reported, not a
        RecursionError.
        """
        by_name = {r.name: r for r in rules}
        ordered: list[n.ResolvedRule] = []
        state: dict[str, int] = {}

        def refs(rule: n.ResolvedRule) -> list[n.RuleRef]:
            return rule_refs(rule.when) + (rule_refs(rule.unless) if rule.unless is not None else [])

        for root in rules:
            if state.get(root.name):
                continue
            state[root.name] = 1
            path = [root.name]
            stack = [(root, iter(refs(root)))]
            while stack:
                rule, pending = stack[-1]
                for ref in pending:
                    target = by_name.get(ref.name)
                    if target is None:
                        continue
                    st = state.get(target.name)
                    if st == 2:
                        continue
                    if st == 1:
                        cycle = " -> ".join([*path[path.index(target.name):], target.name])
                        self.out.error("E250", f"rule() references form a cycle: {cycle}", target.span)
                        continue
                    state[target.name] = 1
                    path.append(target.name)
                    stack.append((target, iter(refs(target))))
                    break
                else:
                    stack.pop()
                    path.pop()
                    state[rule.name] = 2
                    ordered.append(rule)
        self._check_depth(ordered)
        return ordered

    def _check_depth(self, ordered: list[n.ResolvedRule]) -> None:
        """Reject conditions nested deeper than MAX_CONDITION_DEPTH, counted through rule().

        Evaluation and explanations recurse once per level; beyond this a post would hit
        Python's recursion limit at evaluation time instead of failing here.
        """
        depth: dict[str, int] = {}
        for rule in ordered:
            deepest = 0
            stack: list[tuple[Any, int]] = [(c, 1) for c in (rule.when, rule.unless) if c is not None]
            while stack:
                node, level = stack.pop()
                if isinstance(node, (n.Or, n.And)):
                    stack.extend((o, level + 1) for o in node.operands)
                elif isinstance(node, n.Not):
                    stack.append((node.operand, level + 1))
                elif isinstance(node, n.FieldHas):
                    stack.append((node.condition, level + 1))
                elif isinstance(node, n.RuleRef):
                    level += depth.get(node.name, 0)
                deepest = max(deepest, level)
            depth[rule.name] = deepest
            if deepest > MAX_CONDITION_DEPTH:
                self.out.error(
                    "E251", f"rule '{rule.name}' nests conditions {deepest} levels deep, counting the "
                    f"rules it references through rule() (at most {MAX_CONDITION_DEPTH}); "
                    "use fewer levels of helper rules or flatten with any()/all()", rule.span,
                )
                depth[rule.name] = 0  # report each over-deep chain once

    # ------------------------------------------------------------------ all
    def run(self) -> n.ResolvedRuleset:
        self.collect()
        policies = self.policies()
        patterns = self.patterns()
        term_lists = {}
        for decl in self._of(n.TermsDecl):
            term_lists[decl.name] = n.TermItem(decl.name, self.terms_of(decl.name, decl.span), span=decl.span)
        rules = self.rules(policies, patterns)
        if self.out.diagnostics:
            raise PolicyCompileError(sorted(self.out.diagnostics, key=_position))
        return n.ResolvedRuleset(
            name=self.config.name,
            version=self.config.version,
            digest=self.digest(),
            policies=tuple(policies.values()),
            rules=tuple(rules),
            term_lists=tuple(term_lists.values()),
            patterns=tuple(patterns.values()),
            actions=self.actions,
            config=self.config,
        )

    def digest(self) -> str:
        h = hashlib.sha256()
        parts = [(f.path, f.text) for f in self.sources.files] + sorted(self.list_files.items())
        if self.config.path:
            parts.append(("ruleset.toml", repr(sorted(self.config.raw.items()))))
        for path, text in parts:
            h.update(path.encode("utf-8", "surrogatepass") + b"\0")
            h.update(text.encode("utf-8", "surrogatepass") + b"\0")
        return "sha256:" + h.hexdigest()


def _position(d: Diagnostic) -> tuple[str, int, int]:
    return (d.span.path, d.span.line, d.span.column) if d.span else ("", 0, 0)


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _primary(tag: str) -> str:
    return tag.replace("_", "-").split("-", 1)[0].lower()


def regex_flags(item: n.PatternItem) -> int:
    """`regex` flags for a pattern item (VERSION0, IGNORECASE unless case-sensitive)."""
    flags = regex.VERSION0
    if item.case == "insensitive" or "i" in item.flags:
        flags |= regex.IGNORECASE
    if "s" in item.flags:
        flags |= regex.DOTALL
    if "m" in item.flags:
        flags |= regex.MULTILINE
    if "x" in item.flags:
        flags |= regex.VERBOSE
    return int(flags)


def resolve_modules(modules: Sequence[n.Module], sources: LoadedSources) -> n.ResolvedRuleset:
    """Bind the names of *modules* into one resolved ruleset, or raise every problem at once."""
    return _Resolver(modules, sources).run()
