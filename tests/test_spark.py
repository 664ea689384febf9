"""Tests for policyrules.spark: verdict columns on a DataFrame, in one local Spark session."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pytest

import policyrules
from policyrules import spark as prs

SOURCE = """
policy spam { title: "Spam" action: label }
policy threat { title: "Threat" action: remove severity: high }
rule free_money { policy: spam when: any(["free money"]) }
rule kill { policy: threat when: any(["kill you"]) }
"""


@pytest.fixture(scope="module")
def ruleset() -> policyrules.Ruleset:
    """The small two-policy ruleset every test uses."""
    return policyrules.compile(SOURCE)


class TestEvaluateRows:
    """Tests for `evaluate_rows` (the partition function, no Spark needed)."""

    def test_appends_verdict_fields(self, ruleset: policyrules.Ruleset) -> None:
        """Each row keeps its columns and gains action, severity, rules, policies, matches, error."""
        rows = list(prs.evaluate_rows(ruleset, [(1, "FREE money, I will kill you"), (2, None)], 1))
        first = rows[0]
        assert first[:2] == (1, "FREE money, I will kill you")
        assert first[2:4] == ("remove", "high")
        assert first[4] == ["kill", "free_money"] and first[5] == ["threat", "spam"]
        ev = json.loads(first[6])[0]["evidence"][0]
        assert (ev["start"], ev["end"], ev["text"]) == (19, 27, "kill you")
        assert first[7] is None
        assert rows[1][2:] == ("none", None, [], [], "[]", None)

    def test_bad_post_is_an_error_not_a_failure(self, ruleset: policyrules.Ruleset) -> None:
        """A non-string text is reported in the error column instead of raising."""
        (row,) = prs.evaluate_rows(ruleset, [(42,)], 0)
        assert row[1] == "none" and row[6].startswith("PostError")

    def test_cache_unpickles_once_per_digest(self, ruleset: policyrules.Ruleset) -> None:
        """The executor cache returns the same Ruleset object for the same digest."""
        blob = pickle.dumps(ruleset)
        prs._LOADED.clear()
        a = prs._ruleset_from(blob, ruleset.digest)
        assert prs._ruleset_from(b"not read", ruleset.digest) is a


def test_apply_ruleset_local_mode(ruleset: policyrules.Ruleset, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """In local mode, apply_ruleset adds typed verdict columns and keeps every row and column."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    # Executors must run this interpreter (the one with policyrules and its dependencies).
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").appName("policyrules-test")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
             .config("spark.local.dir", str(tmp_path)).getOrCreate())
    try:
        df = spark.createDataFrame(
            [(1, "get free money now", "en"), (2, "Ich werde dich töten", "de"), (3, None, None),
             (4, "I will KILL YOU", "en")],
            "id long, body string, lang string",
        ).repartition(2)
        out = prs.apply_ruleset(df, ruleset, text_col="body", lang_col="lang", prefix="v_")
        assert out.columns == ["id", "body", "lang", *("v_" + c for c in prs.VERDICT_COLUMNS)]
        assert dict(out.dtypes)["v_rules"] == "array<string>"
        rows = {r["id"]: r for r in out.collect()}
        assert len(rows) == 4
        assert (rows[1]["v_action"], rows[1]["v_rules"], rows[1]["v_policies"]) == ("label", ["free_money"], ["spam"])
        assert (rows[4]["v_action"], rows[4]["v_severity"]) == ("remove", "high")
        assert json.loads(rows[4]["v_matches"])[0]["evidence"][0]["text"] == "KILL YOU"
        assert rows[2]["v_action"] == rows[3]["v_action"] == "none" and rows[3]["v_error"] is None
    finally:
        spark.stop()
