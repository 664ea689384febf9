"""What evaluation returns: :class:`Verdict`, :class:`Match`, :class:`Evidence`, explanations.

Plain frozen values with a stable, versioned dictionary form (``to_dict``) and a text
rendering of condition trees (``ExplainNode``) so a writer can see why a rule did, or did
not, fire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["SCHEMA_VERSION", "Evidence", "ExplainNode", "Match", "Verdict", "render_explain"]

SCHEMA_VERSION = 1


@attrs.frozen
class Evidence:
    """One occurrence that made a condition true, with a span into the ORIGINAL field value."""

    field: str
    item: str
    term: str
    start: int
    end: int
    text: str
    steps: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable form."""
        d: dict[str, Any] = {
            "field": self.field, "item": self.item, "term": self.term,
            "start": self.start, "end": self.end, "text": self.text,
        }
        if self.steps:
            d["steps"] = list(self.steps)
        return d


@attrs.frozen
class Match:
    """A rule that matched, with its policy, enforcement and evidence."""

    rule: str
    policy: str
    severity: str
    action: str
    escalate: str | None
    tags: tuple[str, ...]
    reason: str | None
    evidence: tuple[Evidence, ...]
    mode: str = "enforce"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable form."""
        return {
            "rule": self.rule, "policy": self.policy, "severity": self.severity,
            "action": self.action, "escalate": self.escalate, "tags": list(self.tags),
            "reason": self.reason, "mode": self.mode,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@attrs.frozen
class ExplainNode:
    """One node of an explained condition: its text, its value and its children."""

    label: str
    value: bool | None  # None: not evaluated (e.g. the rule was out of scope)
    children: tuple[ExplainNode, ...] = ()
    detail: str = ""

    def render(self, indent: int = 0) -> str:
        """Indented text, one node per line."""
        return render_explain(self, indent)


def render_explain(node: ExplainNode, indent: int = 0) -> str:
    """Render an explanation tree as indented lines ``label: true|false  detail``."""
    lines = []
    stack: list[tuple[ExplainNode, int]] = [(node, indent)]
    while stack:
        cur, depth = stack.pop()
        value = "—" if cur.value is None else ("true" if cur.value else "false")
        detail = f"  {cur.detail}" if cur.detail else ""
        lines.append(f"{'  ' * depth}{cur.label}: {value}{detail}")
        stack.extend((child, depth + 1) for child in reversed(cur.children))
    return "\n".join(lines)


@attrs.frozen
class Verdict:
    """The outcome for one post: the action to take, and every match that explains it."""

    action: str
    severity: str | None
    matches: tuple[Match, ...]
    shadow_matches: tuple[Match, ...] = ()
    incomplete: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    ruleset: str | None = None
    version: str | None = None
    digest: str | None = None
    _explainer: Callable[[], str] | None = attrs.field(default=None, eq=False, repr=False, alias="explainer")

    @property
    def matched(self) -> bool:
        """True when any enforced rule matched."""
        return bool(self.matches)

    def explain(self) -> str:
        """Human-readable: the verdict, then each rule's condition tree with node values."""
        head = [f"verdict: action={self.action} severity={self.severity or '-'}"]
        for m in self.matches:
            head.append(f"  match {m.rule} [{m.policy}] {m.action}/{m.severity}" + (f": {m.reason}" if m.reason else ""))
        for m in self.shadow_matches:
            head.append(f"  shadow {m.rule} [{m.policy}] {m.action}/{m.severity}")
        for note in self.incomplete:
            head.append(f"  incomplete: {note}")
        for note in self.notes:
            head.append(f"  note: {note}")
        if self._explainer is not None:
            head.append(self._explainer())
        elif not self.matches and not self.shadow_matches:
            head.append("no rule matched (use Ruleset.explain(post, rule=NAME) to see why one did not)")
        return "\n".join(head)

    def to_dict(self) -> dict[str, Any]:
        """A plain, versioned, JSON-serializable dictionary."""
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "action": self.action,
            "severity": self.severity,
            "matches": [m.to_dict() for m in self.matches],
            "shadow_matches": [m.to_dict() for m in self.shadow_matches],
            "incomplete": list(self.incomplete),
            "ruleset": {"name": self.ruleset, "version": self.version, "digest": self.digest},
        }
        if self.notes:
            d["notes"] = list(self.notes)
        return d
