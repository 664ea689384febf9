"""Literal atoms of a regex (a YARA-style prefilter) and a catastrophic-backtracking check.

The compiler runs a pattern only on posts whose text contains one of the pattern's
*atoms*: literal strings such that every match of the pattern contains at least one of
them. The contract of :func:`extract_atoms` covers two gates:

1. ``m.group().casefold()`` contains some atom, for every match ``m`` (under the
   ``regex`` module, case-insensitive or not, simple or full case folding); and
2. when the pattern runs on the ``light`` (or ``folded``) text of a post, the
   ``standard`` text of that post (default or Turkic folding) contains some atom; this
   is the text the compiler's Aho-Corasick gate actually scans.

That soundness property decides every choice below; when in doubt we return ``None``
(the pattern then runs on every post), never a set some match could lack.

Measured with ``regex`` 2026.11 under IGNORECASE (with and without FULLCASE and V1): the
only ASCII characters that match a non-ASCII character are ``k``/``K`` (U+212A KELVIN
SIGN), ``s``/``S`` (U+017F LONG S), ``i`` (U+0130 İ) and ``I`` (U+0131 ı). K and ſ fold
to ``k`` and ``s`` (and NFKC maps them there too), so they are harmless. ``ı`` folds to
itself and is never made ``i`` (§5), and Turkic folding of a ``tr`` post turns ``I`` into
``ı``; so ``I`` never enters an atom, and ``i`` does not either when the pattern is
case-insensitive. ``standard`` also rewrites the backquote to ``'``, so it is excluded.
Full case folding lets ``ss`` match ``ß`` and ``fi`` match ``ﬁ``: those fold back to the
same ASCII, so literal runs stay valid. Atoms are printable ASCII plus letters of uncased
scripts (Arabic, Hebrew, Han, Thai, ...) that ``regex`` matches only to themselves and
that ``standard`` normalization leaves alone (so not ``أ`` or ``ى``, which it rewrites).
Patterns on ``raw`` text get no atoms: NFKC can compose an ASCII letter with a following
combining mark (``n`` + U+0303 → ``ñ``) and runs of spaces fold, so the standard text
need not contain what the raw match did. ``tests/test_regex_atoms.py`` re-measures this.

Parsing uses CPython's ``re._parser``; syntax only the ``regex`` module knows (``\\p{..}``,
fuzzy ``{e<=1}``, ``(?r)``, ``\\L<name>``, POSIX and nested sets, ...) either fails to parse
there or is screened out first, and then we return ``None``.
"""

from __future__ import annotations

import math
import unicodedata
import warnings
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = ["MAX_ATOMS", "MIN_ATOM_LEN", "backtracking_risk", "extract_atoms", "literal_chars", "required_class"]

MAX_ATOMS = 16  # more atoms than this and the gate stops paying for itself
MIN_ATOM_LEN = 2
_LIMIT = 16  # largest exact/prefix/suffix string set tracked per node
_CLASS_EXPAND = 5  # a character class of at most this many characters becomes literals
_MAX_REPEAT_EXPAND = 4
_BREAK = "\x00"  # stands for a text character no atom may span

# Rough rarity of characters in social-media text: rarer letters make better atoms.
_COMMON = "etaoin shr"
_RARE = "jqxzkvbwyfgpm"


def extract_atoms(
    pattern: str, flags: str = "", *, case_sensitive: bool = False, text: str = "light"
) -> frozenset[str] | None:
    """A small set of casefolded literals one of which every match contains, or None.

    *flags* are the policy-file flags (``i s m x``). The pattern is assumed to run
    case-insensitively (the language's default) unless *case_sensitive* is true and the
    ``i`` flag is absent; assuming it when it is not so only costs atom quality. *text*
    is the pattern's ``text:`` option; ``raw`` patterns get None (see the module notes).
    """
    if text == "raw":
        return None
    parsed = _parse(pattern, flags)
    if parsed is None:
        return None
    re_constants, tree = parsed
    ignorecase = (not case_sensitive) or bool(tree.state.flags & re_constants.SRE_FLAG_IGNORECASE)
    try:
        info = _Analyzer(re_constants).seq(tree.data, ignorecase)
    except (RecursionError, ValueError, TypeError, IndexError):
        return None
    atoms = info.atoms
    if atoms is None or not atoms or len(atoms) > MAX_ATOMS:
        return None
    return atoms


def literal_chars(pattern: str, flags: str = "") -> frozenset[str] | None:
    """Every character the pattern names literally (alone or in a class), or None if unparsable."""
    parsed = _parse(pattern, flags)
    if parsed is None:
        return None
    c, tree = parsed
    out: set[str] = set()
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        items = node.data if hasattr(node, "data") else node
        for op, av in items:
            if op in (c.LITERAL, c.NOT_LITERAL):
                out.add(chr(av))
            elif op is c.IN:
                out.update(chr(v) for o, v in av if o is c.LITERAL)
            elif op is c.BRANCH:
                stack.extend(av[1])
            elif op is c.SUBPATTERN:
                stack.append(av[3])
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                stack.append(av[2])
            elif op in (c.ASSERT, c.ASSERT_NOT):
                stack.append(av[1])
            elif op is c.ATOMIC_GROUP:
                stack.append(av)
            elif op is c.GROUPREF_EXISTS:
                stack.extend(x for x in av[1:] if x is not None)
    return frozenset(out)


# --------------------------------------------------------------------------- required class

_MAX_RANGE = 512  # a range wider than this is not checked character by character


def _caseless_non_letter(cp: int) -> bool:
    """A character no case folding relates to anything else: not a letter, no case forms."""
    ch = chr(cp)
    if unicodedata.category(ch)[0] in "LMZ" or ch.isspace() or 0xD800 <= cp <= 0xDFFF:
        return False  # letters and marks (case folding), spaces (in every post)
    return ch.casefold() == ch and ch.upper() == ch and ch.lower() == ch


def _class_tokens(c: Any, op: Any, av: Any) -> frozenset[tuple[Any, ...]] | None:
    """The tokens of one single-character element, or None when it is not a usable class."""
    if op is c.LITERAL:
        return frozenset({("lit", av)}) if _caseless_non_letter(av) else None
    if op is not c.IN:
        return None
    tokens: set[tuple[Any, ...]] = set()
    for item_op, item in av:
        if item_op is c.LITERAL and _caseless_non_letter(item):
            tokens.add(("lit", item))
        elif item_op is c.RANGE and item[1] - item[0] < _MAX_RANGE and all(
            _caseless_non_letter(cp) for cp in range(item[0], item[1] + 1)
        ):
            tokens.add(("range", item[0], item[1]))
        elif item_op is c.CATEGORY and item is c.CATEGORY_DIGIT:
            tokens.add(("digit",))
        else:
            return None  # a negation, a letter, \w, \s, ...: matches too much to be worth it
    return frozenset(tokens) if tokens else None


def _class_score(tokens: frozenset[tuple[Any, ...]]) -> tuple[int, int]:
    """Higher is more selective: punctuation and symbols before digits, fewer before more."""
    return (0 if ("digit",) in tokens else 1, -len(tokens))


def _required(c: Any, items: Any) -> frozenset[tuple[Any, ...]] | None:
    """The most selective class one of whose characters every match of *items* contains."""
    best: frozenset[tuple[Any, ...]] | None = None
    for op, av in items:
        found: frozenset[tuple[Any, ...]] | None = None
        if op is c.LITERAL or op is c.IN:
            found = _class_tokens(c, op, av)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            if av[0] >= 1:
                found = _required(c, av[2])
        elif op is c.SUBPATTERN:
            found = _required(c, av[3])
        elif op is c.ATOMIC_GROUP:
            found = _required(c, av)
        elif op is c.BRANCH:
            union: set[tuple[Any, ...]] = set()
            for branch in av[1]:
                part = _required(c, branch)
                if part is None:
                    union.clear()
                    break
                union |= part
            found = frozenset(union) if union else None
        if found is not None and (best is None or _class_score(found) > _class_score(best)):
            best = found
    return best


def required_class(pattern: str, flags: str = "") -> str | None:
    r"""A one-character class (``regex`` source) every match of *pattern* has a character of.

    The second prefilter, for patterns without atoms: ``\d`` in a phone-number pattern,
    ``#`` in a hashtag pattern, ``[£$€]`` in a prize-scam pattern. Compiled with the
    pattern's own flags and searched in the text the pattern runs on, it is sound by
    construction: the class is one of the pattern's own mandatory elements. Only digits
    and characters without case (punctuation, symbols) are taken, so that no case folding
    can make the class and the pattern disagree; None when there is no such element.

    >>> required_class(r"(?<!\w)@\w+")
    '[\\U00000040]'
    >>> required_class(r"\w+") is None
    True
    """
    parsed = _parse(pattern, flags)
    if parsed is None:
        return None
    c, tree = parsed
    try:
        tokens = _required(c, tree.data)
    except (RecursionError, ValueError, TypeError, IndexError):
        return None
    if tokens is None:
        return None
    parts = []
    for token in sorted(tokens):
        if token[0] == "digit":
            parts.append("\\d")
        elif token[0] == "lit":
            parts.append(f"\\U{token[1]:08x}")
        else:
            parts.append(f"\\U{token[1]:08x}-\\U{token[2]:08x}")
    return "[" + "".join(parts) + "]"


# --------------------------------------------------------------------------- parsing


def _parse(pattern: str, flags: str) -> tuple[Any, Any] | None:
    """Parse with ``re._parser`` after screening out syntax only ``regex`` understands."""
    import re
    from re import _constants, _parser

    verbose = "x" in flags
    screened = _screen(pattern, verbose)
    if screened is None:
        return None
    re_flags = 0
    for letter, flag in (("i", re.IGNORECASE), ("s", re.DOTALL), ("m", re.MULTILINE), ("x", re.VERBOSE)):
        if letter in flags:
            re_flags |= flag
    try:
        with warnings.catch_warnings():
            # re warns (FutureWarning) about "possible nested set" / set operations:
            # exactly the places where the regex module reads the pattern differently.
            warnings.simplefilter("error")
            tree = _parser.parse(screened, re_flags)
    except Exception:  # re.error, warnings-as-errors, RecursionError, OverflowError
        return None
    if tree.state.flags & re.VERBOSE and not verbose and _screen(pattern, True) is None:
        return None  # an inline (?x): the screen above ran in non-verbose mode
    return _constants, tree


def _screen(pattern: str, verbose: bool) -> str | None:
    """Reject ``{`` that is not a plain quantifier (fuzzy matching) and rewrite ``(?<name>``.

    Returns the pattern to hand to ``re._parser``, or None when ``regex`` may read it
    differently from ``re``.
    """
    import re

    out: list[str] = []
    i = 0
    n = len(pattern)
    in_class = False
    class_start = -1
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]" and i > class_start:
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            class_start = i + 1
            if pattern.startswith("^", class_start):
                class_start += 1
            if pattern.startswith("]", class_start):
                class_start += 1
            out.append(ch)
            i += 1
            continue
        if ch == "{":
            m = re.compile(r"\{(\d+(,\d*)?|,\d+)\}").match(pattern, i)
            if m is None:
                return None  # fuzzy constraint, or a literal brace: not worth the risk
            out.append(m.group())
            i = m.end()
            continue
        if ch == "#" and verbose:
            return None if "{" in pattern[i:] else "".join(out) + pattern[i:]
        if pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------- characters


@lru_cache(maxsize=4096)
def _uncased_letter(ch: str) -> bool:
    """True for a letter of an uncased script that ``regex`` matches only to itself."""
    if unicodedata.category(ch) != "Lo" or ch.casefold() != ch or ch.upper() != ch:
        return False
    if unicodedata.normalize("NFKC", ch) != ch:
        return False
    try:
        from . import normalize as nz

        if any(nz.normalize(ch, nz.STANDARD, turkic=t) != ch for t in (False, True)):
            return False
    except ImportError:  # pragma: no cover - normalize ships with the package
        return False
    try:
        import importlib

        _regex = importlib.import_module("regex._regex")
        _regex_core = importlib.import_module("regex._regex_core")
        mode = _regex_core.IGNORECASE | _regex_core.FULLCASE | _regex_core.UNICODE
        cases = _regex.get_all_cases(mode, ord(ch))
        folded = _regex.fold_case(mode, ch)
    except Exception:  # private API moved: fall back to ASCII-only atoms
        return False
    return list(cases) == [ord(ch)] and folded == ch


def _token(code: int, ignorecase: bool) -> str:
    """What one pattern character contributes to the casefolded text of a match."""
    ch = chr(code)
    if ch == "I" or (ignorecase and ch == "i"):
        # 'I' matches ı and turns into ı under Turkic folding; 'i' matches 'I' and İ.
        return _BREAK
    if code < 128:
        if code < 0x20 or code == 0x7F or ch == "`":
            return _BREAK
        return ch.casefold()
    return ch if _uncased_letter(ch) else _BREAK


# --------------------------------------------------------------------------- string sets


def _cross(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None or b is None or len(a) * len(b) > _LIMIT:
        return None
    return frozenset(x + y for x in a for y in b)


def _char_weight(ch: str) -> float:
    if ch in _COMMON:
        return 0.8 if ch != " " else 0.5
    if ch in _RARE or not ch.isascii():
        return 1.3
    return 1.0


def _score(atom: str) -> float:
    """How selective an atom is: longer and rarer is better; long atoms stop improving."""
    return min(sum(_char_weight(c) for c in atom), 8.0) + 0.001 * len(atom)


def _best_piece(s: str) -> str | None:
    best: str | None = None
    for piece in s.split(_BREAK):
        if len(piece) >= MIN_ATOM_LEN and (best is None or _score(piece) > _score(best)):
            best = piece
    return best


def _minimize(atoms: Iterable[str]) -> frozenset[str]:
    """Drop atoms that contain another atom: the shorter one already catches them."""
    ordered = sorted(set(atoms), key=len)
    kept: list[str] = []
    for a in ordered:
        if not any(k in a for k in kept):
            kept.append(a)
    return frozenset(kept)


def _atoms_from(strings: frozenset[str] | None) -> frozenset[str] | None:
    """One atom per string (its best literal run), or None if some string has none."""
    if strings is None or not strings:
        return None
    out = []
    for s in strings:
        piece = _best_piece(s)
        if piece is None:
            return None
        out.append(piece)
    return _minimize(out)


def _quality(atoms: frozenset[str] | None) -> float:
    if not atoms or len(atoms) > MAX_ATOMS:
        return -math.inf
    return min(_score(a) for a in atoms) - 0.5 * math.log2(len(atoms))


def _best(*candidates: frozenset[str] | None) -> frozenset[str] | None:
    best: frozenset[str] | None = None
    for cand in candidates:
        if cand and len(cand) <= MAX_ATOMS and _quality(cand) > _quality(best):
            best = cand
    return best


class _Info(NamedTuple):
    """What we know about the casefolded text of every match of a sub-pattern.

    exact: all the strings it can be (None: unknown or too many); prefix/suffix: every
    match starts/ends with one of these (``{""}``: nothing known); atoms: every match
    contains one of these.
    """

    exact: frozenset[str] | None
    prefix: frozenset[str]
    suffix: frozenset[str]
    atoms: frozenset[str] | None


_EMPTY = frozenset({""})


def _finish(exact: frozenset[str] | None, prefix: frozenset[str], suffix: frozenset[str],
            *atom_candidates: frozenset[str] | None) -> _Info:
    if exact is not None:
        prefix = suffix = exact
    atoms = _best(*atom_candidates, _atoms_from(exact), _atoms_from(prefix), _atoms_from(suffix))
    return _Info(exact, prefix, suffix, atoms)


def _exact(strings: frozenset[str]) -> _Info:
    return _finish(strings, strings, strings)


_UNKNOWN = _Info(None, _EMPTY, _EMPTY, None)
_ONE_CHAR = _Info(frozenset({_BREAK}), frozenset({_BREAK}), frozenset({_BREAK}), None)


class _Analyzer:
    """Walks a ``re._parser`` tree bottom-up, building :class:`_Info` values."""

    def __init__(self, c: Any) -> None:
        self.c = c

    def seq(self, items: list[tuple[Any, Any]], ignorecase: bool) -> _Info:
        info = _exact(_EMPTY)
        for op, av in items:
            info = self.concat(info, self.node(op, av, ignorecase))
        return info

    def concat(self, x: _Info, y: _Info) -> _Info:
        exact = _cross(x.exact, y.exact)
        prefix = x.prefix
        if x.exact is not None:
            prefix = _cross(x.exact, y.prefix) or x.exact
        suffix = y.suffix
        if y.exact is not None:
            suffix = _cross(x.suffix, y.exact) or y.exact
        middle = _atoms_from(_cross(x.suffix, y.prefix))
        return _finish(exact, prefix, suffix, x.atoms, y.atoms, middle)

    def alternate(self, branches: list[_Info]) -> _Info:
        exact: frozenset[str] | None = None
        if all(b.exact is not None for b in branches):
            union = frozenset().union(*(b.exact or () for b in branches))
            exact = union if len(union) <= _LIMIT else None
        prefix = frozenset().union(*(b.prefix for b in branches))
        suffix = frozenset().union(*(b.suffix for b in branches))
        if len(prefix) > _LIMIT:
            prefix = _EMPTY
        if len(suffix) > _LIMIT:
            suffix = _EMPTY
        atoms: frozenset[str] | None = None
        if all(b.atoms for b in branches):
            atoms = _minimize(a for b in branches for a in (b.atoms or ()))
        return _finish(exact, prefix, suffix, atoms)

    def repeat(self, lo: int, hi: int, x: _Info) -> _Info:
        unbounded = hi == self.c.MAXREPEAT
        if hi == 0:
            return _exact(_EMPTY)
        if x.exact is not None and not unbounded and hi <= _MAX_REPEAT_EXPAND:
            power: frozenset[str] | None = _EMPTY
            union: set[str] = set()
            for k in range(hi + 1):
                if power is None:
                    break
                if k >= lo:
                    union.update(power)
                if k < hi:
                    power = _cross(power, x.exact)
            if power is not None and len(union) <= _LIMIT:
                return _exact(frozenset(union))
        if lo == 0:
            return _UNKNOWN
        return _finish(None, x.prefix, x.suffix, x.atoms)

    def node(self, op: Any, av: Any, ignorecase: bool) -> _Info:
        c = self.c
        if op is c.LITERAL:
            return _exact(frozenset({_token(av, ignorecase)}))
        if op in (c.NOT_LITERAL, c.ANY):
            return _ONE_CHAR
        if op is c.IN:
            return self.char_class(av, ignorecase)
        if op is c.AT:
            return _exact(_EMPTY)
        if op in (c.ASSERT, c.ASSERT_NOT):
            return _exact(_EMPTY)  # zero-width: contributes no text
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags & c.SRE_FLAG_IGNORECASE:
                ignorecase = True
            if del_flags & c.SRE_FLAG_IGNORECASE:
                ignorecase = False
            return self.seq(sub.data, ignorecase)
        if op is c.ATOMIC_GROUP:
            return self.seq(av.data, ignorecase)
        if op is c.BRANCH:
            return self.alternate([self.seq(b.data, ignorecase) for b in av[1]])
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            return self.repeat(lo, hi, self.seq(sub.data, ignorecase))
        if op is c.GROUPREF_EXISTS:
            _group, yes, no = av
            branches = [self.seq(yes.data, ignorecase)]
            branches.append(self.seq(no.data, ignorecase) if no is not None else _exact(_EMPTY))
            return self.alternate(branches)
        return _UNKNOWN  # GROUPREF and anything new: no knowledge, may even be empty

    def char_class(self, items: list[tuple[Any, Any]], ignorecase: bool) -> _Info:
        c = self.c
        chars: set[int] = set()
        for op, av in items:
            if op is c.LITERAL:
                chars.add(av)
            elif op is c.RANGE and av[1] - av[0] < _CLASS_EXPAND:
                chars.update(range(av[0], av[1] + 1))
            else:  # NEGATE, CATEGORY, big ranges
                return _ONE_CHAR
            if len(chars) > _CLASS_EXPAND:
                return _ONE_CHAR
        tokens = frozenset(_token(ch, ignorecase) for ch in chars)
        return _exact(tokens) if tokens else _ONE_CHAR


# --------------------------------------------------------------------------- backtracking


_BIG_REPEAT = 10  # a bounded outer repeat this large still multiplies backtracking
_SAMPLE_CHARS = (
    "".join(chr(c) for c in range(32, 127)) + "\n\t\u00a0\u2003éßıİКкдбب٣中文_"
)


def backtracking_risk(pattern: str, flags: str = "") -> str | None:
    """A short message when the pattern invites catastrophic backtracking, else None.

    A heuristic over the parse tree, in the spirit of static ReDoS checkers: it looks for a
    repeated group whose iterations can split the same text in several ways (nested
    quantifiers over overlapping characters, ambiguous alternatives, an empty-matching
    body) and for stacked unbounded quantifiers over overlapping characters before a
    required item (``.*.*=``). Character sets are compared on a sample of characters.
    """
    parsed = _parse(pattern, flags)
    if parsed is None:
        return None
    c, tree = parsed
    universe = frozenset(_SAMPLE_CHARS) | frozenset(pattern)
    checker = _Backtracking(c, universe, bool(tree.state.flags & c.SRE_FLAG_IGNORECASE))
    try:
        return checker.check_seq(list(tree.data))
    except RecursionError:
        return None


class _Backtracking:
    """The checks behind :func:`backtracking_risk`."""

    def __init__(self, c: Any, universe: frozenset[str], ignorecase: bool) -> None:
        self.c = c
        self.universe = universe
        self.ignorecase = ignorecase

    # ---- small facts about nodes

    def unbounded(self, op: Any, av: Any) -> bool:
        c = self.c
        return op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[1] == c.MAXREPEAT

    def children(self, op: Any, av: Any) -> list[list[tuple[Any, Any]]]:
        c = self.c
        if op is c.SUBPATTERN:
            return [list(av[3].data)]
        if op is c.ATOMIC_GROUP:
            return [list(av.data)]
        if op is c.BRANCH:
            return [list(b.data) for b in av[1]]
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            return [list(av[2].data)]
        if op in (c.ASSERT, c.ASSERT_NOT):
            return [list(av[1].data)]
        if op is c.GROUPREF_EXISTS:
            return [list(av[1].data)] + ([list(av[2].data)] if av[2] is not None else [])
        return []

    def empty(self, items: list[tuple[Any, Any]]) -> bool:
        return all(self.item_empty(op, av) for op, av in items)

    def item_empty(self, op: Any, av: Any) -> bool:
        c = self.c
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT, c.GROUPREF):
            return True
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            return av[0] == 0 or self.empty(list(av[2].data))
        if op in (c.BRANCH, c.GROUPREF_EXISTS):
            kids = self.children(op, av)
            return any(self.empty(k) for k in kids) or (op is c.GROUPREF_EXISTS and len(kids) == 1)
        if op in (c.SUBPATTERN, c.ATOMIC_GROUP):
            return self.empty(self.children(op, av)[0])
        return False

    def chars(self, items: list[tuple[Any, Any]]) -> frozenset[str]:
        out: set[str] = set()
        for op, av in items:
            out |= self.item_chars(op, av)
        return frozenset(out)

    def item_chars(self, op: Any, av: Any) -> frozenset[str]:
        c = self.c
        if op is c.LITERAL:
            return self.variants(chr(av))
        if op is c.NOT_LITERAL:
            return self.universe - self.variants(chr(av))
        if op is c.ANY:
            return self.universe
        if op is c.IN:
            return self.class_chars(av)
        if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
            return frozenset()
        if op is c.GROUPREF:
            return self.universe
        out: set[str] = set()
        for kid in self.children(op, av):
            out |= self.chars(kid)
        return frozenset(out)

    def variants(self, ch: str) -> frozenset[str]:
        if self.ignorecase:
            return frozenset({ch, ch.lower(), ch.upper(), ch.casefold()}) & self.universe | {ch}
        return frozenset({ch})

    def class_chars(self, items: list[tuple[Any, Any]]) -> frozenset[str]:
        c = self.c
        negate = False
        out: set[str] = set()
        for op, av in items:
            if op is c.NEGATE:
                negate = True
            elif op is c.LITERAL:
                out |= self.variants(chr(av))
            elif op is c.RANGE:
                out |= {ch for ch in self.universe if av[0] <= ord(ch) <= av[1]}
            elif op is c.CATEGORY:
                out |= {ch for ch in self.universe if self.in_category(av, ch)}
            else:
                out |= self.universe
        return self.universe - out if negate else frozenset(out)

    def in_category(self, code: Any, ch: str) -> bool:
        name = str(code).removeprefix("CATEGORY_").removeprefix("UNI_")
        positive = name.removeprefix("NOT_")
        if positive == "DIGIT":
            hit = ch.isdecimal()
        elif positive == "SPACE":
            hit = ch.isspace()
        elif positive == "WORD":
            hit = ch.isalnum() or ch == "_"
        elif positive == "LINEBREAK":
            hit = ch == "\n"
        else:
            hit = True
        return hit != name.startswith("NOT_")

    def edge_repeats(self, items: list[tuple[Any, Any]], from_end: bool) -> frozenset[str]:
        """Characters of unbounded repeats a match of *items* can start (or end) with."""
        out: set[str] = set()
        for op, av in reversed(items) if from_end else items:
            if self.unbounded(op, av):
                out |= self.chars(list(av[2].data))
            elif op in (self.c.SUBPATTERN, self.c.ATOMIC_GROUP, self.c.BRANCH, self.c.GROUPREF_EXISTS):
                for kid in self.children(op, av):
                    out |= self.edge_repeats(kid, from_end)
            elif op in (self.c.MAX_REPEAT, self.c.MIN_REPEAT, self.c.POSSESSIVE_REPEAT):
                out |= self.edge_repeats(list(av[2].data), from_end)
            if not self.item_empty(op, av):
                break
        return frozenset(out)

    def top_items(self, items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
        """Flatten plain groups so ``((a+)b)`` is looked at as ``a+ b``."""
        out: list[tuple[Any, Any]] = []
        for op, av in items:
            if op in (self.c.SUBPATTERN, self.c.ATOMIC_GROUP):
                out.extend(self.top_items(self.children(op, av)[0]))
            else:
                out.append((op, av))
        return out

    # ---- the checks

    def check_seq(self, items: list[tuple[Any, Any]]) -> str | None:
        for op, av in items:
            msg = self.check_item(op, av)
            if msg:
                return msg
        return self.check_stacked(self.top_items(items))

    def check_item(self, op: Any, av: Any) -> str | None:
        c = self.c
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):  # possessive repeats never give back text
            _lo, hi, sub = av
            if hi == c.MAXREPEAT or hi >= _BIG_REPEAT:
                msg = self.check_repeat(self.top_items(list(sub.data)))
                if msg:
                    return msg
        for kid in self.children(op, av):
            msg = self.check_seq(kid)
            if msg:
                return msg
        return None

    def check_repeat(self, body: list[tuple[Any, Any]]) -> str | None:
        if self.empty(body) and any(
            op is not self.c.LITERAL and self.children(op, av) for op, av in body
        ):
            return "a repeated group can match the empty string in several ways (e.g. (a|a?)+)"
        for index, (op, av) in enumerate(body):
            if not self.unbounded(op, av):
                continue
            inner = self.chars(list(av[2].data))
            others = [x for j, x in enumerate(body) if j != index and not self.item_empty(*x)]
            if all(self.item_chars(*x) & inner for x in others):
                return "nested quantifiers over overlapping characters (e.g. (a+)+) can backtrack exponentially"
        if self.edge_repeats(body, from_end=True) & self.edge_repeats(body, from_end=False):
            return "a repeated group ends and starts with quantifiers over the same characters (e.g. (\\s*,\\s*)*)"
        seqs = self.alternatives(body)
        if seqs is not None and len(seqs) > 1 and self.ambiguous(seqs):
            return "overlapping alternatives under a quantifier (e.g. (a|aa)+) can backtrack exponentially"
        return None

    def alternatives(self, items: list[tuple[Any, Any]]) -> list[tuple[frozenset[str], ...]] | None:
        """Every way *items* can match, as sequences of character sets (None: variable/too many)."""
        c = self.c
        out: list[tuple[frozenset[str], ...]] = [()]
        for op, av in items:
            ways: list[tuple[frozenset[str], ...]] | None
            if op in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.IN):
                ways = [(self.item_chars(op, av),)]
            elif op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            elif op in (c.SUBPATTERN, c.ATOMIC_GROUP):
                ways = self.alternatives(self.children(op, av)[0])
            elif op is c.BRANCH:
                ways = []
                for kid in self.children(op, av):
                    sub = self.alternatives(kid)
                    if sub is None:
                        return None
                    ways.extend(sub)
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[1] <= 4:
                inner = self.alternatives(list(av[2].data))
                if inner is None:
                    return None
                ways = []
                power: list[tuple[frozenset[str], ...]] = [()]
                for k in range(av[1] + 1):
                    if k >= av[0]:
                        ways.extend(power)
                    power = [p + q for p in power for q in inner]
                    if len(power) > 64:
                        return None
            else:
                return None
            if ways is None:
                return None
            out = [p + q for p in out for q in ways]
            if len(out) > 64:
                return None
        return out

    def ambiguous(self, seqs: list[tuple[frozenset[str], ...]]) -> bool:
        """Sardinas–Patterson: can a text be split into alternatives in two ways? (approximate)

        Alternatives are sequences of character sets; two positions agree when their sets
        share a character, which over-approximates ambiguity (we would rather warn).
        """

        def compatible(u: tuple[frozenset[str], ...], v: tuple[frozenset[str], ...]) -> bool:
            return all(a & b for a, b in zip(u, v, strict=False))

        code = [s for s in seqs if s]
        if len(code) < len(seqs) and code:
            return True  # an empty alternative next to others: (a|)+
        first: set[tuple[frozenset[str], ...]] = set()
        for i, u in enumerate(code):
            for j, v in enumerate(code):
                if i == j or len(u) > len(v) or not compatible(u, v):
                    continue
                if len(u) == len(v):
                    return True
                first.add(v[len(u):])
        seen: set[tuple[frozenset[str], ...]] = set()
        current = first
        for _ in range(64):
            if not current:
                return False
            if any(len(w) == len(x) and compatible(w, x) for w in current for x in code):
                return True
            seen |= current
            nxt: set[tuple[frozenset[str], ...]] = set()
            for w in current:
                for x in code:
                    if len(w) != len(x) and compatible(w, x):
                        shorter, longer = (w, x) if len(w) < len(x) else (x, w)
                        nxt.add(longer[len(shorter):])
            current = nxt - seen
        return True

    def check_stacked(self, items: list[tuple[Any, Any]]) -> str | None:
        """``.*.*=``: two unbounded quantifiers over shared characters, then a required item."""
        for i, (op, av) in enumerate(items):
            if not self.unbounded(op, av):
                continue
            first = self.chars(list(av[2].data))
            for j in range(i + 1, len(items)):
                op2, av2 = items[j]
                if self.unbounded(op2, av2) and self.chars(list(av2[2].data)) & first:
                    rest = items[j + 1 :]
                    if any(not self.item_empty(*x) for x in rest):
                        return "adjacent quantifiers over the same characters before a required item (e.g. .*.*=) backtrack polynomially"
                    break
                if not self.item_empty(op2, av2):
                    break
        return None
