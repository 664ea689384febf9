"""Atheris harness: ``Ruleset.evaluate`` on arbitrary JSON-ish posts gives a verdict or PostError.

Run: ``python fuzz/fuzz_evaluate.py -max_total_time=30`` (coverage-guided; any other exception
is a crash and is reported with the input that caused it).
"""

from __future__ import annotations

import json
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
    from policyrules import Limits, PostError

__all__: list[str] = []

SOURCE = '''
policy p { title: "P" action: remove }
terms threats = ["kill you", "murder*", "*hate*"]
terms evasive (normalize: aggressive) = ["kill", "idiot"]
terms sub (match: substring) = ["xx"] except ["xxx"]
pattern money = /\\$\\d{3,}/
pattern bad = /(a+)+$/
rule threat { policy: p when: any(threats) and not any(["minecraft"]) reason: "{evidence}" }
rule ev { policy: p action: label when: any(evasive) or 2 of (threats, sub, money) }
rule near_r { policy: p action: log when: near(threats, ["you"], 3) or before(["i"], threats, 2) }
rule fields { policy: p when: author.followers < 10 and post.lang in [tr, en] or post.has_media }
rule lists { policy: p when: post.hashtags has any(["#freemoney"]) or author.bio has bad }
rule counts { policy: p when: count(threats, sub) >= 2 or distinct(threats) > 1 }
'''
RULESET = policyrules.compile(SOURCE, limits=Limits(regex_timeout=0.01, regex_post_budget=0.02,
                                                    max_text_chars=5000))


def _post(fdp: atheris.FuzzedDataProvider) -> object:
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        return fdp.ConsumeUnicode(400)
    if kind == 1:
        try:
            return json.loads(fdp.ConsumeUnicode(600))
        except (ValueError, RecursionError):
            return None
    post: dict[object, object] = {"text": fdp.ConsumeUnicode(200)}
    for key in ("lang", "created_at", "hashtags", "author", "has_media"):
        if fdp.ConsumeBool():
            pick = fdp.ConsumeIntInRange(0, 5)
            post[key] = [fdp.ConsumeUnicode(10), fdp.ConsumeInt(8), fdp.ConsumeFloat(),
                         [fdp.ConsumeUnicode(8) for _ in range(fdp.ConsumeIntInRange(0, 4))],
                         {"bio": fdp.ConsumeUnicode(40), "followers": fdp.ConsumeInt(4)}, None][pick]
    return post


def test_one_input(data: bytes) -> None:
    """One fuzz case: evaluate, serialize and explain must not raise anything but PostError."""
    fdp = atheris.FuzzedDataProvider(data)
    post = _post(fdp)
    try:
        verdict = RULESET.evaluate(post)
    except PostError:
        return
    json.dumps(verdict.to_dict())
    if verdict.matches:
        verdict.explain()


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
