"""End-to-end throughput of Ruleset.evaluate next to a bare pyahocorasick scan, same run.

Builds synthetic rulesets of N rules (10 terms each, drawn from the real lexicons in
../shared/data plus generated words, and one regex per 10 rules, with a literal atom)
and evaluates real posts from the shared corpora. The baseline is what issue #6 names:
``casefold`` + one pyahocorasick ``iter`` over the same terms, no boundary check.

    .venv/bin/python benchmarks/bench_engine.py --rules 100 1000 10000 --posts 20000

Prints one row per ruleset size with µs/post (median of repeats), posts/s, the hit rate
and the ratio to the baseline. Reads ../shared/data; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import ahocorasick

import policyrules

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
    """Real words from the shared lexicons (deduplicated)."""
    terms: list[str] = []
    ld = DATA / "lexicon_ldnoobw"
    if ld.exists():
        for f in sorted(ld.glob("*.txt")):
            terms += [t.strip() for t in f.read_text(encoding="utf-8").splitlines() if t.strip()]
    seen: set[str] = set()
    out = []
    for t in terms:
        k = t.casefold()
        if k not in seen and "*" not in t and '"' not in t and "\\" not in t:
            seen.add(k)
            out.append(t)
    return out


def synthetic_words(n: int, seed: int = 11) -> list[str]:
    """Pronounceable non-words (they rarely occur in posts)."""
    rnd = random.Random(seed)
    cons, vows = "bcdfghjklmnprstvz", "aeiou"
    out = set()
    while len(out) < n:
        k = rnd.randint(2, 4)
        out.add("".join(rnd.choice(cons) + rnd.choice(vows) for _ in range(k)) + rnd.choice(cons))
    return sorted(out)


def build_source(n_rules: int, lexicon: list[str], hit_terms: int) -> tuple[str, list[str]]:
    """A ruleset of n_rules rules x 10 terms and n_rules/10 regexes."""
    words = lexicon[:hit_terms] + synthetic_words(n_rules * 10)
    words = words[: n_rules * 10]
    lines = ['policy p { title: "P" action: label }']
    for i in range(n_rules):
        chunk = words[i * 10 : (i + 1) * 10]
        quoted = ", ".join(json.dumps(w, ensure_ascii=False) for w in chunk)
        lines.append(f"terms l{i} = [{quoted}]")
        if i % 10 == 0:
            lines.append(f"pattern p{i} = /\\bzq{i}x+\\w*\\b/")
            lines.append(f"rule r{i} {{ policy: p when: any(l{i}) or p{i} }}")
        else:
            lines.append(f"rule r{i} {{ policy: p when: any(l{i}) }}")
    return "\n".join(lines), words


def median_us(fn, posts, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Median µs per post over repeats."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(posts)
        times.append((time.perf_counter() - t0) / len(posts) * 1e6)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--posts", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hit-terms", type=int, default=60, help="real lexicon words among the terms (sets the hit rate)")
    args = ap.parse_args()
    posts = load_posts(args.posts)
    lex = lexicon_terms()
    print(f"posts: {len(posts)} real posts, median {statistics.median(len(p['text']) for p in posts):.0f} chars; python {sys.version.split()[0]}")
    print(f"{'rules':>6} {'terms':>7} {'regex':>5} {'hit%':>5} {'compile s':>9} {'policyrules µs':>14} {'posts/s':>9} {'AC floor µs':>11} {'ratio':>6}")
    for n_rules in args.rules:
        src, words = build_source(n_rules, lex, args.hit_terms)
        t0 = time.perf_counter()
        rs = policyrules.compile(src)
        compile_s = time.perf_counter() - t0
        auto = ahocorasick.Automaton()
        for w in words:
            auto.add_word(w.casefold(), 1)
        auto.make_automaton()
        texts = [p["text"] for p in posts]

        def floor(ts: list[str], _a: ahocorasick.Automaton = auto) -> None:
            for t in ts:
                for _ in _a.iter(t.casefold()):
                    pass

        def engine(ps: list[dict[str, str]], _rs: policyrules.Ruleset = rs) -> None:
            ev = _rs.evaluate
            for p in ps:
                ev(p)

        hits = sum(1 for p in posts if rs.evaluate(p).matches)
        e_us = median_us(engine, posts, args.repeats)
        f_us = median_us(floor, texts, args.repeats)
        print(f"{n_rules:>6} {len(words):>7} {n_rules // 10:>5} {100 * hits / len(posts):>5.1f} {compile_s:>9.2f} "
              f"{e_us:>14.2f} {1e6 / e_us:>9.0f} {f_us:>11.2f} {e_us / f_us:>6.2f}")


if __name__ == "__main__":
    main()
