"""Canonical printer for ``policyrules fmt``: :class:`nodes.Module` → policy source text.

The inverse of :mod:`syntax` up to spans: ``parse(format(m)) == m`` and formatting is
idempotent. Layout is fixed (2-space indent, one property per line, minimal parentheses,
strings re-escaped); comments are put back where they were: an own-line comment before the
line that followed it, a trailing comment after the line it trailed. Long or commented
term lists and conditions are broken over several lines.
"""

from __future__ import annotations

import bisect
import re
from datetime import UTC, datetime
from typing import Any

import attrs

from . import nodes

__all__ = ["INDENT", "WIDTH", "format_module", "format_source"]

INDENT = "  "
#: Lines longer than this make lists and top-level and/or chains break, one entry a line.
WIDTH = 100

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_WORD = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*|\d+)(?:-(?:[A-Za-z_][A-Za-z0-9_]*|\d+))*\Z")
_RESERVED = frozenset(
    ["policy", "terms", "pattern", "rule", "except", "file", "any", "all", "of", "count",
     "distinct", "near", "before", "has", "in", "not", "and", "or", "true", "false"]
)
_MATCH_FORMS = (nodes.AnyOf, nodes.AllOf, nodes.NOf, nodes.CountCmp, nodes.DistinctCmp,
                nodes.Near, nodes.Before, nodes.BareItem)


@attrs.define
class _Line:
    """One output line: *key* is the source offset its content starts at (None: synthetic)."""

    indent: int
    text: str
    key: int | None = None
    closer: bool = False
    statement: bool = False
    trailing: list[str] = attrs.field(factory=list)


# --------------------------------------------------------------------------- literals


def format_string(value: str) -> str:
    """A string literal with the language's escapes (and ``\\u{X}`` for invisible characters)."""
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{{{ord(ch):X}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_regex(pattern: str, flags: str = "") -> str:
    r"""A regex literal: ``/`` written as ``\/``, other escapes kept as they are."""
    out = ["/"]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append("\\/" if ch == "/" else "\\n" if ch == "\n" else ch)
        i += 1
    out.append("/" + flags)
    return "".join(out)


def format_datetime(value: datetime) -> str:
    """The shortest literal for a UTC datetime: a date when it is midnight."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.strftime("%Y-%m-%d")
    text = value.strftime("%Y-%m-%dT%H:%M")
    if value.second or value.microsecond:
        text += value.strftime(":%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def format_value(value: Any) -> str:
    """A right-hand value of a comparison or ``in`` list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    text = str(value)
    if _IDENT.match(text) and text not in _RESERVED:
        return text
    return format_string(text)


def format_data(value: Any) -> str:
    """A value inside an example post mapping."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = []
        for k, v in value.items():
            key = k if _IDENT.match(k) and k not in _RESERVED else format_string(k)
            pairs.append(f"{key}: {format_data(v)}")
        return "{ " + ", ".join(pairs) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_data(v) for v in value) + "]"
    if isinstance(value, str):
        return format_string(value)
    return format_value(value)


def format_item(item: Any) -> str:
    """An item: a name, a string, an inline regex or an inline list."""
    if isinstance(item, nodes.NameItem):
        return item.name
    if isinstance(item, nodes.StringItem):
        return format_string(item.value)
    if isinstance(item, nodes.RegexItem):
        return format_regex(item.pattern, item.flags)
    if isinstance(item, nodes.InlineListItem):
        return "[" + ", ".join(format_string(s.value) for s in item.items) + "]"
    if isinstance(item, (nodes.TermItem, nodes.PatternItem)):
        return item.name  # resolved items keep their source text as their name (explain trees)
    raise TypeError(f"not an item: {type(item).__name__}")


def _items(items: tuple[Any, ...]) -> str:
    return ", ".join(format_item(i) for i in items)


# --------------------------------------------------------------------------- conditions


def _precedence(cond: Any) -> int:
    if isinstance(cond, nodes.Or):
        return 1
    if isinstance(cond, nodes.And):
        return 2
    if isinstance(cond, nodes.Not):
        return 3
    return 4


def _operand(cond: Any, minimum: int) -> str:
    text = format_condition(cond)
    return f"({text})" if _precedence(cond) < minimum else text


def format_condition(cond: Any) -> str:
    """A condition on one line, with the fewest parentheses precedence allows.

    One exception, for the reader: an ``and`` inside an ``or`` keeps its parentheses.
    """
    if isinstance(cond, nodes.Or):
        return " or ".join(_operand(c, 3) for c in cond.operands)
    if isinstance(cond, nodes.And):
        return " and ".join(_operand(c, 3) for c in cond.operands)
    if isinstance(cond, nodes.Not):
        return "not " + _operand(cond.operand, 3)
    if isinstance(cond, nodes.AnyOf):
        return f"any({_items(cond.items)})"
    if isinstance(cond, nodes.AllOf):
        return f"all({_items(cond.items)})"
    if isinstance(cond, nodes.NOf):
        return f"{cond.n} of ({_items(cond.items)})"
    if isinstance(cond, nodes.CountCmp):
        return f"count({_items(cond.items)}) {cond.op} {cond.n}"
    if isinstance(cond, nodes.DistinctCmp):
        return f"distinct({_items(cond.items)}) {cond.op} {cond.n}"
    if isinstance(cond, nodes.Near):
        return f"near({format_item(cond.left)}, {format_item(cond.right)}, {cond.n})"
    if isinstance(cond, nodes.Before):
        return f"before({format_item(cond.left)}, {format_item(cond.right)}, {cond.n})"
    if isinstance(cond, nodes.BareItem):
        return format_item(cond.item)
    if isinstance(cond, nodes.FieldHas):
        inner = cond.condition
        rhs = format_condition(inner) if isinstance(inner, _MATCH_FORMS) else f"({format_condition(inner)})"
        return f"{cond.field.dotted} has {rhs}"
    if isinstance(cond, nodes.FieldCmp):
        return f"{cond.field.dotted} {cond.op} {format_value(cond.value)}"
    if isinstance(cond, nodes.FieldIn):
        return f"{cond.field.dotted} in [{', '.join(format_value(v) for v in cond.values)}]"
    if isinstance(cond, nodes.FieldTruthy):
        return cond.field.dotted
    if isinstance(cond, nodes.RuleRef):
        return f"rule({cond.name})"
    raise TypeError(f"not a condition: {type(cond).__name__}")


# --------------------------------------------------------------------------- printer


class _Printer:
    """Builds :class:`_Line` values for a module, then merges its comments back in."""

    def __init__(self, module: nodes.Module) -> None:
        self.module = module
        self.lines: list[_Line] = []
        self.comment_starts = sorted(
            c.span.start for c in module.comments if c.span is not None
        )

    # ---- helpers

    def _has_comment(self, node: Any) -> bool:
        span = getattr(node, "span", None)
        if span is None:
            return False
        i = bisect.bisect_left(self.comment_starts, span.start)
        return i < len(self.comment_starts) and self.comment_starts[i] < span.end

    def emit(self, indent: int, text: str, key: int | None, *, closer: bool = False,
             statement: bool = False) -> _Line:
        line = _Line(indent, text, key, closer, statement)
        self.lines.append(line)
        return line

    @staticmethod
    def _start(node: Any) -> int | None:
        span = getattr(node, "span", None)
        return span.start if span is not None else None

    @staticmethod
    def _close(node: Any) -> int | None:
        span = getattr(node, "span", None)
        return span.end - 1 if span is not None else None

    # ---- statements

    def module_lines(self) -> list[_Line]:
        prev: Any = None
        for stmt in self.module.statements:
            if prev is not None and not self._adjacent(prev, stmt):
                self.lines.append(_Line(0, "", None))
            self.statement(stmt)
            prev = stmt
        return self.lines

    def _adjacent(self, prev: Any, stmt: Any) -> bool:
        """Consecutive one-line terms/patterns written without a blank line stay together."""
        one_line = (nodes.TermsDecl, nodes.PatternDecl)
        if not (isinstance(prev, one_line) and isinstance(stmt, one_line)):
            return False
        if prev.span is None or stmt.span is None or not self.module.source:
            return False
        between = self.module.source[prev.span.end : stmt.span.start]
        return "\n\n" not in re.sub(r"[ \t\r\f]+", "", between) and not self.lines[-1].closer

    def statement(self, stmt: Any) -> None:
        if isinstance(stmt, nodes.PolicyDecl):
            self.block(f"policy {stmt.name} {{", stmt, stmt.properties, self.policy_property)
        elif isinstance(stmt, nodes.RuleDecl):
            self.block(f"rule {stmt.name} {{", stmt, stmt.properties, self.rule_property)
        elif isinstance(stmt, nodes.TermsDecl):
            self.terms(stmt)
        elif isinstance(stmt, nodes.PatternDecl):
            self.emit(0, f"pattern {stmt.name}{self.options(stmt.options)} = "
                      f"{format_regex(stmt.regex.pattern, stmt.regex.flags)}",
                      self._start(stmt), statement=True)
        else:
            raise TypeError(f"not a statement: {type(stmt).__name__}")

    def block(self, header: str, stmt: Any, props: tuple[Any, ...], each: Any) -> None:
        self.emit(0, header, self._start(stmt), statement=True)
        for prop in props:
            each(prop)
        self.emit(0, "}", self._close(stmt), closer=True)

    @staticmethod
    def options(options: tuple[nodes.Option, ...]) -> str:
        if not options:
            return ""
        return " (" + ", ".join(f"{o.name}: {o.value}" for o in options) + ")"

    def terms(self, stmt: nodes.TermsDecl) -> None:
        head = f"terms {stmt.name}{self.options(stmt.options)} = "
        parts = self._parts(stmt.parts)
        one_line = head + " + ".join(p[0] for p in parts)
        if stmt.excepts:
            excepts = self._parts(stmt.excepts)
            one_line += " except " + " + ".join(p[0] for p in excepts)
        else:
            excepts = []
        if len(one_line) <= WIDTH and not self._has_comment(stmt):
            self.emit(0, one_line, self._start(stmt), statement=True)
            return
        # Broken layout: inline lists one term a line.
        line = self.emit(0, head, self._start(stmt), statement=True)
        for group, sep in ((parts, ""), (excepts, " except ")):
            for i, (text, node) in enumerate(group):
                glue = sep if i == 0 else " + "
                breaks = len(line.text + glue + text) > WIDTH or self._has_comment(node)
                if isinstance(node, nodes.TermListLit) and node.items and breaks:
                    line.text += glue + "["
                    for s in node.items:
                        self.emit(1, format_string(s.value) + ",", self._start(s))
                    line = self.emit(0, "]", self._close(node), closer=True)
                else:
                    line.text += glue + text

    @staticmethod
    def _parts(parts: tuple[Any, ...]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for p in parts:
            if isinstance(p, nodes.TermListLit):
                out.append(("[" + ", ".join(format_string(s.value) for s in p.items) + "]", p))
            elif isinstance(p, nodes.FileRef):
                out.append((f"file({format_string(p.path)})", p))
            elif isinstance(p, nodes.NameRef):
                out.append((p.name, p))
            else:
                raise TypeError(f"not a term part: {type(p).__name__}")
        return out

    # ---- properties

    def policy_property(self, prop: nodes.Property) -> None:
        self.rule_property(prop)

    def rule_property(self, prop: nodes.Property) -> None:
        name, value = prop.name, prop.value
        key = self._start(prop)
        if name in ("when", "unless"):
            self.condition_property(prop)
        elif name == "examples":
            self.emit(1, "examples {", key)
            for example in value:
                self.emit(2, f"{example.kind}: {format_data(example.post)}", self._start(example))
            self.emit(1, "}", self._close(prop), closer=True)
        elif isinstance(value, nodes.StrLit):
            self.emit(1, f"{name}: {format_string(value.value)}", key)
        elif isinstance(value, nodes.ActiveWindow):
            start = format_datetime(value.start) if value.start is not None else ""
            end = format_datetime(value.end) if value.end is not None else ""
            self.emit(1, f"{name}: {start} .. {end}".replace(":  ..", ": ..").rstrip(), key)
        elif isinstance(value, tuple):
            words = [w if _WORD.match(w) else format_string(w) for w in value]
            self.emit(1, f"{name}: {', '.join(words)}", key)
        else:
            self.emit(1, f"{name}: {value}", key)

    def condition_property(self, prop: nodes.Property) -> None:
        cond = prop.value
        head = f"{prop.name}: "
        text = format_condition(cond)
        key = self._start(prop)
        if isinstance(cond, (nodes.Or, nodes.And)) and (
            len(INDENT) + len(head) + len(text) > WIDTH or self._has_comment(cond)
        ):
            word = " or " if isinstance(cond, nodes.Or) else " and "
            minimum = 3  # an `and` inside an `or` keeps its parentheses (see format_condition)
            for i, operand in enumerate(cond.operands):
                piece = _operand(operand, minimum)
                if i == 0:
                    self.emit(1, head + piece, key)
                else:
                    self.emit(2, word.strip() + " " + piece, self._start(operand))
            return
        self.emit(1, head + text, key)


# --------------------------------------------------------------------------- comments


def _merge_comments(module: nodes.Module, lines: list[_Line]) -> list[str]:
    """Put each comment back before the line that followed it, or after the line it trailed."""
    source = module.source
    comments = sorted((c for c in module.comments if c.span is not None),
                      key=lambda c: c.span.start if c.span else 0)
    keyed = [(i, line.key) for i, line in enumerate(lines) if line.key is not None]
    before: dict[int, list[tuple[str, bool, bool]]] = {}
    tail: list[tuple[str, bool, bool]] = []
    for comment in comments:
        assert comment.span is not None
        start = comment.span.start
        line_start = source.rfind("\n", 0, start) + 1
        trailing = bool(source) and source[line_start:start].strip() != ""
        blank_before = bool(source) and _blank_line_before(source, line_start)
        eol = source.find("\n", start)
        blank_after = bool(source) and eol >= 0 and _blank_line_before(
            source, source.find("\n", eol + 1) + 1 if source.find("\n", eol + 1) >= 0 else len(source) + 1)
        if trailing:
            target = None
            for i, key in keyed:
                if key < start:
                    target = i
                else:
                    break
            if target is not None and not lines[target].trailing:
                lines[target].trailing.append(comment.text)
                continue
        nxt = next((i for i, key in keyed if key > start), None)
        entry = (comment.text, blank_before, blank_after)
        if nxt is None:
            tail.append(entry)
        else:
            before.setdefault(nxt, []).append(entry)
    out: list[str] = []

    def put_comments(entries: list[tuple[str, bool, bool]], indent: int) -> None:
        for text, blank, blank_after in entries:
            if blank and indent == 0 and out and out[-1] != "":
                out.append("")
            out.append(INDENT * indent + text)
            if blank_after and indent == 0:
                out.append("")

    for i, line in enumerate(lines):
        if i in before:
            indent = line.indent + 1 if line.closer else line.indent
            put_comments(before[i], indent)
        text = INDENT * line.indent + line.text if line.text else ""
        if line.trailing:
            text += "  " + line.trailing[0]
        out.append(text)
    put_comments(tail, 0)
    return out


def _blank_line_before(source: str, line_start: int) -> bool:
    if line_start == 0:
        return False
    prev_start = source.rfind("\n", 0, line_start - 1) + 1
    return source[prev_start : line_start - 1].strip() == ""


# --------------------------------------------------------------------------- entry points


def format_module(module: nodes.Module) -> str:
    """The canonical text of *module*, comments included, ending with one newline."""
    lines = _Printer(module).module_lines()
    out = _merge_comments(module, lines)
    while out and out[0] == "":
        out.pop(0)
    text = "\n".join(line.rstrip() for line in out).rstrip("\n")
    return text + "\n" if text else ""


def format_source(source: str, path: str = "<string>") -> str:
    """Parse *source* and return its canonical text (raises :class:`PolicySyntaxError`)."""
    from .syntax import parse_source

    return format_module(parse_source(source, path))
