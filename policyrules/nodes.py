"""The syntax tree of policy files and the resolved model built from it (data only).

``syntax`` produces :class:`Module` trees; ``resolve`` merges them into a
:class:`ResolvedRuleset` whose conditions refer to resolved :class:`TermItem` and
:class:`PatternItem` objects. Everything is a frozen attrs value; spans take no part in
equality, so structurally equal trees compare equal wherever they came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeAlias

import attrs

from .errors import Span

__all__ = [
    "ActiveWindow",
    "AllOf",
    "And",
    "AnyOf",
    "BareItem",
    "Before",
    "Comment",
    "CountCmp",
    "DistinctCmp",
    "Example",
    "FieldCmp",
    "FieldHas",
    "FieldIn",
    "FieldPath",
    "FieldTruthy",
    "FileRef",
    "InlineListItem",
    "Module",
    "NOf",
    "NameItem",
    "NameRef",
    "Near",
    "Not",
    "Option",
    "Or",
    "PatternDecl",
    "PatternItem",
    "PolicyDecl",
    "Property",
    "RegexItem",
    "RegexLit",
    "ResolvedPolicy",
    "ResolvedRule",
    "ResolvedRuleset",
    "RuleDecl",
    "RuleRef",
    "StrLit",
    "StringItem",
    "Term",
    "TermItem",
    "TermListLit",
    "TermOptions",
    "TermsDecl",
    "dump",
    "walk",
]


def _span() -> Any:
    return attrs.field(default=None, eq=False, repr=False, kw_only=True)


# --------------------------------------------------------------------------- literals


@attrs.frozen
class StrLit:
    """A string literal, already unescaped."""

    value: str
    span: Span | None = _span()


@attrs.frozen
class RegexLit:
    """A regex literal ``/pattern/flags`` (``\\/`` already turned into ``/``)."""

    pattern: str
    flags: str = ""
    span: Span | None = _span()


@attrs.frozen
class Option:
    """One ``name: value`` inside the parentheses of a ``terms`` or ``pattern`` statement."""

    name: str
    value: str
    span: Span | None = _span()


# --------------------------------------------------------------------------- term sources


@attrs.frozen
class TermListLit:
    """An inline list ``["a", "b"]``."""

    items: tuple[StrLit, ...]
    span: Span | None = _span()


@attrs.frozen
class FileRef:
    """``file("lists/x.txt")``: one term per line, ``#`` comments."""

    path: str
    span: Span | None = _span()


@attrs.frozen
class NameRef:
    """A reference to another named term list inside a ``+`` sum."""

    name: str
    span: Span | None = _span()


TermPart: TypeAlias = TermListLit | FileRef | NameRef


# --------------------------------------------------------------------------- items


@attrs.frozen
class NameItem:
    """A bare name in an item position: a term list or a pattern."""

    name: str
    span: Span | None = _span()


@attrs.frozen
class StringItem:
    """A string literal used as an item: ``any("kill you")``."""

    value: str
    span: Span | None = _span()


@attrs.frozen
class RegexItem:
    """An inline regex used as an item: ``any(/k+i+l+/i)``."""

    pattern: str
    flags: str = ""
    span: Span | None = _span()


@attrs.frozen
class InlineListItem:
    """An inline list used as an item: ``any(["kill you", "shoot you"])``."""

    items: tuple[StrLit, ...]
    span: Span | None = _span()


SyntaxItem: TypeAlias = NameItem | StringItem | RegexItem | InlineListItem


@attrs.frozen
class TermOptions:
    """How a term matches (language.md §3): word/substring, case, normalization, accents."""

    match: str = "word"  # word | substring
    case: str = "insensitive"  # insensitive | sensitive
    normalize: str = "standard"  # none | standard | aggressive
    accents: str = "fold"  # fold | keep
    typos: str = "none"  # none | one (extension: also match words one edit away)


@attrs.frozen
class Term:
    """One resolved term: its text as written, its options, and the excepts that suppress it."""

    text: str
    options: TermOptions = TermOptions()
    excepts: tuple[Term, ...] = ()
    span: Span | None = _span()


@attrs.frozen
class TermItem:
    """A resolved term item: a named list, an inline list or a string literal."""

    name: str  # the list name, or the literal as written (e.g. '"kill you"')
    terms: tuple[Term, ...]
    span: Span | None = _span()


@attrs.frozen
class PatternItem:
    """A resolved regex item: a named pattern or an inline regex."""

    name: str  # the pattern name, or the regex as written
    pattern: str
    flags: str = ""
    case: str = "insensitive"  # insensitive | sensitive (the ``i`` flag forces insensitive)
    text: str = "light"  # light | folded | raw
    span: Span | None = _span()


Item: TypeAlias = SyntaxItem | TermItem | PatternItem


# --------------------------------------------------------------------------- fields


@attrs.frozen
class FieldPath:
    """A dotted field path as written: ``post.lang``, ``author.followers``."""

    parts: tuple[str, ...]
    span: Span | None = _span()

    @property
    def dotted(self) -> str:
        """The path as written."""
        return ".".join(self.parts)

    @property
    def key(self) -> tuple[str, ...]:
        """The path inside the post mapping: ``post.x`` → ``(x,)``, ``author.x`` → ``(author, x)``."""
        if self.parts[0] == "post":
            return self.parts[1:]
        return self.parts

    @property
    def name(self) -> str:
        """The field name evidence uses: ``text``, ``author.bio``, ``hashtags``."""
        return ".".join(self.key)


Value: TypeAlias = str | int | float | bool | datetime


# --------------------------------------------------------------------------- conditions


@attrs.frozen
class Or:
    """True when any operand is true (short-circuits)."""

    operands: tuple[Condition, ...]
    span: Span | None = _span()


@attrs.frozen
class And:
    """True when every operand is true (short-circuits)."""

    operands: tuple[Condition, ...]
    span: Span | None = _span()


@attrs.frozen
class Not:
    """Negation; evidence is never collected through it."""

    operand: Condition
    span: Span | None = _span()


@attrs.frozen
class AnyOf:
    """``any(A, B, ...)``: at least one term of any item occurs."""

    items: tuple[Item, ...]
    span: Span | None = _span()


@attrs.frozen
class BareItem:
    """An item alone as a condition: same as ``any(A)``."""

    item: Item
    span: Span | None = _span()


@attrs.frozen
class AllOf:
    """``all(A, B, ...)``: every item occurs."""

    items: tuple[Item, ...]
    span: Span | None = _span()


@attrs.frozen
class NOf:
    """``N of (A, B, ...)``: at least N items occur."""

    n: int
    items: tuple[Item, ...]
    span: Span | None = _span()


@attrs.frozen
class CountCmp:
    """``count(A, ...) OP N``: distinct (field, start, end) spans."""

    items: tuple[Item, ...]
    op: str
    n: int
    span: Span | None = _span()


@attrs.frozen
class DistinctCmp:
    """``distinct(A, ...) OP N``: distinct terms (as written) that occur."""

    items: tuple[Item, ...]
    op: str
    n: int
    span: Span | None = _span()


@attrs.frozen
class Near:
    """``near(A, B, N)``: occurrences at most N words apart, either order."""

    left: Item
    right: Item
    n: int
    span: Span | None = _span()


@attrs.frozen
class Before:
    """``before(A, B, N)``: A ends before B starts, at most N words apart."""

    left: Item
    right: Item
    n: int
    span: Span | None = _span()


@attrs.frozen
class FieldHas:
    """``FIELD has M``: match expression M applied to another text field."""

    field: FieldPath
    condition: Condition
    span: Span | None = _span()


@attrs.frozen
class FieldCmp:
    """``FIELD OP VALUE`` for numbers, strings, booleans and datetimes."""

    field: FieldPath
    op: str
    value: Value
    span: Span | None = _span()


@attrs.frozen
class FieldIn:
    """``FIELD in [a, "b", 3]``."""

    field: FieldPath
    values: tuple[Value, ...]
    span: Span | None = _span()


@attrs.frozen
class FieldTruthy:
    """``FIELD`` alone: the field is ``true``."""

    field: FieldPath
    span: Span | None = _span()


@attrs.frozen
class RuleRef:
    """``rule(NAME)``: rule NAME's condition held."""

    name: str
    span: Span | None = _span()


Condition: TypeAlias = (
    Or | And | Not | AnyOf | BareItem | AllOf | NOf | CountCmp | DistinctCmp | Near | Before
    | FieldHas | FieldCmp | FieldIn | FieldTruthy | RuleRef
)

MATCH_NODES = (AnyOf, BareItem, AllOf, NOf, CountCmp, DistinctCmp, Near, Before)


# --------------------------------------------------------------------------- statements


@attrs.frozen
class ActiveWindow:
    """``active: START .. END`` in UTC; start inclusive, end exclusive; either may be open."""

    start: datetime | None
    end: datetime | None
    span: Span | None = _span()


@attrs.frozen
class Example:
    """One ``match:`` / ``no_match:`` example; *post* is a str or a post mapping."""

    kind: str  # match | no_match
    post: Any  # str | dict[str, Any] (kept as a tuple of pairs would hurt readability)
    span: Span | None = _span()


@attrs.frozen
class Property:
    """One ``name: value`` property of a policy or rule, in source order.

    *value* is a :class:`StrLit`, an identifier ``str``, a ``tuple`` of identifiers or
    strings (``lang``, ``tags``), an :class:`ActiveWindow`, a condition, or a tuple of
    :class:`Example`.
    """

    name: str
    value: Any
    span: Span | None = _span()


@attrs.frozen
class PolicyDecl:
    """``policy NAME { ... }``."""

    name: str
    properties: tuple[Property, ...]
    span: Span | None = _span()
    name_span: Span | None = _span()


@attrs.frozen
class TermsDecl:
    """``terms NAME (options) = PARTS [except PARTS]``."""

    name: str
    options: tuple[Option, ...]
    parts: tuple[TermPart, ...]
    excepts: tuple[TermPart, ...] = ()
    span: Span | None = _span()
    name_span: Span | None = _span()


@attrs.frozen
class PatternDecl:
    """``pattern NAME (options) = /regex/flags``."""

    name: str
    options: tuple[Option, ...]
    regex: RegexLit
    span: Span | None = _span()
    name_span: Span | None = _span()


@attrs.frozen
class RuleDecl:
    """``rule NAME { ... }``."""

    name: str
    properties: tuple[Property, ...]
    span: Span | None = _span()
    name_span: Span | None = _span()


Statement: TypeAlias = PolicyDecl | TermsDecl | PatternDecl | RuleDecl


@attrs.frozen
class Comment:
    """A ``#`` comment, kept so ``fmt`` can put it back."""

    text: str
    span: Span | None = _span()


@attrs.frozen
class Module:
    """One parsed ``.policy`` file."""

    path: str
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = ()
    source: str = attrs.field(default="", eq=False, repr=False)


# --------------------------------------------------------------------------- resolved model


@attrs.frozen
class ResolvedPolicy:
    """A policy area with its defaults applied."""

    name: str
    title: str
    url: str | None = None
    description: str | None = None
    severity: str = "medium"
    action: str | None = None
    span: Span | None = _span()


@attrs.frozen
class ResolvedRule:
    """A rule with names bound, defaults applied and items resolved."""

    name: str
    policy: str
    severity: str
    action: str  # "none" for helper rules
    when: Condition
    unless: Condition | None = None
    lang: tuple[str, ...] = ()  # primary subtags, lower case; () = every language
    tags: tuple[str, ...] = ()
    escalate: str | None = None
    mode: str = "enforce"  # enforce | shadow
    active: ActiveWindow | None = None
    reason: str | None = None
    examples: tuple[Example, ...] = ()
    span: Span | None = _span()

    @property
    def is_helper(self) -> bool:
        """A helper rule (``action: none``) never appears in a verdict."""
        return self.action == "none"


@attrs.frozen
class ResolvedRuleset:
    """Everything the compiler needs, with rules in dependency order (referenced first)."""

    name: str
    version: str | None
    digest: str
    policies: tuple[ResolvedPolicy, ...]
    rules: tuple[ResolvedRule, ...]
    term_lists: tuple[TermItem, ...]
    patterns: tuple[PatternItem, ...]
    actions: tuple[str, ...]
    config: Any = attrs.field(factory=dict, eq=False, repr=False, hash=False)


# --------------------------------------------------------------------------- helpers


def walk(node: Any) -> Iterator[Any]:
    """Yield *node* and every attrs node below it, depth-first, in field order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children: list[Any] = []
        if attrs.has(type(current)):
            for field in attrs.fields(type(current)):
                if field.name == "span" or field.name == "name_span":
                    continue
                value = getattr(current, field.name)
                children.extend(_child_nodes(value))
        elif isinstance(current, tuple):
            children.extend(_child_nodes(current))
        stack.extend(reversed(children))


def _child_nodes(value: Any) -> list[Any]:
    if attrs.has(type(value)):
        return [value]
    if isinstance(value, tuple):
        out: list[Any] = []
        for v in value:
            out.extend(_child_nodes(v))
        return out
    return []


def dump(node: Any, indent: int = 0) -> str:
    """A deterministic, indented text dump of a tree (spans left out), for golden tests."""
    pad = "  " * indent
    if attrs.has(type(node)):
        fields = [f for f in attrs.fields(type(node)) if f.name not in ("span", "name_span", "source")]
        scalars = []
        nested = []
        for field in fields:
            value = getattr(node, field.name)
            if attrs.has(type(value)) or (
                isinstance(value, tuple) and any(attrs.has(type(v)) for v in value)
            ):
                nested.append((field.name, value))
            else:
                scalars.append(f"{field.name}={value!r}")
        lines = [f"{pad}{type(node).__name__}({', '.join(scalars)})"]
        for name, value in nested:
            lines.append(f"{pad}  .{name}:")
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                lines.append(dump(v, indent + 2))
        return "\n".join(lines)
    return f"{pad}{node!r}"
