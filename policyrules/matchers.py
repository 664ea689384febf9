"""Runtime scanners: one Aho-Corasick automaton per (field, view), regexes gated by atoms.

A :class:`FieldScanner` is built from plain specs (term texts, views, pattern sources) and
finds every occurrence of every item used on one field, with spans into the ORIGINAL
value. Normalized texts are computed once per view; offset maps are built only when
something was found, so a post with no hit costs one normalization and one automaton
pass per view. Automata and compiled regexes are rebuilt after unpickling.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import ahocorasick
import attrs
import regex

from . import normalize as nz
from .evasion import AggressiveMatcher
from .regex_atoms import required_class
from .typos import TypoMatcher

__all__ = ["EMPTY_SCAN", "SETTLED_NO_HIT", "FieldScanner", "FirstPass", "Occurrence", "PatternSpec", "RegexBudget", "ScanResult", "TermSpec", "view_for"]


class TermSpec(NamedTuple):
    """One term as the scanner needs it.

    A tuple, not an attrs class: a pickled ruleset rebuilds hundreds of thousands of them
    on load, and ``tuple.__new__`` does that about ten times faster.
    """

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

    def span(self) -> tuple[int, int]:
        """``(start, end)`` in one call."""
        if self._locate is not None:
            self._resolve()
        return self._start, self._end

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


class ScanResult(NamedTuple):
    """Occurrences by item id, plus notes on anything cut short.

    A tuple, not an attrs class: every hit makes one, and a tuple is made three times faster.
    """

    by_item: dict[int, list[Occurrence]]
    incomplete: tuple[str, ...] = ()
    timed_out: tuple[int, ...] = ()  # item ids of patterns that ran out of their time budget
    #: occurrences an ``except`` cancelled, by item id, with the except term as written (for explain)
    excepted: dict[int, list[tuple[Occurrence, str]]] | None = None


EMPTY_SCAN = ScanResult({}, ())  # what a scan that found nothing returns (one shared object)
_RESYNC = 0.005  # seconds of wall time between readings of the thread's CPU clock (scan)


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
#: a pattern's ``text:`` option -> the key of the text it runs on (and of its cached copy)
_VIEW_KEY_OF_TEXT = {"light": "light", "folded": STANDARD_KEY, "raw": "raw"}


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

    The lone pass of :meth:`FieldScanner.scan` reads a cheaper text than ``normalize``'s
    (``scan``): runs of spaces are not folded (finding them costs more than normalizing an
    ASCII post), and an ASCII post under a case-folding standard view is only lowercased
    (``nz.scan_normalizer``: its whitespace stays as written). The difference is whitespace
    on both sides, a non-word character, so it changes nothing for a key without a space.
    A key with a space inside (keys never start with one: else the view reads the exact
    text) is hidden only where the text holds the key up to that space followed by a second
    space, or holds the key up to it followed by another whitespace character. Each such
    prefix is in the automaton too, as a *scan key* (``"fuck  "``, ``"fuck\\n"`` for "fuck
    you") whose emit sends the pass to the exact text. No key starts with a space, so
    spaces cost the automaton nothing more. A view with more scan keys than
    ``_MAX_SCAN_KEYS`` and twice its keys reads the text with runs of spaces only (run keys
    only). An automaton of a scanner that has no lone pass has no scan keys (mode "norm").
    """

    __slots__ = ("automaton", "mode", "norm", "scan", "view")

    def __init__(self, view: nz.View, entries: dict[str, tuple[list[int], list[int]]],
                 terms: dict[int, TermSpec], with_scan_keys: bool = True) -> None:
        self.view = view
        a = ahocorasick.Automaton()
        lower = view.kind == "standard" and view.casefold  # nz.scan_normalizer lowercases ASCII
        ends = (" ", *nz.ASCII_OTHER_SPACES) if lower else (" ",)
        # scan key -> do all the keys it stands for start a word (whole-word terms, no atom)?
        scan_keys: dict[str, bool] = {}
        for key, (tids, pids) in entries.items():
            whole_word = bool(tids) and not (nz.is_unspaced(key[0]) or nz.is_unspaced(key[-1])) and all(
                not (terms[t].substring or terms[t].wild_left or terms[t].wild_right) for t in tids
            )
            a.add_word(key, (len(key), key[0], key[-1], tuple(tids), tuple(pids), whole_word))
            starts_word = whole_word and not pids
            at = key.find(" ", 1)
            while at > 0:
                for scan_key in [key[:at] + " " + end for end in ends] + (
                    [key[:at] + end for end in nz.ASCII_OTHER_SPACES] if lower else []
                ):
                    scan_keys[scan_key] = scan_keys.get(scan_key, True) and starts_word
                at = key.find(" ", at + 1)
        mode = "norm"
        if with_scan_keys and view.kind != "raw" and not any(key.startswith(" ") or "  " in key for key in entries):
            mode = "scan" if lower and len(scan_keys) <= max(_MAX_SCAN_KEYS, 2 * len(entries)) else "loose"
            for key, starts_word in scan_keys.items():
                if mode == "scan" or key.endswith("  "):  # loose: the runs of spaces only
                    # "first" None: the key matters only where it starts a word (_settled)
                    a.add_word(key, (len(key), None if starts_word else key[0], key[-1], (), (), None))
        a.make_automaton()
        self.automaton = a
        self._normalizers(mode)

    def _normalizers(self, mode: str) -> None:
        """``norm``: normalize, by ``turkic``. ``scan``: what the lone pass reads: the
        ``nz.scan_normalizer`` text (mode "scan"), the text with runs of spaces (mode
        "loose"), or the exact text (mode "norm"), as the automaton's scan keys allow."""
        view = self.view
        self.mode = mode
        self.norm = nz.normalizer(view, False), nz.normalizer(view, True)
        if mode == "scan":
            self.scan = nz.scan_normalizer(view, False), nz.scan_normalizer(view, True)
        elif mode == "loose":
            self.scan = nz.normalizer(view, False, False), nz.normalizer(view, True, False)
        else:
            self.scan = self.norm

    def __getstate__(self) -> tuple[nz.View, Any, str]:
        # the normalizers are closures: made again on load
        return self.view, self.automaton, self.mode

    def __setstate__(self, state: tuple[nz.View, Any, str]) -> None:
        self.view, self.automaton, mode = state
        self._normalizers(mode)


# past this many scan keys, or twice the keys, a view's lone pass reads the text with runs
# of spaces only (mode "loose", one scan key per space of a key)
_MAX_SCAN_KEYS = 20_000


# `_settled`: can the emits hold a hit; and did a scan key (payload "whole word" None) show?
_HIT, _NO_HIT, _NO_HIT_BUT_SCAN_KEY = 0, 1, 2
SETTLED_NO_HIT = _NO_HIT  # FieldScanner.first_pass


def _settled(emits: list[Any], text: str) -> int:
    """Whether a lone pass's *emits* over *text* can hold a hit: ``_HIT`` if one may (a
    gate, a key that needs the full boundary check, a whole-word key with word boundaries),
    else ``_NO_HIT``, or ``_NO_HIT_BUT_SCAN_KEY`` if a scan key that may start a hidden key was
    among them (the caller then scans the exact text)."""
    blocks = _BLOCKS
    n = len(text)
    scan_key = False
    for end_idx, (klen, first, _last, _tids, pids, whole_word) in emits:
        if pids or not whole_word:
            if whole_word is None:  # a scan key: settled unless it may start a hidden key
                start = end_idx - klen + 1
                if first is None and start > 0 and blocks[text[start - 1]]:
                    continue  # inside a word, where no whole-word key it stands for can start
                scan_key = True
                continue
            return _HIT
        start = end_idx - klen + 1
        if (start > 0 and blocks[text[start - 1]]) or (end_idx + 1 < n and blocks[text[end_idx + 1]]):
            continue
        return _HIT
    return _NO_HIT_BUT_SCAN_KEY if scan_key else _NO_HIT


class _Regexes(dict[int, Any]):
    """Pattern id -> compiled regex, compiled on first use (a loaded ruleset's gated
    patterns mostly never run; compiling 1,000 of them took 0.13 s of the load)."""

    __slots__ = ("_specs",)

    def __init__(self, specs: dict[int, PatternSpec]) -> None:
        super().__init__()
        self._specs = specs

    def __missing__(self, pid: int) -> Any:
        spec = self._specs[pid]
        compiled = self[pid] = regex.compile(spec.source, spec.flags)  # a race compiles twice, harmlessly
        return compiled


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


_UNBUILT = "unbuilt"  # FieldScanner._prefilter before its first use


def _prefilter_wanted(patterns: list[PatternSpec]) -> bool:
    """Is the RE2 backend on for a scanner with *patterns*? (read at compile and load time)"""
    if not patterns:
        return False
    from . import multiregex

    return multiregex.backend_enabled()


def _prefilter(patterns: list[PatternSpec]) -> Any:
    """A multiregex.RegexPrefilter over *patterns* when the RE2 backend is on, else None."""
    if not _prefilter_wanted(patterns):
        return None
    from . import multiregex

    pre = multiregex.RegexPrefilter(patterns)
    return pre if len(pre) else None


class FirstPass(NamedTuple):
    """For a caller that settles most values without a call into the scanner.

    ``scan_text`` (``scan_text_turkic`` for tr/az posts) gives the text to pass to
    ``emits``: the automaton's *scan text* (see _ViewAutomaton), not ``normalize``'s, so
    use it for nothing else. A value on which ``emits`` yields nothing, or whose emits
    ``settle(emits, text)`` finds ``SETTLED_NO_HIT``, has no occurrence; otherwise pass its
    scan text, the emits and the settle result to :meth:`FieldScanner.scan_emits`.
    ``FieldScanner.scan`` is exactly that.
    """

    scan_text: Callable[[str], str]
    scan_text_turkic: Callable[[str], str]
    emits: Callable[[str], Any]
    settle: Callable[[list[Any], str], int]


class FieldScanner:
    """Finds the occurrences of every item used on one field."""

    _prefilter: Any  # multiregex.RegexPrefilter, _UNBUILT (made on first use) or None

    def __init__(self, terms: Sequence[TermSpec], patterns: Sequence[PatternSpec],
                 pattern_timeout: float | None = None) -> None:
        self.terms = {t.id: t for t in terms}
        self.patterns = list(patterns)
        self.pattern_timeout = pattern_timeout
        self._build()

    def __getstate__(self) -> dict[str, Any]:
        """What ``_build`` made, automata included, so that loading does not rebuild them.

        pyahocorasick pickles its trie and payloads (about 20x faster to load than to
        rebuild), so the payload layout of ``_ViewAutomaton`` is part of the pickle format:
        bump ``compiler.FORMAT_VERSION`` when it changes. Term specs travel as plain tuples;
        compiled regexes are dropped and compiled again on first use.
        """
        state = dict(self.__dict__)
        # column by column: fewer objects to unpickle, and each view key pickled once
        columns = list(zip(*self.terms.values(), strict=True)) or [()] * len(TermSpec._fields)
        columns[3] = tuple(map(sys.intern, columns[3]))
        state["terms"] = columns
        state["always"] = [p.id for p in self.always]
        del state["compiled"], state["pattern_by_id"]
        state["_prefilter"] = _UNBUILT  # re2 Sets do not pickle; the loading process decides
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        columns = state["terms"]
        terms = dict(zip(columns[0], map(functools.partial(tuple.__new__, TermSpec), zip(*columns, strict=True)), strict=True))
        by_id = {p.id: p for p in state["patterns"]}
        self.__dict__.update(state, terms=terms,
                             pattern_by_id=by_id, always=[by_id[i] for i in state["always"]],
                             compiled=_Regexes(by_id))
        if isinstance(self._prefilter, str):  # _UNBUILT (unpickled: not the same object); made on first use
            self._prefilter = _UNBUILT if _prefilter_wanted(self.patterns) else None

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
        # Scan keys serve the lone pass only (see below): a scanner without one has none.
        lone = len(grouped) == 1 and not self.always and not aggressive and not typo_terms
        self.automata = [
            (key, _ViewAutomaton(view_for(key), entries, self.terms, with_scan_keys=lone))
            for key, entries in sorted(grouped.items())
        ]
        self.aggressive = AggressiveMatcher(aggressive) if aggressive else None
        typo_matcher = TypoMatcher(typo_terms)
        self.typos = typo_matcher if typo_matcher else None
        self.compiled = {p.id: regex.compile(p.source, p.flags) for p in self.patterns}
        # Patterns without atoms run only on values with a character of a class every match
        # needs (regex_atoms.required_class): one C-level search per distinct class.
        self.required: dict[int, Any] = {}
        classes: dict[tuple[str, int], Any] = {}
        for p in self.always:
            source = required_class(p.source, "x" if p.flags & regex.VERBOSE else "")
            if source is not None:
                key = (source, p.flags)
                if key not in classes:
                    classes[key] = regex.compile(source, p.flags)
                self.required[p.id] = classes[key]
        self._prefilter = _UNBUILT if _prefilter_wanted(self.patterns) else None
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
        one for this value (unless the lone-automaton check settles it first: no pattern
        can run then).
        """
        lone = self._lone
        if lone is not None:
            # The scan text, not the exact one: see _ViewAutomaton (scan keys).
            text = lone.scan[turkic](value)
            emits = list(lone.automaton.iter(text))
            if not emits:
                return EMPTY_SCAN
            return self.scan_emits(value, text, emits, label, turkic, budget, budget_seconds)
        return self._scan(value, label, turkic, budget, budget_seconds, None, None)

    @property
    def first_pass(self) -> FirstPass | None:
        """The one automaton pass that settles most values (see :class:`FirstPass`), or
        None when the scanner needs more than one pass."""
        lone = self._lone
        return None if lone is None else FirstPass(lone.scan[0], lone.scan[1], lone.automaton.iter, _settled)

    def scan_emits(self, value: str, text: str, emits: list[Any], label: str, turkic: bool,
                   budget: RegexBudget | None = None, budget_seconds: float | None = None,
                   settled: int | None = None) -> ScanResult:
        """``scan``, given the first pass's *text* and its non-empty *emits* (see
        ``first_pass``), and what ``settle`` said of them if the caller asked it."""
        if settled is None:
            settled = _settled(emits, text)
        if settled == _NO_HIT:
            return EMPTY_SCAN
        lone = self._lone
        assert lone is not None
        if lone.mode != "norm":  # a hit or a scan key: on the exact text from here on
            # only a lowercased ASCII post differs in more than runs of spaces (scan_normalizer)
            exact = lone.norm[turkic](value) if lone.mode == "scan" and value.isascii() else nz.fold_space_runs(text)
            if exact != text:
                text = exact
                emits = list(lone.automaton.iter(text))
                if settled == _NO_HIT_BUT_SCAN_KEY and (not emits or _settled(emits, text) == _NO_HIT):
                    return EMPTY_SCAN
        return self._scan(value, label, turkic, budget, budget_seconds, text, emits)

    def _scan(self, value: str, label: str, turkic: bool, budget: RegexBudget | None,
              budget_seconds: float | None, lone_text: str | None, lone_emits: list[Any] | None) -> ScanResult:
        """The full scan; *lone_text* and *lone_emits*: the lone automaton's pass, done."""
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
            text = lone_text if lone_text is not None else va.norm[turkic](value)
            texts[key] = text
            n = len(text)
            emits = lone_emits if lone_emits is not None else va.automaton.iter(text)  # the lone pass is not redone
            for end_idx, (klen, first, last, tids, pids, whole_word) in emits:
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
            prefilter = self.regex_prefilter()
            if prefilter is not None:
                run = prefilter.select(run, lambda kind: self._text(value, kind, texts, turkic))
        # The budget counts this thread's CPU time, but reading that clock is a system call
        # (0.3-10 µs here, as much as a short regex run). Wall time since the last reading is
        # an upper bound of it, so the clock is read once before and once after the patterns,
        # and in between only when the budget could cut the next pattern's timeout or more
        # than _RESYNC seconds of wall time went by.
        if budget is None and budget_seconds is not None and run:
            budget = RegexBudget(budget_seconds)
        if budget is not None and run:
            cpu_mark = time.thread_time()
            wall_mark = time.perf_counter()
            left_at_mark = budget.left
        required = self.required
        present: dict[tuple[int, str], bool] = {}
        for p in run:
            vkey = _VIEW_KEY_OF_TEXT[p.text]
            text = self._text(value, p.text, texts, turkic)
            need = required.get(p.id)
            if need is not None:
                seen = present.get((id(need), vkey))
                if seen is None:
                    seen = present[(id(need), vkey)] = need.search(text) is not None
                if not seen:
                    continue
            timeout = self.pattern_timeout
            if budget is not None:
                wall = time.perf_counter() - wall_mark
                if wall > _RESYNC or timeout is None or left_at_mark - wall < timeout:
                    cpu = time.thread_time()
                    left_at_mark -= cpu - cpu_mark
                    cpu_mark, wall_mark, wall = cpu, time.perf_counter(), 0.0
                left = left_at_mark - wall  # never more than what is really left
                timeout = left if timeout is None else min(timeout, left)
            try:
                if timeout is not None and timeout <= 0:
                    raise TimeoutError
                for m in self.compiled[p.id].finditer(text, timeout=timeout):
                    if m.end() > m.start():
                        pattern_hits.append((p, m.start(), m.end(), vkey))
            except TimeoutError:
                incomplete.append(f"pattern {p.source!r} on {label}: regex time budget exceeded")
                timed_out.append(p.item)
        if budget is not None and run:
            budget.left = left_at_mark - (time.thread_time() - cpu_mark)
        if not found and not pattern_hits:
            return EMPTY_SCAN if not incomplete else ScanResult({}, tuple(incomplete), tuple(timed_out))
        excepted: dict[int, list[tuple[Occurrence, str]]] = {}
        by_item = self._map(value, label, turkic, found, pattern_hits, texts, excepted)
        return ScanResult(by_item, tuple(incomplete), tuple(timed_out), excepted)

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

    def regex_prefilter(self) -> Any:
        """The RE2 prefilter (multiregex.RegexPrefilter), built on first use, or None.

        Building a Set of 1,000 patterns takes 0.1-0.4 s, so neither compiling nor loading
        a ruleset pays it; two threads racing here build it twice, harmlessly.
        """
        prefilter = self._prefilter
        if isinstance(prefilter, str):  # _UNBUILT
            prefilter = self._prefilter = _prefilter(self.patterns)
        return prefilter

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
             texts: dict[str, str], excepted: dict[int, list[tuple[Occurrence, str]]]) -> dict[int, list[Occurrence]]:
        mapped: dict[str, Any] = {}
        # A value whose normalized text keeps every offset (an ASCII one with no whitespace
        # run, most others: nz.offsets_unchanged) needs no offset map (normalize_mapped).
        unchanged: dict[str, bool] = {"raw": True}

        def same_offsets(vkey: str) -> bool:
            same = unchanged.get(vkey)
            if same is None:
                text = texts.get(vkey)
                same = unchanged[vkey] = text is not None and len(text) == len(value) and (
                    value.isascii() or nz.offsets_unchanged(value, view_for(vkey), turkic))
            return same

        def to_original(vkey: str, s: int, e: int) -> tuple[int, int]:
            if s < e and same_offsets(vkey):
                return s, e
            m = mapped.get(vkey)
            if m is None:
                m = mapped[vkey] = nz.normalize_mapped(value, view_for(vkey), turkic)
            return m.to_original(s, e)

        if len(found) == 1 and not pattern_hits:  # the usual hit: nothing to cancel, merge or sort
            tid, s, e, vkey, steps = found[0]
            t = self.terms[tid]
            if t.item >= 0:
                if same_offsets(vkey):
                    return {t.item: [Occurrence(t.item, tid, t.written, label, s, e, steps, s, e, vkey)]}
                return {t.item: [Occurrence(t.item, tid, t.written, label, -1, -1, steps, s, e, vkey, to_original)]}
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
            k = (o.item, o.term_id, o.term, o.view, o.nstart, o.nend)
            if k in seen:
                continue
            seen.add(k)
            if o.term_id >= 0 and except_occs:
                t = self.terms[o.term_id]
                cancelled_by = next(
                    (x for x in t.excepts for xs, xe in except_occs.get(x, ()) if xs <= o.start and o.end <= xe), None
                )
                if cancelled_by is not None:
                    excepted.setdefault(o.item, []).append((o, self.terms[cancelled_by].written))
                    continue
            by_item.setdefault(o.item, []).append(o)
        for lst in by_item.values():
            if len(lst) > 1:
                lst.sort(key=lambda o: (o.view, o.nstart, o.nend, o.term))
        return by_item
