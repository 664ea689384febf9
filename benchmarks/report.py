"""Issue #6 report: each performance target next to its baseline, measured in the same run.

    taskset -c 1 .venv/bin/python benchmarks/report.py            # everything (≈ 15-30 min)
    .venv/bin/python benchmarks/report.py --only 1 2 3 6          # single-core targets only
    .venv/bin/python benchmarks/report.py --only 4 --batch-posts 1000000   # batch (uses every core)

Targets (ratios are taken within this run, so they hold on a noisy machine):
  1. 1,000 rules / 10,000 terms / 100 regexes at ~5% hit rate: evaluate vs casefold + one
     pyahocorasick iter over the same terms (≤ 2x), and vs flashtext extraction (< 1x, optional).
  2. flat in rules: 10,000 rules (100,000 terms) vs 100 rules, same hit rate (≤ 1.5x).
  3. regexes: cost added by 100 / 1,000 regexes, with a literal atom and without.
  4. batch: ``policyrules sweep --workers 1|2`` posts/s on --batch-posts real posts (repeated
     into /tmp), with the peak RSS of the whole process tree (constant memory).
  5. start-up: compile time and peak RSS for 1k / 10k / 50k rules (each in a fresh process),
     pickled size and load time (in the compiling process, and in a fresh one after import).
  6. latency: p50 / p99 of one evaluate call, short and 280-character posts, with and without hits.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import DEFAULT_HIT_TERMS, Workload, baseline_floor, flashtext_extract, median_us

import policyrules

ROOT = Path(__file__).resolve().parents[1]
ROWS: list[tuple[str, str, str, str, str]] = []  # target, measured, baseline, ratio, goal


def row(target: str, measured: str, baseline: str, ratio: str, goal: str) -> None:
    """Record and print one line of the final table."""
    ROWS.append((target, measured, baseline, ratio, goal))
    print(f"  {target:<44} {measured:>22} {baseline:>26} {ratio:>7}  {goal}", flush=True)


def machine() -> str:
    """nproc, CPU model, Python and the load average (the machine is shared)."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    aff = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"nproc {os.cpu_count()} (this process may use {aff}), {model}, Python {platform.python_version()}, "
            f"load average {load}")


def paired(wl: Workload, rs: policyrules.Ruleset, words: list[str], repeats: int, rounds: int) -> tuple[float, float]:
    """(engine µs, floor µs): medians over *rounds* alternating rounds, so load drifts hit both."""
    floor = baseline_floor(words)
    ev = wl.evaluator(rs)
    es, fs = [], []
    for _ in range(rounds):
        es.append(median_us(ev, wl.posts, repeats))
        fs.append(median_us(floor, wl.texts, repeats))
    return statistics.median(es), statistics.median(fs)


def target1(wl: Workload, args: argparse.Namespace) -> None:
    src, words = wl.source(1000)
    rs = policyrules.compile(src)
    hits = wl.hit_rate(rs)
    e, f = paired(wl, rs, words, args.repeats, args.rounds)
    row(f"1 evaluate, 1k rules/10k terms/100 rx, hit {100 * hits:.1f}%", f"{e:.2f} µs/post", f"AC floor {f:.2f} µs",
        f"{e / f:.2f}x", "≤ 2x")
    flash = flashtext_extract(words)
    if flash is None:
        row("1 vs flashtext", "-", "flashtext not installed", "-", "< 1x")
    else:
        x = statistics.median(median_us(flash, wl.texts, args.repeats) for _ in range(args.rounds))
        row("1 vs flashtext extract_keywords", f"{e:.2f} µs/post", f"flashtext {x:.2f} µs", f"{e / x:.2f}x", "< 1x")


def target2(wl: Workload, args: argparse.Namespace) -> None:
    small_src, small_words = wl.source(100)
    big_src, big_words = wl.source(args.big_rules)
    small, big = policyrules.compile(small_src), policyrules.compile(big_src)
    hs, hb = wl.hit_rate(small), wl.hit_rate(big)
    ev_s, ev_b = wl.evaluator(small), wl.evaluator(big)
    fl_s, fl_b = baseline_floor(small_words), baseline_floor(big_words)
    es, eb, fs, fb = [], [], [], []
    for _ in range(args.rounds):
        es.append(median_us(ev_s, wl.posts, args.repeats))
        eb.append(median_us(ev_b, wl.posts, args.repeats))
        fs.append(median_us(fl_s, wl.texts, args.repeats))
        fb.append(median_us(fl_b, wl.texts, args.repeats))
    e_s, e_b, f_s, f_b = (statistics.median(x) for x in (es, eb, fs, fb))
    row(f"2 {args.big_rules} rules vs 100 (hit {100 * hb:.1f}% / {100 * hs:.1f}%)", f"{e_b:.2f} µs/post",
        f"100 rules {e_s:.2f} µs", f"{e_b / e_s:.2f}x", "≤ 1.5x")
    row("2 (same growth of the AC floor itself)", f"{f_b:.2f} µs/post", f"100-rule floor {f_s:.2f} µs",
        f"{f_b / f_s:.2f}x", "(reference)")
    row(f"2 {args.big_rules} rules vs its own AC floor", f"{e_b:.2f} µs/post", f"AC floor {f_b:.2f} µs",
        f"{e_b / f_b:.2f}x", "(reference)")


def _compile_with_backend(src: str, backend: str) -> policyrules.Ruleset:
    """Compile with POLICYRULES_REGEX_BACKEND set to *backend* (read when scanners are built)."""
    from policyrules.multiregex import BACKEND_ENV

    before = os.environ.get(BACKEND_ENV)
    os.environ[BACKEND_ENV] = backend
    try:
        return policyrules.compile(src)
    finally:
        if before is None:
            del os.environ[BACKEND_ENV]
        else:
            os.environ[BACKEND_ENV] = before


def target3(wl: Workload, args: argparse.Namespace) -> None:
    from policyrules.multiregex import available

    base_src, words = wl.source(1000, regexes=0)
    base = policyrules.compile(base_src)
    variants: dict[tuple[int, bool, str], policyrules.Ruleset] = {}
    for n_rx in (100, 1000):
        for atoms in (True, False):
            src, _ = wl.source(1000, regexes=n_rx, atoms=atoms)
            variants[(n_rx, atoms, "regex")] = _compile_with_backend(src, "regex")
            if not atoms and available():  # the RE2 Set prefilter only concerns atom-less patterns
                variants[(n_rx, atoms, "re2")] = _compile_with_backend(src, "re2")
    floor = baseline_floor(words)
    times: dict[object, list[float]] = {k: [] for k in [*variants, "base", "floor"]}
    for _ in range(args.rounds):
        times["base"].append(median_us(wl.evaluator(base), wl.posts, args.repeats))
        times["floor"].append(median_us(floor, wl.texts, args.repeats))
        for k, rs in variants.items():
            times[k].append(median_us(wl.evaluator(rs), wl.posts, args.repeats))
    med = {k: statistics.median(v) for k, v in times.items()}
    b = med["base"]
    row("3 1k rules, no regex", f"{b:.2f} µs/post", f"AC floor {med['floor']:.2f} µs", f"{b / med['floor']:.2f}x",
        "(reference)")
    for (n_rx, atoms, backend), _rs in variants.items():
        e = med[(n_rx, atoms, backend)]
        what = "with a literal atom" if atoms else "without an atom"
        if backend == "re2":
            row(f"3 + {n_rx} regexes {what}, RE2 Set prefilter", f"{e:.2f} µs/post",
                f"no regex {b:.2f} µs", f"{e / b:.2f}x", "(report)")
            plain = med[(n_rx, atoms, "regex")]
            row(f"3   (RE2 prefilter vs regex alone, {n_rx} rx)", f"{e:.2f} µs/post",
                f"regex alone {plain:.2f} µs", f"{e / plain:.2f}x", "(report)")
        else:
            row(f"3 + {n_rx} regexes {what}", f"{e:.2f} µs/post",
                f"no regex {b:.2f} µs", f"{e / b:.2f}x", "≈ 1x with atoms" if atoms else "(report)")
    if not available():
        row("3 RE2 Set prefilter", "-", "google-re2 not installed", "-", "(report)")


def _batch_input(n_posts: int) -> Path:
    """--batch-posts real posts (the shared corpora repeated) as JSONL in /tmp; reused when present."""
    path = Path(tempfile.gettempdir()) / f"policyrules-batch-{n_posts}.jsonl"
    if path.exists() and sum(1 for _ in path.open("rb")) == n_posts:
        return path
    base = Workload(20000).posts
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n_posts):
            fh.write(json.dumps(base[i % len(base)], ensure_ascii=False) + "\n")
    return path


def target4(wl: Workload, args: argparse.Namespace) -> None:
    src, _ = wl.source(1000)
    tmp = Path(tempfile.mkdtemp(prefix="policyrules-bench-"))
    (tmp / "bench.policy").write_text(src, encoding="utf-8")
    data = _batch_input(args.batch_posts)
    exe = Path(sys.executable).with_name("policyrules")
    per: dict[int, float] = {}
    for workers in args.workers:
        out = tmp / f"out-{workers}.jsonl"
        cmd = [str(exe), "sweep", str(tmp / "bench.policy"), str(data), "-o", str(out), "--workers", str(workers)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        # ru_maxrss of RUSAGE_CHILDREN is the largest single descendant; fine for "does it stay flat"
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode not in (0, 1):
            row(f"4 sweep --workers {workers}", "failed", proc.stderr.strip()[-60:], "-", "")
            continue
        per[workers] = args.batch_posts / wall
        row(f"4 sweep --workers {workers}, {args.batch_posts:,} posts", f"{per[workers]:,.0f} posts/s",
            f"{wall:.1f} s wall, max RSS {rss:.0f} MiB", f"{per[workers] / per[min(per)]:.2f}x" if per else "-",
            "scales with cores, flat memory")
        out.unlink(missing_ok=True)


def _compile_child(n_rules: int, hit_terms: int) -> None:
    """Run in a fresh process: compile n_rules and print time, peak RSS, pickle size and load time."""
    from workload import build_source, lexicon_terms

    src, _ = build_source(n_rules, lexicon_terms(), hit_terms)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    rs = policyrules.compile(src)
    compile_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    blob = pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL)
    t0 = time.perf_counter()
    pickle.loads(blob)
    load_s = time.perf_counter() - t0
    # A restarting service: a fresh process that imports policyrules, then loads the pickle.
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as fh:
        fh.write(blob)
    code = ("import json, pickle, sys, time; t0 = time.perf_counter(); import policyrules; "
            "t1 = time.perf_counter(); data = open(sys.argv[1], 'rb').read(); t2 = time.perf_counter(); "
            "rs = pickle.loads(data); t3 = time.perf_counter(); rs.evaluate('hello'); "
            "print(json.dumps({'import_s': t1 - t0, 'fresh_load_s': t3 - t2}))")
    try:
        out = subprocess.run([sys.executable, "-c", code, fh.name], capture_output=True, text=True, check=True)
    finally:
        os.unlink(fh.name)
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps({"compile_s": compile_s, "peak_mib": peak / 1024, "before_mib": rss0 / 1024,
                      "pickle_mib": len(blob) / 2**20, "load_s": load_s, **fresh}))


def target5(wl: Workload, args: argparse.Namespace) -> None:
    for n_rules in args.startup_rules:
        proc = subprocess.run([sys.executable, __file__, "--compile-child", str(n_rules)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            row(f"5 compile {n_rules} rules", "failed", proc.stderr.strip()[-60:], "-", "")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        row(f"5 compile {n_rules} rules ({n_rules * 10} terms)", f"{r['compile_s']:.2f} s",
            f"peak RSS {r['peak_mib']:.0f} MiB", "-", "(report)")
        row(f"5 load pickled {n_rules} rules ({r['pickle_mib']:.1f} MiB)", f"{r['load_s']:.2f} s",
            f"compile {r['compile_s']:.2f} s", f"{r['load_s'] / r['compile_s']:.2f}x", "(report)")
        row(f"5 load pickled {n_rules} rules, fresh process", f"{r['fresh_load_s']:.2f} s",
            f"+ import {r['import_s']:.2f} s", f"{r['fresh_load_s'] / r['compile_s']:.3f}x", "(report)")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def target6(wl: Workload, args: argparse.Namespace) -> None:
    src, _ = wl.source(1000)
    rs = policyrules.compile(src)
    verdicts = [(p, bool(rs.evaluate(p).matches)) for p in wl.posts]
    short = [(p, h) for p, h in verdicts if len(p["text"]) <= 60]
    long_ = [(p, h) for p, h in verdicts if 240 <= len(p["text"]) <= 320]
    clock = time.perf_counter_ns
    for name, group in (("short ≤60 chars", short), ("long 240-320 chars", long_)):
        for hit in (False, True):
            sel = [p for p, h in group if h == hit][:2000]
            if not sel:
                continue
            lat = []
            cpu = []
            ev = rs.evaluate
            cpu_clock = time.thread_time_ns
            for _ in range(max(1, 4000 // len(sel))):
                for p in sel:
                    c0 = cpu_clock()
                    t0 = clock()
                    ev(p)
                    lat.append((clock() - t0) / 1000)
                    cpu.append((cpu_clock() - c0) / 1000)
            # Wall time includes the time another process held the core (a 4 ms scheduler
            # tick on a shared machine); the thread's CPU time does not.
            row(f"6 latency {name}, {'hit' if hit else 'no hit'} (n={len(sel)})",
                f"p50 {_pct(lat, 0.5):.1f} µs", f"p99 {_pct(lat, 0.99):.1f} µs wall, "
                f"{_pct(cpu, 0.99):.1f} µs CPU", "-", "(report)")


def target0(wl: Workload, args: argparse.Namespace) -> None:
    """Where the time goes: each stage of evaluate on the same posts (1k rules), cumulative."""
    from policyrules import normalize as nz

    src, words = wl.source(1000)
    rs = policyrules.compile(src)
    scanner = rs._plan.scanners[0][2]
    auto = scanner.automata[0][1].automaton
    texts, posts = wl.texts, wl.posts
    langs = [p["lang"] in ("tr", "az") for p in posts]
    hit = [bool(rs.evaluate(p).matches) for p in posts]

    def stage(fn: object) -> float:
        return statistics.median(median_us(fn, texts, args.repeats) for _ in range(args.rounds))  # type: ignore[arg-type]

    def norm(ts: list[str]) -> None:
        for t in ts:
            nz.normalize(t, nz.STANDARD)

    def norm_ac(ts: list[str]) -> None:
        for t in ts:
            for _ in auto.iter(nz.normalize(t, nz.STANDARD)):
                pass

    def scan(_ts: list[str]) -> None:
        for t, tk in zip(texts, langs, strict=True):
            scanner.scan(t, "text", tk)

    floor = stage(baseline_floor(words))
    rows = [("casefold", stage(lambda ts: [t.casefold() for t in ts])), ("casefold + AC iter (floor)", floor),
            ("normalize standard", stage(norm)), ("normalize + AC iter", stage(norm_ac)),
            ("FieldScanner.scan (+ boundaries, gates, offsets)", stage(scan)),
            ("Ruleset.evaluate (+ post checks, rules, verdict)", stage(lambda _ts: wl.evaluator(rs)(posts)))]
    for name, us in rows:
        row(f"0 {name}", f"{us:.2f} µs/post", f"floor {floor:.2f} µs", f"{us / floor:.2f}x", "(profile)")
    groups = {"no hit": [p for p, h in zip(posts, hit, strict=True) if not h],
              "hit, ASCII text": [p for p, h in zip(posts, hit, strict=True) if h and p["text"].isascii()],
              "hit, non-ASCII text": [p for p, h in zip(posts, hit, strict=True) if h and not p["text"].isascii()]}
    for name, sel in groups.items():
        if sel:
            us = statistics.median(median_us(wl.evaluator(rs), sel, args.repeats) for _ in range(args.rounds))
            row(f"0 evaluate, {name} ({100 * len(sel) / len(posts):.1f}% of posts)", f"{us:.2f} µs/post",
                f"floor {floor:.2f} µs", f"{us / floor:.2f}x", "(profile)")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5, 6], help="0 = stage breakdown")
    ap.add_argument("--posts", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per round (median)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per comparison (median)")
    ap.add_argument("--hit-terms", type=int, default=DEFAULT_HIT_TERMS)
    ap.add_argument("--big-rules", type=int, default=10000)
    ap.add_argument("--batch-posts", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--startup-rules", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--compile-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.compile_child:
        _compile_child(args.compile_child, args.hit_terms)
        return
    print(machine())
    wl = Workload(args.posts, args.hit_terms)
    print(f"{len(wl.posts)} real posts, median {statistics.median(len(t) for t in wl.texts):.0f} chars; "
          f"policyrules {policyrules.__version__}")
    print(f"  {'target':<44} {'measured':>22} {'baseline (same run)':>26} {'ratio':>7}  goal")
    steps = {0: target0, 1: target1, 2: target2, 3: target3, 4: target4, 5: target5, 6: target6}
    for k in args.only:
        steps[k](wl, args)
    print("\n| target | measured | baseline (same run) | ratio | goal |\n|---|---:|---:|---:|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
