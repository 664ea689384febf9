"""Evaluating many posts on every core: ordered, bounded, with the ruleset shipped once.

``Ruleset.evaluate_many(posts, workers=N)`` lands here when N is not 1. Posts go to N
spawned worker processes in chunks; each worker unpickles the ruleset once (pool
initializer) and returns plain verdicts, which come back in input order. At most
``4 * N`` chunks are in flight, so memory stays flat however long the iterable is, and the
iterable is read lazily. Nothing here imports the runtime: the caller passes the ruleset and
re-attaches what a verdict cannot carry across processes (its lazy explainer).
"""

from __future__ import annotations

import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import attrs

from .errors import PostError

__all__ = ["CHUNK_SIZE", "cores", "evaluate_parallel", "portable"]

CHUNK_SIZE = 256  # posts per task: large enough that pickling and IPC stay a small share

_STATE: dict[str, Any] = {}


def cores() -> int:
    """Cores this process may use (affinity-aware where the OS says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _init(blob: bytes, at: datetime | None) -> None:
    """Pool initializer: unpickle the ruleset once per worker; Ctrl-C is the parent's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _STATE["ruleset"] = pickle.loads(blob)
    _STATE["at"] = at


def portable(verdict: Any) -> tuple[Any, bool, datetime | None]:
    """A verdict that pickles without its ruleset: (verdict without explainer, had one, its time)."""
    explainer = verdict._explainer
    if explainer is None:
        return verdict, False, None
    return attrs.evolve(verdict, explainer=None), True, explainer.at


def _evaluate_chunk(blob: bytes) -> tuple[list[tuple[Any, bool, datetime | None]], tuple[int, str] | None] | None:
    """Portable verdicts of a pickled chunk, up to the first bad post; None when the chunk
    does not unpickle here (a post of a class the worker cannot import, e.g. one defined in
    a notebook's ``__main__``): the parent evaluates it instead."""
    try:
        posts = pickle.loads(blob)
    except Exception:
        return None
    rs, at = _STATE["ruleset"], _STATE["at"]
    out: list[tuple[Any, bool, datetime | None]] = []
    for i, post in enumerate(posts):
        try:
            verdict = rs.evaluate(post, at=at)
        except PostError as exc:
            return out, (i, str(exc))
        out.append(portable(verdict))
    return out, None


def _chunks(posts: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for post in posts:
        chunk.append(post)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def evaluate_parallel(
    ruleset: Any,
    posts: Iterable[Any],
    at: datetime | None,
    workers: int,
    finish: Callable[[Any, Any], Any],
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Any]:
    """Yield ``finish(post, portable verdict)`` for each post, in order, from *workers* processes.

    A post the ruleset rejects raises :class:`PostError` at its place, after the verdicts of
    the posts before it, exactly as the sequential path does. A chunk that cannot travel to
    a worker (a post that does not pickle here, or does not unpickle there) is evaluated
    here instead. Spawned workers import the caller's ``__main__`` module by path, as
    ``multiprocessing`` always does, so run scripts from a file, not from standard input.
    """
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    blob = pickle.dumps(ruleset, protocol=pickle.HIGHEST_PROTOCOL)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init, initargs=(blob, at))
    del blob
    pending: deque[tuple[list[Any], Future[Any] | None]] = deque()
    window = 4 * workers

    def here(chunk: list[Any]) -> tuple[list[tuple[Any, bool, datetime | None]], tuple[int, str] | None]:
        """The chunk evaluated in this process (it could not travel to a worker)."""
        verdicts = []
        for i, post in enumerate(chunk):
            try:
                verdicts.append(portable(ruleset.evaluate(post, at=at)))
            except PostError as exc:
                return verdicts, (i, str(exc))
        return verdicts, None

    def settle(chunk: list[Any], future: Future[Any] | None) -> Iterator[Any]:
        result = future.result() if future is not None else None
        verdicts, failure = result if result is not None else here(chunk)
        for post, verdict in zip(chunk, verdicts, strict=False):
            yield finish(post, verdict)
        if failure is not None:
            raise PostError(failure[1])

    try:
        for chunk in _chunks(posts, chunk_size):
            try:
                blob = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # a post that does not pickle: evaluated here, in its turn
                pending.append((chunk, None))
            else:
                pending.append((chunk, executor.submit(_evaluate_chunk, blob)))
            while len(pending) >= window:
                yield from settle(*pending.popleft())
        while pending:
            yield from settle(*pending.popleft())
    finally:
        for _, future in pending:
            if future is not None:
                future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
