"""Stage 1: policy source text → :class:`nodes.Module` (or :class:`PolicySyntaxError`).

A lark LALR(1) parser (built once per process) with the contextual lexer reads
``grammar/policy.lark``; a transformer turns its tree into :mod:`nodes` values with spans.
Errors are collected, not raised one by one: ``on_error`` recovery repairs or skips the
offending input so one run reports every syntax error of a file (at most one per line),
each with a friendly message picked from :data:`SYNTAX_ERRORS`. No lark type or exception
ever leaves this module.

Choices where language.md is silent: strings cannot span lines (write ``\n``); a keyword
is a keyword only as a whole word, and property names only where a property may start, so
``terms severity = ...`` and ``when: severity`` work; lists and item lists allow a trailing
comma; ``examples`` may be written ``examples {`` or ``examples: {``; in example mappings
commas are optional and a bare identifier is a string; a date or datetime without an offset
is UTC; ``active:`` may leave one side open (``.. END`` or ``START ..``); ``(a or b) or c``
is flattened like ``a or b or c``.
"""

from __future__ import annotations

import bisect
import contextvars
import difflib
import importlib.resources
import math
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple, NoReturn, TypeVar

import lark
from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.visitors import Transformer_NonRecursive, v_args

from . import nodes
from .errors import Diagnostic, PolicySyntaxError, Span

__all__ = [
    "MAX_ERRORS",
    "MAX_NESTING",
    "POLICY_PROPERTIES",
    "RESERVED_WORDS",
    "RULE_PROPERTIES",
    "SYNTAX_ERRORS",
    "SyntaxErrorExample",
    "parse_source",
    "unescape_regex",
    "unescape_string",
]

#: Words that can never name a list, pattern, rule or policy (language.md §1).
RESERVED_WORDS = frozenset(
    ["policy", "terms", "pattern", "rule", "except", "file", "any", "all", "of", "count", "distinct", "near", "before", "has", "in", "not", "and", "or", "true", "false"]
)
RULE_PROPERTIES = (
    "policy", "severity", "action", "lang", "tags", "escalate", "mode", "active", "when",
    "unless", "reason", "examples",
)
POLICY_PROPERTIES = ("title", "url", "description", "severity", "action")
REGEX_FLAGS = "ismx"
#: Stop collecting after this many errors: the rest is usually fallout of the first ones.
MAX_ERRORS = 50
#: Deeper conditions are refused: later stages walk them recursively.
MAX_NESTING = 100


class SyntaxErrorExample(NamedTuple):
    """One friendly message, with malformed snippets that must produce it.

    The parser state (and offending token type) reached by each snippet identifies the
    message, as lark's ``match_examples`` does; with *any_token* the state alone decides.
    The table doubles as test data: every example must yield its code and message.
    """

    code: str
    message: str
    examples: tuple[str, ...]
    any_token: bool = False


def _props(template: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(template.format(p=p) for p in names)


_IDENT_RULE_PROPS = ("policy", "severity", "action", "mode")
_STR_RULE_PROPS = ("escalate", "reason")
_COLON_RULE_PROPS = tuple(p for p in RULE_PROPERTIES if p != "examples")

#: Friendly messages for syntax errors; ``{token}`` is the offending input, ``{prev}`` the
#: word before it. Every message says how to fix the problem.
SYNTAX_ERRORS: tuple[SyntaxErrorExample, ...] = (
    SyntaxErrorExample(
        "E010", "missing ':' after the property name; write it as `name: value`",
        _props("rule r {{ {p} x }}", _COLON_RULE_PROPS)
        + _props('policy p {{ {p} x }}', POLICY_PROPERTIES),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E011", "properties use ':', not '='; write it as `name: value`",
        _props("rule r {{ {p} = x }}", _COLON_RULE_PROPS)
        + _props('policy p {{ {p} = x }}', POLICY_PROPERTIES),
    ),
    SyntaxErrorExample(
        "E016", "this property takes a bare name, not a quoted string; write e.g. `severity: high`",
        _props('rule r {{ {p}: "x" }}', _IDENT_RULE_PROPS)
        + _props('policy p {{ {p}: "x" }}', ("severity", "action")),
    ),
    SyntaxErrorExample(
        "E017", 'this property takes a quoted string; write e.g. `title: "Violent speech"`',
        _props("rule r {{ {p}: x }}", _STR_RULE_PROPS)
        + _props("policy p {{ {p}: x }}", ("title", "url", "description")),
    ),
    SyntaxErrorExample(
        "E018", "expected a condition here, such as `any(list_name)` or `post.lang == en`",
        ("rule r { when: }", "rule r { unless: }", "rule r { when: any(a) and }",
         "rule r { when: any(a) or }", "rule r { when: not }", "rule r { when: ( }"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E019", "compare a field with '==' (or !=, <, <=, >, >=), not '='",
        ("rule r { when: post.lang = en }",),
    ),
    SyntaxErrorExample(
        "E020", "a list of items cannot be empty; name at least one, e.g. `any(list_name)`",
        ("rule r { when: any() }", "rule r { when: all() }", "rule r { when: count() > 1 }",
         "rule r { when: distinct() > 1 }", "rule r { when: 2 of () }"),
    ),
    SyntaxErrorExample(
        "E021", "near() and before() take two items and a distance in words: `near(A, B, 3)`",
        ("rule r { when: near(a, b) }", "rule r { when: before(a, b) }",
         "rule r { when: near(a) }", "rule r { when: before(a) }"),
    ),
    SyntaxErrorExample(
        "E021", "the distance must be a whole number of words: `near(A, B, 3)`",
        ("rule r { when: near(a, b, c) }", "rule r { when: before(a, b, c) }"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E022", "an examples block holds `match: ...` and `no_match: ...` entries",
        ('rule r { examples { x: "a" } }', 'rule r { examples { match: "a" x: "b" } }',
         'rule r { examples { match: { text: "a" } x: "b" } }'),
    ),
    SyntaxErrorExample(
        "E023", "separate list entries with ','",
        ('terms t = ["a" "b"]', 'terms t = ["a", "b" "c"]', 'rule r { when: any(a b) }',
         'rule r { when: any(a, b c) }', 'rule r { lang: en es }',
         'rule r { lang: en, es fr }', 'rule r { when: post.lang in [en es] }',
         'rule r { when: post.lang in [en, es fr] }'),
    ),
    SyntaxErrorExample(
        "E024", "'{prev}' is not a condition function; use any(), all(), N of (), count(), "
        "distinct(), near(), before() or rule()",
        ("rule r { when: foo(x) }",),
    ),
    SyntaxErrorExample(
        "E025", "write `N of (A, B, ...)` with the items in parentheses",
        ("rule r { when: 2 of a }", "rule r { when: 2 a }"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E026", "a field cannot be an item; match inside a field with `post.bio has any(...)`",
        ("rule r { when: any(post.bio) }", "rule r { when: any(a, post.bio) }"),
    ),
    SyntaxErrorExample(
        "E027", "`in` takes a list in square brackets: `post.lang in [en, es]`",
        ("rule r { when: post.lang in (en) }", "rule r { when: post.lang in en }"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E028", "expected '=' after the name: write `terms NAME = [\"a\", \"b\"]` or "
        "`pattern NAME = /regex/`",
        ('terms t ["a"]', 'terms t: ["a"]', "pattern p /x/", "pattern p: /x/",
         'terms t (match: word) ["a"]', "pattern p (case: sensitive) /x/"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E029", 'a terms statement takes `["a", "b"]`, `file("path")` or list names '
        "joined with '+'",
        ("terms t = ", "terms t = /x/", "terms t = a +", 'terms t = ["a"] except'),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E030", "a pattern statement takes a regex: `pattern NAME = /regex/flags`",
        ('pattern p = "x"', "pattern p = x"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E031", "expected `active: START .. END` with dates like 2026-11-20 or "
        "2026-11-20T10:00Z",
        ("rule r { active: 2026 }", "rule r { active: 2026-11-20 }",
         'rule r { active: "2026-11-20" .. 2026-11-21 }', "rule r { active: .. }"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E032", "an example is a string or a post mapping: `match: \"text\"` or "
        "`match: { text: \"...\", lang: \"es\" }`",
        ("rule r { examples { match: x } }", "rule r { examples { no_match: 3 } }"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E033", "a statement starts with `policy`, `terms`, `pattern` or `rule`",
        ("x", "when: x", "rule r { } x", "terms t = a x", "pattern p = /x/ x",
         "policy p { } x"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E034", "expected a name here: letters, digits and '_', not starting with a digit",
        ("rule { }", "policy { }", "terms = a", "pattern = /x/", "rule 1 { }",
         "rule r { when: rule(1) }"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E035", "options look like `(match: substring, case: sensitive)`",
        ("terms t (match) = a", "terms t (match: ) = a", "terms t (match: word case: sensitive) = a",
         "terms t ( ) = a"),
        any_token=True,
    ),
    SyntaxErrorExample(
        "E036", "a comparison needs a value on the right, e.g. `author.followers > 10`",
        ("rule r { when: post.x > }", "rule r { when: count(a) > }",
         "rule r { when: distinct(a) > }", "rule r { when: count(a) }",
         "rule r { when: distinct(a) }"),
        any_token=True,
    ),
)

# User-facing names of terminals, for "expected one of ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "REGEX": "a regex /.../",
    "INT": "a whole number",
    "NUMBER": "a number",
    "DATETIME": "a date",
    "DOTTED": "a field such as post.lang",
    "CMP_OP": "a comparison (== != < <= > >=)",
    "$END": "the end of the file",
}
_CLOSERS = ("RPAR", "RSQB", "RBRACE")
_STATEMENT_KEYWORDS = frozenset({"POLICY", "TERMS", "PATTERN", "RULE"})
_PROPERTY_KEYWORDS = frozenset(p.upper() for p in (*RULE_PROPERTIES, *POLICY_PROPERTIES))
# Tokens that start (or close) a statement, property or example: recovery resumes at them.
_ANCHORS = _STATEMENT_KEYWORDS | _PROPERTY_KEYWORDS | {"MATCH", "NO_MATCH", "RBRACE"}
_FILLERS = (("NAME", "x"), ("STRING", '""'), ("INT", "1"), ("REGEX", "/x/"))

_GRAMMAR_LOCK = threading.Lock()
_PARSER: lark.Lark | None = None
_EXAMPLE_INDEX: dict[tuple[Any, str | None], SyntaxErrorExample] | None = None

_STRING_ESCAPE = re.compile(r"\\(u\{([0-9A-Fa-f]{1,6})\}|.)", re.DOTALL)
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?)?$"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD_ROOTS = ("post", "author")


# --------------------------------------------------------------------------- literals


def unescape_string(raw: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Decode a string literal body; returns the value and (start, end, message) problems.

    Only ``\\" \\\\ \\n \\t \\u{XXXX}`` are escapes (language.md §1).
    """
    problems: list[tuple[int, int, str]] = []
    out: list[str] = []
    pos = 0
    for m in _STRING_ESCAPE.finditer(raw):
        out.append(raw[pos : m.start()])
        pos = m.end()
        ch = m.group(1)
        if m.group(2) is not None:
            code = int(m.group(2), 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                problems.append((m.start(), m.end(), f"'\\u{{{m.group(2)}}}' is not a Unicode "
                                 "scalar value; use a code point up to 10FFFF that is not a surrogate"))
                continue
            out.append(chr(code))
        elif ch == '"':
            out.append('"')
        elif ch == "\\":
            out.append("\\")
        elif ch == "n":
            out.append("\n")
        elif ch == "t":
            out.append("\t")
        else:
            shown = "\\" + ch if ch.isprintable() else f"\\ followed by U+{ord(ch):04X}"
            hint = "write a code point as \\u{XXXX}" if ch == "u" else "write a backslash as \\\\"
            problems.append((m.start(), m.end(), f"unknown escape '{shown}' in a string; the "
                             f"escapes are \\\" \\\\ \\n \\t \\u{{XXXX}} ({hint})"))
    out.append(raw[pos:])
    return "".join(out), problems


def unescape_regex(raw: str) -> str:
    r"""Decode a regex literal body: ``\/`` becomes ``/``, other escapes pass through."""
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            out.append("/" if nxt == "/" else "\\" + nxt)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _parse_datetime(text: str) -> datetime | str:
    """A DATETIME token as an aware UTC datetime, or an error message."""
    m = _DATETIME.match(text)
    if m is None:
        return f"'{text}' is not a date; write 2026-11-20, 2026-11-20T10:00Z or 2026-11-20T10:00+02:00"
    year, month, day, hour, minute, second, frac, _z, sign, oh, om = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        offset = timedelta(0)
        if sign:
            if int(oh) > 23 or int(om) > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
        value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                         int(second or 0), micro, tzinfo=timezone(offset))
        return value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        return f"'{text}' is not a valid date or time ({exc}); check the month, day, hour and offset"


# --------------------------------------------------------------------------- parse context


class _Context:
    """Per-parse state shared by the lexer callbacks, the recovery and the transformer."""

    def __init__(self, source: str, path: str) -> None:
        self.source = source
        self.path = path
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.diagnostics: list[Diagnostic] = []
        self.error_lines: set[int] = set()
        self.comments: list[nodes.Comment] = []
        self.drop_end: int | None = None  # end of the last input skipped by recovery
        self.skipped = ""  # the text that recovery skipped last
        self.aborted = False
        self.recovered = False  # on_error ran: the tree (if any) holds repairs

    def span(self, start: int, end: int) -> Span:
        """A span from offsets (binary search over line starts; Span.at is O(n))."""
        n = len(self.source)
        start = max(0, min(start, n))
        end = max(start, min(end, n))
        line = bisect.bisect_right(self.line_starts, start)
        end_line = bisect.bisect_right(self.line_starts, end)
        return Span(self.path, start, end, line, start - self.line_starts[line - 1] + 1,
                    end_line, end - self.line_starts[end_line - 1] + 1)

    def line_text(self, line: int) -> str:
        start = self.line_starts[line - 1]
        end = self.source.find("\n", start)
        return self.source[start : (len(self.source) if end < 0 else end)].rstrip("\r")

    def error(self, code: str, message: str, start: int, end: int | None = None,
              notes: tuple[str, ...] = ()) -> None:
        """Record an error unless its line already has one."""
        span = self.span(start, start + 1 if end is None else end)
        if span.line in self.error_lines:
            return
        self.error_lines.add(span.line)
        self.diagnostics.append(Diagnostic("error", code, message, span,
                                           source_line=self.line_text(span.line), notes=notes))
        if len(self.diagnostics) >= MAX_ERRORS:
            self.aborted = True


_CONTEXT: contextvars.ContextVar[_Context] = contextvars.ContextVar("policyrules_syntax")


def _on_comment(tok: Token) -> Token:
    ctx = _CONTEXT.get()
    start = tok.start_pos or 0
    text = str(tok).rstrip()
    ctx.comments.append(nodes.Comment(text, span=ctx.span(start, start + len(text))))
    return tok


def _on_string(tok: Token) -> Token:
    ctx = _CONTEXT.get()
    _, problems = unescape_string(str(tok)[1:-1])
    base = (tok.start_pos or 0) + 1
    for start, end, message in problems:
        ctx.error("E004", message, base + start, base + end)
    return tok


def _on_regex(tok: Token) -> Token:
    ctx = _CONTEXT.get()
    text = str(tok)
    flags = text[text.rindex("/") + 1 :]
    bad = sorted({f for f in flags if f not in REGEX_FLAGS})
    start = (tok.start_pos or 0) + len(text) - len(flags)
    if bad:
        ctx.error("E006", f"unknown regex flag{'s' if len(bad) > 1 else ''} "
                  f"{', '.join(repr(f) for f in bad)}; the flags are i, s, m and x",
                  start, start + len(flags))
    elif len(set(flags)) != len(flags):
        ctx.error("E006", "a regex flag is repeated; write each of i, s, m, x at most once",
                  start, start + len(flags))
    return tok


def _on_datetime(tok: Token) -> Token:
    value = _parse_datetime(str(tok))
    if isinstance(value, str):
        _CONTEXT.get().error("E008", value, tok.start_pos or 0, tok.end_pos)
    return tok


def _on_number(tok: Token) -> Token:
    text = str(tok)
    if not re.fullmatch(r"-?\d+", text) and not math.isfinite(float(text)):
        _CONTEXT.get().error("E038", f"the number {text} is too large; write a smaller one",
                             tok.start_pos or 0, tok.end_pos)
    return tok


class _AlwaysName:
    """A no-op post-lexer whose only job is to make NAME acceptable in every lexer state.

    Then a keyword is a keyword only when the whole word spells it (lark retypes a NAME
    that equals a keyword the state accepts), and a misplaced word comes out as one NAME.
    """

    always_accept = ("NAME",)

    def process(self, stream: Any) -> Any:
        return stream


def _get_parser() -> lark.Lark:
    """The LALR parser, built once per process."""
    global _PARSER
    if _PARSER is None:
        with _GRAMMAR_LOCK:
            if _PARSER is None:
                text = (importlib.resources.files("policyrules") / "grammar" / "policy.lark").read_text(
                    encoding="utf-8")
                _PARSER = lark.Lark(
                    text,
                    parser="lalr",
                    lexer="contextual",
                    propagate_positions=True,
                    maybe_placeholders=False,
                    cache=True,
                    postlex=_AlwaysName(),
                    lexer_callbacks={
                        "COMMENT": _on_comment,
                        "STRING": _on_string,
                        "REGEX": _on_regex,
                        "DATETIME": _on_datetime,
                        "NUMBER": _on_number,
                    },
                )
    return _PARSER


# --------------------------------------------------------------------------- error messages


def _terminal_name(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    for term in _get_parser().terminals:
        if term.name == name and term.pattern.type == "str":
            return f"'{term.pattern.value}'"
    return name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    text = str(tok)
    short = text if len(text) <= 30 else text[:27] + "..."
    if tok.type == "NAME":
        return f"name '{short}'"
    if tok.type in ("STRING", "REGEX", "NUMBER", "INT", "DATETIME", "DOTTED"):
        kind = {"STRING": "string", "REGEX": "regex", "NUMBER": "number", "INT": "number",
                "DATETIME": "date", "DOTTED": "field"}[tok.type]
        return f"{kind} {short}"
    return f"'{short}'"


_KEYWORD_TYPES: dict[str, str] = {}


def _keyword_token(tok: Token) -> Token:
    """A NAME that spells a keyword, retyped as that keyword (recovery anchors on them).

    NAME is lexed in every state, so a keyword the state cannot accept arrives as a NAME.
    """
    if tok.type != "NAME":
        return tok
    if not _KEYWORD_TYPES:
        for term in _get_parser().terminals:
            if term.pattern.type == "str" and _IDENT.fullmatch(term.pattern.value):
                _KEYWORD_TYPES[term.pattern.value] = term.name
    kind = _KEYWORD_TYPES.get(str(tok))
    return Token.new_borrow_pos(kind, str(tok), tok) if kind else tok


def _state_of(e: UnexpectedInput) -> Any:
    ip = getattr(e, "interactive_parser", None)
    return ip.parser_state.position if ip is not None else None


def _example_index() -> dict[tuple[Any, str | None], SyntaxErrorExample]:
    """(parser state, token type) → message, computed once from :data:`SYNTAX_ERRORS`.

    The same matching lark's ``match_examples`` does, precomputed so that reporting many
    errors stays cheap.
    """
    global _EXAMPLE_INDEX
    if _EXAMPLE_INDEX is None:
        index: dict[tuple[Any, str | None], SyntaxErrorExample] = {}
        parser = _get_parser()
        for entry in SYNTAX_ERRORS:
            for example in entry.examples:
                token = _CONTEXT.set(_Context(example, "<example>"))
                try:
                    parser.parse(example)
                except UnexpectedInput as e:
                    key = (_state_of(e), _error_kind(e))
                    index.setdefault(key, entry)
                    if entry.any_token:
                        index.setdefault((key[0], None), entry)
                finally:
                    _CONTEXT.reset(token)
        _EXAMPLE_INDEX = index
    return _EXAMPLE_INDEX


def _error_kind(e: UnexpectedInput) -> str:
    """The token type of an unexpected token, or ``CHAR:x`` for an unexpected character."""
    if isinstance(e, UnexpectedCharacters):
        return "CHAR:" + (e.char or "")
    tok = getattr(e, "token", None)
    return str(tok.type) if tok is not None else "?"


def _fill(message: str, token: str, prev: str) -> str:
    return message.replace("{token}", token).replace("{prev}", prev)


def _previous_word(source: str, pos: int) -> str:
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", source[:pos])
    return m.group(1) if m else ""


def _accepts(e: UnexpectedInput) -> set[str]:
    ip = getattr(e, "interactive_parser", None)
    if ip is None:
        return set()
    try:
        return set(ip.accepts())
    except Exception:  # a broken recovery state must not turn into a crash
        return set()


def _classify_token_error(ctx: _Context, e: UnexpectedToken, accepts: set[str]) -> tuple[str, str]:
    """The (code, message) for an unexpected token: example table, then heuristics."""
    tok = e.token
    state = _state_of(e)
    index = _example_index()
    keyword = _keyword_token(tok)
    closer = next((c for c in _CLOSERS if c in accepts), None)
    entry = index.get((state, tok.type)) or index.get((state, None))
    if closer is not None and (keyword.type in _STATEMENT_KEYWORDS or tok.type == "$END"):
        entry = None  # a block left open: say so rather than what the table guesses
    if entry is not None:
        return entry.code, _fill(entry.message, _describe_token(tok),
                                 _previous_word(ctx.source, tok.start_pos or 0))
    tok = keyword
    text = str(tok)
    wordlike = tok.type not in _STATEMENT_KEYWORDS and (
        tok.type in ("NAME", "DOTTED") or (tok.type.isalpha() and text.isidentifier()))
    if wordlike and ("WHEN" in accepts or "TITLE" in accepts):
        kind, known = ("rule", RULE_PROPERTIES) if "WHEN" in accepts else ("policy", POLICY_PROPERTIES)
        guess = difflib.get_close_matches(text, known, n=1, cutoff=0.6)
        hint = f"did you mean '{guess[0]}'?" if guess else f"a {kind} takes {', '.join(known)}"
        code = "E012" if kind == "rule" else "E013"
        return code, f"unknown {kind} property '{text}'; {hint}"
    after_property = tok.type == "COLON" and _previous_word(
        ctx.source, tok.start_pos or 0) in (*RULE_PROPERTIES, *POLICY_PROPERTIES)
    if closer is not None and (tok.type in _ANCHORS or tok.type in ("$END", "RPAR", "RSQB")
                               or after_property):
        char = {"RPAR": ")", "RSQB": "]", "RBRACE": "}"}[closer]
        if tok.type == "$END":
            where = "the end of the file"
        elif after_property:
            where = f"'{_previous_word(ctx.source, tok.start_pos or 0)}:'"
        else:
            where = _describe_token(tok)
        return "E014", f"missing '{char}' before {where}; close what was opened before it"
    if accepts >= _STATEMENT_KEYWORDS:
        return "E033", "a statement starts with `policy`, `terms`, `pattern` or `rule`"
    expected = sorted({_terminal_name(a) for a in accepts})
    if not expected:
        return "E001", f"unexpected {_describe_token(tok)}; remove it or check the statement above"
    listed = ", ".join(expected[:12]) + (", ..." if len(expected) > 12 else "")
    return "E001", f"unexpected {_describe_token(tok)}; expected {'one of ' if len(expected) > 1 else ''}{listed}"


def _classify_char_error(ctx: _Context, e: UnexpectedCharacters) -> tuple[str, str, int]:
    """The (code, message, end offset) for input no terminal matches."""
    pos = e.pos_in_stream or 0
    ch = ctx.source[pos] if pos < len(ctx.source) else ""
    eol = ctx.source.find("\n", pos)
    eol = len(ctx.source) if eol < 0 else eol
    if ch == '"':
        return ("E003", "unterminated string: add the closing '\"' on the same line (strings "
                "cannot span lines; write \\n for a line break)", eol)
    if ch == "/":
        return ("E005", "unterminated regex: add the closing '/' on the same line (write \\/ "
                "for a slash inside the regex)", eol)
    if ch and ch in "'\u2018\u2019\u201c\u201d":
        return "E002", "strings use straight double quotes: \"like this\"", pos + 1
    shown = repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}" if ch else "?"
    state = _state_of(e)
    index = _example_index()
    entry = index.get((state, _error_kind(e))) or index.get((state, None))
    if entry is not None:
        return entry.code, _fill(entry.message, shown, _previous_word(ctx.source, pos)), pos + 1
    return "E002", f"unexpected character {shown}; remove it, or put text inside a string", pos + 1


# --------------------------------------------------------------------------- recovery


def _only_trivia(text: str) -> bool:
    return re.fullmatch(r"(?:[ \t\f\r\n\ufeff]|#[^\n]*)*", text) is not None


def _try_feed(ip: Any, prefix: list[str], tok: Token) -> bool:
    """Whether feeding synthetic *prefix* tokens lets *tok* through (on a copy)."""
    trial = ip.copy(deepcopy_values=False)
    try:
        for t in prefix:
            trial.feed_token(Token(t, ""))
        return tok.type in trial.accepts()
    except UnexpectedInput:
        return False


def _closers_for(ip: Any, tok: Token) -> list[str]:
    """The closing brackets that, fed first, let *tok* through (empty: none do)."""
    closers: list[str] = []
    trial = ip.copy(deepcopy_values=False)
    for _ in range(8):
        choice = trial.accepts()
        if tok.type in choice:
            return closers
        closer = next((c for c in _CLOSERS if c in choice), None)
        if closer is None:
            return []
        closers.append(closer)
        try:
            trial.feed_token(Token(closer, ""))
        except UnexpectedInput:
            return []
    return []


def _make_recovery(ctx: _Context) -> Callable[[UnexpectedInput], bool]:
    """The ``on_error`` callback: record, then repair (insert/replace) or skip input."""

    def recover(e: UnexpectedInput) -> bool:
        ctx.recovered = True
        if ctx.aborted:
            return False
        ip = getattr(e, "interactive_parser", None)
        if isinstance(e, UnexpectedCharacters):
            code, message, end = _classify_char_error(ctx, e)
            pos = e.pos_in_stream or 0
            if not (ctx.drop_end is not None and _only_trivia(ctx.source[ctx.drop_end : pos])):
                ctx.error(code, message, pos, end if code in ("E003", "E005") else pos + 1)
            ctx.drop_end = end
            ctx.skipped = ctx.source[pos:end]
            if ip is None:
                return False
            state = ip.lexer_thread.state
            state.line_ctr.feed(ctx.source[pos:end])
            synthetic = {"E003": "STRING", "E005": "REGEX"}.get(code)
            if synthetic is not None and synthetic in ip.accepts():
                ip.feed_token(Token(synthetic, '""' if synthetic == "STRING" else "/x/"))
            return True
        if not isinstance(e, UnexpectedToken) or ip is None:
            return False
        tok = _keyword_token(e.token)
        accepts = _accepts(e)
        start = tok.start_pos if tok.type != "$END" else len(ctx.source)
        start = start or 0
        closers = _closers_for(ip, tok)
        cascade = ctx.drop_end is not None and _only_trivia(ctx.source[ctx.drop_end : start])
        if cascade and closers and (tok.type in _STATEMENT_KEYWORDS or tok.type == "$END"):
            # A block left open is a real error unless the skipped input held its closer.
            chars = {"RPAR": ")", "RSQB": "]", "RBRACE": "}"}
            cascade = any(chars[c] in ctx.skipped for c in closers)
        if not cascade:
            code, message = _classify_token_error(ctx, e, accepts)
            end = tok.end_pos if tok.type != "$END" and tok.end_pos else start + 1
            if tok.type == "$END":
                start = max(0, len(ctx.source.rstrip()) - 1)
                end = start + 1
            ctx.error(code, message, start, end)
        # Repairs: a missing ':' or closing bracket, or '=' written for ':'.
        if "COLON" in accepts and _try_feed(ip, ["COLON"], tok):
            ip.feed_token(Token("COLON", ":"))
            if tok.type != "$END":
                ip.feed_token(tok)
            return True
        if tok.type == "EQUAL" and "COLON" in accepts:
            ip.feed_token(Token("COLON", ":"))
            return True
        if closers:
            for c in closers:
                ip.feed_token(Token(c, ""))
            if tok.type != "$END":
                ip.feed_token(tok)
            return True
        if tok.type == "$END":
            return False
        if tok.type in _ANCHORS:
            # Panic mode: pop parser states until one accepts the token.
            ps = ip.parser_state
            states = ps.parse_conf.states
            depth = len(ps.state_stack) - 1
            while depth > 0 and tok.type not in states[ps.state_stack[depth]]:
                depth -= 1
            if tok.type in states[ps.state_stack[depth]]:
                del ps.state_stack[depth + 1 :]
                del ps.value_stack[depth:]
                try:
                    ip.feed_token(tok)
                    return True
                except UnexpectedInput:
                    pass
        # Skip the rest of the line, then fill in a value so that the next line can go on
        # with the construct that is still open (a property, a list, ...).
        lexer_state = ip.lexer_thread.state
        pos = lexer_state.line_ctr.char_pos
        eol = ctx.source.find("\n", pos)
        eol = len(ctx.source) if eol < 0 else eol
        if eol > pos:
            lexer_state.line_ctr.feed(ctx.source[pos:eol])
        ctx.drop_end = eol
        ctx.skipped = ctx.source[start:eol]
        choice = ip.accepts()
        if not choice & _ANCHORS:
            for kind, text in _FILLERS:
                if kind in choice:
                    ip.feed_token(Token(kind, text))
                    break
        return True

    return recover


# --------------------------------------------------------------------------- transformer

_N = TypeVar("_N")


def _flatten(kind: type[nodes.Or] | type[nodes.And], operands: list[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for op in operands:
        if isinstance(op, kind):
            out.extend(op.operands)
        else:
            out.append(op)
    return tuple(out)


@v_args(meta=True)
class _ToNodes(Transformer_NonRecursive):  # type: ignore[type-arg]
    """Lark tree → :mod:`nodes` values, recording problems in the context instead of raising."""

    def __init__(self, ctx: _Context) -> None:
        super().__init__()
        self.ctx = ctx
        self.depth: dict[int, int] = {}

    # ---- helpers

    def _span(self, meta: Any) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return self.ctx.span(meta.start_pos, meta.end_pos)

    def _tspan(self, tok: Token) -> Span:
        return self.ctx.span(tok.start_pos or 0, tok.end_pos or 0)

    def _name(self, tok: Token, what: str) -> str:
        text = str(tok)
        if text in RESERVED_WORDS:
            self.ctx.error("E007", f"'{text}' is a reserved word and cannot name {what}; "
                           f"choose another name, e.g. 'my_{text}'",
                           tok.start_pos or 0, tok.end_pos)
        return text

    def _string(self, tok: Token) -> str:
        return unescape_string(str(tok)[1:-1])[0]

    def _strlit(self, tok: Token) -> nodes.StrLit:
        return nodes.StrLit(self._string(tok), span=self._tspan(tok))

    def _int(self, tok: Token) -> int:
        return int(str(tok))

    def _value(self, tok: Token) -> Any:
        kind = tok.type
        if kind == "STRING":
            return self._string(tok)
        if kind == "TRUE":
            return True
        if kind == "FALSE":
            return False
        if kind == "NUMBER":
            text = str(tok)
            return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        if kind == "DATETIME":
            value = _parse_datetime(str(tok))
            return value if isinstance(value, datetime) else datetime(1970, 1, 1, tzinfo=UTC)
        if kind == "NAME":
            return self._name(tok, "a value (quote it)")
        return str(tok)

    def _field(self, tok: Token) -> nodes.FieldPath:
        parts = tuple(str(tok).split("."))
        if parts[0] not in _FIELD_ROOTS:
            self.ctx.error("E009", f"unknown field '{tok}'; fields start with 'post.' or "
                           f"'author.', e.g. 'post.{parts[-1]}'", tok.start_pos or 0, tok.end_pos)
        return nodes.FieldPath(parts, span=self._tspan(tok))

    def _cond(self, node: _N, *children: Any) -> _N:
        depth = 1 + max((self.depth.get(id(c), 0) for c in children), default=0)
        self.depth[id(node)] = depth
        span = getattr(node, "span", None)
        if depth > MAX_NESTING and span is not None:
            self.ctx.error("E037", f"this condition is nested more than {MAX_NESTING} levels "
                           "deep; split it into helper rules and use rule(NAME)",
                           span.start, span.end)
        return node

    # ---- module and statements

    def start(self, meta: Any, children: list[Any]) -> list[Any]:
        return children

    def policy_decl(self, meta: Any, children: list[Any]) -> nodes.PolicyDecl:
        name, *props = children
        return nodes.PolicyDecl(self._name(name, "a policy"), tuple(props),
                                span=self._span(meta), name_span=self._tspan(name))

    def rule_decl(self, meta: Any, children: list[Any]) -> nodes.RuleDecl:
        name, *props = children
        return nodes.RuleDecl(self._name(name, "a rule"), tuple(props),
                              span=self._span(meta), name_span=self._tspan(name))

    def terms_decl(self, meta: Any, children: list[Any]) -> nodes.TermsDecl:
        name = children[0]
        options: tuple[nodes.Option, ...] = ()
        rest = children[1:]
        if rest and isinstance(rest[0], list):
            options = tuple(rest[0])
            rest = rest[1:]
        parts = rest[0]
        excepts = rest[2] if len(rest) > 2 else ()
        return nodes.TermsDecl(self._name(name, "a term list"), options, parts, excepts,
                               span=self._span(meta), name_span=self._tspan(name))

    def pattern_decl(self, meta: Any, children: list[Any]) -> nodes.PatternDecl:
        name = children[0]
        options = tuple(children[1]) if len(children) == 3 else ()
        regex = children[-1]
        text = str(regex)
        cut = text.rindex("/")
        lit = nodes.RegexLit(unescape_regex(text[1:cut]), text[cut + 1 :], span=self._tspan(regex))
        return nodes.PatternDecl(self._name(name, "a pattern"), options, lit,
                                 span=self._span(meta), name_span=self._tspan(name))

    def options(self, meta: Any, children: list[Any]) -> list[nodes.Option]:
        return children

    def option(self, meta: Any, children: list[Any]) -> nodes.Option:
        name, value = children
        return nodes.Option(str(name), str(value), span=self._span(meta))

    def term_sum(self, meta: Any, children: list[Any]) -> tuple[Any, ...]:
        return tuple(children)

    def term_list(self, meta: Any, children: list[Any]) -> nodes.TermListLit:
        (items,) = children
        return nodes.TermListLit(items, span=self._span(meta))

    def file_ref(self, meta: Any, children: list[Any]) -> nodes.FileRef:
        (path,) = children
        return nodes.FileRef(self._string(path), span=self._span(meta))

    def name_ref(self, meta: Any, children: list[Any]) -> nodes.NameRef:
        (name,) = children
        return nodes.NameRef(self._name(name, "a term list"), span=self._span(meta))

    def string_list(self, meta: Any, children: list[Any]) -> tuple[nodes.StrLit, ...]:
        return tuple(self._strlit(t) for t in children)

    # ---- properties

    def prop_str(self, meta: Any, children: list[Any]) -> nodes.Property:
        key, value = children
        return nodes.Property(str(key), self._strlit(value), span=self._span(meta))

    def prop_ident(self, meta: Any, children: list[Any]) -> nodes.Property:
        key, value = children
        return nodes.Property(str(key), str(value), span=self._span(meta))

    def prop_words(self, meta: Any, children: list[Any]) -> nodes.Property:
        key, *words = children
        values = tuple(self._string(w) if isinstance(w, Token) else w for w in words)
        return nodes.Property(str(key), values, span=self._span(meta))

    def word(self, meta: Any, children: list[Any]) -> str:
        text = self.ctx.source[meta.start_pos : meta.end_pos]
        joined = "-".join(str(t) for t in children)
        if text != joined:
            self.ctx.error("E040", f"write '{joined}' without spaces or comments inside, or quote it",
                           meta.start_pos, meta.end_pos)
        return joined

    def prop_active(self, meta: Any, children: list[Any]) -> nodes.Property:
        key, window = children
        return nodes.Property(str(key), window, span=self._span(meta))

    def prop_cond(self, meta: Any, children: list[Any]) -> nodes.Property:
        key, cond = children
        return nodes.Property(str(key), cond, span=self._span(meta))

    def prop_examples(self, meta: Any, children: list[Any]) -> nodes.Property:
        key, *examples = children
        return nodes.Property(str(key), tuple(examples), span=self._span(meta))

    def window(self, meta: Any, children: list[Any]) -> nodes.ActiveWindow:
        values = [self._value(t) for t in children if t.type == "DATETIME"]
        start = values[0]
        end = values[1] if len(values) > 1 else None
        return nodes.ActiveWindow(start, end, span=self._span(meta))

    def window_open_start(self, meta: Any, children: list[Any]) -> nodes.ActiveWindow:
        values = [self._value(t) for t in children if t.type == "DATETIME"]
        return nodes.ActiveWindow(None, values[0], span=self._span(meta))

    # ---- examples

    def example(self, meta: Any, children: list[Any]) -> nodes.Example:
        kind, post = children
        value = self._string(post) if isinstance(post, Token) else post
        return nodes.Example(str(kind), value, span=self._span(meta))

    def mapping(self, meta: Any, children: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_tok, value in children:
            key = self._string(key_tok) if key_tok.type == "STRING" else str(key_tok)
            if key in out:
                self.ctx.error("E039", f"duplicate key '{key}' in an example post; give each "
                               "key once", key_tok.start_pos or 0, key_tok.end_pos)
            out[key] = value
        return out

    def pair(self, meta: Any, children: list[Any]) -> tuple[Token, Any]:
        key, value = children
        return key, self._data(value)

    def data_list(self, meta: Any, children: list[Any]) -> list[Any]:
        return [self._data(v) for v in children]

    def _data(self, value: Any) -> Any:
        if isinstance(value, Token):
            if value.type == "NAME":
                return str(value)
            return self._value(value)
        return value

    # ---- conditions

    def or_cond(self, meta: Any, children: list[Any]) -> nodes.Or:
        return self._cond(nodes.Or(_flatten(nodes.Or, children), span=self._span(meta)), *children)

    def and_cond(self, meta: Any, children: list[Any]) -> nodes.And:
        return self._cond(nodes.And(_flatten(nodes.And, children), span=self._span(meta)), *children)

    def not_cond(self, meta: Any, children: list[Any]) -> nodes.Not:
        (operand,) = children
        return self._cond(nodes.Not(operand, span=self._span(meta)), operand)

    def any_of(self, meta: Any, children: list[Any]) -> nodes.AnyOf:
        return nodes.AnyOf(tuple(children), span=self._span(meta))

    def all_of(self, meta: Any, children: list[Any]) -> nodes.AllOf:
        return nodes.AllOf(tuple(children), span=self._span(meta))

    def n_of(self, meta: Any, children: list[Any]) -> nodes.NOf:
        n, *items = children
        return nodes.NOf(self._int(n), tuple(items), span=self._span(meta))

    def count_cmp(self, meta: Any, children: list[Any]) -> nodes.CountCmp:
        *items, op, n = children
        return nodes.CountCmp(tuple(items), str(op), self._int(n), span=self._span(meta))

    def distinct_cmp(self, meta: Any, children: list[Any]) -> nodes.DistinctCmp:
        *items, op, n = children
        return nodes.DistinctCmp(tuple(items), str(op), self._int(n), span=self._span(meta))

    def near(self, meta: Any, children: list[Any]) -> nodes.Near:
        left, right, n = children
        return nodes.Near(left, right, self._int(n), span=self._span(meta))

    def before(self, meta: Any, children: list[Any]) -> nodes.Before:
        left, right, n = children
        return nodes.Before(left, right, self._int(n), span=self._span(meta))

    def bare_item(self, meta: Any, children: list[Any]) -> nodes.BareItem:
        (item,) = children
        return nodes.BareItem(item, span=self._span(meta))

    def field_has(self, meta: Any, children: list[Any]) -> nodes.FieldHas:
        field, cond = children
        return self._cond(nodes.FieldHas(self._field(field), cond, span=self._span(meta)), cond)

    def field_cmp(self, meta: Any, children: list[Any]) -> nodes.FieldCmp:
        field, op, value = children
        return nodes.FieldCmp(self._field(field), str(op), self._value(value), span=self._span(meta))

    def field_in(self, meta: Any, children: list[Any]) -> nodes.FieldIn:
        field, *values = children
        return nodes.FieldIn(self._field(field), tuple(self._value(v) for v in values),
                             span=self._span(meta))

    def field_truthy(self, meta: Any, children: list[Any]) -> nodes.FieldTruthy:
        (field,) = children
        return nodes.FieldTruthy(self._field(field), span=self._span(meta))

    def rule_ref(self, meta: Any, children: list[Any]) -> nodes.RuleRef:
        (name,) = children
        return nodes.RuleRef(self._name(name, "a rule"), span=self._span(meta))

    # ---- items

    def name_item(self, meta: Any, children: list[Any]) -> nodes.NameItem:
        (name,) = children
        return nodes.NameItem(self._name(name, "a term list or pattern"), span=self._span(meta))

    def string_item(self, meta: Any, children: list[Any]) -> nodes.StringItem:
        (tok,) = children
        return nodes.StringItem(self._string(tok), span=self._span(meta))

    def regex_item(self, meta: Any, children: list[Any]) -> nodes.RegexItem:
        (tok,) = children
        text = str(tok)
        cut = text.rindex("/")
        return nodes.RegexItem(unescape_regex(text[1:cut]), text[cut + 1 :], span=self._span(meta))

    def list_item(self, meta: Any, children: list[Any]) -> nodes.InlineListItem:
        (items,) = children
        return nodes.InlineListItem(items, span=self._span(meta))


# --------------------------------------------------------------------------- entry point


def _raise(ctx: _Context) -> NoReturn:
    diags = sorted(ctx.diagnostics, key=lambda d: d.span.start if d.span else 0)
    if ctx.aborted:
        last = diags[-1]
        diags[-1] = Diagnostic(last.severity, last.code, last.message, last.span,
                               source_line=last.source_line,
                               notes=(*last.notes, f"stopped after {MAX_ERRORS} errors"))
    raise PolicySyntaxError(diags)


def parse_source(source: str, path: str = "<string>") -> nodes.Module:
    """Parse one policy file.

    Args:
        source: the text of a ``.policy`` file.
        path: the display path used in spans and messages.

    Returns:
        The file's :class:`nodes.Module`, comments included.

    Raises:
        PolicySyntaxError: with one diagnostic per offending line (every error of the file).

    Example:
        >>> m = parse_source('terms t = ["a", "b"]')
        >>> m.statements[0].name
        't'
    """
    if not isinstance(source, str):
        raise PolicySyntaxError(f"policy source must be a str, not {type(source).__name__}",
                                path=path, line=1, column=1)
    parser = _get_parser()
    _example_index()
    ctx = _Context(source, path)
    token = _CONTEXT.set(ctx)
    try:
        try:
            tree = parser.parse(source, on_error=_make_recovery(ctx))
        except UnexpectedInput as e:
            if not ctx.diagnostics:  # pragma: no cover - recovery records before giving up
                ctx.error("E001", "unexpected input; check the statement syntax",
                          getattr(e, "pos_in_stream", 0) or 0)
            _raise(ctx)
        if ctx.recovered:  # the tree holds repairs: only the errors found so far are real
            _raise(ctx)
        try:
            statements = _ToNodes(ctx).transform(tree)
        except VisitError as e:
            orig = e.orig_exc
            if isinstance(orig, PolicySyntaxError):
                raise orig from None
            raise
        if ctx.diagnostics:
            _raise(ctx)
        return nodes.Module(path, tuple(statements), tuple(ctx.comments), source=source)
    except RecursionError:
        raise PolicySyntaxError(
            [Diagnostic("error", "E037", f"the file is nested too deeply to parse; keep "
                        f"conditions under {MAX_NESTING} levels of nesting",
                        Span(path, 0, 0, 1, 1, 1, 1))]) from None
    finally:
        _CONTEXT.reset(token)

