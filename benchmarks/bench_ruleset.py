"""Cost per post of a real ruleset (``rulesets/x`` by default) on real posts, by stage.

    taskset -c 1 .venv/bin/python benchmarks/bench_ruleset.py [RULESET] [--posts 3000] [--repeats 3]

Loads the ruleset once, warms it on the posts, then reports the CPU time per post (best of
``--repeats`` passes, ``time.process_time``, so time the process waits for a core is not
counted) of ``Ruleset.evaluate`` and, for the ``text`` scanner, of each stage: normalization
plus the automaton pass, the ``aggressive`` matcher and the typo matcher, on the same posts.
Reads ../shared/data through ``workload.load_posts``; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import load_posts

import policyrules
from policyrules import normalize as nz


def best_us(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Best-of-*repeats* CPU µs per item of one call of *fn* over *n* items."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


def main() -> int:
    """Print one line per stage."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("ruleset", nargs="?", default=str(Path(__file__).resolve().parent.parent / "rulesets" / "x"))
    ap.add_argument("--posts", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rs = policyrules.load(args.ruleset)
    posts = load_posts(args.posts)
    texts = [p["text"] for p in posts]
    turkic = [p.get("lang") in ("tr", "az") for p in posts]
    n = len(posts)
    matched = sum(1 for p in posts if rs.evaluate(p).matches) / n
    print(f"{rs!r}: {n} real posts, {matched:.1%} matched")
    print(f"{'stage':44} {'µs/post':>9}")
    print(f"{'Ruleset.evaluate':44} {best_us(lambda: [rs.evaluate(p) for p in posts], n, args.repeats):9.1f}")
    scanners = {scope: scanner for scope, _key, scanner in rs._plan.scanners}
    text = scanners.get("text")
    if text is None:
        return 0
    print(f"{'  text scan (all of it)':44} "
          f"{best_us(lambda: [text.scan(t, 'text', k) for t, k in zip(texts, turkic, strict=True)], n, args.repeats):9.1f}")
    for key, va in text.automata:
        view, auto = va.view, va.automaton

        def norm_iter(view: nz.View = view, auto: object = auto) -> None:
            for t, k in zip(texts, turkic, strict=True):
                for _ in auto.iter(nz.normalize(t, view, k)):  # type: ignore[attr-defined]
                    pass

        print(f"{'  normalize + automaton pass ' + key:44} {best_us(norm_iter, n, args.repeats):9.1f}")
    standard = [nz.normalize(t, nz.STANDARD, k) for t, k in zip(texts, turkic, strict=True)]
    if text.aggressive is not None:
        agg = text.aggressive
        print(f"{'  aggressive matcher (find)':44} "
              f"{best_us(lambda: [agg.find(s, k) for s, k in zip(standard, turkic, strict=True)], n, args.repeats):9.1f}")
    if text.typos is not None:
        typos = text.typos
        print(f"{'  typo matcher (find)':44} {best_us(lambda: [typos.find(s) for s in standard], n, args.repeats):9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
