"""pytest-benchmark suite for Ruleset.evaluate, by ruleset size x post kind (not part of `pytest`).

Run it explicitly (the README's `pytest` collects only tests/):

    .venv/bin/python -m pytest benchmarks/test_bench_engine.py --benchmark-columns=median,ops

Each case evaluates one batch of real posts (../shared/data; skipped when absent) with a
generated ruleset (benchmarks/workload.py); the floor cases time issue #6's baseline on the
same terms, so ratios can be read off one table. Compare runs with --benchmark-autosave and
``pytest-benchmark compare``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import DATA, Workload, baseline_floor, flashtext_extract

import policyrules

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="needs the shared corpora (../shared/data)")

SIZES = [100, 1000, 10000]
BATCH = 2000


@lru_cache(maxsize=1)
def workload() -> Workload:
    """Posts and lexicon, loaded once per session."""
    return Workload(BATCH)


@lru_cache(maxsize=8)
def ruleset(n_rules: int, atoms: bool = True) -> tuple[policyrules.Ruleset, list[str]]:
    """A compiled generated ruleset of n_rules rules (and n_rules/10 regexes) and its terms."""
    src, words = workload().source(n_rules, atoms=atoms)
    return policyrules.compile(src), words


def posts_of(kind: str, rs: policyrules.Ruleset) -> list[Any]:
    """The batch of posts of one kind: all, short (≤60 chars), long (≥240), hits, misses."""
    posts = workload().posts
    if kind == "all":
        return posts
    if kind == "short":
        return [p for p in posts if len(p["text"]) <= 60]
    if kind == "long":
        return [p for p in posts if len(p["text"]) >= 240]
    hit = kind == "hits"
    return [p for p in posts if bool(rs.evaluate(p).matches) == hit]


def run_all(fn: Callable[[Any], object], items: list[Any]) -> Callable[[], None]:
    """A no-argument callable that applies fn to every item."""

    def go() -> None:
        for x in items:
            fn(x)

    return go


@pytest.mark.parametrize("n_rules", SIZES)
@pytest.mark.parametrize("kind", ["all", "short", "long", "hits", "misses"])
def test_evaluate(benchmark: Any, n_rules: int, kind: str) -> None:
    """Ruleset.evaluate over a batch of real posts; every post gets a verdict."""
    rs, _ = ruleset(n_rules)
    posts = posts_of(kind, rs)
    benchmark.extra_info.update(posts=len(posts), rules=n_rules)
    benchmark(run_all(rs.evaluate, posts))
    assert all(rs.evaluate(p).action in ("none", "label") for p in posts[:50])


@pytest.mark.parametrize("n_rules", SIZES)
def test_floor(benchmark: Any, n_rules: int) -> None:
    """Issue #6's baseline: casefold + one bare pyahocorasick iter over the same terms."""
    _, words = ruleset(n_rules)
    floor = baseline_floor(words)
    texts = workload().texts
    benchmark.extra_info.update(posts=len(texts), rules=n_rules)
    benchmark(floor, texts)
    assert texts


@pytest.mark.parametrize("n_rules", SIZES)
def test_flashtext(benchmark: Any, n_rules: int) -> None:
    """flashtext keyword extraction alone over the same terms (skipped if not installed)."""
    _, words = ruleset(n_rules)
    extract = flashtext_extract(words)
    if extract is None:
        pytest.skip("flashtext is not installed (optional)")
    texts = workload().texts
    benchmark(extract, texts)
    assert texts


@pytest.mark.parametrize("atoms", [True, False], ids=["atoms", "no-atoms"])
def test_regexes(benchmark: Any, atoms: bool) -> None:
    """1,000 rules with 100 regexes, with and without a literal atom to gate them."""
    rs, _ = ruleset(1000, atoms)
    posts = workload().posts
    benchmark(run_all(rs.evaluate, posts))
    assert posts
