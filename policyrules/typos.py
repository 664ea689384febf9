"""Typo-tolerant matching for lists that opt in with ``(typos: one)``.

A single-word term of at least :data:`MIN_LENGTH` letters also matches a word of the
``standard`` text one slip away: two neighbouring letters swapped (``wmoen``), one letter
left out (``womn``) or one added (``wommen``). A replaced letter is NOT a typo here: it
turns too many real words into each other (``artistas``/``autistas``, ``blocks``/``blacks``).
Candidates come from a symmetric-deletion index (SymSpell), so a post costs one dictionary
lookup per word and per deletion, whatever the number of terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .normalize import is_word_char, word_spans, words

__all__ = ["MIN_LENGTH", "TypoMatcher", "damerau_at_most_one"]

_CACHE_CAP = 1 << 16
MIN_LENGTH = 5  # shorter words have too many real neighbours at distance one ("hate"/"have")


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def damerau_at_most_one(a: str, b: str, *, substitution: bool = True) -> bool:
    """True when *a* and *b* differ by at most one edit (including one adjacent swap).

    With ``substitution=False`` a replaced letter does not count as one edit.
    """
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return substitution
        if len(diffs) == 2:
            i, j = diffs
            return j == i + 1 and a[i] == b[j] and a[j] == b[i]
        return False
    if la > lb:
        a, b = b, a
    # b is a with one letter added
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


class TypoMatcher:
    """Finds words at distance one from single-word terms; picklable."""

    def __init__(self, terms: Sequence[tuple[int, str]]) -> None:
        self._terms = tuple((int(i), str(t)) for i, t in terms)
        self._build()

    def __getstate__(self) -> dict[str, Any]:
        return {"terms": self._terms}  # the per-word cache is rebuilt, not shipped

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._terms = state["terms"]
        self._build()

    def _build(self) -> None:
        index: dict[str, list[tuple[int, str]]] = {}
        lengths = [0]
        for tid, term in self._terms:
            if len(term) < MIN_LENGTH or not all(is_word_char(c) for c in term):
                continue
            lengths.append(len(term))
            for key in _deletions(term) | {term}:
                index.setdefault(key, []).append((tid, term))
        self.index = index
        self.max_len = max(lengths) + 1
        # Words repeat across posts: remember each word's typo matches, and the words that
        # have none in a set, so that a post of known words costs one set difference
        # (bounded; plain dicts and sets are safe to share between threads, the worst case
        # is recomputing a word).
        self._by_word: dict[str, tuple[int, ...]] = {}
        self._no_match: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.index)

    def find(self, standard_text: str) -> list[tuple[int, int, int]]:
        """(term id, start, end) of each word at distance exactly one from a term."""
        index = self.index
        if not index:
            return []
        text = standard_text
        no_match = self._no_match
        todo = set(words(text))
        todo.difference_update(no_match)
        if not todo:
            return []
        cache = self._by_word
        lo, hi = MIN_LENGTH - 1, self.max_len
        hits: dict[str, tuple[int, ...]] = {}
        if len(no_match) >= _CACHE_CAP:
            no_match.clear()
        for word in todo:
            if not lo <= len(word) <= hi:
                no_match.add(word)
                continue
            tids = cache.get(word)
            if tids is None:
                tids = self._lookup(word)
                if tids:
                    if len(cache) >= _CACHE_CAP:
                        cache.clear()
                    cache[word] = tids
            if tids:
                hits[word] = tids
            else:
                no_match.add(word)
        if not hits:
            return []
        out: list[tuple[int, int, int]] = []
        for start, end in word_spans(text):  # positions only for a post with a typo hit
            tids = hits.get(text[start:end])
            if tids:
                out.extend((tid, start, end) for tid in tids)
        return out

    def _lookup(self, word: str) -> tuple[int, ...]:
        found: list[int] = []
        for key in _deletions(word) | {word}:
            for tid, term in self.index.get(key, ()):
                if tid in found or term == word:
                    continue
                if damerau_at_most_one(word, term, substitution=False):
                    found.append(tid)
        return tuple(sorted(found))
