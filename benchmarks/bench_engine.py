"""End-to-end throughput of Ruleset.evaluate next to a bare pyahocorasick scan, same run.

Builds synthetic rulesets of N rules (10 terms each: real lexicon words from ../shared/data
plus generated non-words; one regex per 10 rules, with a literal atom unless --no-atoms) and
evaluates real posts from the shared corpora. The baseline is what issue #6 names:
``casefold`` + one pyahocorasick ``iter`` over the same terms, no boundary check; flashtext
keyword extraction alone is shown too when flashtext is installed (optional).

    taskset -c 1 .venv/bin/python benchmarks/bench_engine.py --rules 100 1000 10000 --posts 20000

Prints one row per ruleset size with µs/post (median of repeats), posts/s, the hit rate
(share of posts with a match; --hit-terms sets it, ~5% by default) and the ratios.
Reads ../shared/data; nothing is written.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import DEFAULT_HIT_TERMS, Workload, baseline_floor, flashtext_extract, median_us

import policyrules


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rules", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--posts", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--regexes", type=int, default=None, help="patterns per ruleset (default: rules / 10)")
    ap.add_argument("--no-atoms", action="store_true", help="patterns without an extractable literal atom")
    ap.add_argument("--hit-terms", type=int, default=DEFAULT_HIT_TERMS,
                    help="real lexicon words among the terms (sets the hit rate; ~5%% by default)")
    args = ap.parse_args()
    wl = Workload(args.posts, args.hit_terms)
    print(f"posts: {len(wl.posts)} real posts, median {statistics.median(len(t) for t in wl.texts):.0f} chars; "
          f"python {sys.version.split()[0]}; flashtext {'yes' if flashtext_extract(['x']) else 'not installed'}")
    print(f"{'rules':>6} {'terms':>7} {'regex':>5} {'hit%':>5} {'compile s':>9} {'policyrules µs':>14} {'posts/s':>9} "
          f"{'AC floor µs':>11} {'ratio':>6} {'flashtext µs':>12} {'vs flashtext':>12}")
    for n_rules in args.rules:
        src, words = wl.source(n_rules, regexes=args.regexes, atoms=not args.no_atoms)
        t0 = time.perf_counter()
        rs = policyrules.compile(src)
        compile_s = time.perf_counter() - t0
        floor = baseline_floor(words)
        flash = flashtext_extract(words)
        hits = wl.hit_rate(rs)
        e_us = median_us(wl.evaluator(rs), wl.posts, args.repeats)
        f_us = median_us(floor, wl.texts, args.repeats)
        ft = f"{'-':>12} {'-':>12}"
        if flash is not None:
            x_us = median_us(flash, wl.texts, args.repeats)
            ft = f"{x_us:>12.2f} {e_us / x_us:>12.2f}"
        n_rx = n_rules // 10 if args.regexes is None else args.regexes
        print(f"{n_rules:>6} {len(words):>7} {n_rx:>5} {100 * hits:>5.1f} {compile_s:>9.2f} "
              f"{e_us:>14.2f} {1e6 / e_us:>9.0f} {f_us:>11.2f} {e_us / f_us:>6.2f} {ft}", flush=True)


if __name__ == "__main__":
    main()
