"""Runtime scanners: one Aho-Corasick automaton per (field, view), regexes gated by atoms.

A :class:`FieldScanner` is built from plain specs (term texts, views, pattern sources) and
finds every occurrence of every item used on one field, with spans into the ORIGINAL
value. Normalized texts are computed once per view; offset maps are built only when
something was found, so a post with no hit costs one normalization and one automaton
pass per view. Automata and compiled regexes are rebuilt after unpickling.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import ahocorasick
import attrs
import regex

from . import normalize as nz
from .evasion import AggressiveMatcher
from .typos import TypoMatcher

__all__ = ["FieldScanner", "Occurrence", "PatternSpec", "RegexBudget", "ScanResult", "TermSpec", "view_for"]


@attrs.frozen
class TermSpec:
    """One term as the scanner needs it."""

    id: int
    item: int  # item id, -1 for an except term
    written: str  # as written in the rule file (wildcards included)
    view: str  # view key: "none|cs", "standard|ci|fold", ..., or "aggressive"
    wild_left: bool
    wild_right: bool
    substring: bool
    excepts: tuple[int, ...] = ()  # term ids of the except terms that suppress this one
    typos: bool = False  # also match words one edit away (typos.TypoMatcher)


@attrs.frozen
class PatternSpec:
    """One regex as the scanner needs it."""

    id: int
    item: int
    source: str
    flags: int
    text: str  # light | folded | raw
    atoms: frozenset[str] | None  # None: runs on every value


class Occurrence:
    """A found occurrence: item, term as written, original span, steps.

    The original span is computed on first use: most occurrences (a common word in a long
    list) never reach evidence, and mapping non-ASCII text back to the original is the
    costliest step of a hit.
    """

    __slots__ = ("_end", "_locate", "_start", "field", "item", "nend", "nstart", "steps", "term",
                 "term_id", "view")

    def __init__(self, item: int, term_id: int, term: str, field: str, start: int, end: int,
                 steps: tuple[str, ...] = (), nstart: int = -1, nend: int = -1, view: str = "",
                 locate: Callable[[str, int, int], tuple[int, int]] | None = None) -> None:
        self.item = item
        self.term_id = term_id
        self.term = term
        self.field = field
        self._start = start
        self._end = end
        self.steps = steps
        self.nstart = nstart
        self.nend = nend
        self.view = view
        self._locate = locate

    def _resolve(self) -> None:
        locate = self._locate
        if locate is not None:
            self._start, self._end = locate(self.view, self.nstart, self.nend)
            self._locate = None

    @property
    def start(self) -> int:
        """Start offset in the original field value."""
        if self._locate is not None:
            self._resolve()
        return self._start

    @property
    def end(self) -> int:
        """End offset in the original field value."""
        if self._locate is not None:
            self._resolve()
        return self._end

    def __repr__(self) -> str:
        return f"Occurrence({self.item}, {self.term!r}, {self.field}, {self.start}, {self.end})"


@attrs.frozen
class ScanResult:
    """Occurrences by item id, plus notes on anything cut short."""

    by_item: dict[int, list[Occurrence]]
    incomplete: tuple[str, ...] = ()
    timed_out: tuple[int, ...] = ()  # item ids of patterns that ran out of their time budget


_EMPTY = ScanResult({}, ())


class RegexBudget:
    """CPU seconds of regex time left for one post, shared by the scans of all its fields.

    The ``regex`` module's own ``timeout`` counts process CPU time; this budget counts the
    evaluating thread's CPU time, so other threads never use it up.
    """

    __slots__ = ("left",)

    def __init__(self, seconds: float) -> None:
        self.left = seconds


@functools.lru_cache(maxsize=64)
def view_for(key: str) -> nz.View:
    """The normalize.View for a view key."""
    parts = key.split("|")
    if parts[0] == "none":
        return nz.View("none", casefold=parts[1] == "ci")
    if parts[0] == "standard":
        return nz.View("standard", casefold=parts[1] == "ci", fold_accents=parts[2] == "fold")
    if parts[0] == "light":
        return nz.LIGHT
    if parts[0] == "raw":
        return nz.RAW
    return nz.STANDARD


STANDARD_KEY = "standard|ci|fold"


def view_key(options: Any) -> str:
    """The view key of a term's options (nodes.TermOptions)."""
    case = "ci" if options.case == "insensitive" else "cs"
    if options.normalize == "aggressive":
        return "aggressive"
    if options.normalize == "none":
        return f"none|{case}"
    return f"standard|{case}|{options.accents}"


class _ViewAutomaton:
    """An automaton over one view: key -> (len, first, last, term ids, pattern ids, whole word).

    ``whole word`` is True when every term behind the key is a whole-word term without
    wildcards whose first and last characters are not from a script written without
    spaces: such a key is rejected by one look at its neighbours (:class:`_BlocksBoundary`),
    which is what most keys found inside longer words ("ass" in "class") need.
    """

    __slots__ = ("automaton", "view")

    def __init__(self, view: nz.View, entries: dict[str, tuple[list[int], list[int]]],
                 terms: dict[int, TermSpec]) -> None:
        self.view = view
        a = ahocorasick.Automaton()
        for key, (tids, pids) in entries.items():
            whole_word = bool(tids) and not (nz.is_unspaced(key[0]) or nz.is_unspaced(key[-1])) and all(
                not (terms[t].substring or terms[t].wild_left or terms[t].wild_right) for t in tids
            )
            a.add_word(key, (len(key), key[0], key[-1], tuple(tids), tuple(pids), whole_word))
        a.make_automaton()
        self.automaton = a


class _BlocksBoundary(dict[str, bool]):
    """Character -> True when, next to a whole-word key, it makes the match fail (§3).

    A word character of a spaced script; filled on first sight of each character.
    """

    def __missing__(self, ch: str) -> bool:
        value = nz.is_word_char(ch) and not nz.is_unspaced(ch)
        if len(self) < 1 << 16:
            self[ch] = value
        return value


_BLOCKS = _BlocksBoundary()


def _prefilter(patterns: list[PatternSpec]) -> Any:
    """A multiregex.RegexPrefilter over *patterns* when the RE2 backend is on, else None."""
    if not patterns:
        return None
    from . import multiregex

    if not multiregex.backend_enabled():
        return None
    pre = multiregex.RegexPrefilter(patterns)
    return pre if len(pre) else None


class FieldScanner:
    """Finds the occurrences of every item used on one field."""

    def __init__(self, terms: Sequence[TermSpec], patterns: Sequence[PatternSpec],
                 pattern_timeout: float | None = None) -> None:
        self.terms = {t.id: t for t in terms}
        self.patterns = list(patterns)
        self.pattern_timeout = pattern_timeout
        self._build()

    def __getstate__(self) -> dict[str, Any]:
        return {"terms": list(self.terms.values()), "patterns": self.patterns,
                "pattern_timeout": self.pattern_timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.terms = {t.id: t for t in state["terms"]}
        self.patterns = state["patterns"]
        self.pattern_timeout = state["pattern_timeout"]
        self._build()

    def _build(self) -> None:
        grouped: dict[str, dict[str, tuple[list[int], list[int]]]] = {}
        aggressive: list[tuple[int, str, str]] = []
        typo_terms: list[tuple[int, str]] = []
        for t in self.terms.values():
            if t.typos and not (t.wild_left or t.wild_right):
                typo_terms.extend((t.id, v) for v in nz.normalize_term(t.written, nz.STANDARD) if v)
            if t.view == "aggressive":
                aggressive.append((t.id, t.written, "substring" if t.substring else "word"))
                continue
            core = t.written.strip("*") if (t.wild_left or t.wild_right) else t.written
            view = view_for(t.view)
            for variant in nz.normalize_term(core, view):
                if not variant:
                    continue
                entry = grouped.setdefault(t.view, {}).setdefault(variant, ([], []))
                entry[0].append(t.id)
        self.always: list[PatternSpec] = []
        gated = False
        for p in self.patterns:
            if p.atoms:
                gated = True
                for atom in p.atoms:
                    entry = grouped.setdefault(STANDARD_KEY, {}).setdefault(atom, ([], []))
                    entry[1].append(p.id)
            else:
                self.always.append(p)
        self.gated = gated
        self.automata = [
            (key, _ViewAutomaton(view_for(key), entries, self.terms)) for key, entries in sorted(grouped.items())
        ]
        self.aggressive = AggressiveMatcher(aggressive) if aggressive else None
        typo_matcher = TypoMatcher(typo_terms)
        self.typos = typo_matcher if typo_matcher else None
        self.compiled = {p.id: regex.compile(p.source, p.flags) for p in self.patterns}
        self._prefilter = _prefilter(self.patterns)
        self.pattern_by_id = {p.id: p for p in self.patterns}
        # The usual shape (one view, no aggressive or typo list, no ungated regex): a value
        # on which the automaton finds nothing is settled by one normalization and one pass.
        self._lone = (
            self.automata[0][1]
            if len(self.automata) == 1 and not self.always and self.aggressive is None and self.typos is None
            else None
        )

    # ------------------------------------------------------------------ scanning
    def scan(self, value: str, label: str, turkic: bool, budget: RegexBudget | None = None,
             budget_seconds: float | None = None) -> ScanResult:
        """Every occurrence in *value* (one field value), spans into *value*.

        *budget* is the regex time left for the whole post: a pattern runs for at most
        ``min(pattern_timeout, budget.left)`` and one that would start with nothing left
        is reported as timed out without running. Without *budget*, *budget_seconds* makes
        one for this value when some pattern runs.
        """
        lone = self._lone
        lone_text = None
        if lone is not None:
            text = lone_text = nz.normalize(value, lone.view, turkic)
            blocks = _BLOCKS
            n = len(text)
            for end_idx, (klen, _first, _last, _tids, pids, whole_word) in lone.automaton.iter(text):
                if pids or not whole_word:
                    break
                start = end_idx - klen + 1
                if (start > 0 and blocks[text[start - 1]]) or (end_idx + 1 < n and blocks[text[end_idx + 1]]):
                    continue
                break
            else:
                return _EMPTY
        if budget is None and budget_seconds is not None and self.compiled:
            budget = RegexBudget(budget_seconds)
        found: list[tuple[int, int, int, str, tuple[str, ...]]] = []  # (term_id, ns, ne, viewkey, steps)
        gates: set[int] = set()
        texts: dict[str, str] = {}
        terms = self.terms
        boundary_ok = nz.boundary_ok
        is_word = nz.is_word_char
        unspaced = nz.is_unspaced
        blocks = _BLOCKS
        turkic_gates: set[int] = set()  # gates seen on the Turkic-folded text (used if it is the same)
        for key, va in self.automata:
            text = lone_text if lone_text is not None else nz.normalize(value, va.view, turkic)
            texts[key] = text
            n = len(text)
            for end_idx, (klen, first, last, tids, pids, whole_word) in va.automaton.iter(text):
                if pids:
                    (turkic_gates if turkic else gates).update(pids)
                if not tids:
                    continue
                start = end_idx - klen + 1
                end = end_idx + 1
                if whole_word:
                    if (start > 0 and blocks[text[start - 1]]) or (end < n and blocks[text[end]]):
                        continue
                    for tid in tids:
                        found.append((tid, start, end, key, ()))
                    continue
                for tid in tids:
                    t = terms[tid]
                    if not t.substring and not boundary_ok(
                        text, start, end, first, last, not t.wild_left, not t.wild_right
                    ):
                        continue
                    s, e = start, end
                    if t.wild_left:  # the rest of the word; each unspaced-script char is a word
                        while s > 0 and is_word(text[s - 1]) and not unspaced(text[s - 1]):
                            s -= 1
                    if t.wild_right:
                        while e < n and is_word(text[e]) and not unspaced(text[e]):
                            e += 1
                    found.append((tid, s, e, key, ()))
        if turkic and self.gated:
            # Gates come from the default-folded text; when it equals the Turkic-folded one
            # (no I/İ, the usual case), the first pass already saw every atom: no second scan.
            if value.isascii() and "I" not in value:
                text = texts[STANDARD_KEY]
            else:
                text = nz.normalize(value, nz.STANDARD, False)
            if text == texts[STANDARD_KEY]:
                gates.update(turkic_gates)
            else:
                self._gates_of(text, gates)
        if self.aggressive is not None:
            std = texts.get(STANDARD_KEY)
            if std is None:
                std = texts[STANDARD_KEY] = nz.normalize(value, nz.STANDARD, turkic)
            for tid, s, e, steps in self.aggressive.find(std, turkic):
                found.append((tid, s, e, STANDARD_KEY, steps))
        if self.typos is not None:
            std = texts.get(STANDARD_KEY)
            if std is None:
                std = texts[STANDARD_KEY] = nz.normalize(value, nz.STANDARD, turkic)
            for tid, s, e in self.typos.find(std):
                found.append((tid, s, e, STANDARD_KEY, ("typo",)))
        pattern_hits: list[tuple[PatternSpec, int, int, str]] = []
        incomplete: list[str] = []
        timed_out: list[int] = []
        run = self.always if not gates else self.always + [self.pattern_by_id[p] for p in sorted(gates)]
        if run and self._prefilter is not None:  # RE2 Set: skip the patterns that cannot match
            run = self._prefilter.select(run, lambda kind: self._text(value, kind, texts, turkic))
        for p in run:
            vkey = {"light": "light", "folded": STANDARD_KEY, "raw": "raw"}[p.text]
            if vkey == "raw":
                text = value
            else:
                cached = texts.get(vkey)
                text = cached if cached is not None else ""
                if cached is None:
                    text = texts[vkey] = nz.normalize(value, view_for(vkey), turkic)
            timeout = self.pattern_timeout
            if budget is not None:
                timeout = budget.left if timeout is None else min(timeout, budget.left)
            started = time.thread_time() if budget is not None else 0.0
            try:
                if timeout is not None and timeout <= 0:
                    raise TimeoutError
                for m in self.compiled[p.id].finditer(text, timeout=timeout):
                    if m.end() > m.start():
                        pattern_hits.append((p, m.start(), m.end(), vkey))
            except TimeoutError:
                incomplete.append(f"pattern {p.source!r} on {label}: regex time budget exceeded")
                timed_out.append(p.item)
            finally:
                if budget is not None:
                    budget.left -= time.thread_time() - started
        if not found and not pattern_hits:
            return _EMPTY if not incomplete else ScanResult({}, tuple(incomplete), tuple(timed_out))
        return ScanResult(self._map(value, label, turkic, found, pattern_hits, texts), tuple(incomplete), tuple(timed_out))

    @staticmethod
    def _text(value: str, kind: str, texts: dict[str, str], turkic: bool) -> str:
        """The text a pattern with ``text: kind`` runs on (cached in *texts*, as the run loop does)."""
        if kind == "raw":
            return value
        vkey = "light" if kind == "light" else STANDARD_KEY
        cached = texts.get(vkey)
        if cached is None:
            cached = texts[vkey] = nz.normalize(value, view_for(vkey), turkic)
        return cached

    def _gates_of(self, text: str, gates: set[int]) -> None:
        """Add the patterns whose atoms occur in *text* (a default-folded standard text)."""
        for key, va in self.automata:
            if key != STANDARD_KEY:
                continue
            for _end_idx, (_klen, _f, _l, _tids, pids, _w) in va.automaton.iter(text):
                if pids:
                    gates.update(pids)

    def _map(self, value: str, label: str, turkic: bool,
             found: list[tuple[int, int, int, str, tuple[str, ...]]],
             pattern_hits: list[tuple[PatternSpec, int, int, str]],
             texts: dict[str, str]) -> dict[int, list[Occurrence]]:
        mapped: dict[str, Any] = {}
        # An ASCII value whose normalized text has its length was mapped one character to one
        # character (every view is per-character on ASCII, and only whitespace runs of 2+ fold),
        # so its offsets are the original's: no normalize_mapped (≈0.2-1 ms) for most hits.
        ascii_value = value.isascii()

        def to_original(vkey: str, s: int, e: int) -> tuple[int, int]:
            if vkey == "raw":
                return s, e
            m = mapped.get(vkey)
            if m is None:
                text = texts.get(vkey)
                if ascii_value and s < e and text is not None and len(text) == len(value):
                    return s, e
                m = mapped[vkey] = nz.normalize_mapped(value, view_for(vkey), turkic)
            return m.to_original(s, e)

        occs: list[Occurrence] = []
        except_occs: dict[int, list[tuple[int, int]]] = {}
        for tid, s, e, vkey, steps in found:
            t = self.terms[tid]
            if t.item < 0:
                except_occs.setdefault(tid, []).append(to_original(vkey, s, e))
                continue
            occs.append(Occurrence(t.item, tid, t.written, label, -1, -1, steps, s, e, vkey, to_original))
        for p, s, e, vkey in pattern_hits:
            occs.append(Occurrence(p.item, -1, p.source, label, -1, -1, (), s, e, vkey, to_original))
        by_item: dict[int, list[Occurrence]] = {}
        # One term id lives in one view, so its normalized span identifies an occurrence.
        seen: set[tuple[int, int, str, str, int, int]] = set()
        for o in occs:
            if o.term_id >= 0 and except_occs:
                t = self.terms[o.term_id]
                if any(xs <= o.start and o.end <= xe for x in t.excepts for xs, xe in except_occs.get(x, ())):
                    continue
            k = (o.item, o.term_id, o.term, o.view, o.nstart, o.nend)
            if k in seen:
                continue
            seen.add(k)
            by_item.setdefault(o.item, []).append(o)
        for lst in by_item.values():
            if len(lst) > 1:
                lst.sort(key=lambda o: (o.view, o.nstart, o.nend, o.term))
        return by_item
