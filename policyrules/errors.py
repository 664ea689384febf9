"""Source spans, diagnostics and the exception hierarchy (a leaf module).

Every stage reports problems as :class:`Diagnostic` values that carry a :class:`Span`;
one renderer turns them into ``path:line:col: error[CODE]: message`` plus the offending
line with a caret, so syntax errors, compile errors and lint warnings all look alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

__all__ = [
    "Diagnostic",
    "PolicyCompileError",
    "PolicyError",
    "PolicySyntaxError",
    "PostError",
    "Span",
    "render_diagnostic",
]

MAX_ERRORS_SHOWN = 20


@attrs.frozen
class Span:
    """A region of a source file: offsets are the truth, line/column are 1-based."""

    path: str
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def at(cls, path: str, source: str, start: int, end: int | None = None) -> Span:
        """Build a span from offsets into *source* (line and column computed here)."""
        end = start if end is None else end
        line, column = _line_col(source, start)
        end_line, end_column = _line_col(source, end)
        return cls(path, start, end, line, column, end_line, end_column)


def _line_col(source: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset) + 1
    line_start = source.rfind("\n", 0, offset) + 1
    return line, offset - line_start + 1


@attrs.frozen
class Diagnostic:
    """One error or warning about a rule file, with a stable code."""

    severity: str  # "error" | "warning"
    code: str
    message: str
    span: Span | None = None
    source_line: str | None = None  # the text of the offending line, for the caret excerpt
    notes: tuple[str, ...] = ()

    def render(self, color: bool = False) -> str:
        """Render as ``path:line:col: severity[CODE]: message`` with a caret excerpt."""
        return render_diagnostic(self, color=color)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable form for ``--format json``."""
        span = self.span
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "path": span.path if span else None,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None,
            "notes": list(self.notes),
        }


def source_line_at(source: str, line: int) -> str:
    """The text of 1-based *line* of *source* (empty past the end)."""
    lines = source.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def render_diagnostic(diag: Diagnostic, color: bool = False) -> str:
    """The one renderer for every diagnostic, shared by exceptions and ``check``."""
    span = diag.span
    where = f"{span.path}:{span.line}:{span.column}: " if span else ""
    label = f"{diag.severity}[{diag.code}]"
    if color:
        label = ("\x1b[1;31m" if diag.severity == "error" else "\x1b[1;33m") + label + "\x1b[0m"
    out = [f"{where}{label}: {diag.message}"]
    if span is not None and diag.source_line is not None:
        raw = diag.source_line
        prefix = raw[: max(0, span.column - 1)].expandtabs()
        text = raw.expandtabs()
        if span.end_line == span.line and span.end_column > span.column:
            width = len(raw[span.column - 1 : span.end_column - 1].expandtabs())
        else:
            width = 1
        width = max(1, min(width, max(1, len(text) - len(prefix))))
        gutter = f"{span.line:>4} | "
        out.append(gutter + text)
        caret = "^" * width
        if color:
            caret = "\x1b[1;31m" + caret + "\x1b[0m"
        out.append(" " * (len(gutter) - 2) + "| " + " " * len(prefix) + caret)
    out.extend(f"  = note: {note}" for note in diag.notes)
    return "\n".join(out)


class PolicyError(Exception):
    """Base of everything policyrules raises on bad rules or bad input."""


class _RuleFileError(PolicyError):
    """An error located in a rule file; carries every diagnostic found, not just the first."""

    default_code = "E000"

    def __init__(self, diagnostics: Sequence[Diagnostic] | str, *, path: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        if isinstance(diagnostics, str):
            span = Span(path, 0, 0, line, column or 1, line, column or 1) if path and line else None
            diagnostics = [Diagnostic("error", self.default_code, diagnostics, span)]
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        span = first.span if first else None
        self.path: str | None = span.path if span else path
        self.line: int | None = span.line if span else line
        self.column: int | None = span.column if span else column
        self.code: str | None = first.code if first else None
        super().__init__(self._message())

    def _message(self) -> str:
        shown = [d.render() for d in self.diagnostics[:MAX_ERRORS_SHOWN]]
        rest = len(self.diagnostics) - len(shown)
        if rest > 0:
            shown.append(f"... and {rest} more")
        return "\n".join(shown)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.diagnostics,))


class PolicySyntaxError(_RuleFileError):
    """A rule file does not parse."""

    default_code = "E001"


class PolicyCompileError(_RuleFileError):
    """A rule file parses but is wrong: unknown name, bad regex, cycle, duplicate, ..."""

    default_code = "E100"


class PostError(PolicyError, ValueError):
    """A post is not a str or a mapping with a string ``text`` (or is otherwise unusable)."""
