"""Lint warnings for rule files: things that compile but are probably not what the writer meant.

Every warning has a stable code (``W1xx``), a short message, a span and the source line for
the caret. A comment ``# policyrules: ignore[W104]`` (or ``ignore[W104, W105]``) on the line
before a statement silences those codes for that statement; in a list file, the same
comment on the line before a term silences them for that term.

| code | what |
|---|---|
| W101 | a term list or pattern that nothing uses |
| W102 | a term found in two lists used by one rule |
| W103 | a term that cannot match after normalization |
| W104 | a term so short or common it matches most posts |
| W105 | a wildcard term that also captures common, unintended words |
| W106 | a regex with no literal atom (it runs on every post) |
| W107 | a regex prone to catastrophic backtracking |
| W108 | a rule without examples (helper rules exempt) |
| W109 | an example outside the rule's ``lang`` scope, or a scoped language without an example |
| W110 | an ``active`` window that is already over |
| W111 | an ``except`` term that overlaps none of the terms it should suppress |
| W112 | a Turkish term written with ``I`` or ``İ`` (write Turkish terms in lower case) |
| W113 | a ``text: folded`` pattern with characters that folding changes |
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from . import nodes as n
from .errors import Diagnostic, PolicyError, Span, source_line_at
from .loader import LoadedSources, read_list_file

__all__ = ["COMMON_WORDS", "LINT_CODES", "WILDCARD_TRAPS", "lint_modules", "lint_path"]

LINT_CODES = {
    "W101": "unused term list or pattern",
    "W102": "term duplicated across lists used by one rule",
    "W103": "term cannot match after normalization",
    "W104": "over-broad term (very short or very common)",
    "W105": "wildcard captures unintended words",
    "W106": "regex without a literal atom runs on every post",
    "W107": "regex prone to catastrophic backtracking",
    "W108": "rule without examples",
    "W109": "example language outside the rule's scope",
    "W110": "active window already over",
    "W111": "except term never overlaps the terms it suppresses",
    "W112": "Turkish term with I or İ",
    "W113": "folded-text pattern uses characters folding changes",
}

def _words(*chunks: str) -> frozenset[str]:
    """A word table written as space-separated chunks (one per language)."""
    return frozenset(w for chunk in chunks for w in chunk.split())


#: Very common words of our eight languages (en es ar pt fr tr fa de), already folded:
#: a substring or wildcard term that is one of these matches a large share of all posts.
COMMON_WORDS: frozenset[str] = _words(
    # en
    "the be to of and a an in that have i it for not on with he as you do at this but his by "
    "from they we say her she or will my one all would there their what so up out if about "
    "who get which go me when make can like time no just him know take people into year your "
    "good some could them see other than then now look only come its over think also back "
    "after use two how our work first well way even new want because any these give day most "
    "us is are was were been has had did u ur lol ok yes",
    # es
    "de la que el en y a los se del las un por con no una su para es al lo como mas pero sus "
    "le ya o este si porque esta entre cuando muy sin sobre tambien me hasta hay donde quien "
    "desde todo nos durante todos uno les ni contra otros ese eso ante ellos e esto mi antes "
    "algunos que unos yo otro otras otra el tanto esa estos mucho quienes nada muchos cual "
    "poco ella estar estas algunas algo nosotros tu te ti",
    # pt
    "de a o que e do da em um para com nao uma os no se na por mais as dos como mas ao ele "
    "das seu sua ou quando muito nos ja eu tambem so pelo pela ate isso ela entre depois sem "
    "mesmo aos seus quem nas me esse eles voce essa num nem suas meu minha numa pelos elas "
    "qual nos lhe deles essas esses pelas este dele tu te voces vos lhes meus minhas teu tua "
    "vc q pq",
    # fr
    "le de un etre et a il avoir ne je son que se qui ce dans en du elle au pour pas vous par "
    "sur faire plus dire me on mon lui nous comme mais pouvoir avec tout y aller voir en bien "
    "ou sans tu leur homme si deux mari moi vouloir te femme venir quand grand celui notre "
    "devoir la les des est une sont ca c'est j'ai",
    # de
    "der die und in den von zu das mit sich des auf fur ist im dem nicht ein eine als auch es "
    "an werden aus er hat dass sie nach wird bei einer um am sind noch wie einem uber einen "
    "so zum war haben nur oder aber vor zur bis mehr durch man sein wurde sei ich du wir ihr "
    "mich dich",
    # tr
    "ve bir bu da de ne için ile çok ben sen o mi mı ama gibi daha var yok kadar sonra her "
    "şey ki diye olarak en çünkü biz siz onlar beni seni bana sana",
    # ar
    "في من على إلى الى ان أن عن مع هذا هذه ما لا كان التي الذي هو هي و يا كل ذلك قد ثم او أو "
    "بعد عند لم لن انا أنا انت أنت",
    # fa
    "و در به از که این را با است برای آن یک تا هم من تو او ما شما بود شد می نه یا اما",
)

#: Common words that popular wildcard stems capture by accident (the Scunthorpe problem).
WILDCARD_TRAPS: frozenset[str] = _words(
    # en
    "assistant assume assumption assess assessment asset associate association assist "
    "assignment assemble assert assassin bass class classic classroom compass grass mass "
    "massive pass passion passage passenger passport glass brass embassy harass analysis "
    "analyst analog analyze canal banal cocktail cockpit peacock hitchcock cocker hancock "
    "title titan titanic titular constitution institution petition competition appetite "
    "partition repetition sextant sexton sussex essex middlesex therapist grape drape scrape "
    "skyscraper cumulative cucumber circumstance document accumulate dickens dictionary "
    "dictate predict verdict addict contradict button buttress buttercup scuttle rebuttal "
    "shitake hello hellenic shell seashell shellfish othello skill skilled skillet killjoy "
    "killer homogeneous homonym homework homeless spice spicy specific raccoon cocoon japan "
    "japanese niger nigeria snigger arsenal arsenic tardy scrap scrapbook bombastic bombay "
    "therapist rapid rapper scrapped pussycat pushover shoe shoes horde hoe hoes hoedown "
    "whoever cocky dickie fagin nazareth nazarene retardant cumbersome sextet execute",
    # es / pt / fr / de / tr
    "computadora reputacion disputa imputar puta putativo culture culinaire culotte reculer "
    "calcul computer dispute reputation putain ano anotar anonimo cono conocer conozco concon "
    "cabron cabrio mierdas pendiente pendulo götürmek götür götürdü sikke amaç ama amca amcık "
    "kaşar kaşarlı schwanz schwank fotze fickle arschloch",
)

_IGNORE = re.compile(r"#\s*policyrules\s*:\s*ignore\[([^\]]*)\]", re.IGNORECASE)
_SEPARATORS = set(" .-_*,/\\|~·'’ʼ‘`")
_TURKISH_HINTS = set("ışğİ")
_WORD = re.compile(r"\w+")


@attrs.frozen
class _TermRec:
    """One term as written somewhere, with the statement (or list file line) that owns it."""

    term: n.Term
    list_name: str
    owner: Any  # the statement that wrote it (terms decl or rule)
    is_except: bool = False


class _Linter:
    def __init__(self, modules: Sequence[n.Module], resolved: n.ResolvedRuleset | None,
                 sources: LoadedSources | None, now: datetime) -> None:
        self.modules = list(modules)
        self.resolved = resolved
        self.sources = sources
        self.now = now
        self.texts: dict[str, str] = {m.path: m.source for m in self.modules}
        self.stmt_module: dict[int, n.Module] = {}
        self.decls: dict[str, Any] = {}
        for m in self.modules:
            for stmt in m.statements:
                self.stmt_module[id(stmt)] = m
                self.decls.setdefault(stmt.name, stmt)
        self.comment_codes: dict[str, dict[int, set[str]]] = {}
        for m in self.modules:
            by_line = self.comment_codes.setdefault(m.path, {})
            for comment in m.comments:
                if comment.span is None:
                    continue
                for match in _IGNORE.finditer(comment.text):
                    codes = {c.strip().upper() for c in match.group(1).split(",") if c.strip()}
                    by_line.setdefault(comment.span.line, set()).update(codes)
        self.out: list[Diagnostic] = []
        self.list_file_of: dict[str, list[Any]] = {}  # list file display path -> terms decls
        if resolved is not None and sources is not None:
            for m in self.modules:
                for stmt in m.statements:
                    if isinstance(stmt, n.TermsDecl):
                        for part in (*stmt.parts, *stmt.excepts):
                            if isinstance(part, n.FileRef):
                                try:
                                    lf = read_list_file(sources.root, m.path, part.path)
                                except PolicyError:
                                    continue
                                self.texts.setdefault(lf.path, lf.text)
                                self.list_file_of.setdefault(lf.path, []).append(stmt)

    # ------------------------------------------------------------------ plumbing

    def ignored(self, code: str, owners: Iterable[Any], span: Span | None) -> bool:
        for owner in owners:
            if owner is None or owner.span is None:
                continue
            module = self.stmt_module.get(id(owner))
            if module is None:
                continue
            by_line = self.comment_codes.get(module.path, {})
            source_lines = module.source.splitlines()
            line = owner.span.line
            if code in by_line.get(line, ()):
                return True
            above = line - 1
            while above >= 1 and above <= len(source_lines) and source_lines[above - 1].lstrip().startswith("#"):
                if code in by_line.get(above, ()):
                    return True
                above -= 1
        if span is not None and span.path in self.texts and span.path not in self.comment_codes:
            # a list file: '# policyrules: ignore[...]' on the line before the term
            lines = self.texts[span.path].splitlines()
            above = span.line - 1
            while 1 <= above <= len(lines) and lines[above - 1].lstrip().startswith("#"):
                for match in _IGNORE.finditer(lines[above - 1]):
                    if code in {c.strip().upper() for c in match.group(1).split(",")}:
                        return True
                above -= 1
        return False

    def warn(self, code: str, message: str, span: Span | None, *owners: Any,
             notes: Sequence[str] = ()) -> None:
        if self.ignored(code, owners, span):
            return
        line = None
        if span is not None and span.path in self.texts:
            line = source_line_at(self.texts[span.path], span.line)
        self.out.append(Diagnostic("warning", code, message, span, line, tuple(notes)))

    def owners_of_span(self, span: Span | None) -> list[Any]:
        """The statements whose text contains *span* (or whose list file holds it)."""
        if span is None:
            return []
        for m in self.modules:
            if m.path == span.path:
                return [s for s in m.statements if s.span is not None
                        and s.span.start <= span.start < max(s.span.end, s.span.start + 1)]
        return list(self.list_file_of.get(span.path, []))

    def statements(self, kind: type) -> list[Any]:
        return [s for m in self.modules for s in m.statements if isinstance(s, kind)]

    # ------------------------------------------------------------------ term records

    def term_records(self) -> list[_TermRec]:
        """Every term as written, once, with its owner (from the resolved model when there is one)."""
        recs: list[_TermRec] = []
        seen: set[tuple[str, int, int, bool]] = set()

        def add(term: n.Term, list_name: str, fallback_owner: Any, is_except: bool) -> None:
            span = term.span
            key = (span.path, span.start, span.end, is_except) if span else ("", id(term), 0, is_except)
            if key in seen:
                return
            seen.add(key)
            owners = self.owners_of_span(span)
            recs.append(_TermRec(term, list_name, owners[0] if owners else fallback_owner, is_except))

        if self.resolved is not None:
            for item in self.resolved.term_lists:
                decl = self.decls.get(item.name)
                for term in item.terms:
                    add(term, item.name, decl, False)
                    for x in term.excepts:
                        add(x, item.name, decl, True)
            for rule in self.resolved.rules:
                decl = self.decls.get(rule.name)
                for cond in (rule.when, rule.unless):
                    for node in n.walk(cond) if cond is not None else ():
                        if isinstance(node, n.TermItem) and node.name not in self.decls:
                            for term in node.terms:
                                add(term, node.name, decl, False)
            return recs
        # no resolved model: the literal terms written in the modules
        for decl in self.statements(n.TermsDecl):
            options = _options_of(decl.options)
            for parts, is_except in ((decl.parts, False), (decl.excepts, True)):
                for part in parts:
                    if isinstance(part, n.TermListLit):
                        for lit in part.items:
                            if lit.value.strip().strip("*").strip():
                                add(n.Term(lit.value, options, span=lit.span), decl.name, decl, is_except)
        for decl in self.statements(n.RuleDecl):
            for prop in decl.properties:
                if prop.name in ("when", "unless"):
                    for node in n.walk(prop.value):
                        lits: list[n.StrLit] = []
                        if isinstance(node, n.StringItem):
                            lits = [n.StrLit(node.value, span=node.span)]
                        elif isinstance(node, n.InlineListItem):
                            lits = list(node.items)
                        for lit in lits:
                            if lit.value.strip().strip("*").strip():
                                add(n.Term(lit.value, n.TermOptions(), span=lit.span), '"' + lit.value + '"', decl, False)
        return recs

    # ------------------------------------------------------------------ the lints

    def run(self) -> list[Diagnostic]:
        self.w101_unused()
        recs = self.term_records()
        for rec in recs:
            self.term_lints(rec)
        self.w105_wildcards(recs)
        self.w111_excepts(recs)
        if self.resolved is not None:
            self.w102_duplicates()
        self.pattern_lints()
        self.rule_lints()
        return self.out

    def w101_unused(self) -> None:
        used: set[str] = set()
        for decl in self.statements(n.TermsDecl):
            for part in (*decl.parts, *decl.excepts):
                if isinstance(part, n.NameRef):
                    used.add(part.name)
        for decl in self.statements(n.RuleDecl):
            for prop in decl.properties:
                if prop.name in ("when", "unless"):
                    used.update(x.name for x in n.walk(prop.value) if isinstance(x, n.NameItem))
        for decl in self.statements(n.TermsDecl) + self.statements(n.PatternDecl):
            if decl.name not in used:
                kind = "terms" if isinstance(decl, n.TermsDecl) else "pattern"
                self.warn("W101", f"{kind} '{decl.name}' is never used by a rule or another list",
                          decl.name_span or decl.span, decl)

    def term_lints(self, rec: _TermRec) -> None:
        from . import normalize as nz

        term = rec.term
        opts = term.options
        core = term.text.strip("*")
        wild = core != term.text
        variants = nz.normalize_term(core, _view(opts))
        primary = variants[0] if variants else ""
        where = term.span
        owner = rec.owner
        # W103: cannot match
        if not primary.strip():
            self.warn("W103", f"term '{term.text}' is empty after normalization; it can never match",
                      where, owner)
            return
        if opts.normalize == "aggressive" and all(ch in _SEPARATORS or ch.isspace() for ch in primary):
            self.warn("W103", f"term '{term.text}' has only separator characters, which "
                      "aggressive matching skips; it can never match", where, owner)
            return
        if wild and opts.match == "word" and (
            (term.text.startswith("*") and not _is_word_char(core[0]))
            or (term.text.endswith("*") and not _is_word_char(core[-1]))
        ):
            self.warn("W103", f"term '{term.text}': '*' stands for the rest of a word, but it is "
                      "next to a non-word character", where, owner)
        if rec.is_except:
            return
        # W104: over-broad
        folded = primary.strip()
        if opts.match == "substring" and len(folded) <= 2:
            self.warn("W104", f"substring term '{term.text}' is only {len(folded)} character(s) long; "
                      "it matches inside a great many words", where, owner)
        elif wild and len(folded) <= 2:
            self.warn("W104", f"wildcard term '{term.text}' has a stem of {len(folded)} character(s); "
                      "it matches a great many words", where, owner)
        elif (opts.match == "substring" or wild) and (
            folded in COMMON_WORDS or term.text.casefold() in COMMON_WORDS
        ):
            how = "a substring" if opts.match == "substring" else "a wildcard"
            self.warn("W104", f"term '{term.text}' is a very common word; as {how} it matches "
                      "most posts", where, owner)
        # W112: Turkish terms with I / İ
        if ("İ" in term.text or ("I" in term.text and self.turkish(rec))):
            letter = "İ" if "İ" in term.text else "I"
            self.warn("W112", f"Turkish term '{term.text}' contains '{letter}'; terms fold with the "
                      "default rules, so write Turkish terms in lower case (ı or i)", where, owner)

    def turkish(self, rec: _TermRec) -> bool:
        """Is this term Turkish? Turkish letters, a list named *_tr, or used by a tr/az rule."""
        if _TURKISH_HINTS & set(rec.term.text):
            return True
        name = rec.list_name.casefold()
        if re.search(r"(^|_)(tr|az|turkish|turk)(_|$)", name):
            return True
        if self.resolved is not None:
            for rule in self.resolved.rules:
                if {"tr", "az"} & set(rule.lang) and any(
                    isinstance(x, n.TermItem) and x.name == rec.list_name
                    for c in (rule.when, rule.unless) if c is not None for x in n.walk(c)
                ):
                    return True
        return False

    def w105_wildcards(self, recs: list[_TermRec]) -> None:
        from . import normalize as nz

        by_list: dict[str, list[_TermRec]] = {}
        for rec in recs:
            by_list.setdefault(rec.list_name, []).append(rec)
        for rec in recs:
            term = rec.term
            if rec.is_except or "*" not in term.text or term.options.normalize == "aggressive":
                continue
            core = nz.normalize_term(term.text.strip("*"), _view(term.options))[0]
            if len(core) <= 2:
                continue  # W104 already says it
            left, right = term.text.startswith("*"), term.text.endswith("*")
            excepts = [nz.normalize_term(x.text, _view(x.options))[0] for x in term.excepts]
            siblings = {nz.normalize_term(r.term.text.strip("*"), _view(r.term.options))[0]
                        for r in by_list.get(rec.list_name, []) if r is not rec}
            # words that the list's other terms spell out are intended, whatever they are
            intended = {w for sib in siblings for w in _WORD.findall(sib)} | siblings
            candidates = (WILDCARD_TRAPS | COMMON_WORDS) - intended
            caught = []
            for word in sorted(candidates):
                if word == core:
                    continue
                hit = ((left and right and core in word) or (right and not left and word.startswith(core))
                       or (left and not right and word.endswith(core)))
                if hit and not any(word in x or x in word for x in excepts):
                    caught.append(word)
            if caught:
                shown = ", ".join(caught[:5]) + (", ..." if len(caught) > 5 else "")
                self.warn("W105", f"wildcard '{term.text}' also matches {shown}; narrow it or add "
                          "those words to the list's except", term.span, rec.owner)

    def w111_excepts(self, recs: list[_TermRec]) -> None:
        from . import normalize as nz

        targets: dict[tuple[str, int, int], list[n.Term]] = {}
        except_recs: dict[tuple[str, int, int], _TermRec] = {}
        for rec in recs:
            if rec.is_except and rec.term.span is not None:
                sp = rec.term.span
                except_recs[(sp.path, sp.start, sp.end)] = rec
        if self.resolved is not None:
            for item in self.resolved.term_lists:
                for term in item.terms:
                    for x in term.excepts:
                        if x.span is not None:
                            targets.setdefault((x.span.path, x.span.start, x.span.end), []).append(term)
        else:
            for rec in recs:
                if rec.is_except and rec.term.span is not None:
                    sp = rec.term.span
                    targets[(sp.path, sp.start, sp.end)] = [
                        r.term for r in recs if not r.is_except and r.list_name == rec.list_name
                    ]
        for key, rec in except_recs.items():
            terms = targets.get(key, [])
            if not terms:
                continue
            ex = nz.normalize_term(rec.term.text.strip("*"), _view(rec.term.options))[0]
            if not any(_overlaps(ex, t) for t in terms):
                self.warn("W111", f"except term '{rec.term.text}' contains none of the terms it "
                          "should suppress, so it never suppresses anything", rec.term.span, rec.owner)

    def w102_duplicates(self) -> None:
        from . import normalize as nz

        assert self.resolved is not None
        for rule in self.resolved.rules:
            decl = self.decls.get(rule.name)
            first: dict[tuple[Any, ...], str] = {}
            reported: set[tuple[Any, ...]] = set()
            for cond in (rule.when, rule.unless):
                if cond is None:
                    continue
                items = [x for x in n.walk(cond) if isinstance(x, n.TermItem)]
                for item in items:
                    for term in item.terms:
                        o = term.options
                        key = (nz.normalize_term(term.text, _view(o))[0], o.match, o.normalize)
                        prev = first.setdefault(key, item.name)
                        if prev != item.name and key not in reported:
                            reported.add(key)
                            self.warn("W102", f"term '{term.text}' is in both {prev} and {item.name}, "
                                      f"which rule '{rule.name}' both uses", term.span or item.span,
                                      decl, *self.owners_of_span(term.span))

    def pattern_lints(self) -> None:
        from .regex_atoms import backtracking_risk, extract_atoms

        found: list[tuple[str, str, str, str, Span | None, Any]] = []
        for decl in self.statements(n.PatternDecl):
            opts = {o.name: o.value for o in decl.options}
            found.append((decl.regex.pattern, decl.regex.flags, opts.get("case", "insensitive"),
                          opts.get("text", "light"), decl.regex.span or decl.span, decl))
        for decl in self.statements(n.RuleDecl):
            for prop in decl.properties:
                if prop.name in ("when", "unless"):
                    for node in n.walk(prop.value):
                        if isinstance(node, n.RegexItem):
                            found.append((node.pattern, node.flags, "insensitive", "light", node.span, decl))
        for pattern, flags, case, text, span, owner in found:
            sensitive = case == "sensitive" and "i" not in flags
            if extract_atoms(pattern, flags, case_sensitive=sensitive, text=text) is None:
                why = (" (patterns on raw text are never prefiltered)" if text == "raw"
                       else "; add a required literal word if you can")
                self.warn("W106", f"regex /{_short(pattern)}/ has no literal atom, so it runs on "
                          f"every post{why}", span, owner)
            risk = backtracking_risk(pattern, flags)
            if risk:
                self.warn("W107", f"regex /{_short(pattern)}/: {risk}", span, owner)
            if text == "folded":
                self.w113_folded(pattern, flags, sensitive, span, owner)

    def w113_folded(self, pattern: str, flags: str, sensitive: bool, span: Span | None, owner: Any) -> None:
        from . import normalize as nz
        from .regex_atoms import literal_chars

        chars = literal_chars(pattern, flags) or frozenset()
        changed = []
        for ch in sorted(chars):
            folded = nz.normalize(ch, nz.STANDARD)
            if folded == ch:
                continue
            if not sensitive and folded == ch.casefold():
                continue  # a case difference the case-insensitive match absorbs
            changed.append(f"'{ch}'→'{folded}'" if folded else f"'{ch}' (removed)")
        if changed:
            self.warn("W113", f"text: folded pattern uses characters folding changes: "
                      f"{', '.join(changed[:5])}; write the folded forms", span, owner)

    def rule_lints(self) -> None:
        resolved_rules = {r.name: r for r in self.resolved.rules} if self.resolved else {}
        policy_actions = {}
        for p in self.statements(n.PolicyDecl):
            for prop in p.properties:
                if prop.name == "action":
                    policy_actions[p.name] = _scalar(prop.value)
        for decl in self.statements(n.RuleDecl):
            props = {p.name: p for p in decl.properties}
            where = decl.name_span or decl.span
            rr = resolved_rules.get(decl.name)
            if rr is not None:
                helper = rr.is_helper
            else:
                action = _scalar(props["action"].value) if "action" in props else policy_actions.get(_scalar(props["policy"].value) if "policy" in props else "")
                helper = action == "none"
            examples: tuple[n.Example, ...] = tuple(props["examples"].value) if "examples" in props else ()
            if not examples and not helper:
                self.warn("W108", f"rule '{decl.name}' has no examples; add match:/no_match: examples "
                          "so `policyrules test` can check it", where, decl)
            # W109
            langs: list[str] = []
            if "lang" in props:
                value = props["lang"].value
                values = value if isinstance(value, tuple) else (value,)
                langs = [_primary(_scalar(v)) for v in values]
            if langs:
                covered: set[str] = set()
                for ex in examples:
                    lang = ex.post.get("lang") if isinstance(ex.post, dict) else None
                    if isinstance(lang, str) and lang:
                        primary = _primary(lang)
                        covered.add(primary)
                        if primary not in langs:
                            self.warn("W109", f"rule '{decl.name}': example in '{lang}' is outside its "
                                      f"lang scope ({', '.join(langs)}); it can never match",
                                      ex.span or props["examples"].span, decl)
                    else:
                        covered.add(langs[0])  # an example without lang counts for the first language
                missing = [lang for lang in langs if lang not in covered]
                if examples and missing:
                    self.warn("W109", f"rule '{decl.name}' is scoped to {', '.join(langs)} but has no "
                              f"example in {', '.join(missing)}", props["lang"].span, decl)
            # W110
            if "active" in props and isinstance(props["active"].value, n.ActiveWindow):
                window = props["active"].value
                if window.end is not None and window.end <= self.now:
                    self.warn("W110", f"rule '{decl.name}': its active window ended at "
                              f"{window.end.strftime('%Y-%m-%dT%H:%MZ')}; it never fires any more",
                              props["active"].span, decl)


# --------------------------------------------------------------------------- helpers


def _view(opts: n.TermOptions) -> Any:
    from . import normalize as nz

    casefold = opts.case != "sensitive"
    if opts.normalize == "none":
        return nz.View("none", casefold=casefold)
    return nz.View("standard", casefold=casefold, fold_accents=opts.accents != "keep")


def _options_of(options: Sequence[n.Option]) -> n.TermOptions:
    fields = {f.name for f in attrs.fields(n.TermOptions)}
    return n.TermOptions(**{o.name: o.value for o in options if o.name in fields})


def _is_word_char(ch: str) -> bool:
    from . import normalize as nz

    return bool(nz.is_word_char(ch))


def _overlaps(except_text: str, term: n.Term) -> bool:
    """Could an occurrence of *term* lie inside an occurrence of the except text?"""
    from . import normalize as nz

    core = nz.normalize_term(term.text.strip("*"), _view(term.options))
    return any(c and c in except_text for c in core)


def _scalar(value: Any) -> str:
    return value.value if isinstance(value, n.StrLit) else str(value)


def _primary(tag: str) -> str:
    return tag.replace("_", "-").split("-", 1)[0].lower()


def _short(pattern: str, limit: int = 40) -> str:
    return pattern if len(pattern) <= limit else pattern[: limit - 3] + "..."


def _sort_key(d: Diagnostic) -> tuple[Any, ...]:
    s = d.span
    return (s.path if s else "", s.line if s else 0, s.column if s else 0, d.code, d.message)


def lint_modules(modules: Sequence[n.Module], resolved: n.ResolvedRuleset | None, *,
                 now: datetime | None = None, sources: LoadedSources | None = None) -> list[Diagnostic]:
    """Lint parsed modules (and the resolved ruleset when it compiled); warnings in source order.

    *now* decides which ``active`` windows are over (default: the current UTC time);
    *sources* lets warnings point into list files and honour ignore comments there.
    """
    when = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    out = _Linter(modules, resolved, sources, when).run()
    return sorted(out, key=_sort_key)


def lint_path(path: str | os.PathLike[str], *, now: datetime | None = None) -> list[Diagnostic]:
    """Load, parse, resolve and lint a ruleset; compile errors come back as diagnostics too."""
    from .loader import load_sources
    from .resolve import resolve_modules
    from .syntax import parse_source

    try:
        sources = load_sources(path)
    except PolicyError as exc:
        return list(getattr(exc, "diagnostics", ())) or [Diagnostic("error", "E100", str(exc))]
    modules: list[n.Module] = []
    errors: list[Diagnostic] = []
    for f in sources.files:
        try:
            modules.append(parse_source(f.text, f.path))
        except PolicyError as exc:
            errors.extend(getattr(exc, "diagnostics", ()))
    resolved: n.ResolvedRuleset | None = None
    if not errors:
        try:
            resolved = resolve_modules(modules, sources)
        except PolicyError as exc:
            errors.extend(getattr(exc, "diagnostics", ()))
    return errors + lint_modules(modules, resolved, now=now, sources=sources)
