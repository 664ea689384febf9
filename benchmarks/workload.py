"""Shared benchmark workload: real posts, generated rulesets and the same-run baselines.

Everything the benchmark scripts (``bench_engine.py``, ``report.py``) and the pytest-benchmark
suite (``test_bench_engine.py``) measure is built here, so the numbers they print describe
the same thing. Posts are real (../shared/data, or $POLICYRULES_DATA); rulesets are
generated: ``n_rules`` rules of 10 terms each, the first ``hit_terms`` of them real lexicon
words (round-robin over our eight languages, so every corpus gets hits) and the rest
pronounceable non-words that are checked not to occur as a word of the corpus (so the hit
rate does not creep up with the number of rules), plus ``regexes`` patterns with or without
an extractable literal atom. Nothing is written; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DATA",
    "Workload",
    "baseline_floor",
    "build_source",
    "corpus_words",
    "flashtext_extract",
    "lexicon_terms",
    "load_posts",
    "median_us",
    "synthetic_words",
]

DATA = Path(os.environ.get("POLICYRULES_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CORPORA = [
    "davidson2017/labeled_data.jsonl",
    "told_br/told_br.jsonl",
    "offenseval2020_tr/offenseval2020_tr_test.jsonl",
    "germeval2018/germeval2018_test.jsonl",
    "mlma/mlma_ar.jsonl",
    "mlma/mlma_fr.jsonl",
    "hatexplain/hatexplain_majority.jsonl",
]
LANGS = ["en", "pt", "tr", "de", "ar", "fr", "es", "fa"]
#: real lexicon words among the terms; gives a ~5% hit rate on the default post mix
DEFAULT_HIT_TERMS = 210


def load_posts(limit: int, seed: int = 7) -> list[dict[str, str]]:
    """Real posts from several corpora, interleaved, with their language."""
    per = []
    for rel in CORPORA:
        path = DATA / rel
        if not path.exists():
            continue
        rows = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                rows.append({"text": r["text"], "lang": r.get("lang", "")})
        per.append(rows)
    if not per:
        sys.exit(f"no corpora under {DATA}")
    rnd = random.Random(seed)
    out: list[dict[str, str]] = []
    while len(out) < limit:
        for rows in per:
            out.append(rows[rnd.randrange(len(rows))])
    return out[:limit]


def lexicon_terms() -> list[str]:
    """Real words from the LDNOOBW lexicons of our languages, round-robin, deduplicated."""
    per: list[list[str]] = []
    for lang in LANGS:
        f = DATA / "lexicon_ldnoobw" / f"{lang}.txt"
        if f.exists():
            per.append([t.strip() for t in f.read_text(encoding="utf-8").splitlines() if t.strip()])
    seen: set[str] = set()
    out = []
    for i in range(max((len(p) for p in per), default=0)):
        for words in per:
            if i < len(words):
                t = words[i]
                k = t.casefold()
                if k not in seen and "*" not in t and '"' not in t and "\\" not in t:
                    seen.add(k)
                    out.append(t)
    return out


def corpus_words(posts: Sequence[dict[str, str]]) -> set[str]:
    """Every casefolded word of the posts (to keep generated terms from hitting)."""
    import regex

    from policyrules import normalize as nz

    words: set[str] = set()
    for p in posts:
        words.update(regex.findall(r"\w+", p["text"].casefold()))
        words.update(regex.findall(r"\w+", nz.normalize(p["text"], nz.STANDARD)))
    return words


def synthetic_words(n: int, avoid: set[str] | frozenset[str] = frozenset(), seed: int = 11) -> list[str]:
    """Pronounceable non-words (2-4 syllables), none of them in *avoid*."""
    rnd = random.Random(seed)
    cons, vows = "bcdfghjklmnprstvz", "aeiou"
    out: set[str] = set()
    while len(out) < n:
        k = rnd.randint(2, 4)
        w = "".join(rnd.choice(cons) + rnd.choice(vows) for _ in range(k)) + rnd.choice(cons)
        if w not in avoid:
            out.add(w)
    return sorted(out)


def _regex(i: int, atoms: bool) -> str:
    if atoms:  # one literal atom ("zq12x") that real posts never contain
        return f"\\bzq{i}x+\\w*\\b"
    # no literal of two characters every match must contain: runs on every post
    # (until 2026-11-26 this ended in [!?]{2}, which gave the atoms !! !? ?! ??)
    return f"(?<!\\w)[a-z]{{{2 + i % 3}}}\\d{{{3 + i % 4}}}[a-z]{{{2 + i % 5},}}[!?]"


def build_source(n_rules: int, lexicon: list[str], hit_terms: int, *, regexes: int | None = None,
                 atoms: bool = True, avoid: set[str] | frozenset[str] = frozenset(),
                 terms_per_rule: int = 10) -> tuple[str, list[str]]:
    """A ruleset of *n_rules* rules x *terms_per_rule* terms and *regexes* patterns (default n/10).

    The real words come first (in rule l0, l1, ...), so every size holds the same ones.
    """
    n_terms = n_rules * terms_per_rule
    words = lexicon[:hit_terms] + synthetic_words(n_terms, avoid)
    words = words[:n_terms]
    n_rx = n_rules // 10 if regexes is None else regexes
    every = max(1, n_rules // n_rx) if n_rx else 0
    lines = ['policy p { title: "P" action: label }']
    made = 0
    for i in range(n_rules):
        chunk = words[i * terms_per_rule : (i + 1) * terms_per_rule]
        quoted = ", ".join(json.dumps(w, ensure_ascii=False) for w in chunk)
        lines.append(f"terms l{i} = [{quoted}]")
        if every and i % every == 0 and made < n_rx:
            lines.append(f"pattern p{i} = /{_regex(made, atoms)}/")
            lines.append(f"rule r{i} {{ policy: p when: any(l{i}) or p{i} }}")
            made += 1
        else:
            lines.append(f"rule r{i} {{ policy: p when: any(l{i}) }}")
    return "\n".join(lines), words


def baseline_floor(words: Sequence[str]) -> Callable[[Sequence[str]], None]:
    """Issue #6's floor: ``casefold`` + one bare pyahocorasick ``iter`` over the same terms."""
    import ahocorasick

    auto = ahocorasick.Automaton()
    for w in words:
        auto.add_word(w.casefold(), 1)
    auto.make_automaton()

    def floor(texts: Sequence[str], _a: Any = auto) -> None:
        for t in texts:
            for _ in _a.iter(t.casefold()):
                pass

    return floor


def flashtext_extract(words: Sequence[str]) -> Callable[[Sequence[str]], None] | None:
    """flashtext keyword extraction alone over the same terms, or None when not installed."""
    try:
        from flashtext import KeywordProcessor
    except ImportError:
        return None
    kp = KeywordProcessor(case_sensitive=False)
    for w in words:
        kp.add_keyword(w)

    def extract(texts: Sequence[str], _kp: Any = kp) -> None:
        for t in texts:
            _kp.extract_keywords(t)

    return extract


def median_us(fn: Callable[[Any], object], items: Sequence[Any], repeats: int) -> float:
    """Median µs per item over *repeats* timed passes (after one untimed warm-up pass)."""
    fn(items)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(items)
        times.append((time.perf_counter() - t0) / len(items) * 1e6)
    return statistics.median(times)


class Workload:
    """Posts, lexicon and corpus vocabulary, loaded once and shared by every measurement."""

    def __init__(self, n_posts: int, hit_terms: int = DEFAULT_HIT_TERMS) -> None:
        self.posts = load_posts(n_posts)
        self.texts = [p["text"] for p in self.posts]
        self.lexicon = lexicon_terms()
        self.avoid = corpus_words(load_posts(max(n_posts, 20000), seed=3) + self.posts)
        self.hit_terms = hit_terms

    def source(self, n_rules: int, **kw: Any) -> tuple[str, list[str]]:
        """The generated ruleset source and its terms."""
        return build_source(n_rules, self.lexicon, self.hit_terms, avoid=self.avoid, **kw)

    def evaluator(self, rs: Any) -> Callable[[Sequence[Any]], None]:
        """Evaluate every post (a dict with text and lang) with *rs*."""

        def engine(ps: Sequence[Any], _ev: Any = rs.evaluate) -> None:
            for p in ps:
                _ev(p)

        return engine

    def hit_rate(self, rs: Any) -> float:
        """Share of posts with at least one enforced match."""
        return sum(1 for p in self.posts if rs.evaluate(p).matches) / len(self.posts)
