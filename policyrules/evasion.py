"""The `aggressive` term matcher (language.md §5): ``standard`` text -> term occurrences + steps.

How a post is scanned:

1. ``C``: the standard text with look-alike letters mapped to the letter they imitate (UTS #39
   confusables with a single-letter target, from the pinned ``data/confusables.txt``). The
   map is one character to one character, so offsets into ``C`` are offsets into the text.
2. ``S``: a prefilter skeleton of ``C``: separators dropped, leet forms mapped to their
   letter's class (``i``, ``l``, ``1``, ``!``, ``|`` share one class), runs collapsed. Each
   term gets the same skeleton as its Aho-Corasick key, so one automaton pass over ``S``
   names every term that can possibly occur; most posts stop here.
3. Each candidate term is verified on ``C`` with its own elastic regex (leet alternatives,
   1-3 separators between letters, ``n`` or more repeats), then whole-word tested with
   :func:`policyrules.normalize.boundary_ok` on the standard text.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import regex

from .normalize import (
    APOSTROPHES,
    STANDARD,
    boundary_ok,
    is_unspaced,
    is_word_char,
    normalize,
    normalize_term,
)

__all__ = [
    "CONFUSABLES_VERSION",
    "LEET",
    "SEPARATORS",
    "AggressiveMatcher",
    "confusable_map",
]

#: Leet forms per letter (§5 rule 2, extended with € for e and v for u, as in "fvck"). ``1`` and ``|`` serve both i
#: and l; ``|`` is also a separator, and the verifier tries both readings.
LEET: dict[str, str] = {
    "a": "4@",
    "b": "8",
    "e": "3€",
    "g": "9",
    "i": "1!|",
    "l": "1|",
    "o": "0",
    "s": "5$",
    "t": "7+",
    "u": "v",
}

#: Characters that may stand between two letters of a term (§5 rule 3), 1 to 3 of them.
SEPARATORS = " .-_*,/\\|~·'"
_MAX_SEP = 3

CONFUSABLES_VERSION = "13.0.0"

_IL_CLASS = "l"  # prefilter class shared by i, l, 1, !, |


@lru_cache(maxsize=2)
def confusable_map(turkic: bool = False) -> dict[str, str]:
    """Look-alike character -> the letter it imitates, from UTS #39 ``confusables.txt``.

    Only entries whose target is one letter (after standard normalization) are kept; ASCII
    sources (``0 -> O``, ``1 -> l``, ``| -> l``) are left to the leet table. Under ``turkic``
    the dotless ``ı`` is left alone.
    """
    text = resources.files("policyrules").joinpath("data/confusables.txt").read_text("utf-8-sig")
    table: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(";")]
        src = chr(int(fields[0], 16))
        if src.isascii() or (turkic and src == "ı"):
            continue
        target = "".join(chr(int(h, 16)) for h in fields[1].split())
        target = normalize(target, STANDARD)
        if len(target) != 1 or unicodedata.category(target)[0] != "L" or target == src:
            continue
        table[src] = target
    return table


def _class_of(ch: str) -> str:
    """Prefilter class of one character of ``C``: separators vanish, leet joins its letter."""
    if ch in "il1!|":
        return _IL_CLASS
    for letter, forms in LEET.items():
        if ch == letter or ch in forms:
            return letter
    if ch in SEPARATORS:
        return ""
    return ch


# Deleting every character equal to the next one keeps one of each run: the same string as
# substituting ``\1`` for ``(.)\1+``, about 3x faster (no template to expand per run).
_COLLAPSE = re.compile(r"(.)(?=\1)", re.DOTALL)


def _collapse(s: str) -> str:
    return _COLLAPSE.sub("", s) if len(s) > 1 else s


# A neighbour that fails the whole-word test: a word character that is neither an
# apostrophe nor from an unspaced script (see normalize.boundary_ok).
_WORD_NEIGHBOUR = (
    r"[[\p{L}\p{M}\p{Nd}_]--[" + regex.escape(APOSTROPHES) + r"\p{scx=Han}\p{scx=Hiragana}"
    r"\p{scx=Katakana}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]]"
)


class _Term:
    """One term variant compiled for verification."""

    __slots__ = ("_pattern", "first", "key", "last", "left_wild", "mode", "right_wild", "skeleton", "source",
                 "term_id")

    def __init__(
        self, term_id: int, body: str, mode: str, left_wild: bool, right_wild: bool,
        conf: dict[str, str],
    ) -> None:  # fmt: skip
        self.term_id = term_id
        self.mode = mode
        self.left_wild = left_wild
        self.right_wild = right_wild
        skel = "".join(conf.get(c, c) for c in body)
        self.skeleton = skel
        self.first = skel[0]
        self.last = skel[-1]
        self.key = _collapse("".join(_class_of(c) for c in skel))
        # Whole-word sides as lookarounds, so that the regex backtracks to a shorter
        # reading ("kill 10" is kill + " 10", not kil + "l 1" + "0"); boundary_ok still
        # has the last word.
        body_re = _elastic(skel)
        if mode != "substring":
            if not left_wild and not is_unspaced(self.first):
                body_re = "(?<!" + _WORD_NEIGHBOUR + ")" + body_re
            if not right_wild and not is_unspaced(self.last):
                body_re += "(?!" + _WORD_NEIGHBOUR + ")"
        # Compiled on first use: most terms never get a candidate, and compiling every
        # verifier up front made loading a 2,000-term ruleset take tens of seconds.
        self.source = body_re
        self._pattern: Any = None

    @property
    def pattern(self) -> Any:
        """The verifier regex, compiled on first use."""
        if self._pattern is None:
            self._pattern = regex.compile(self.source, regex.V1)
        return self._pattern


def _letter(ch: str) -> str:
    forms = LEET.get(ch)
    if forms:
        return "(?:" + str(regex.escape(ch)) + "|(?P<leet>[" + str(regex.escape(forms)) + "]))"
    return str(regex.escape(ch))


def _elastic(skel: str) -> str:
    """The verifier regex of a term skeleton (§5 aggressive rules 1-3)."""
    sep = "[" + regex.escape(SEPARATORS) + "]"
    gap = "(?P<sep>" + sep + "{1," + str(_MAX_SEP) + "})?"
    parts: list[str] = []
    i = 0
    prev_was_unit = False
    while i < len(skel):
        ch = skel[i]
        if ch.isspace() or ch in SEPARATORS:
            # A space or separator written in the term: any run of 1-3 separators (a space
            # run counts as one), or none for separators other than space.
            j = i
            while j < len(skel) and (skel[j].isspace() or skel[j] in SEPARATORS):
                j += 1
            required = any(c.isspace() for c in skel[i:j])
            parts.append("(?:" + sep + "{1," + str(_MAX_SEP) + "})" + ("" if required else "?"))
            i = j
            prev_was_unit = False
            continue
        j = i
        while j < len(skel) and skel[j] == ch:
            j += 1
        n = j - i
        if prev_was_unit:
            parts.append(gap)
        unit = _letter(ch)
        run = unit + ("(?:" + gap + unit + "){" + str(n - 1) + "}" if n > 1 else "")
        run += "(?P<rep>(?:" + gap + unit + ")+)?"
        parts.append(run)
        prev_was_unit = True
        i = j
    return "".join(parts)


_SCRIPTS = [
    (name, regex.compile(r"\p{Script=" + name + "}").match)
    for name in ("Latin", "Cyrillic", "Greek", "Armenian", "Cherokee", "Georgian", "Coptic")
]


@lru_cache(maxsize=65536)
def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    for name, match in _SCRIPTS:
        if match(ch):
            return name
    return "Other"


def _mixed_script(text: str, start: int, end: int) -> bool:
    """Does the word (run of word characters) around ``[start, end)`` mix scripts?"""
    while start > 0 and is_word_char(text[start - 1]):
        start -= 1
    while end < len(text) and is_word_char(text[end]):
        end += 1
    scripts = {s for s in map(_script, text[start:end]) if s is not None}
    return len(scripts) > 1


_TABLES = ("conf", "skeleton_table", "conf_table", "no_bar_table")


class _Compiled:
    """Automaton + term variants for one folding (Turkic or default)."""

    def __init__(self, terms: Sequence[tuple[int, str, str]], turkic: bool) -> None:
        import ahocorasick

        self._tables(turkic)
        self.variants: list[_Term] = []
        # Per variant, the run lengths its key lost to the collapse ("kkk" -> key "k" needs a
        # run of 3 k-class characters): checked on the uncollapsed skeleton of a text whose
        # collapsed skeleton has the key, so a short key is not a candidate in every post.
        self.runs: list[re.Pattern[str] | None] = []
        automaton = ahocorasick.Automaton()
        for term_id, written, mode in terms:
            body = written
            left_wild = body.startswith("*")
            right_wild = body.endswith("*") and len(body) > 1
            body = body.strip("*")
            for variant in normalize_term(body, STANDARD):
                if not variant.strip():
                    continue
                t = _Term(term_id, variant.strip(), mode, left_wild, right_wild, self.conf)
                if not t.key:
                    continue
                idx = len(self.variants)
                self.variants.append(t)
                self.runs.append(_runs_pattern(t.skeleton))
                if automaton.exists(t.key):
                    automaton.get(t.key).append(idx)
                else:
                    automaton.add_word(t.key, [idx])
        self.automaton = automaton
        if len(automaton):
            automaton.make_automaton()

    def _tables(self, turkic: bool) -> None:
        self.turkic = turkic
        self.conf = confusable_map(turkic)
        table: dict[int, str | None] = {}
        for ch in set(self.conf) | set(SEPARATORS) | set("".join(LEET.values())) | set("il"):
            mapped = _class_of(self.conf.get(ch, ch))
            table[ord(ch)] = mapped if mapped else None
        self.skeleton_table = table
        self.conf_table = {ord(k): v for k, v in self.conf.items()}
        self.no_bar_table = dict(table)
        self.no_bar_table[ord("|")] = None

    def __getstate__(self) -> dict[str, Any]:
        """The variants (verifier sources, not compiled regexes) and the automaton; building
        the variants again was most of the time to load a ruleset with aggressive lists."""
        state = {k: v for k, v in self.__dict__.items() if k not in _TABLES}  # _tables() rebuilds those
        state["variants"] = [
            tuple(getattr(t, name) for name in _Term.__slots__ if name != "_pattern") for t in self.variants
        ]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._tables(state["turkic"])
        names = [name for name in _Term.__slots__ if name != "_pattern"]
        variants = []
        for row in state["variants"]:
            t = object.__new__(_Term)
            for name, value in zip(names, row, strict=True):
                setattr(t, name, value)
            t._pattern = None
            variants.append(t)
        self.__dict__.update(state, variants=variants)

    def candidates(self, text: str) -> set[int]:
        """Indices of term variants whose key occurs in the text's skeleton."""
        found: set[int] = set()
        if not len(self.automaton):
            return found
        tables = [self.skeleton_table]
        # "|" is both a letter (i, l) and a separator, and one match may read it both ways
        # ("k|s|s" is kiss): neither table then counts the runs right, so no run check.
        runs = self.runs if "|" not in text else None
        if runs is None:
            tables.append(self.no_bar_table)
        rejected: set[int] = set()
        for table in tables:
            raw = text.translate(table)
            for _end, idxs in self.automaton.iter(_collapse(raw)):
                for idx in idxs:
                    if idx not in found and idx not in rejected:
                        need = runs[idx] if runs is not None else None
                        if need is None or need.search(raw) is not None:
                            found.add(idx)
                        else:
                            rejected.add(idx)  # the key may occur again: search once
        return found


def _runs_pattern(skeleton: str) -> re.Pattern[str] | None:
    """``k{3,}`` for the skeleton "kkk", ``p+u+s{2,}y+`` for "pussy": each class run at
    least as long as in the term.

    Every text the term matches has, after separators are dropped and characters are
    classed, these runs in a row (a letter written n times matches n or more times, and
    a gap holds only separators); None when every run has length one (the collapsed key
    then says as much).
    """
    classes = "".join(_class_of(c) for c in skeleton)
    runs = [(c, len(list(group))) for c, group in itertools.groupby(classes)]
    if all(n == 1 for _, n in runs):
        return None
    return re.compile("".join(re.escape(c) + (f"{{{n},}}" if n > 1 else "+") for c, n in runs), re.DOTALL)


class AggressiveMatcher:
    """Finds evasive spellings of terms in ``standard`` text (§5 ``aggressive``).

    >>> m = AggressiveMatcher([(0, "kill", "word"), (1, "ass", "word")])
    >>> [(i, s, e, steps) for i, s, e, steps in m.find("k.i.l.l u, as")]
    [(0, 0, 7, ('separator',))]
    """

    def __init__(self, terms: Sequence[tuple[int, str, str]]) -> None:
        self._terms = tuple((int(i), str(t), str(m)) for i, t, m in terms)
        self._compiled: dict[bool, _Compiled] = {}
        self._needs_turkic = any("ı" in t or "I" in t for _, t, _ in self._terms)
        self._get(False)

    def __getstate__(self) -> dict[str, Any]:
        return {"terms": self._terms, "compiled": dict(self._compiled)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "compiled" not in state:  # an older pickle: build again
            self.__init__(state["terms"])  # type: ignore[misc]
            return
        self._terms = state["terms"]
        self._compiled = state["compiled"]
        self._needs_turkic = any("ı" in t or "I" in t for _, t, _ in self._terms)

    def _get(self, turkic: bool) -> _Compiled:
        key = turkic and self._needs_turkic
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled(self._terms, key)
        return compiled

    def find(
        self, standard_text: str, turkic: bool = False
    ) -> list[tuple[int, int, int, tuple[str, ...]]]:
        """Every occurrence as ``(term_id, start, end, steps)``, offsets into ``standard_text``."""
        compiled = self._get(turkic)
        cands = compiled.candidates(standard_text)
        if not cands:
            return []
        text = standard_text
        ctext = text.translate(compiled.conf_table) if not text.isascii() else text
        results: set[tuple[int, int, int, tuple[str, ...]]] = set()
        for idx in sorted(cands):
            term = compiled.variants[idx]
            for m in term.pattern.finditer(ctext, overlapped=True):
                start, end = m.span()
                if start == end:
                    continue
                if term.left_wild:  # the rest of the word; each unspaced-script char is a word
                    while start > 0 and is_word_char(text[start - 1]) and not is_unspaced(text[start - 1]):
                        start -= 1
                if term.right_wild:
                    while end < len(text) and is_word_char(text[end]) and not is_unspaced(text[end]):
                        end += 1
                if term.mode != "substring" and not boundary_ok(
                    text, start, end, term.first, term.last,
                    check_left=not term.left_wild, check_right=not term.right_wild,
                ):  # fmt: skip
                    continue
                results.add((term.term_id, start, end, _steps(m, text, ctext, start, end)))
        return _prune(results)


def _steps(m: Any, text: str, ctext: str, start: int, end: int) -> tuple[str, ...]:
    steps: list[str] = []
    s, e = m.span()
    if text[s:e] != ctext[s:e]:
        steps.append("confusable")
    groups = m.re.groupindex
    for group, step in (("leet", "leet"), ("sep", "separator"), ("rep", "repeat")):
        if group in groups and m.captures(group):
            steps.append(step)
    if _mixed_script(text, start, end):
        steps.append("mixed_script")
    return tuple(steps)


def _prune(
    results: Iterable[tuple[int, int, int, tuple[str, ...]]],
) -> list[tuple[int, int, int, tuple[str, ...]]]:
    """One occurrence per (term, start): the longest, with the fewest steps; sorted."""
    best: dict[tuple[int, int], tuple[int, int, int, tuple[str, ...]]] = {}
    for r in results:
        k = (r[0], r[1])
        cur = best.get(k)
        if cur is None or (r[2], -len(r[3])) > (cur[2], -len(cur[3])):
            best[k] = r
    # Drop occurrences of a term nested inside a longer occurrence of the same term.
    out: list[tuple[int, int, int, tuple[str, ...]]] = []
    for r in sorted(best.values(), key=lambda r: (r[0], r[1], -r[2])):
        if out and out[-1][0] == r[0] and out[-1][1] <= r[1] and r[2] <= out[-1][2]:
            continue
        out.append(r)
    out.sort(key=lambda r: (r[1], r[2], r[0]))
    return out
