"""Sweep guarantees under faults: killed worker, SIGINT/SIGTERM, --resume, bad lines (issue #7 §5).

Runs ``python -m policyrules sweep`` as a subprocess on hand-written posts. Every test
checks that the output is one record per input line, in order (a valid prefix when
interrupted), and that the summary counts reconcile.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

__all__: list[str] = []

RULES = '''
policy p { title: "P" action: remove }
terms threats = ["kill you", "shoot you"]
pattern money = /\\$\\d{3,}/
rule threat { policy: p when: any(threats) }
rule spam { policy: p action: log when: money }
'''

SAMPLES = ["I will kill you", "hello there", "send $500 now", "nice weather", "shoot you later"]


def _write_input(path: Path, n: int, bad_every: int = 0) -> list[str]:
    lines = []
    for i in range(n):
        if bad_every and i % bad_every == 7:
            lines.append(["not json {", "[1, 2]", '{"text": 5}', "", "[" * 50_000][i % 5])
        else:
            lines.append(json.dumps({"id": i, "text": SAMPLES[i % len(SAMPLES)] + f" #{i}"}))
    path.write_text("\n".join(lines) + "\n")
    return lines


def _sweep(rules: Path, inp: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "policyrules", "sweep", str(rules), str(inp), "-o", str(out),
         "--format", "json", "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def _assert_prefix(records: list[dict[str, Any]]) -> None:
    assert [r["line"] for r in records] == list(range(1, len(records) + 1))


def _summary(stdout: str) -> dict[str, Any]:
    return json.loads(stdout)  # type: ignore[no-any-return]


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "r.policy").write_text(RULES)
    return d


def _wait_for_lines(out: Path, proc: subprocess.Popen[str], minimum: int) -> None:
    for _ in range(600):
        if out.exists() and out.stat().st_size and len(out.read_bytes().splitlines()) >= minimum:
            return
        if proc.poll() is not None:
            return
        time.sleep(0.05)


def test_bad_lines_one_record_each_and_counts_reconcile(rules: Path, tmp_path: Path) -> None:
    """Bad lines (not JSON, not an object, bad post, empty, nested 50,000 deep) each get an error record."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = _write_input(inp, 500, bad_every=20)
    proc = _sweep(rules, inp, out, "-j", "1", "--chunk-size", "37")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr  # 1: some lines were rejected
    records = _records(out)
    assert len(records) == len(lines)
    _assert_prefix(records)
    bad = [r for r in records if "error" in r]
    assert len(bad) == sum(1 for i in range(500) if i % 20 == 7)
    s = _summary(stdout)
    assert s["lines_in"] == s["lines_out"] == len(lines)
    assert s["verdicts"] + s["rejected"] == len(lines) and s["rejected"] == len(bad)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_valid_prefix_and_resume_completes(rules: Path, tmp_path: Path, sig: int) -> None:
    """Ctrl-C / SIGTERM mid-run leave a valid prefix; --resume finishes without duplicates or gaps."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = _write_input(inp, 60_000)
    proc = _sweep(rules, inp, out, "-j", "1", "--chunk-size", "200")
    _wait_for_lines(out, proc, 400)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=300)
    first = _records(out)
    _assert_prefix(first)
    if proc.returncode == 0:  # finished before the signal landed: nothing to resume
        assert len(first) == len(lines)
        return
    assert proc.returncode == 130, stderr
    assert 0 < len(first) < len(lines)
    s = _summary(stdout)
    assert s["complete"] is False and s["lines_out"] == len(first)
    proc = _sweep(rules, inp, out, "-j", "1", "--resume")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    records = _records(out)
    assert len(records) == len(lines)
    _assert_prefix(records)
    assert [r["id"] for r in records] == list(range(len(lines)))
    s = _summary(stdout)
    assert s["lines_in"] == len(lines) and s["resumed"] == len(first)
    print(f"\n{signal.Signals(sig).name}: {len(first)} of {len(lines)} records before, {len(records)} after --resume")


def _workers(pid: int) -> list[int]:
    """Pool workers (forked: the sweep's command line; spawned: spawn_main), not the resource tracker."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    found = []
    for child in (int(x) for x in out.split()):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if (b"sweep" in cmdline or b"spawn_main" in cmdline) and b"resource_tracker" not in cmdline:
            found.append(child)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses ps --ppid")
def test_killed_worker_is_detected_and_resume_redoes_its_posts(rules: Path, tmp_path: Path) -> None:
    """SIGKILL of one worker: the sweep reports it (exit 1, valid prefix); --resume re-does the rest."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = _write_input(inp, 60_000)
    proc = _sweep(rules, inp, out, "-j", "2", "--chunk-size", "100")
    _wait_for_lines(out, proc, 300)
    workers = _workers(proc.pid)
    if not workers or proc.poll() is not None:
        pytest.fail("the sweep finished before a worker could be killed; make the input longer")
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    first = _records(out)
    _assert_prefix(first)
    assert proc.returncode == 1, stderr
    s = _summary(stdout)
    assert s["complete"] is False and "worker" in s["problem"] and s["lines_out"] == len(first)
    proc = _sweep(rules, inp, out, "-j", "2", "--resume")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    records = _records(out)
    assert len(records) == len(lines)
    _assert_prefix(records)
    print(f"\nkilled worker: {len(first)} of {len(lines)} records before, {len(records)} after --resume")
