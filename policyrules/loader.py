"""Finding and reading a ruleset's sources: ``.policy`` files, ``ruleset.toml``, list files.

A ruleset is a directory (every ``*.policy`` below it, sorted by path) or one ``.policy``
file; list files named by ``file("...")`` must stay inside the ruleset root: no ``..``
escape, no absolute path, no symlink that leads out. Produces :class:`LoadedSources`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import attrs

from .errors import Diagnostic, PolicyCompileError, PolicyError, Span

__all__ = [
    "ListFile",
    "ListFileError",
    "LoadedSources",
    "RulesetConfig",
    "SourceFile",
    "load_sources",
    "parse_list_file",
    "read_list_file",
]

MAX_SOURCE_BYTES = 16 * 1024 * 1024
DEFAULT_ACTIONS = ("none", "log", "label", "limit_visibility", "restrict_replies", "remove", "suspend")


@attrs.frozen
class SourceFile:
    """One ``.policy`` source: its display path and text."""

    path: str
    text: str


@attrs.frozen
class RulesetConfig:
    """What ``ruleset.toml`` says; *raw* keeps every table for corpus tooling."""

    name: str = "ruleset"
    version: str | None = None
    actions: tuple[str, ...] = DEFAULT_ACTIONS
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False)
    path: str | None = None


@attrs.frozen
class LoadedSources:
    """The sources of one ruleset; *root* is None for a source string without a directory."""

    root: str | None
    files: tuple[SourceFile, ...]
    config: RulesetConfig


@attrs.frozen
class ListFile:
    """A list file read from inside the ruleset root."""

    path: str  # display path
    text: str


class ListFileError(PolicyError):
    """A ``file()`` reference that cannot be read or leaves the ruleset root."""


def load_sources(path: str | os.PathLike[str]) -> LoadedSources:
    """Read a ruleset directory or a single ``.policy`` file."""
    p = Path(path)
    if p.is_dir():
        root = p
        policy_paths = sorted(
            (q for q in p.rglob("*.policy") if q.is_file()), key=lambda q: q.as_posix()
        )
        if not policy_paths:
            raise PolicyCompileError(
                [Diagnostic("error", "E101", f"no .policy files found under {p}", None)]
            )
    elif p.is_file():
        root = p.parent
        policy_paths = [p]
    else:
        raise PolicyCompileError(
            [Diagnostic("error", "E102", f"ruleset not found: {p} (give a directory or a .policy file)", None)]
        )
    if p.is_dir():
        _confine(root, [*policy_paths, root / "ruleset.toml"])
    files = tuple(SourceFile(q.as_posix(), _read_text(q)) for q in policy_paths)
    config = _read_config(root / "ruleset.toml") if p.is_dir() else RulesetConfig(name=p.stem)
    if p.is_dir() and config.name == "ruleset":
        config = attrs.evolve(config, name=p.resolve().name)
    return LoadedSources(str(root.resolve()), files, config)


def _read_capped(path: Path) -> bytes:
    """At most MAX_SOURCE_BYTES + 1 bytes: a huge file is refused without reading it whole."""
    with path.open("rb") as fh:
        return fh.read(MAX_SOURCE_BYTES + 1)


def _confine(root: Path, paths: list[Path]) -> None:
    """Refuse ``.policy`` files and ``ruleset.toml`` that are symlinks leading out of *root*.

    Reading them would compile (and quote, in error messages) files the ruleset's writers
    do not own, e.g. ``evil.policy -> /etc/passwd``.
    """
    real_root = root.resolve()
    errors = []
    for q in paths:
        if not q.exists() and not q.is_symlink():
            continue
        try:
            q.resolve(strict=True).relative_to(real_root)
        except (OSError, RuntimeError, ValueError):
            errors.append(Diagnostic(
                "error", "E108", f"{q.as_posix()} is a symlink that leads outside the ruleset root "
                f"{real_root} (or a broken one); copy the file into the ruleset instead", None,
            ))
    if errors:
        raise PolicyCompileError(errors)


def _read_text(path: Path) -> str:
    try:
        data = _read_capped(path)
    except OSError as exc:
        raise PolicyCompileError(
            [Diagnostic("error", "E102", f"cannot read {path}: {exc.strerror}", None)]
        ) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise PolicyCompileError(
            [Diagnostic("error", "E103", f"{path} is larger than {MAX_SOURCE_BYTES} bytes", None)]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyCompileError(
            [Diagnostic("error", "E104", f"{path} is not UTF-8 (byte {exc.start}); save it as UTF-8", None)]
        ) from None


def _read_config(path: Path) -> RulesetConfig:
    if not path.is_file():
        return RulesetConfig(path=None)
    text = _read_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", 1) or 1
        col = getattr(exc, "colno", 1) or 1
        span = Span(path.as_posix(), 0, 0, line, col, line, col)
        raise PolicyCompileError(
            [Diagnostic("error", "E105", f"ruleset.toml is not valid TOML: {exc.args[0] if exc.args else exc}", span,
                        source_line=_line(text, line))]
        ) from None
    errors = []
    name = raw.get("name", "ruleset")
    version = raw.get("version")
    actions = raw.get("actions")
    if not isinstance(name, str):
        errors.append("'name' must be a string")
    if version is not None and not isinstance(version, (str, int, float)):
        errors.append("'version' must be a string")
    if actions is not None and (
        not isinstance(actions, list) or not all(isinstance(a, str) for a in actions) or not actions
    ):
        errors.append("'actions' must be a non-empty list of action names, least severe first")
    if errors:
        span = Span(path.as_posix(), 0, 0, 1, 1, 1, 1)
        raise PolicyCompileError([Diagnostic("error", "E106", f"ruleset.toml: {e}", span) for e in errors])
    acts = tuple(actions) if actions else DEFAULT_ACTIONS
    if "none" not in acts:
        acts = ("none", *acts)
    return RulesetConfig(
        name=str(name), version=None if version is None else str(version), actions=acts,
        raw=raw, path=path.as_posix(),
    )


def _line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def read_list_file(root: str | None, policy_path: str, ref: str) -> ListFile:
    """Read ``file(ref)`` named in *policy_path*, confined to *root*.

    Raises :class:`ListFileError` with a message that says how to fix the reference.
    """
    if root is None:
        raise ListFileError(
            "file() needs a ruleset directory: this source was compiled from a string "
            "(pass base_dir=... to policyrules.compile, or load the ruleset from disk)"
        )
    if not ref:
        raise ListFileError("file() needs a path, e.g. file(\"lists/terms.txt\")")
    if os.path.isabs(ref) or ref.startswith(("/", "\\")) or (len(ref) > 1 and ref[1] == ":"):
        raise ListFileError(f"file(\"{ref}\") is an absolute path; use a path relative to the .policy file")
    if "\x00" in ref:
        raise ListFileError("file() path contains a NUL character")
    root_path = Path(root).resolve()
    base = Path(policy_path).resolve().parent if policy_path and not policy_path.startswith("<") else root_path
    candidate = base / ref
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ListFileError(f"file(\"{ref}\") not found (looked for {candidate})") from None
    try:
        real.relative_to(root_path)
    except ValueError:
        raise ListFileError(
            f"file(\"{ref}\") leads outside the ruleset root {root_path} "
            "(no '..', absolute paths or symlinks out of the ruleset)"
        ) from None
    if not real.is_file():
        raise ListFileError(f"file(\"{ref}\") is not a regular file")
    try:
        data = _read_capped(real)
    except OSError as exc:
        raise ListFileError(f"cannot read file(\"{ref}\"): {exc.strerror}") from None
    if len(data) > MAX_SOURCE_BYTES:
        raise ListFileError(f"file(\"{ref}\") is larger than {MAX_SOURCE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ListFileError(f"file(\"{ref}\") is not UTF-8 (byte {exc.start}); save it as UTF-8") from None
    display = os.path.relpath(candidate, Path.cwd()) if not os.path.isabs(policy_path) else str(candidate)
    return ListFile(Path(display).as_posix(), text)


def parse_list_file(text: str) -> list[tuple[str, int, int]]:
    """Terms of a list file as ``(term, line, column)``: one per line, ``#`` starts a comment.

    A ``#`` that begins a term (``#freemoney``) is a hashtag when it is not followed by a
    space; a comment is a ``#`` at the start of a line followed by a space or nothing, or
    `` #`` after a term.
    """
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw
        stripped = line.lstrip()
        if not stripped:
            continue
        if stripped.startswith("#") and (len(stripped) == 1 or stripped[1] in " \t#!"):
            continue
        cut = line.find(" #")
        if cut >= 0:
            line = line[:cut]
        term = line.strip()
        if term:
            out.append((term, lineno, raw.find(term) + 1))
    return out
