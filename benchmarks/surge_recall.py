"""Recall of the aggressive matcher on the Surge AI obfuscated profanity spellings.

Run: ``.venv/bin/python benchmarks/surge_recall.py [--misses N]``. Reads
/work/shared/data/lexicon_surge_profanity_en/profanity_en.csv at run time. A matcher is built
from every canonical form; each obfuscated spelling (``text`` differing from all its
canonical forms) counts as recalled when the matcher finds one of its own canonical forms in
it. Reported for ``match: word`` and ``match: substring``, and per needed step.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

from policyrules.evasion import AggressiveMatcher
from policyrules.normalize import STANDARD, normalize

CSV = Path("/work/shared/data/lexicon_surge_profanity_en/profanity_en.csv")


def main() -> int:
    """Print recall figures and a sample of misses."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--misses", type=int, default=40)
    args = ap.parse_args()
    if not CSV.exists():
        print(f"missing {CSV}", file=sys.stderr)
        return 1
    with CSV.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    canon: list[str] = sorted(
        {r[k].strip() for r in rows for k in ("canonical_form_1", "canonical_form_2",
                                               "canonical_form_3") if r[k].strip()}
    )  # fmt: skip
    ids = {c: i for i, c in enumerate(canon)}
    cases = []
    for r in rows:
        forms = {r[k].strip() for k in ("canonical_form_1", "canonical_form_2",
                                        "canonical_form_3") if r[k].strip()}  # fmt: skip
        text = r["text"]
        if forms and normalize(text, STANDARD) not in {normalize(f, STANDARD) for f in forms}:
            cases.append((text, forms))
    print(f"{len(rows)} rows, {len(canon)} canonical forms, {len(cases)} obfuscated spellings")
    for mode in ("word", "substring"):
        matcher = AggressiveMatcher([(ids[c], c, mode) for c in canon])
        hits = 0
        steps: Counter[str] = Counter()
        misses = []
        for text, forms in cases:
            want = {ids[f] for f in forms}
            found = [h for h in matcher.find(normalize(text, STANDARD)) if h[0] in want]
            if found:
                hits += 1
                for s in found[0][3]:
                    steps[s] += 1
            else:
                misses.append((text, sorted(forms)))
        print(f"match: {mode:9}  recall {hits}/{len(cases)} = {hits / len(cases):.1%}  "
              f"steps of first hits: {dict(steps)}")  # fmt: skip
        if mode == "substring":
            for text, forms in misses[: args.misses]:
                print(f"  miss: {text!r} -> {forms}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
