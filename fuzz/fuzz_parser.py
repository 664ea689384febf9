"""Atheris harness: any byte string, decoded, compiles to a ruleset or raises a PolicyError.

Run: ``python fuzz/fuzz_parser.py -max_total_time=30``. Seeds with the grammar's keywords so
the fuzzer reaches resolve and compile, not just the lexer.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import policyrules
    import policyrules.compiler
    import policyrules.logic
    import policyrules.matchers
    import policyrules.normalize
    import policyrules.resolve
    import policyrules.syntax
    from policyrules import PolicyError

__all__: list[str] = []

HEADER = 'policy p { title: "P" action: remove }\n'


def test_one_input(data: bytes) -> None:
    """One fuzz case: compile (with a valid policy header half of the time), then evaluate."""
    text = data.decode("utf-8", "replace")
    if data[:1] and data[0] % 2:
        text = HEADER + text
    try:
        rs = policyrules.compile(text)
    except PolicyError:
        return
    rs.evaluate("kill you x")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
