"""policyrules: compile trust-and-safety policy rules into fast matchers with explained verdicts.

>>> import policyrules
>>> rs = policyrules.compile('''
... policy spam { title: "Spam" action: label }
... rule free_money { policy: spam when: any(["free money", "#freemoney"]) }
... ''')
>>> v = rs.evaluate("Get FREE   money now! #FreeMoney")
>>> v.action, [e.text for e in v.matches[0].evidence]
('label', ['FREE   money', '#FreeMoney'])
"""

from __future__ import annotations

import os
from importlib import metadata

from .errors import PolicyCompileError as PolicyCompileError
from .errors import PolicyError as PolicyError
from .errors import PolicySyntaxError as PolicySyntaxError
from .errors import PostError as PostError
from .handle import RulesetHandle as RulesetHandle
from .runtime import Limits as Limits
from .runtime import Ruleset as Ruleset
from .verdict import Evidence as Evidence
from .verdict import Match as Match
from .verdict import Verdict as Verdict

__all__ = [
    "Evidence",
    "Limits",
    "Match",
    "PolicyCompileError",
    "PolicyError",
    "PolicySyntaxError",
    "PostError",
    "Ruleset",
    "RulesetHandle",
    "Verdict",
    "__version__",
    "compile",
    "load",
]

try:
    __version__ = metadata.version("policyrules")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"


def load(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Ruleset:
    """Load and compile a ruleset directory (every ``*.policy`` below it) or one ``.policy`` file.

    Args:
        path: a ruleset directory (with an optional ``ruleset.toml``) or a ``.policy`` file.
        limits: input limits and the regex time budget (defaults: :class:`Limits`).

    Returns:
        An immutable, thread-safe, picklable :class:`Ruleset`.

    Raises:
        PolicySyntaxError: a file does not parse (every syntax error of every file is listed).
        PolicyCompileError: the files parse but are wrong (unknown names, bad regexes, ...).
    """
    from .loader import load_sources

    sources = load_sources(path)
    return _build(sources, limits)


def compile(
    source: str, name: str = "<string>", *, base_dir: str | os.PathLike[str] | None = None,
    limits: Limits | None = None,
) -> Ruleset:
    """Compile the source text of one ``.policy`` file.

    Args:
        source: the policy source text.
        name: the file name used in error messages.
        base_dir: a directory that ``file()`` lists resolve against (and may not leave);
            without it, ``file()`` is a compile error.
        limits: input limits and the regex time budget.
    """
    from .loader import LoadedSources, RulesetConfig, SourceFile

    if not isinstance(source, str):
        raise PolicyCompileError(f"policy source must be a str, got {type(source).__name__}")
    root = os.fspath(os.path.abspath(base_dir)) if base_dir is not None else None
    path = os.path.join(root, name) if root is not None and not os.path.isabs(name) and not name.startswith("<") else name
    stem = os.path.splitext(os.path.basename(name))[0] or "inline"
    sources = LoadedSources(root, (SourceFile(path, source),), RulesetConfig(name=stem.strip("<>") or "inline"))
    return _build(sources, limits)


def _build(sources: object, limits: Limits | None) -> Ruleset:
    from .compiler import gc_paused

    with gc_paused():  # millions of long-lived objects: collecting while building them doubled the time
        return _build_paused(sources, limits)


def _build_paused(sources: object, limits: Limits | None) -> Ruleset:
    from .compiler import compile_plan
    from .errors import Diagnostic
    from .loader import LoadedSources
    from .resolve import resolve_modules
    from .syntax import parse_source

    assert isinstance(sources, LoadedSources)
    if limits is None:
        limits = _config_limits(sources)
    modules = []
    syntax_errors: list[Diagnostic] = []
    try:
        for f in sources.files:
            try:
                modules.append(parse_source(f.text, f.path))
            except PolicySyntaxError as exc:
                syntax_errors.extend(exc.diagnostics)
        if syntax_errors:
            raise PolicySyntaxError(syntax_errors)
        resolved = resolve_modules(modules, sources)
        plan = compile_plan(resolved, limits.regex_timeout)
    except RecursionError:
        raise PolicyCompileError(
            "the ruleset is nested too deeply to compile (a condition or list nested hundreds of "
            "levels deep); flatten it with named lists, helper rules and any()/all()"
        ) from None
    return Ruleset(plan, limits, sources.root)


def _config_limits(sources: object) -> Limits:
    """The ``[limits]`` table of ``ruleset.toml`` as :class:`Limits` (defaults when absent)."""
    from .errors import Diagnostic, Span
    from .loader import LoadedSources

    assert isinstance(sources, LoadedSources)
    table = sources.config.raw.get("limits")
    if table is None:
        return Limits()
    try:
        return Limits.from_mapping(table)
    except ValueError as exc:
        path = sources.config.path or "ruleset.toml"
        span = Span(path, 0, 0, 1, 1, 1, 1)
        raise PolicyCompileError(
            [Diagnostic("error", "E107", f"ruleset.toml [limits]: {exc}", span)]
        ) from None
