"""Cost per post of each normalization view on real multilingual posts.

Run: ``.venv/bin/python benchmarks/bench_normalize.py [--posts N] [--repeat R]``.
Reads posts from /work/shared/data (offenseval2020_tr, davidson2017, told_br, mlma_ar,
germeval2018) and prints microseconds per post for each view next to bare ``str.casefold``
and ``unicodedata.normalize('NFKC', t).casefold()`` measured in the same run, with ratios.
``standard`` is ``normalize()`` (runs of whitespace folded); ``scanner`` is what the engine's
first pass calls on every post, ``scan_normalizer(STANDARD, turkic)``: the same text but for
whitespace and backticks (an ASCII post is only lowercased; other posts keep runs of spaces),
since the automaton reports where those could hide a key (its scan keys) and finding them
costs more than the rest of an ASCII post's normalization. Posts with a hit also pay the
exact ``standard`` text and ``mapped``;
``per-word`` is the previous fast path (split at spaces, one cached pipeline per word) and
``whole`` the unsplit pipeline (``_normalize_reference``), both for comparison.

Each function is called through one Python frame: a lambda for NFKC + casefold, and for the
views the per-view callable ``normalizer(view, turkic)`` (what a scanner builds once and
calls per post; ``normalize(text, view, turkic)`` is the same callable behind a dict
lookup). ``via normalize()`` is ``lambda t: normalize(t, STANDARD, turkic)``, i.e. one
frame more than the engine pays when it calls ``normalize`` from its own code. On a shared
machine pin it: ``taskset -c 1 .venv/bin/python ...``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from policyrules.normalize import (
    LIGHT,
    NONE,
    RAW,
    STANDARD,
    View,
    _by_words,
    _fold_ws,
    _normalize_reference,
    normalize,
    normalize_mapped,
    normalizer,
    scan_normalizer,
)

DATA = Path("/work/shared/data")
SETS = {
    "offenseval2020_tr": ("offenseval2020_tr/offenseval2020_tr_train.jsonl", True),
    "davidson2017": ("davidson2017/labeled_data.jsonl", False),
    "told_br": ("told_br/told_br.jsonl", False),
    "mlma_ar": ("mlma/mlma_ar.jsonl", False),
    "germeval2018": ("germeval2018/germeval2018_train.jsonl", False),
}


def load(rel: str, limit: int) -> list[str]:
    """The first ``limit`` post texts of a JSONL file."""
    texts: list[str] = []
    with (DATA / rel).open(encoding="utf-8") as fh:
        for line in fh:
            texts.append(json.loads(line)["text"])
            if len(texts) >= limit:
                break
    return texts


def per_post(fn: Callable[[str], object], posts: list[str], repeat: int) -> float:
    """Best-of-``repeat`` microseconds per post (CPU time of this process)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for p in posts:
            fn(p)
        best = min(best, time.process_time() - t0)
    return best / len(posts) * 1e6


def interleaved(fns: list[Callable[[str], object]], posts: list[str], repeat: int) -> list[float]:
    """Microseconds per post of each function, robust to a loaded machine.

    The posts are cut into chunks of 250; each round times every function on every chunk
    (interleaved, so all columns see the same conditions) in CPU time, which excludes the
    time the process waits for a core; each chunk keeps its fastest round, and a function's
    figure is the sum of its chunks' best times.
    """
    chunks = [posts[i : i + 250] for i in range(0, len(posts), 250)]
    best = [[float("inf")] * len(chunks) for _ in fns]
    for _ in range(repeat):
        for c, chunk in enumerate(chunks):
            for i, fn in enumerate(fns):
                t0 = time.process_time()
                for p in chunk:
                    fn(p)
                best[i][c] = min(best[i][c], time.process_time() - t0)
    return [sum(b) / len(posts) * 1e6 for b in best]


def per_word(text: str, view: View, turkic: bool) -> str:
    """The fast path before the run split: per-word cache for every non-ASCII post."""
    if text.isascii():
        return normalize(text, view, turkic)
    out = _by_words(text, view, turkic)
    return _fold_ws(out) if "  " in out or not out.isprintable() else out


def main() -> int:
    """Print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if not DATA.exists():
        print("no /work/shared/data here", file=sys.stderr)
        return 1
    keep = View("standard", fold_accents=False)
    print(
        f"{'data set':18} {'casefold':>9} {'nfkc+cf':>8} {'none':>7} {'light':>7} "
        f"{'standard':>9} {'scanner':>8} {'std keep':>9} {'via normalize()':>16} {'per-word':>9} {'whole':>7} "
        f"{'mapped':>8}  standard/nfkc+cf, scanner/nfkc+cf"
    )
    for name, (rel, turkic) in SETS.items():
        posts = load(rel, args.posts)
        # Warm the lazy translate tables and caches first: steady state is what matters.
        for p in posts:
            for v in (NONE, LIGHT, STANDARD, keep):
                normalize(p, v, turkic)
            per_word(p, STANDARD, turkic)
        fns: list[Callable[[str], object]] = [
            str.casefold,
            lambda t: unicodedata.normalize("NFKC", t).casefold(),
            *[normalizer(v, turkic) for v in (NONE, LIGHT, STANDARD, keep)],
            scan_normalizer(STANDARD, turkic),
            lambda t, tk=turkic: normalize(t, STANDARD, tk),
            functools.partial(per_word, view=STANDARD, turkic=turkic),
            functools.partial(_normalize_reference, view=STANDARD, turkic=turkic),
        ]
        cf, nk, *row = interleaved(fns, posts, args.repeat)
        mapped = per_post(lambda t, tk=turkic: normalize_mapped(t, STANDARD, tk), posts[:500], 3)  # best of 3: warm
        ascii_share = sum(p.isascii() for p in posts) / len(posts)
        none, light, standard, std_keep, scanner, via, words, whole = row
        print(
            f"{name:18} {cf:9.2f} {nk:8.2f} {none:7.2f} {light:7.2f} {standard:9.2f} {scanner:8.2f} "
            f"{std_keep:9.2f} {via:16.2f} {words:9.2f} {whole:7.2f} {mapped:8.1f}  "
            f"{standard / nk:5.2f}x, {scanner / nk:5.2f}x  (via normalize() {via / nk:.2f}x, per-word "
            f"{words / nk:.2f}x; ascii posts {ascii_share:.0%})"
        )
    _ = RAW
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
