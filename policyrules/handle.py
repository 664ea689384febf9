"""A ruleset handle for long-running services: atomic reloads that never serve a half-built ruleset.

A service keeps one :class:`RulesetHandle` and calls ``handle.evaluate(post)``. A reload
builds the new ruleset completely, off to the side, and then swaps one reference; a reload
that fails (syntax error, bad ``ruleset.toml``, a file vanishing mid-edit) keeps serving the
old ruleset and records the error in ``handle.last_error``. ``watch(interval)`` polls the
directory's file stamps in a daemon thread and reloads when they change.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from .runtime import Limits, Ruleset
from .verdict import Verdict

__all__ = ["RulesetHandle"]

Stamp = tuple[tuple[str, int, int], ...]


class RulesetHandle:
    """Serves a ruleset loaded from *path* and swaps in new versions atomically.

    Args:
        path: a ruleset directory or one ``.policy`` file.
        limits: passed to :func:`policyrules.load` on every (re)load.
        on_reload: called as ``on_reload(new_ruleset, error)`` after every reload attempt
            that changed something or failed (from the watcher thread when watching).

    The first load happens in the constructor and raises :class:`PolicyError` like
    :func:`policyrules.load`; later reloads never raise.
    """

    def __init__(self, path: str | os.PathLike[str], *, limits: Limits | None = None,
                 on_reload: Callable[[Ruleset, BaseException | None], None] | None = None) -> None:
        self.path = os.fspath(path)
        self._limits = limits
        self._on_reload = on_reload
        self._lock = threading.Lock()  # one reload at a time; readers never take it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: BaseException | None = None
        self._reloads = 0
        self._stamp = self._fingerprint()
        self._ruleset = self._load()

    # ------------------------------------------------------------------ serving
    @property
    def ruleset(self) -> Ruleset:
        """The ruleset being served now (a complete, immutable object)."""
        return self._ruleset

    @property
    def last_error(self) -> BaseException | None:
        """Why the most recent reload failed, or None when it succeeded."""
        return self._last_error

    @property
    def reloads(self) -> int:
        """How many times a new ruleset was swapped in."""
        return self._reloads

    def evaluate(self, post: Any, at: datetime | None = None) -> Verdict:
        """Evaluate *post* with the current ruleset (see :meth:`Ruleset.evaluate`)."""
        return self._ruleset.evaluate(post, at=at)

    def evaluate_many(self, posts: Iterable[Any], at: datetime | None = None) -> Iterator[Verdict]:
        """Evaluate posts in order with ONE ruleset, even if a reload happens meanwhile."""
        return self._ruleset.evaluate_many(posts, at=at)

    # ------------------------------------------------------------------ reloading
    def reload(self) -> bool:
        """Load the ruleset again; True when a ruleset with a new digest is now served.

        On failure the old ruleset keeps serving, ``last_error`` says why, and False is
        returned; nothing is raised.
        """
        with self._lock:
            stamp = self._fingerprint()
            try:
                new = self._load()
            except Exception as exc:  # PolicyError, or an OS error while the files are edited
                self._last_error = exc
                self._stamp = stamp
                self._notify(self._ruleset, exc)
                return False
            self._stamp = stamp
            self._last_error = None
            if new.digest == self._ruleset.digest and new.limits == self._ruleset.limits:
                return False
            self._ruleset = new  # one reference assignment: readers see old or new, never a mix
            self._reloads += 1
        self._notify(new, None)
        return True

    def check(self) -> bool:
        """Reload if any file under the ruleset changed (mtime, size, added, removed)."""
        if self._fingerprint() == self._stamp:
            return False
        return self.reload()

    def watch(self, interval: float = 2.0) -> threading.Thread:
        """Poll for changes every *interval* seconds in a daemon thread (idempotent)."""
        if interval <= 0:
            raise ValueError("interval must be > 0 seconds")
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.check()
                except Exception as exc:  # never let the watcher die silently
                    self._last_error = exc

        self._thread = threading.Thread(target=loop, name=f"policyrules-watch:{self.path}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the watcher thread, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> RulesetHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f" last_error={type(self._last_error).__name__}" if self._last_error else ""
        return f"<RulesetHandle {self.path!r} {self._ruleset!r} reloads={self._reloads}{state}>"

    # ------------------------------------------------------------------ internals
    def _load(self) -> Ruleset:
        from . import load

        return load(self.path, limits=self._limits)

    def _notify(self, ruleset: Ruleset, error: BaseException | None) -> None:
        if self._on_reload is not None:
            with contextlib.suppress(Exception):  # a failing callback must not break reloading
                self._on_reload(ruleset, error)

    def _fingerprint(self) -> Stamp:
        """(path, mtime_ns, size) of every file under the ruleset: cheap change detection."""
        out: list[tuple[str, int, int]] = []
        if os.path.isfile(self.path):
            paths: Iterable[str] = [self.path]
        else:
            paths = (
                os.path.join(d, f) for d, _dirs, files in os.walk(self.path) for f in files
            )
        for p in paths:
            try:
                st = os.stat(p)
            except OSError:
                continue
            out.append((p, st.st_mtime_ns, st.st_size))
        out.sort()
        return tuple(out)

