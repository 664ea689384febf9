"""Text normalization views (language.md §3, §5): ``str`` + ``View`` -> normalized ``str`` or ``Mapped``.

Two paths compute the same text. ``normalize`` is the fast path: it works on whole strings
with C-level primitives (per-view codecs and translate tables, ``unicodedata.normalize``,
``str.casefold``). ``normalize_mapped`` is used only for posts with a hit: every output
character also knows the span of the original it came from. Its codec paths (the usual
post) are equal to the chunked pipeline by hypothesis properties; its per-character and
chunked paths check their text against the fast path at run time (falling back to coarser
chunks), so the two never disagree. ``scan_normalizer`` is what the engine's first pass
reads: equal to ``normalize`` but for whitespace.
"""

from __future__ import annotations

import _codecs
import contextlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import compress
from typing import Any, ClassVar, Self, TypeVar

import attrs
import regex

__all__ = [
    "APOSTROPHES",
    "ASCII_OTHER_SPACES",
    "LIGHT",
    "NONE",
    "RAW",
    "STANDARD",
    "Mapped",
    "View",
    "boundary_ok",
    "fold_space_runs",
    "is_unspaced",
    "is_word_char",
    "normalize",
    "normalize_mapped",
    "normalize_term",
    "normalizer",
    "offsets_unchanged",
    "scan_normalizer",
    "word_spans",
    "words",
]


@attrs.frozen(cache_hash=True)
class View:
    """A normalization view: which steps a text (or a term) goes through before matching."""

    kind: str  # "raw" | "none" | "light" | "standard"
    casefold: bool = True  # False under `case: sensitive`; ignored for raw and light
    fold_accents: bool = True  # only meaningful for "standard"; False under `accents: keep`


RAW = View("raw")
NONE = View("none")
LIGHT = View("light")
STANDARD = View("standard")

#: Apostrophe variants unified to ``'`` by ``standard`` (§3 lists the first five; U+00B4
#: ACUTE ACCENT, U+2032 PRIME and U+201B are common keyboard substitutes, so "don´t" works).
APOSTROPHES = "'\u2019\u02bc\u2018`\u00b4\u2032\u201b"

# Stream-Safe Text Format (UAX #15 §13): at most 30 non-starters in a row. Longer runs are
# cut before NFKC, whose canonical reordering is quadratic in the run length (a Zalgo post of
# 100,000 alternating marks would otherwise take seconds). Marks past the 30th are dropped.
_MAX_MARKS = 30
_LONG_MARKS = regex.compile(r"(\p{M}{" + str(_MAX_MARKS) + r"})\p{M}+")

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt); Python has no accessor for it.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip


def _is_invisible(cp: int) -> bool:
    """Default-ignorable or format (Cf) character: removed by light and standard (§5)."""
    for lo, hi in _DEFAULT_IGNORABLE:
        if lo <= cp <= hi:
            return True
    return unicodedata.category(chr(cp)) == "Cf"


# Arabic harakat/tashkeel and Quranic annotation marks (all Mn); tatweel U+0640 is Lm.
_HARAKAT = (
    (0x0610, 0x061A), (0x064B, 0x065F), (0x0670, 0x0670), (0x06D6, 0x06DC),
    (0x06DF, 0x06E4), (0x06E7, 0x06E8), (0x06EA, 0x06ED), (0x08D3, 0x08E1),
    (0x08E3, 0x08FF), (0x0640, 0x0640),
)  # fmt: skip

# Hangul medial vowels and final consonants: they compose with the syllable before them.
_HANGUL_VT = ((0x1160, 0x11FF), (0xD7B0, 0xD7FF))

_ARABIC_MAP = {
    "\u0623": "\u0627",  # أ -> ا
    "\u0625": "\u0627",  # إ -> ا
    "\u0622": "\u0627",  # آ -> ا
    "\u0671": "\u0627",  # ٱ -> ا
    "\u0649": "\u064a",  # ى alef maqsura -> ي
    "\u06cc": "\u064a",  # ی Farsi yeh -> ي
    "\u06d2": "\u064a",  # ے yeh barree -> ي
    "\u06a9": "\u0643",  # ک keheh -> ك
    "\u0629": "\u0647",  # ة ta marbuta -> ه (see docs/normalization.md)
    "\u06c0": "\u0647",  # ۀ heh with yeh above -> ه
    "\u06c1": "\u0647",  # ہ heh goal -> ه
    "\u06c2": "\u0647",  # ۂ heh goal with hamza -> ه
}

# Latin letters without a canonical decomposition that still carry an "accent" (§5), plus
# ligatures that NFKC leaves alone (French œ, æ). Upper-case forms only matter when the view
# does not casefold.
_LATIN_SPECIAL = {
    "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H",
    "ß": "ss", "ẞ": "SS", "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE",
}  # fmt: skip
_KEEP = frozenset("ñÑ")  # ñ is a letter of its own in Spanish (año is not ano)

_IS_LATIN = regex.compile(r"\p{Script=Latin}").match
_LATIN_MARKS = regex.compile(r"(?<=\p{Script=Latin})\p{M}+")
_HAS_MARK = regex.compile(r"\p{M}").search


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


class _LazyTable(dict[int, "int | str | None"]):
    """A ``str.translate`` table filled on first sight of each code point."""

    def __init__(self, fn: Callable[[int], int | str | None]) -> None:
        super().__init__()
        self._fn = fn

    def __missing__(self, cp: int) -> int | str | None:
        value = self._fn(cp)
        self[cp] = value
        return value


def _pre_light(cp: int) -> int | str | None:
    return None if _is_invisible(cp) else cp


def _pre_standard(cp: int) -> int | str | None:
    if _is_invisible(cp):
        return None
    if chr(cp) in APOSTROPHES:
        return "'"
    return cp


def _fold_latin(ch: str) -> str:
    """The accent-folded form of one Latin letter (é -> e, ǖ -> u, ł -> l), or ``ch``."""
    if ch in _KEEP:
        return ch
    special = _LATIN_SPECIAL.get(ch)
    if special is not None:
        return special
    if not _IS_LATIN(ch) or unicodedata.category(ch)[0] != "L":
        return ch
    decomposed = unicodedata.normalize("NFD", ch)
    if len(decomposed) > 1 and all(unicodedata.category(c)[0] == "M" for c in decomposed[1:]):
        return _LATIN_SPECIAL.get(decomposed[0], decomposed[0])
    return ch


def _post_standard(fold: bool) -> Callable[[int], int | str | None]:
    def post(cp: int) -> int | str | None:
        ch = chr(cp)
        if _is_invisible(cp) or _in(cp, _HARAKAT):
            return None
        if ch in APOSTROPHES:
            return "'"
        mapped = _ARABIC_MAP.get(ch)
        if mapped is not None:
            return mapped
        if cp > 0x7F and unicodedata.category(ch) == "Nd":
            return str(unicodedata.decimal(ch, 0))
        if fold and cp > 0x7F:
            folded = _fold_latin(ch)
            if folded != ch:
                return folded
        return cp

    return post


_PRE_LIGHT = _LazyTable(_pre_light)
_PRE_STANDARD = _LazyTable(_pre_standard)
_POST_FOLD = _LazyTable(_post_standard(True))
_POST_KEEP = _LazyTable(_post_standard(False))


def _casefold(text: str, turkic: bool) -> str:
    if turkic:
        # str.replace is memchr-fast; str.translate with a dict is not.
        if "I" in text:
            text = text.replace("I", "ı")
        if "İ" in text:
            text = text.replace("İ", "i")
    return text.casefold()


def _core(text: str, view: View, turkic: bool) -> str:
    """Every step of ``view`` except whitespace folding, which is context-dependent."""
    kind = view.kind
    if kind == "none":
        return _casefold(text, turkic) if view.casefold else text
    if text.isascii():
        if kind == "light":
            return text
        if view.casefold:
            if turkic and "I" in text:
                text = text.replace("I", "ı")
            text = text.lower()
        return text.replace("`", "'") if "`" in text else text
    if _LONG_MARKS.search(text) is not None:
        text = _LONG_MARKS.sub(r"\1", text)
    if kind == "light":
        text = unicodedata.normalize("NFKC", text.translate(_PRE_LIGHT))
        return text.translate(_PRE_LIGHT)
    text = unicodedata.normalize("NFKC", text.translate(_PRE_STANDARD))
    if view.casefold:
        text = _casefold(text, turkic)
    if view.fold_accents:
        text = text.translate(_POST_FOLD)
        if _HAS_MARK(text) is not None:
            text = _LATIN_MARKS.sub("", text)
    else:
        text = text.translate(_POST_KEEP)
    return unicodedata.normalize("NFC", text)


# Fast path for non-ASCII posts: a charmap codec. Almost every post of a language uses a few
# dozen non-ASCII characters, and for most of them ("ş", "é", "ة", "’", ZWJ, harakat) the
# pipeline is context-free: the text's result is the concatenation of each character's
# result. ``_Alphabet`` gives ASCII + up to 127 such characters one byte each, so a post is
# ``charmap_encode`` -> ``charmap_decode`` (whose table holds each character's result): two
# C calls. Characters outside the alphabet (emoji, other scripts, ß) come out as a marker,
# and their results (cached per view) are put in its place. One that could merge with the
# character before it (a mark, an invisible character...) makes the post take whole runs,
# or the per-word path. ``_build`` puts the ASCII and Latin-1 shortcuts in front.
_CACHE_CAP = 1 << 17
_CACHE_MAX_WORD = 64
# Starters (ccc 0) that are the second half of a canonical composition (Unicode 14, from
# unicodedata.decomposition; tests/test_normalize.py recomputes the list): they can merge with
# the character before them, like the Hangul vowels and trailing consonants.
_SECOND_STARTERS = frozenset(
    map(chr, (
        0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6,
        0x0D3E, 0x0D57, 0x0DCF, 0x0DDF, 0x0FB5, 0x0FB7, 0x102E, 0x1B35, 0x11127, 0x1133E,
        0x11357, 0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930,
    ))
)  # fmt: skip
# The only marks an alphabet may hold: Arabic harakat that every standard view removes and
# that compose with nothing (U+0653-0655 do compose: ا + U+0654 is أ).
_ALPHABET_MARKS = frozenset(map(chr, range(0x064B, 0x0653)))
_MARKER = "\uffff"  # what a character outside the alphabet decodes to
_OUTSIDE_BYTE = 0xFF  # where "?" is encoded, so the `replace` error handler writes it
_QUESTION_PROXY = "\uff1f"  # FULLWIDTH QUESTION MARK, NFKC "?": stands in for real "?"
# Whitespace folding where every whitespace character is already U+0020 (the fast paths map
# them so): `re.sub` is about 1.6x cheaper than split + join on long posts.
_fold_spaces = re.compile("  +").sub


def _stable_starter(ch: str) -> bool:
    """Nothing before ``ch`` can merge with it: not a mark, not removed, composes with nothing."""
    cp = ord(ch)
    # `regex` may know newer marks than `unicodedata` (e.g. U+1E4EC, Unicode 15): ask both,
    # since mark removal itself uses `regex`.
    if unicodedata.combining(ch) or unicodedata.category(ch)[0] == "M" or _HAS_MARK(ch):
        return False
    if _is_invisible(cp) or _in(cp, _HARAKAT) or _in(cp, _HANGUL_VT):
        return False
    return ch not in _SECOND_STARTERS


def _stages(ch: str, view: View, turkic: bool) -> tuple[str, ...]:
    """What ``ch`` alone becomes at each step that may merge it with its neighbours."""
    nfkc = unicodedata.normalize("NFKC", ch)
    return (unicodedata.normalize("NFKD", ch), nfkc, nfkc.casefold(), _core(ch, view, turkic))


@lru_cache(maxsize=65536)
def _safe_start(ch: str, view: View, turkic: bool) -> bool:
    """Can a run starting with ``ch`` be normalized apart from the character before it?"""
    if not _stable_starter(ch):
        return False
    return all(stage and _stable_starter(stage[0]) for stage in _stages(ch, view, turkic))


def _context_free(ch: str, view: View, turkic: bool) -> bool:
    """In a text made of context-free characters only, each one is normalized on its own."""
    if ch.isascii():
        return True
    cp = ord(ch)
    if ch in _ALPHABET_MARKS:
        return _core(ch, view, turkic) == ""
    if _is_invisible(cp):
        return True  # removed before anything else looks at it
    if not _stable_starter(ch) and not _in(cp, _HARAKAT):
        return False
    return all(not stage or _stable_starter(stage[0]) for stage in _stages(ch, view, turkic))


_K = TypeVar("_K")
_V = TypeVar("_V")


class _ViewTable(dict[_K, _V]):
    """A per-(view, turkic) cache that fills itself (``__missing__``); ``for_view`` gives
    the one shared instance of each subclass per (view, turkic)."""

    _shared: ClassVar[dict[tuple[View, bool], Any]]

    def __init_subclass__(cls) -> None:
        cls._shared = {}

    def __init__(self, view: View, turkic: bool) -> None:
        super().__init__()
        self._view = view
        self._turkic = turkic

    def _remember(self, key: _K, value: _V) -> _V:
        """Store and return *value*, first emptying a full cache (memory stays bounded)."""
        if len(self) >= _CACHE_CAP:
            self.clear()
        self[key] = value
        return value

    @classmethod
    def for_view(cls, view: View, turkic: bool) -> Self:
        table = cls._shared.get((view, turkic))
        if table is None:
            table = cls._shared.setdefault((view, turkic), cls(view, turkic))
        return table  # type: ignore[no-any-return]


class _RunTable(_ViewTable[str, "str | None"]):
    """Run outside the alphabet -> its normalized form, or None when it cannot be cut off."""

    def __missing__(self, run: str) -> str | None:
        view, turkic = self._view, self._turkic
        value = _core(run, view, turkic) if _safe_start(run[0], view, turkic) else None
        return self._remember(run, value) if len(run) <= _CACHE_MAX_WORD else value


class _OutsideTable(_ViewTable[str, "str | None"]):
    """Character outside the alphabet -> its result (whitespace as U+0020, so that only runs
    of spaces are left to fold), or None when it may merge with the character before it (or
    its result holds the marker U+FFFF): the caller then takes whole runs."""

    def __missing__(self, ch: str) -> str | None:
        view, turkic = self._view, self._turkic
        value = _core(ch, view, turkic) if _safe_start(ch, view, turkic) else None
        if value is not None:
            value = "".join(" " if c.isspace() else c for c in value)
            if _MARKER in value:  # U+FFFF itself: results are put in the markers' places
                value = None
        return self._remember(ch, value)


# Most frequent first: an alphabet holds 127 characters (those with multi-character results,
# like ß, stay outside). Latin-1 letters, then Turkish/Azeri and typographic punctuation,
# then Central European letters, then the rarer Latin-1 symbols.
_LATIN_CANDIDATES = (
    "\u00a0«»°´¡¿ºª" + "".join(map(chr, range(0xC0, 0x100)))
    + "ışğİŞĞəƏ’‘“”„…–—•€‼⁉™♥❤♀♂✌☺☹✅❌✔✨\ufe0f\u200d\u200b\u200c\u200e\u200f\u00ad"
    + "łŁčšžřćőűąężśńŚŃĘĄŻŹĆČŠŽŘāēīū"
    + "".join(map(chr, range(0xA0, 0xC0)))
)  # fmt: skip
_ARABIC_CANDIDATES = (
    "".join(map(chr, range(0x0621, 0x063B)))
    + "".join(map(chr, range(0x0640, 0x0653)))
    + "".join(map(chr, range(0x0660, 0x066E)))
    + "".join(map(chr, range(0x06F0, 0x06FA)))
    + "\u060c\u061b\u061f\u0671\u067e\u0686\u0698\u06a9\u06af\u06cc\u06c1\u06d2\u06c0"
    + "\u00a0\u00ab\u00bb…“”‘’–—•\u200c\u200d\u200e\u200f\ufe0fıİ❤♥"
)


class _Alphabet:
    """ASCII + up to 127 context-free characters as a charmap codec, for one view.

    The encoding gives each member one byte; the decoding table maps that byte straight to
    the member's result (U+FFFE, "undefined", for a removed member, which the ``ignore``
    handler drops; any whitespace to U+0020), so a post is ``charmap_encode`` +
    ``charmap_decode``: two C calls. ``?`` is encoded at 0xFF, so the C-level ``replace``
    error handler writes 0xFF for every character outside the alphabet (no Python call);
    real ``?`` characters are first swapped for U+FF1F FULLWIDTH QUESTION MARK (NFKC ``?``),
    a member encoded at 0x3F that decodes to ``?``. Byte 0xFF decodes to a marker (U+FFFF);
    the encoded bytes are one per character, so they give the outside characters' offsets.
    Members whose result has several characters (ß, …) are left outside.
    """

    __slots__ = ("fn", "members", "offset_fns")

    def __init__(
        self,
        candidates: str,
        view: View,
        turkic: bool,
        use_latin1: bool,
        other: list[Callable[[str], str]],
        fold_runs: bool = True,
    ) -> None:
        if _core(_QUESTION_PROXY, view, turkic) != "?" or not _context_free(
            _QUESTION_PROXY, view, turkic
        ):
            raise ValueError("U+FF1F is not a context-free '?' in this view")
        members: list[str] = []
        for c in dict.fromkeys(candidates):
            if len(members) == 127:
                break
            if c.isascii() or c in (_MARKER, _QUESTION_PROXY, "\ufffe"):
                continue
            if _context_free(c, view, turkic) and len(_core(c, view, turkic)) <= 1:
                members.append(c)
        self.members = "".join(members)
        encoding = [chr(i) for i in range(128)] + members
        encoding[ord("?")] = _QUESTION_PROXY
        encoding += ["\ufffe"] * (255 - len(encoding)) + ["?"]
        decoding = []
        for c in encoding:
            out = "?" if c == "?" else _core(c, view, turkic) if c != "\ufffe" else "\ufffe"
            if len(out) > 1:
                raise ValueError(f"{c!r} has a multi-character result")
            if out.isspace():
                out = " "  # whitespace runs are folded afterwards; any whitespace will do
            decoding.append(out or "\ufffe")
        decoding[_OUTSIDE_BYTE] = _MARKER
        if any(c == _MARKER for c in decoding[:_OUTSIDE_BYTE]):
            raise ValueError("a member normalizes to the marker")
        latin1 = None
        if use_latin1:
            # Latin-1 texts (most German, Portuguese, Spanish... posts): encode("latin-1") is
            # a copy, one bytes.translate maps every character to its result, and decoding
            # Latin-1 is a copy. A character whose result is not one Latin-1 character maps
            # to a byte that no character's result is, which sends the post on.
            results = {b: _core(chr(b), view, turkic) for b in range(256)}
            ok = {
                b for b, out in results.items()
                if _context_free(chr(b), view, turkic) and all(ord(x) < 256 for x in out)
            }  # fmt: skip
            taken = {ord(out) for b, out in results.items() if b in ok and len(out) == 1}
            unhandled = max(set(range(256)) - taken)  # 'ª' (NFKC 'a') is never a result
            table = bytearray(range(256))
            delete = bytearray()
            expand: list[tuple[int, bytes, bytes]] = []
            for b, out in results.items():
                if b not in ok:
                    table[b] = unhandled
                elif len(out) > 1:
                    if all(results[ord(x)] == x for x in out):
                        expand.append((b, bytes((b,)), out.encode("latin-1")))  # ß -> ss
                    table[b] = unhandled
                elif not out:
                    delete.append(b)
                else:
                    table[b] = 0x20 if out.isspace() else ord(out)
            latin1 = (bytes(table), bytes(delete), tuple(expand), unhandled)
        inside = "\\x00-\\x7f" + re.escape(_QUESTION_PROXY + self.members)
        encoding_map = _codecs.charmap_build("".join(encoding))
        self.offset_fns = _offset_fns(encoding_map, "".join(decoding), members, view, turkic)
        self.fn = _alphabet_fn(
            encoding_map,
            "".join(decoding),
            # A class first (not a repeat): `re` then scans for it in C before trying a match.
            re.compile(f"[^{inside}]").findall,
            re.compile(f"[^{inside}][^{inside}]*").findall,
            latin1,
            other,
            view,
            turkic,
            fold_runs,
        )


_KEPT, _STARTS_EMPTY, _MARK_EMPTY = 1, 2, 0  # codec_map's flag per character (see there)
_OffsetFns = tuple[Callable[[str], "str | None"], Callable[[str], "tuple[str, list[int], list[int]] | None"]]


def _offset_fns(
    encoding: dict[int, int] | _codecs._EncodingMap, decoding: str, members: list[str], view: View, turkic: bool
) -> _OffsetFns:
    """``(one_to_one, codec_map)`` for an alphabet: its codec, used by the offset maps of a
    hit post (``normalize_mapped``, ``offsets_unchanged``) instead of a dict lookup, or a
    pipeline call, per character."""
    simple = _SimpleTable.for_view(view, turkic)
    chars = _CharTable.for_view(view, turkic)
    encode = _codecs.charmap_encode
    decode = _codecs.charmap_decode
    marker = _MARKER
    # byte -> flag: ASCII and members with a result are kept; a removed member either starts
    # a chunk (ZWSP) or is a mark that extends the chunk before it (harakat, U+FE0F)
    by_byte = bytearray([_KEPT]) * 256
    for i, c in enumerate(members, start=128):
        if decoding[i] == "\ufffe":
            entry = chars[c]
            by_byte[i] = _STARTS_EMPTY if entry is not None and entry[0] else _MARK_EMPTY
    flag_table = bytes(by_byte)
    kept_only = bytes(1 if b == _KEPT else 0 for b in range(256))

    def encoded(text: str) -> bytes:
        return encode(text.replace("?", _QUESTION_PROXY) if "?" in text else text, "replace", encoding)[0]

    def one_to_one(text: str) -> str | None:
        """``text.translate(simple)``, whitespace as U+0020 and not folded, when every
        character of *text* becomes one character, else None."""
        raw = encoded(text)
        out: str = decode(raw, "ignore", decoding)[0]
        if len(out) != len(text):  # a member was removed: offsets move
            return None
        if _OUTSIDE_BYTE in raw:
            between = raw.split(b"\xff")
            if len(between) > 65:  # a post of emoji: the slow way
                return None
            at = -1
            for piece in between[:-1]:
                at += len(piece) + 1
                result = simple[ord(text[at])]
                if result == _NOT_SIMPLE:
                    return None
                out = out.replace(marker, " " if result.isspace() else result, 1)
        return out

    def codec_map(text: str) -> tuple[str, list[int], list[int]] | None:
        """``_map_by_chars(text)`` before whitespace folding (None where it would be None,
        or past 64 outside characters), from C-level passes over the encoded flags.

        Each output character starts at its source character and ends where the next
        character that is not a removed mark begins (a removed mark joins the chunk before
        it, as in ``_map_by_chars``); a result of several characters gives each the same span.
        """
        raw = encoded(text)
        n = len(text)
        flags = bytearray(raw.translate(flag_table))
        results: list[tuple[int, str]] = []  # outside characters: (offset, result)
        if _OUTSIDE_BYTE in raw:
            between = raw.split(b"\xff")
            if len(between) > 65:
                return None
            at = -1
            for piece in between[:-1]:
                at += len(piece) + 1
                entry = chars[text[at]]
                if entry is None:
                    return None
                starter, result = entry
                if result and not (starter or at == 0):
                    return None  # a mark with a result: _map_by_chars gives up too
                flags[at] = _KEPT if result else (_STARTS_EMPTY if starter else _MARK_EMPTY)
                results.append((at, result))
        if n and flags[0] == _MARK_EMPTY:
            flags[0] = _STARTS_EMPTY  # nothing before it to extend
        positions = list(compress(range(n), flags))  # every character but removed marks
        kept_flags = flags.translate(kept_only)
        kept = bytes(compress(kept_flags, flags))
        starts = list(compress(positions, kept))
        ends = list(compress([*positions[1:], n], kept))
        out: str = decode(raw, "ignore", decoding)[0]
        for at, result in reversed(results):  # from the end: indices before stay valid
            if len(result) > 1:
                j = kept_flags.count(1, 0, at)
                starts[j : j + 1] = [at] * len(result)
                ends[j : j + 1] = [ends[j]] * len(result) if result else []
        if results:
            pieces = out.split(marker)
            if len(pieces) != len(results) + 1:
                return None
            filled = [pieces[0]]
            for (_at, result), tail in zip(results, pieces[1:], strict=True):
                filled.append(result)
                filled.append(tail)
            out = "".join(filled)
        if len(out) != len(starts):
            return None
        return out, starts, ends

    return one_to_one, codec_map


_offset_fns_by_view: dict[tuple[View, bool], _OffsetFns | None] = {}
_UNBUILT: Any = object()


def _offset_fns_for(view: View, turkic: bool) -> _OffsetFns | None:
    """The alphabets' ``(one_to_one, codec_map)`` for (view, turkic), picking the Arabic
    alphabet for a post with an alef (as the fast path does), or None for views without."""
    key = (view, turkic)
    found = _offset_fns_by_view.get(key, _UNBUILT)  # one lookup: View.__eq__ is not free
    if found is not _UNBUILT:
        return found  # type: ignore[no-any-return]
    fns: _OffsetFns | None = None
    if view.kind in ("light", "standard"):
        alphabets: list[_OffsetFns] = []
        for candidates in (_LATIN_CANDIDATES, _ARABIC_CANDIDATES):
            with contextlib.suppress(ValueError):  # no such alphabet for this view: the slow way
                alphabets.append(_Alphabet(candidates, view, turkic, False, []).offset_fns)
        if len(alphabets) == 2:
            (latin_same, latin_map), (arabic_same, arabic_map) = alphabets

            def one_to_one(text: str) -> str | None:
                return arabic_same(text) if "\u0627" in text else latin_same(text)

            def codec_map(text: str) -> tuple[str, list[int], list[int]] | None:
                return arabic_map(text) if "\u0627" in text else latin_map(text)

            fns = one_to_one, codec_map
        elif alphabets:
            fns = alphabets[0]
    _offset_fns_by_view[key] = fns
    return fns


def offsets_unchanged(text: str, view: View, turkic: bool = False) -> bool:
    """True when ``normalize(text, view, turkic)`` maps each character of *text* to exactly
    one character and folds no whitespace run: a span of it is then the same span of
    *text*. False can be wrong (the check gives up on rare characters); True never is.

    >>> offsets_unchanged("Çok güzel 😂", STANDARD), offsets_unchanged("Straße", STANDARD)
    (True, False)
    """
    if text.isascii():
        return len(normalize(text, view, turkic)) == len(text)
    fns = _offset_fns_for(view, turkic)
    if fns is None:
        return False
    out = fns[0](text)
    return out is not None and "  " not in out


def _alphabet_fn(
    encoding: dict[int, int] | _codecs._EncodingMap,
    decoding: str,
    outside_chars: Callable[[str], list[str]],
    outside_runs: Callable[[str], list[str]],
    latin1: tuple[bytes, bytes, tuple[tuple[int, bytes, bytes], ...], int] | None,
    other: list[Callable[[str], str]],
    view: View,
    turkic: bool,
    fold_runs: bool = True,
) -> Callable[[str], str]:
    """The whole fast path for one view (ASCII posts too, so that a post costs one Python
    call); ``other[0]``, when given, takes the posts with an alef (the Arabic alphabet).

    Without *fold_runs* every branch but the last two (whole outside runs, the slow path)
    leaves runs of U+0020 unfolded (every whitespace character is already U+0020): see
    ``normalizer``."""
    loose = not fold_runs
    ascii_table, ascii_after = _ascii_table(view, turkic)
    str_encode = str.encode
    latin1_encode = _codecs.latin_1_encode
    l1_table, l1_delete, l1_expand, l1_unhandled = latin1 or (b"", b"", (), 0)
    latin1_decode = _codecs.latin_1_decode
    encode = _codecs.charmap_encode
    decode = _codecs.charmap_decode
    marker = _MARKER
    proxy = _QUESTION_PROXY
    run_lookup = _RunTable.for_view(view, turkic).__getitem__
    char_lookup = _OutsideTable.for_view(view, turkic).__getitem__

    def alphabet(text: str) -> str:
        """The normalized text, whitespace folded."""
        if text.isascii():
            plain: str = str_encode(text).translate(ascii_table).decode()
            if ascii_after:
                for ch, repl in ascii_after:
                    if ch in plain:
                        plain = plain.replace(ch, repl)
            return plain if loose or "  " not in plain else _fold_spaces(" ", plain)
        if other and "\u0627" in text:
            return other[0](text)
        if latin1 is not None:
            latin = latin1_encode(text, "ignore")[0]
            if len(latin) == len(text):  # every character is Latin-1
                for b, c, expansion in l1_expand:
                    if b in latin:  # an int: memchr (a bytes needle is much slower)
                        latin = latin.replace(c, expansion)
                latin = latin.translate(l1_table, l1_delete)
                if l1_unhandled not in latin:
                    folded = latin1_decode(latin)[0]
                    return folded if loose or "  " not in folded else _fold_spaces(" ", folded)
        original = text
        if "?" in text:
            text = text.replace("?", proxy)
        encoded = encode(text, "replace", encoding)[0]
        out: str = decode(encoded, "ignore", decoding)[0]
        if _OUTSIDE_BYTE not in encoded:
            return out if loose or "  " not in out else _fold_spaces(" ", out)
        # The encoded bytes are one per character of the text: the pieces between the 0xFF
        # bytes give the outside characters' offsets (a loop of a few steps per character is
        # cheaper than a regex scan of the whole text unless there are many of them).
        between = encoded.split(b"\xff")
        if len(between) <= 13:  # up to twelve: put each one's result in its marker's place
            at = -1
            filled = out
            for piece in between[:-1]:
                at += len(piece) + 1
                result = char_lookup(text[at])
                if result is None:
                    break
                filled = filled.replace(marker, result, 1)
            else:  # results have whitespace as U+0020 (_OutsideTable): loose may keep runs
                return filled if loose or "  " not in filled else _fold_spaces(" ", filled)
        else:
            found = outside_chars(text)
            normalized = list(map(char_lookup, found))
            if None not in normalized:
                pieces = out.split(marker)
                if len(pieces) != len(found) + 1:
                    return _slow(original, view, turkic)
                joined = pieces + normalized
                joined[0::2] = pieces
                joined[1::2] = normalized
                out = "".join(joined)  # type: ignore[arg-type]
                return out if loose or "  " not in out else _fold_spaces(" ", out)
        pieces = out.split(marker)
        # Some outside character may merge with the one before it: whole runs, then.
        runs = outside_runs(text)
        normalized = list(map(run_lookup, runs))
        if None in normalized or len(pieces) != sum(map(len, runs)) + 1:
            return _slow(original, view, turkic)
        joined = [pieces[0]]
        k = 0
        for run, result in zip(runs, normalized, strict=True):
            k += len(run)
            joined.append(result)
            joined.append(pieces[k])
        out = "".join(joined)  # type: ignore[arg-type]
        return _fold_ws(out) if "  " in out or not out.isprintable() else out

    return alphabet


_word_caches: dict[tuple[View, bool], dict[str, str]] = {}


def _make_alphabet(
    candidates: str, view: View, turkic: bool, other: list[Callable[[str], str]], fold_runs: bool = True
) -> Callable[[str], str] | None:
    try:
        latin1 = candidates is _LATIN_CANDIDATES and not turkic
        return _Alphabet(candidates, view, turkic, latin1, other, fold_runs).fn
    except ValueError:
        return None


def _slow(text: str, view: View, turkic: bool) -> str:
    """Posts the alphabets cannot cut: split at spaces, one cached pipeline per word."""
    return _fold_ws_if_needed(_by_words(text, view, turkic))


def _fold_ws_if_needed(out: str) -> str:
    # isprintable() is False for every whitespace character but U+0020 (all are Cc or Z*).
    if "  " in out or not out.isprintable():
        return _fold_ws(out)
    return out


def _by_words(text: str, view: View, turkic: bool) -> str:
    """Split at spaces (no step looks across U+0020) and normalize each distinct word once."""
    key = (view, turkic)
    cache = _word_caches.get(key)
    if cache is None:
        cache = _word_caches.setdefault(key, {})
    words = text.split(" ")
    out = list(map(cache.get, words))
    if None in out:
        if len(cache) > _CACHE_CAP:
            cache.clear()
        for i, word in enumerate(words):
            if out[i] is None:
                normalized = _core(word, view, turkic)
                if len(word) <= _CACHE_MAX_WORD:
                    cache[word] = normalized
                out[i] = normalized
    return " ".join(out)  # type: ignore[arg-type]


def _normalize_reference(text: str, view: View, turkic: bool = False) -> str:
    """The whole pipeline on the whole text, without any splitting: the slow reference that
    the fast path is tested against (tests/test_normalize.py)."""
    if view.kind == "raw":
        return text
    return _fold_ws(_core(text, view, turkic))


def _raw(text: str) -> str:
    return text


def _ascii_table(view: View, turkic: bool) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """ASCII byte -> its result in ``view`` for one ``bytes.translate`` (whitespace -> space,
    so that only runs of spaces are left to fold), and the results that are not ASCII (I -> ı
    under Turkic case folding), replaced afterwards."""
    table = bytearray(range(256))
    after: list[tuple[str, str]] = []
    for b in range(128):
        out = _core(chr(b), view, turkic)
        if len(out) != 1:
            raise AssertionError(f"{chr(b)!r} -> {out!r}")
        if out.isspace():
            table[b] = 0x20
        elif out.isascii():
            table[b] = ord(out)
        else:
            after.append((chr(b), out))
    return bytes(table), tuple(after)


def _build(view: View, turkic: bool, fold_runs: bool = True) -> Callable[[str], str]:
    """The fast path for one (view, turkic), with every choice that depends on them made once.

    ASCII posts: ``encode`` -> one ``bytes.translate`` (case, backtick, whitespace) ->
    ``decode``, then only ``"  " in`` is left (cheaper than ``str.lower`` plus a separate
    whitespace test such as ``isprintable``). Other posts: the alphabets (``_Alphabet``).
    """
    kind = view.kind
    if kind == "raw":
        return _raw
    if kind != "none":
        # The Latin alphabet now (a few milliseconds); the Arabic one on the first post with
        # an alef. Turkic posts are Latin-script; a wrong pick only costs time (the other
        # script's letters take the outside path).
        arabic: list[Callable[[str], str]] = []
        if not turkic:

            def build_arabic(text: str) -> str:
                fn = _make_alphabet(_ARABIC_CANDIDATES, view, turkic, [], fold_runs)
                arabic[0] = fn or (lambda text: _slow(text, view, turkic))
                return arabic[0](text)

            arabic.append(build_arabic)
        latin = _make_alphabet(_LATIN_CANDIDATES, view, turkic, arabic, fold_runs)
        if latin is not None:
            return latin
    encode = str.encode
    table, after = _ascii_table(view, turkic)

    def slow(text: str) -> str:
        return _slow(text, view, turkic)

    def none(text: str) -> str:
        return _fold_ws_if_needed(_casefold(text, turkic) if view.casefold else text)

    rest = none if kind == "none" else slow
    loose = not fold_runs

    def fast(text: str) -> str:
        if text.isascii():
            out = encode(text).translate(table).decode()
            for c, result in after:
                if c in out:
                    out = out.replace(c, result)
            return out if loose or "  " not in out else _fold_spaces(" ", out)
        return rest(text)

    return fast


_built: dict[tuple[View, bool, bool], Callable[[str], str]] = {}
# View -> [non-Turkic, Turkic] fast paths for `normalize` (a stub that builds on first use).
_normalizers: dict[View, list[Callable[[str], str]]] = {}


def normalizer(view: View, turkic: bool = False, fold_runs: bool = True) -> Callable[[str], str]:
    """``normalize`` specialised for one view: ``normalizer(view, turkic)(text)`` is
    ``normalize(text, view, turkic)`` without the per-call dispatch (build it once per
    scanner, call it per post).

    With ``fold_runs=False`` the result may still hold runs of spaces (every whitespace
    character is a space already): ``fold_space_runs`` of it is ``normalize(text, view,
    turkic)``, and so is the result itself whenever it has no two spaces in a row. Finding
    out costs a ``"  " in`` scan that is dearer than the rest of the work on an ASCII post,
    so the scanner leaves it to its automaton, which has the key ``"  "``.
    """
    key = (view, bool(turkic), bool(fold_runs))
    fn = _built.get(key)
    if fn is None:
        fn = _built.setdefault(key, _build(*key))
    return fn


def _slots(view: View) -> list[Callable[[str], str]]:
    new: list[Callable[[str], str]] = []
    for turkic in (False, True):

        def build(text: str, turkic: bool = turkic) -> str:
            new[turkic] = normalizer(view, turkic)
            return new[turkic](text)

        new.append(build)
    return _normalizers.setdefault(view, new)


def normalize(text: str, view: View, turkic: bool = False) -> str:
    """Normalize ``text`` for ``view`` (fast path, no offsets).

    ``turkic`` selects the Turkic case folding (I -> ı, İ -> i) for ``tr``/``az`` posts.
    Whitespace runs become one space in every view but ``raw``.

    >>> normalize("Ｋİ\u200bLL  Straße", STANDARD)
    'kill strasse'
    >>> normalize("IŞIK", STANDARD, turkic=True)
    'ısık'
    """
    slots = _normalizers.get(view)
    if slots is None:
        slots = _slots(view)
    return slots[1 if turkic else 0](text)


#: ASCII whitespace but U+0020: a ``scan_normalizer`` text may hold these where ``normalize``
#: has a space
ASCII_OTHER_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"


def scan_normalizer(view: View, turkic: bool = False) -> Callable[[str], str]:
    """What an automaton with *scan keys* can be run on instead of ``normalize``: cheaper,
    and equal to it but for whitespace, which is a space in ``normalize``'s text.

    For the case-folding standard views an ASCII post is only ``str.lower()``ed, and a
    backtick made an apostrophe (0.08 µs against 0.2 for the exact path): its whitespace
    stays as written (any of ``ASCII_OTHER_SPACES``; the Turkic fold also needs the post to
    have no ``I``). Other posts and views get ``normalizer(view, turkic, fold_runs=False)``:
    runs of spaces unfolded. Whitespace is a non-word character either way, so no word
    boundary changes; it can only hide a key with a space inside (never at its start),
    which is what the scan keys report (matchers._ViewAutomaton).
    """
    loose = normalizer(view, turkic, fold_runs=False)
    if view.kind != "standard" or not view.casefold:
        return loose
    if turkic:

        def scan_turkic(text: str) -> str:
            if text.isascii() and "I" not in text:
                text = text.lower()
                return text.replace("`", "'") if "`" in text else text
            return loose(text)

        return scan_turkic

    def scan(text: str) -> str:
        if text.isascii():
            text = text.lower()
            return text.replace("`", "'") if "`" in text else text
        return loose(text)

    return scan


def fold_space_runs(text: str) -> str:
    """Every run of two or more U+0020 to one: completes ``normalizer(..., fold_runs=False)``."""
    return _fold_spaces(" ", text) if "  " in text else text


def _fold_ws(text: str) -> str:
    """Every whitespace run to one space (str.split() is C-fast; it drops the ends)."""
    parts = text.split()
    if not parts:
        return " " if text else ""
    folded = " ".join(parts)
    if text[0].isspace():
        folded = " " + folded
    if text[-1].isspace():
        folded += " "
    return folded


# --------------------------------------------------------------------------------------
# Offset-mapped (slow) path


@attrs.frozen
class Mapped:
    """A normalized text with, for each of its characters, the original span it came from."""

    text: str
    starts: Sequence[int]
    ends: Sequence[int]
    original_length: int = 0

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalized span ``[start, end)`` to a span of the original text.

        An empty span maps to an empty span at the matching original position.
        """
        n = len(self.text)
        start = min(max(start, 0), n)
        end = min(max(end, start), n)
        if start < end:
            return self.starts[start], self.ends[end - 1]
        if start < n:
            pos = self.starts[start]
        elif n:
            pos = self.ends[n - 1]
        else:
            pos = 0
        return pos, pos


@lru_cache(maxsize=65536)
def _starts_chunk(ch: str) -> bool:
    """Can the pipeline be cut just before ``ch`` without changing its result?"""
    cp = ord(ch)
    if cp < 0x80:
        return True
    if unicodedata.combining(ch) or unicodedata.category(ch)[0] == "M" or _HAS_MARK(ch):
        return False
    if _is_invisible(cp) or _in(cp, _HARAKAT) or _in(cp, _HANGUL_VT):
        return False
    nfkc = unicodedata.normalize("NFKC", ch)
    if not nfkc:
        return False
    first = nfkc[0]
    if unicodedata.combining(first) or unicodedata.category(first)[0] == "M":
        return False
    # Characters that may compose with what precedes them (NFC_Quick_Check=Maybe starters,
    # e.g. Tamil/Kannada/Malayalam vowel signs, halfwidth kana voicing marks).
    return unicodedata.normalize("NFC", "a" + first) == "a" + first and unicodedata.is_normalized(
        "NFC", first
    )


def _chunks_fine(text: str) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(text)):
        if _starts_chunk(text[i]):
            bounds.append((start, i))
            start = i
    if text:
        bounds.append((start, len(text)))
    return bounds


def _chunks_coarse(text: str) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(text)):
        if text[i].isspace() or text[i - 1].isspace():
            bounds.append((start, i))
            start = i
    if text:
        bounds.append((start, len(text)))
    return bounds


def _map_chunks(
    text: str, chunks: list[tuple[int, int]], view: View, turkic: bool
) -> tuple[str, list[int], list[int]]:
    """Run the pipeline chunk by chunk, then fold whitespace runs, keeping spans."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    in_space = False
    for cs, ce in chunks:
        for ch in _core(text[cs:ce], view, turkic):
            if ch.isspace():
                if in_space:
                    ends[-1] = ce
                    continue
                ch = " "
                in_space = True
            else:
                in_space = False
            chars.append(ch)
            starts.append(cs)
            ends.append(ce)
    return "".join(chars), starts, ends


def _proportional(text: str, out: str) -> tuple[list[int], list[int]]:
    n, m = len(text), len(out)
    starts = [i * n // m for i in range(m)]
    ends = [max(starts[i], (i + 1) * n // m) for i in range(m)]
    return starts, ends


class _CharTable(_ViewTable[str, "tuple[bool, str] | None"]):
    """Character -> (starts a chunk, its normalized form), or None when not context-free."""

    def __missing__(self, ch: str) -> tuple[bool, str] | None:
        view, turkic = self._view, self._turkic
        value = (_starts_chunk(ch), _core(ch, view, turkic)) if _context_free(ch, view, turkic) else None
        return self._remember(ch, value)


_NOT_SIMPLE = "\uffff"  # a noncharacter: stands for "not one character to one" below


class _SimpleTable(_ViewTable[int, str]):
    """Code point -> its one-character normalized form, or ``_NOT_SIMPLE``.

    Simple: ASCII, or a context-free character that starts a chunk and becomes exactly
    one character (é -> e, ş -> s, ة -> ه). A text of simple characters maps one to one.
    """

    def __init__(self, view: View, turkic: bool) -> None:
        super().__init__(view, turkic)
        self._chars = _CharTable.for_view(view, turkic)

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        if cp < 0x80:
            value = _core(ch, self._view, self._turkic)
        else:
            entry = self._chars[ch]
            value = entry[1] if entry is not None and entry[0] and len(entry[1]) == 1 else _NOT_SIMPLE
        if len(value) != 1 or ch == _NOT_SIMPLE:
            value = _NOT_SIMPLE
        if len(self) < _CACHE_CAP:
            self[cp] = value
        return value


_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")
# what folding changes: a run of 2+ whitespace characters, or one that is not U+0020
_FOLDED_WHITESPACE = re.compile(r"\s{2,}|[^\S ]")


def _map_by_chars(text: str, view: View, turkic: bool) -> tuple[str, Sequence[int], Sequence[int]] | None:
    """``_map_chunks(text, _chunks_fine(text))`` for a text of context-free characters only.

    ASCII runs are mapped in bulk (every view is one character to one on ASCII) and each
    other character is looked up once per view, so a hit post's offset map costs a few
    microseconds instead of one pipeline call per character. Returns None when some
    character is not context-free; the caller then takes the chunked path.
    """
    one_to_one = text.translate(_SimpleTable.for_view(view, turkic))
    if _NOT_SIMPLE not in one_to_one:  # the usual text: no offset moves
        return _fold_mapped(one_to_one, range(len(text)), range(1, len(text) + 1))
    table = _CharTable.for_view(view, turkic)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    chunk_from = 0  # where the output of the current chunk begins in starts/ends
    pos = 0
    for run in _NON_ASCII_RUN.finditer(text):
        rs, re_ = run.span()
        if rs > pos:
            pieces.append(_core(text[pos:rs], view, turkic))
            starts.extend(range(pos, rs))
            ends.extend(range(pos + 1, rs + 1))
            chunk_from = len(starts) - 1
        for i in range(rs, re_):
            entry = table[text[i]]
            if entry is None:
                return None
            starter, out = entry
            if starter or i == 0:
                chunk_from = len(starts)
                if out:
                    pieces.append(out)
                    starts.extend([i] * len(out))
                    ends.extend([i + 1] * len(out))
            elif out:
                return None
            elif len(starts) > chunk_from:
                ends[chunk_from:] = [i + 1] * (len(starts) - chunk_from)
        pos = re_
    if pos < len(text):
        pieces.append(_core(text[pos:], view, turkic))
        starts.extend(range(pos, len(text)))
        ends.extend(range(pos + 1, len(text) + 1))
    out_text = "".join(pieces)
    if len(out_text) != len(starts):
        return None
    return _fold_mapped(out_text, starts, ends)


def _fold_mapped(
    out_text: str, starts: Sequence[int], ends: Sequence[int]
) -> tuple[str, Sequence[int], Sequence[int]]:
    """Fold whitespace runs of a mapped text (``_map_chunks`` does it character by character)."""
    if "  " not in out_text and out_text.isprintable():
        return out_text, starts, ends
    # Fold whitespace runs: the run's first character keeps its start, the last its end.
    folded: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    for ws in _FOLDED_WHITESPACE.finditer(out_text):
        a, b = ws.span()
        folded.append(out_text[last:a])
        folded.append(" ")
        new_starts.extend(starts[last:a + 1])
        new_ends.extend(ends[last:a])
        new_ends.append(ends[b - 1])
        last = b
    folded.append(out_text[last:])
    new_starts.extend(starts[last:])
    new_ends.extend(ends[last:])
    return "".join(folded), new_starts, new_ends


def normalize_mapped(text: str, view: View, turkic: bool = False) -> Mapped:
    """Normalize ``text`` for ``view`` and keep, per output character, its original span.

    ``result.text == normalize(text, view, turkic)`` always: checked at run time on the
    per-character and chunked paths; the codec paths (``_offset_fns``), which most hit posts
    take, are equal to them by hypothesis properties (``TestOneToOneCodec``) and would
    otherwise cost a second normalization per hit.

    >>> m = normalize_mapped("K\u200bİLL", STANDARD)
    >>> m.text, m.to_original(0, 4)
    ('kill', (0, 5))
    """
    n = len(text)
    if view.kind == "raw":
        return Mapped(text, range(n), range(1, n + 1), n)
    if not text.isascii():  # the usual non-ASCII post: two codec calls say no offset moves
        fns = _offset_fns_for(view, turkic)
        if fns is not None:
            out = fns[0](text)
            if out is not None:
                folded, starts, ends = _fold_mapped(out, range(n), range(1, n + 1))
                return Mapped(folded, starts if isinstance(starts, range) else tuple(starts),
                              ends if isinstance(ends, range) else tuple(ends), n)
            by_codec = fns[1](text)  # some offsets move: the codec finds out where
            if by_codec is not None:
                folded, starts, ends = _fold_mapped(*by_codec)
                return Mapped(folded, tuple(starts), tuple(ends), n)
    expected = normalize(text, view, turkic)
    fast = _map_by_chars(text, view, turkic)
    if fast is not None and fast[0] == expected:
        starts, ends = fast[1], fast[2]  # ranges when no offset moves: nothing to copy
        return Mapped(
            fast[0],
            starts if isinstance(starts, range) else tuple(starts),
            ends if isinstance(ends, range) else tuple(ends),
            n,
        )
    for chunker in (_chunks_fine, _chunks_coarse):
        out, starts, ends = _map_chunks(text, chunker(text), view, turkic)
        if out == expected:
            return Mapped(out, tuple(starts), tuple(ends), n)
    # Unreachable in practice (no known input); keeps the contract if the pipeline ever
    # stops being decomposable at whitespace.
    s, e = _proportional(text, expected)
    return Mapped(expected, tuple(s), tuple(e), n)


# --------------------------------------------------------------------------------------
# Terms


_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def normalize_term(term: str, view: View) -> tuple[str, ...]:
    """Normalize a term as written in a rule for ``view``; one or more variants, primary first.

    Terms always use the default (non-Turkic) case folding. Under ``standard`` with accent
    folding, a term with ä/ö/ü also yields the ae/oe/ue spelling.

    >>> normalize_term("Mörder", STANDARD)
    ('morder', 'moerder')
    >>> normalize_term("moerder", STANDARD)
    ('moerder',)
    """
    primary = normalize(term, view)
    variants = [primary]
    if view.kind == "standard" and view.fold_accents and not term.isascii():
        composed = unicodedata.normalize("NFC", term)
        if view.casefold:
            composed = composed.casefold()
        expanded = composed.translate(_UMLAUTS)
        if expanded != composed:
            alt = normalize(expanded, view)
            if alt not in variants:
                variants.append(alt)
    return tuple(variants)


# --------------------------------------------------------------------------------------
# Words and boundaries (§3, §4 word distance)


# Script_Extensions, so that ー and 々 count; apostrophes are excluded (U+02BC has Thai in
# its Script_Extensions).
_UNSPACED_SET = (
    r"[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Thai}\p{scx=Lao}"
    r"\p{scx=Khmer}\p{scx=Myanmar}]--[" + regex.escape(APOSTROPHES) + "]"
)
_UNSPACED_RE = regex.compile(r"(?V1)[" + _UNSPACED_SET + "]")
_NOT_WORD = frozenset(APOSTROPHES)


_WORD_CHAR = regex.compile(r"[\p{L}\p{M}\p{Nd}_]").match


@lru_cache(maxsize=65536)
def _word_char(ch: str) -> bool:
    # The `regex` module's Unicode tables (newer than `unicodedata`'s) so that this agrees
    # with `word_spans`.
    return ch not in _NOT_WORD and _WORD_CHAR(ch) is not None


def is_word_char(ch: str) -> bool:
    """A letter, mark or decimal digit of any script, or ``_`` (apostrophes are not)."""
    if ch.isascii():
        return ch.isalnum() or ch == "_"
    return _word_char(ch)


@lru_cache(maxsize=65536)
def is_unspaced(ch: str) -> bool:
    """A character of a script written without spaces (Han, Kana, Thai, Lao, Khmer, Myanmar)."""
    return not ch.isascii() and _UNSPACED_RE.match(ch) is not None


def boundary_ok(
    text: str,
    start: int,
    end: int,
    term_first: str,
    term_last: str,
    check_left: bool = True,
    check_right: bool = True,
) -> bool:
    """Whole-word test of ``text[start:end]`` (§3) on a normalized text.

    A side passes when its neighbour is not a word character, or when that neighbour or the
    term's character at that end is from a script written without spaces.
    """
    if check_left and start > 0:
        before = text[start - 1]
        if is_word_char(before) and not (is_unspaced(before) or is_unspaced(term_first)):
            return False
    if check_right and end < len(text):
        after = text[end]
        if is_word_char(after) and not (is_unspaced(after) or is_unspaced(term_last)):
            return False
    return True


_WORDS = regex.compile(
    r"(?V1)[[\p{L}\p{Nd}_]&&[" + _UNSPACED_SET + r"]]\p{M}*"
    r"|[[\p{L}\p{M}\p{Nd}_]--[[" + _UNSPACED_SET + "]" + regex.escape(APOSTROPHES) + "]]+"
)


class _WordClasses(dict[int, str]):
    """Code point -> its class for word splitting, decided once per character by ``_WORDS``.

    ``u``: a letter or digit of an unspaced script (a word of its own, with the marks after
    it); ``m``: a mark of a spaced script; ``n``: a mark of an unspaced script; ``a``: any
    other word character; `` ``: not a word character. ``_CLASS_WORDS`` over the classes is
    ``_WORDS`` over the text (tests/test_normalize.py checks it), but ``_WORDS`` looks up
    Unicode properties at every position (18 µs for a 100-character post) and this is one
    ``str.translate`` plus one ASCII ``re`` scan.
    """

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        if _UNSPACED_RE.match(ch) is not None:
            value = "u" if _WORD_CHAR(ch) is not None and not _IS_MARK(ch) else ("n" if _IS_MARK(ch) else " ")
        elif _IS_MARK(ch):
            value = " " if ch in _NOT_WORD else "m"
        else:
            value = "a" if _WORD_CHAR(ch) is not None and ch not in _NOT_WORD else " "
        if len(self) < _CACHE_CAP:
            self[cp] = value
        return value


_IS_MARK = regex.compile(r"\p{M}").match
_WORD_CLASSES = _WordClasses()
_CLASS_WORDS = re.compile("u[mn]*|[am]+")
_ASCII_WORDS = re.compile("[A-Za-z0-9_]+")


def word_spans(text: str) -> list[tuple[int, int]]:
    """The words of a normalized text, in order, for ``near``/``before`` (§4 word distance).

    Maximal runs of word characters; each character of an unspaced script (with any marks
    that follow it) is a word of its own; apostrophes split words.

    >>> word_spans("l'homme 殺す ok")
    [(0, 1), (2, 7), (8, 9), (9, 10), (11, 13)]
    """
    if text.isascii():
        return [m.span() for m in _ASCII_WORDS.finditer(text)]
    return [m.span() for m in _CLASS_WORDS.finditer(text.translate(_WORD_CLASSES))]


def words(text: str) -> list[str]:
    """The words of a normalized text, as ``word_spans`` delimits them (one C call on ASCII).

    >>> words("l'homme ok")
    ['l', 'homme', 'ok']
    """
    if text.isascii():
        return _ASCII_WORDS.findall(text)
    return [text[s:e] for s, e in word_spans(text)]


def _word_spans_reference(text: str) -> list[tuple[int, int]]:
    """``word_spans`` by the defining regex (tests compare the two)."""
    return [m.span() for m in _WORDS.finditer(text)]
