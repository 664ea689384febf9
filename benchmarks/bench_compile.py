"""Compile time and peak memory for large rulesets (issue #7): rules, list terms, rule() chains.

Run: ``python benchmarks/bench_compile.py [--rules 50000] [--terms 100000]``. Prints one line per
case: seconds to compile, tracemalloc peak MB, pickle size, and seconds to unpickle.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import policyrules

__all__: list[str] = []

HEADER = 'policy p { title: "P" action: remove }\n'


def measure(label: str, build: Callable[[], policyrules.Ruleset]) -> None:
    """Compile once under tracemalloc, then pickle round-trip; print the figures."""
    tracemalloc.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    rs = build()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    blob = pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL)
    t1 = time.perf_counter()
    pickle.loads(blob)
    print(f"{label:<34} compile {wall:6.2f} s wall {cpu:6.2f} s CPU  peak {peak / 2**20:7.1f} MB  "
          f"pickle {len(blob) / 2**20:6.1f} MB  unpickle {time.perf_counter() - t1:5.2f} s  rules={len(rs.rules)}")


def main() -> None:
    """Run every case at the sizes given on the command line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rules", type=int, default=50_000)
    ap.add_argument("--terms", type=int, default=100_000)
    args = ap.parse_args()
    rules_src = HEADER + "\n".join(
        f'terms t{i} = ["w{i}a", "w{i}b*"]\nrule r{i} {{ policy: p when: any(t{i}) and not any(["x{i}"]) }}'
        for i in range(args.rules)
    )
    measure(f"{args.rules:,} rules (2 lists each)", lambda: policyrules.compile(rules_src))
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "big.txt").write_text("\n".join(f"term{i:07d}" for i in range(args.terms)) + "\n")
        (root / "r.policy").write_text(HEADER + 'terms big = file("big.txt")\nrule r { policy: p when: any(big) }\n')
        measure(f"{args.terms:,}-term list file", lambda: policyrules.load(root))
    chain = HEADER + "\n".join(
        f'rule c{i} {{ policy: p action: none when: rule(c{i + 1}) or any(["z{i}"]) }}' for i in range(99)
    ) + '\nrule c99 { policy: p when: any(["end"]) }\n'
    measure("99-rule rule() chain (200 levels)", lambda: policyrules.compile(chain))


if __name__ == "__main__":
    main()
