"""Optional RE2 ``Set`` prefilter for a field's regexes (issue #6, target 3).

A pattern without an extractable atom (:mod:`policyrules.regex_atoms`) runs on every value,
one ``regex.finditer`` each, and one with a common atom runs whenever the atom shows up.
With google-re2 installed (the ``re2`` extra), a :class:`RegexPrefilter` puts a *widened*
RE2 translation of each pattern of a field scanner into one ``re2.Set`` per text view.
Before the patterns due on a value run (the atom-less ones plus those whose atom was
seen), one ``Set.Match`` over the text they run on says which of them may match; only
those run through ``regex`` as before. Spans, evidence and time budgets still come from
``regex`` alone, so verdicts cannot change; the Set only decides what to skip.

Soundness: :func:`to_re2` returns an RE2 pattern whose language is a SUPERSET of what the
``regex`` pattern can match on the same text, or None (the pattern then always runs):

* the pattern is parsed with ``re``'s parser after :mod:`regex_atoms`' screen of syntax
  only ``regex`` knows (fuzzy ``{e<=1}``, ``\\p{..}``, ``(?V1)``, ``(?f)``, nested sets ...:
  refused there, so left out here); ASCII/LOCALE flags and unknown engine flags are left out;
* every character test becomes an explicit class of code points computed from the
  installed ``regex`` module itself: ``\\w \\d \\s`` by scanning every code point with
  ``regex`` (so the Unicode versions of RE2 and ``regex`` never matter), case-insensitive
  literals, ranges and classes closed under ``regex``'s own case table
  (``get_all_cases``, simple folding: the language's patterns never use FULLCASE);
  a negated class is the complement of its un-closed members (a superset of ``regex``'s
  negation under IGNORECASE, which also excludes the members' case variants); classes
  whose non-ASCII part is large are widened to "any non-ASCII character" to keep the Set
  small;
* lookarounds and ``\\b``/``\\B`` are dropped (they only restrict); atomic groups and
  possessive or lazy repeats become plain greedy ones (same or larger language); a
  backreference becomes ``(?s:.*)``; ``(?(1)a|b)`` becomes ``(?:a|b)``; ``^`` and ``$``
  become RE2's multi-line ``^``/``$`` (which match wherever ``regex``'s do, including
  ``$`` before a final newline), ``\\Z`` becomes ``\\z``; counts over 1,000 (RE2's limit)
  are widened to ``{1000,}``;
* whatever is not understood raises inside the walk and gives None.

At run time a value whose UTF-8 encoding fails (lone surrogates), or a Set whose DFA runs
out of memory (RE2 then reports nothing: detected with a sentinel pattern that matches
every text), runs every pattern as before. A skipped pattern is one ``regex`` would not
have matched, so it neither adds hits nor uses the regex time budget; the only visible
difference is that a pattern that would have timed out without finding anything is no
longer reported as timed out.

Enabling: automatic when ``re2`` imports; ``POLICYRULES_REGEX_BACKEND=regex`` forces it
off, ``=re2`` requires it (read when a ruleset is compiled or unpickled).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, Protocol

__all__ = ["BACKEND_ENV", "RegexPrefilter", "available", "backend_enabled", "to_re2"]

BACKEND_ENV = "POLICYRULES_REGEX_BACKEND"
_MAX_CP = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
_MAX_NON_ASCII_RANGES = 96  # a class with more non-ASCII ranges matches all of non-ASCII
_RE2_MAX_COUNT = 1000
_MAX_MEM = 32 << 20  # RE2 program + DFA cache budget per Set (its DFA grows on demand)
_ALLOWED_FLAGS = 0x2000 | 0x2 | 0x10 | 0x8 | 0x40 | 0x20  # V0 I S M X U (regex's values)

Ranges = tuple[tuple[int, int], ...]


class _Pattern(Protocol):
    """What the prefilter needs of a pattern (matchers.PatternSpec)."""

    @property
    def id(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def flags(self) -> int: ...
    @property
    def text(self) -> str: ...


class _Unsupported(Exception):
    """A construct the translation does not handle: the pattern stays out of the Set."""


# --------------------------------------------------------------------------- enabling


@lru_cache(maxsize=1)
def available() -> bool:
    """True when google-re2 (module ``re2``) with ``Set`` is importable."""
    try:
        import re2
    except ImportError:
        return False
    return hasattr(re2, "Set")


def backend_enabled() -> bool:
    """Whether new scanners use the RE2 prefilter (env ``POLICYRULES_REGEX_BACKEND``)."""
    choice = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if choice == "regex":
        return False
    if choice == "re2":
        if not available():
            raise ImportError(f"{BACKEND_ENV}=re2 but google-re2 is not installed (pip install 'policyrules[re2]')")
        return True
    if choice != "auto":
        raise ValueError(f"{BACKEND_ENV} must be auto, regex or re2, not {choice!r}")
    return available()


# --------------------------------------------------------------------------- code point sets


def _norm(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted, merged, surrogate-free ranges."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    clipped: list[tuple[int, int]] = []
    s_lo, s_hi = _SURROGATES
    for lo, hi in out:
        if hi < s_lo or lo > s_hi:
            clipped.append((lo, hi))
            continue
        if lo < s_lo:
            clipped.append((lo, s_lo - 1))
        if hi > s_hi:
            clipped.append((s_hi + 1, hi))
    return tuple(clipped)


def _from_points(points: Iterable[int]) -> Ranges:
    return _norm((p, p) for p in points)


def _complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_CP:
        out.append((nxt, _MAX_CP))
    return _norm(out)


@lru_cache(maxsize=1)
def _all_chars() -> str:
    """Every code point but the surrogates, in order (index i is code point i below U+D800)."""
    import array

    points = array.array("I", range(_SURROGATES[0]))
    points.extend(range(_SURROGATES[1] + 1, _MAX_CP + 1))
    return points.tobytes().decode("utf-32-le" if array.array("I", [1]).tobytes()[0] else "utf-32-be")


def _cp(index: int) -> int:
    return index if index < _SURROGATES[0] else index + (_SURROGATES[1] - _SURROGATES[0] + 1)


@lru_cache(maxsize=8)
def _category(code: str) -> Ranges:
    """The exact code points ``regex`` (V0, Unicode) matches with ``\\w``, ``\\D``, ..."""
    import regex

    escape = {"WORD": r"\w", "NOT_WORD": r"\W", "DIGIT": r"\d", "NOT_DIGIT": r"\D",
              "SPACE": r"\s", "NOT_SPACE": r"\S"}.get(code)
    if escape is None:
        raise _Unsupported(code)
    runs = regex.finditer(escape + "+", _all_chars(), flags=regex.V0)
    return _norm((_cp(m.start()), _cp(m.end() - 1)) for m in runs)


@lru_cache(maxsize=1)
def _case_table() -> tuple[list[int], dict[int, tuple[int, ...]]]:
    """Code points with case variants under ``regex`` IGNORECASE (sorted) and their variants.

    Candidates are the characters that change under case mapping or folding (a test
    checks this misses none); their variants come from ``regex``'s own table.
    """
    import importlib

    import regex

    _regex = importlib.import_module("regex._regex")
    _regex_core = importlib.import_module("regex._regex_core")
    mode = _regex_core.IGNORECASE | _regex_core.UNICODE
    table: dict[int, tuple[int, ...]] = {}
    for ch in regex.findall(r"[\p{CWCM}\p{CWCF}]", _all_chars()):
        cases = tuple(_regex.get_all_cases(mode, ord(ch)))
        if len(cases) > 1:
            for c in cases:
                table[c] = tuple(sorted(set(cases) | set(table.get(c, ()))))
    return sorted(table), table


def _close(ranges: Ranges) -> Ranges:
    """*ranges* plus every case variant of its members."""
    keys, table = _case_table()
    extra: list[int] = []
    for lo, hi in ranges:
        i = bisect.bisect_left(keys, lo)
        while i < len(keys) and keys[i] <= hi:
            extra.extend(table[keys[i]])
            i += 1
    return _norm([*ranges, *((p, p) for p in extra)]) if extra else ranges


@lru_cache(maxsize=4096)
def _closed_char(cp: int) -> Ranges:
    _keys, table = _case_table()
    return _from_points(table.get(cp, (cp,)))


def _widen(ranges: Ranges) -> Ranges:
    """Keep the ASCII part exact; a large non-ASCII part becomes all of non-ASCII."""
    non_ascii = [r for r in ranges if r[1] >= 0x80]
    if len(non_ascii) <= _MAX_NON_ASCII_RANGES:
        return ranges
    return _norm([*((lo, min(hi, 0x7F)) for lo, hi in ranges if lo < 0x80), (0x80, _MAX_CP)])


def _emit(ranges: Ranges) -> str:
    """An RE2 class for *ranges* (never matches when empty)."""
    if not ranges:
        return r"[^\x00-\x{10FFFF}]"
    if ranges == _norm([(0, _MAX_CP)]):
        return "(?s:.)"
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        cp = ranges[0][0]
        return chr(cp) if chr(cp).isascii() and chr(cp).isalnum() else f"\\x{{{cp:X}}}"
    parts = [f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in ranges]
    return "[" + "".join(parts) + "]"


# --------------------------------------------------------------------------- translation


def to_re2(source: str, flags: int) -> str | None:
    """An RE2 pattern matching a superset of what ``regex.compile(source, flags)`` matches, or None."""
    if flags & ~_ALLOWED_FLAGS:
        return None
    letters = "".join(ch for ch, bit in (("i", 0x2), ("s", 0x10), ("m", 0x8), ("x", 0x40)) if flags & bit)
    try:
        return _translate(source, letters)
    except (_Unsupported, RecursionError, ValueError, TypeError, IndexError, KeyError):
        return None


@lru_cache(maxsize=4096)
def _translate(source: str, letters: str) -> str | None:
    from .regex_atoms import _parse

    parsed = _parse(source, letters)
    if parsed is None:
        return None
    c, tree = parsed
    gflags = tree.state.flags
    if gflags & (c.SRE_FLAG_ASCII | c.SRE_FLAG_LOCALE):
        return None
    walker = _Walker(c)
    return walker.seq(list(tree.data), bool(gflags & c.SRE_FLAG_IGNORECASE), bool(gflags & c.SRE_FLAG_DOTALL))


class _Walker:
    """Emits RE2 syntax for a ``re._parser`` tree, widening as the module notes say."""

    def __init__(self, c: Any) -> None:
        self.c = c

    def seq(self, items: Sequence[tuple[Any, Any]], icase: bool, dotall: bool) -> str:
        return "".join(self.node(op, av, icase, dotall) for op, av in items)

    def group(self, sub: Any, icase: bool, dotall: bool) -> str:
        return "(?:" + self.seq(list(sub.data if hasattr(sub, "data") else sub), icase, dotall) + ")"

    def node(self, op: Any, av: Any, icase: bool, dotall: bool) -> str:
        c = self.c
        if op is c.LITERAL:
            return _emit(_closed_char(av) if icase else ((av, av),))
        if op is c.NOT_LITERAL:
            return _emit(_widen(_complement(((av, av),))))
        if op is c.ANY:
            return "(?s:.)" if dotall else r"[^\n]"
        if op is c.IN:
            return _emit(self.klass(av, icase))
        if op is c.BRANCH:
            return "(?:" + "|".join(self.seq(list(b.data), icase, dotall) for b in av[1]) + ")"
        if op is c.SUBPATTERN:
            _group, add, delete, sub = av
            if (add | delete) & (c.SRE_FLAG_ASCII | c.SRE_FLAG_LOCALE):
                raise _Unsupported("ascii/locale scope")
            if add & c.SRE_FLAG_IGNORECASE:
                icase = True
            if delete & c.SRE_FLAG_IGNORECASE:
                icase = False
            if add & c.SRE_FLAG_DOTALL:
                dotall = True
            if delete & c.SRE_FLAG_DOTALL:
                dotall = False
            return self.group(sub, icase, dotall)
        if op is c.ATOMIC_GROUP:
            return self.group(av, icase, dotall)
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            return self.group(sub, icase, dotall) + self.quantifier(lo, hi)
        if op is c.AT:
            return self.at(av)
        if op in (c.ASSERT, c.ASSERT_NOT):
            return ""
        if op is c.GROUPREF:
            return "(?s:.*)"
        if op is c.GROUPREF_EXISTS:
            _group, yes, no = av
            alts = [self.seq(list(yes.data), icase, dotall), self.seq(list(no.data), icase, dotall) if no else ""]
            return "(?:" + "|".join(alts) + ")"
        if op is c.FAILURE:
            return _emit(())
        if op is c.SUCCESS:
            return ""
        raise _Unsupported(str(op))

    def quantifier(self, lo: int, hi: int) -> str:
        lo = min(lo, _RE2_MAX_COUNT)
        if hi == self.c.MAXREPEAT or hi > _RE2_MAX_COUNT:
            return {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
        if lo == hi:
            return f"{{{lo}}}"
        if (lo, hi) == (0, 1):
            return "?"
        return f"{{{lo},{hi}}}"

    def at(self, code: Any) -> str:
        c = self.c
        if code in (c.AT_BEGINNING, c.AT_BEGINNING_LINE):
            return "(?m:^)"
        if code in (c.AT_END, c.AT_END_LINE):
            return "(?m:$)"
        if code is c.AT_BEGINNING_STRING:
            return r"\A"
        if code is c.AT_END_STRING:
            return r"\z"
        if code in (c.AT_BOUNDARY, c.AT_NON_BOUNDARY, c.AT_LOC_BOUNDARY, c.AT_LOC_NON_BOUNDARY,
                    c.AT_UNI_BOUNDARY, c.AT_UNI_NON_BOUNDARY):
            return ""
        raise _Unsupported(str(code))

    def klass(self, items: Sequence[tuple[Any, Any]], icase: bool) -> Ranges:
        c = self.c
        negate = False
        parts: list[tuple[int, int]] = []
        for op, av in items:
            if op is c.NEGATE:
                negate = True
            elif op is c.LITERAL:
                parts.append((av, av))
            elif op is c.RANGE:
                parts.append((av[0], av[1]))
            elif op is c.CATEGORY:
                name = str(av).removeprefix("CATEGORY_").removeprefix("UNI_")
                parts.extend(_category(name))
            else:
                raise _Unsupported(str(op))
        members = _norm(parts)
        if negate:
            # regex excludes the members and (under IGNORECASE) their case variants:
            # the complement of the bare members is a superset either way.
            return _widen(_complement(members))
        return _widen(_close(members) if icase else members)


# --------------------------------------------------------------------------- the Set


class RegexPrefilter:
    """One ``re2.Set`` per text view over a scanner's translatable patterns.

    ``select`` keeps, of the patterns about to run on a value, those the Set of their view
    reports plus those left out of every Set (untranslatable), in their original order.
    """

    def __init__(self, patterns: Sequence[_Pattern]) -> None:
        import re2

        options = re2.Options()
        options.max_mem = _MAX_MEM
        options.log_errors = False
        self.sets: dict[str, Any] = {}  # view -> re2.Set
        self.index: dict[int, tuple[str, int]] = {}  # pattern id -> (view, index in its Set)
        by_view: dict[str, list[tuple[int, str]]] = {}
        for p in patterns:
            translated = to_re2(p.source, p.flags)
            if translated is not None:
                by_view.setdefault(p.text, []).append((p.id, translated))
        for view, entries in by_view.items():
            rset = re2.Set.SearchSet(options)
            rset.Add("")  # index 0, the sentinel: matches every text, so "no result" means DFA failure
            indexed: list[tuple[int, int]] = []
            for pid, translated in entries:
                try:
                    indexed.append((pid, rset.Add(translated)))
                except re2.error:  # over RE2's limits (nested counts): stays out, always runs
                    continue
            try:
                rset.Compile()
            except re2.error:  # the program is over the memory budget: every pattern runs
                continue
            self.sets[view] = rset
            for pid, i in indexed:
                self.index[pid] = (view, i)

    def __len__(self) -> int:
        return len(self.index)

    def _hits(self, view: str, text: str) -> frozenset[int] | None:
        """Set indices that match *text*, or None when the Set could not tell (run them all)."""
        try:
            hits = self.sets[view].Match(text)
        except UnicodeEncodeError:  # lone surrogates
            return None
        if not hits or 0 not in hits:  # RE2's DFA gave up (out of memory): no answer
            return None
        return frozenset(hits)

    def select(self, patterns: Sequence[Any], text_of: Callable[[str], str]) -> list[Any]:
        """The members of *patterns* that may match; *text_of(view)* is the text a view runs on."""
        out = []
        found: dict[str, frozenset[int] | None] = {}
        index = self.index
        for p in patterns:
            entry = index.get(p.id)
            if entry is None:
                out.append(p)
                continue
            view, i = entry
            if view in found:
                hits = found[view]
            else:
                hits = found[view] = self._hits(view, text_of(view))
            if hits is None or i in hits:
                out.append(p)
        return out
