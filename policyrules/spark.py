"""Apache Spark integration: evaluate a compiled ruleset over a DataFrame column of posts.

``apply_ruleset(df, ruleset_or_path)`` returns *df* with six verdict columns added. The
ruleset is pickled once on the driver and broadcast; each executor process unpickles it
once and keeps it in a cache keyed by the ruleset's digest, so a ruleset is compiled once
per executor, not once per task or row. Rows go through ``RDD.mapPartitions`` (no pandas
or pyarrow needed). pyspark is an optional extra: ``pip install 'policyrules[spark]'``;
importing this module does not import pyspark.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - pyspark is optional
    from pyspark.sql import DataFrame

    from .runtime import Ruleset

__all__ = ["VERDICT_COLUMNS", "apply_ruleset", "evaluate_rows"]

#: the columns apply_ruleset adds, in order (a prefix may be put in front of each name)
VERDICT_COLUMNS = ("action", "severity", "rules", "policies", "matches", "error")

# Executor-side cache: digest -> Ruleset, so each Python worker unpickles a ruleset once.
_LOADED: dict[str, Ruleset] = {}


def _ruleset_from(blob: bytes, digest: str) -> Ruleset:
    rs = _LOADED.get(digest)
    if rs is None:
        if len(_LOADED) >= 4:  # a long-lived worker that saw many rulesets: keep it bounded
            _LOADED.clear()
        rs = _LOADED[digest] = pickle.loads(blob)
    return rs


def _verdict_fields(rs: Ruleset, post: Any, at: datetime | None) -> tuple[Any, ...]:
    """(action, severity, rules, policies, matches JSON, error) for one post."""
    from .errors import PolicyError

    try:
        v = rs.evaluate(post, at=at)
    except PolicyError as exc:  # a bad post: reported in its row, never fails the job
        return ("none", None, [], [], "[]", f"{type(exc).__name__}: {exc}")
    if not v.matches:
        return (v.action, v.severity, [], [], "[]", "; ".join(v.incomplete) or None)
    policies: list[str] = []
    for m in v.matches:
        if m.policy not in policies:
            policies.append(m.policy)
    matches = json.dumps(v.to_dict()["matches"], ensure_ascii=False)
    return (v.action, v.severity, [m.rule for m in v.matches], policies, matches,
            "; ".join(v.incomplete) or None)


def evaluate_rows(rs: Ruleset, rows: Iterable[tuple[Any, ...]], text_index: int, lang_index: int | None = None,
                  at: datetime | None = None) -> Iterator[tuple[Any, ...]]:
    """Each row (a tuple) with the verdict fields appended; the partition function, testable alone."""
    for row in rows:
        text = row[text_index]
        if lang_index is not None and row[lang_index] is not None:
            post: Any = {"text": text, "lang": row[lang_index]}
        else:
            post = text if text is not None else ""
        yield (*row, *_verdict_fields(rs, post, at))


def apply_ruleset(df: DataFrame, ruleset: Ruleset | str | os.PathLike[str], text_col: str = "text",
                  lang_col: str | None = None, *, at: datetime | None = None, prefix: str = "") -> DataFrame:
    """*df* with the verdict of each row's post in six new columns.

    Args:
        df: a DataFrame with a string column *text_col* (and optionally a language column).
        ruleset: a compiled :class:`~policyrules.Ruleset`, or a ruleset path that the driver
            loads (``policyrules.load``).
        text_col: the column holding each post's text (null counts as empty text).
        lang_col: a column with each post's language code (``lang`` of the post), if any.
        at: the time for ``active`` windows (default: now, on the executor).
        prefix: put in front of each new column's name (to avoid clashes).

    Returns:
        *df*'s columns, then ``action`` (string), ``severity`` (string or null), ``rules`` and
        ``policies`` (arrays of strings, enforced matches, most severe first), ``matches``
        (the verdict's matches as JSON, as ``Verdict.to_dict()`` gives them) and ``error``
        (null, or why the post could not be evaluated or was evaluated incompletely).
    """
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType

    if isinstance(ruleset, (str, os.PathLike)):
        from . import load

        ruleset = load(ruleset)
    blob = pickle.dumps(ruleset, protocol=pickle.HIGHEST_PROTOCOL)
    digest = ruleset.digest
    names = df.columns
    text_index = names.index(text_col)
    lang_index = names.index(lang_col) if lang_col is not None else None
    sc = df.sparkSession.sparkContext
    shipped = sc.broadcast(blob)

    def partition(rows: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
        rs = _ruleset_from(shipped.value, digest)
        return evaluate_rows(rs, (tuple(r) for r in rows), text_index, lang_index, at)

    strings = ArrayType(StringType(), containsNull=False)
    added = [
        StructField(prefix + "action", StringType(), False),
        StructField(prefix + "severity", StringType(), True),
        StructField(prefix + "rules", strings, False),
        StructField(prefix + "policies", strings, False),
        StructField(prefix + "matches", StringType(), False),
        StructField(prefix + "error", StringType(), True),
    ]
    schema = StructType([*df.schema.fields, *added])
    return df.sparkSession.createDataFrame(df.rdd.mapPartitions(partition), schema)
