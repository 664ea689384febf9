"""Tests for name resolution and compile errors (golden messages with caret excerpts)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

import policyrules
from policyrules import PolicyCompileError

FIXTURES = Path(__file__).parent / "fixtures" / "resolve"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

BAD = '''policy spam { title: "Spam" action: label }
policy spam { title: "Again" }
terms words = ["a", "b"]
rule r1 { policy: spamm when: any(wordz) severity: huge }
rule r2 { policy: spam when: any(/([a-z/) reason: "{evidnce}" }
rule r3 { policy: spam when: rule(r4) }
rule r4 { policy: spam when: rule(r3) and post.x > 1 }
'''


def compile_error(source: str, name: str = "bad.policy") -> PolicyCompileError:
    """The PolicyCompileError that compiling *source* raises."""
    with pytest.raises(PolicyCompileError) as info:
        policyrules.compile(source, name=name)
    return info.value


class TestCompileErrors:
    """Every problem of a ruleset is reported together, each with file:line:col and a caret."""

    def test_golden(self) -> None:
        """The rendered message matches the golden file."""
        rendered = str(compile_error(BAD))
        golden = FIXTURES / "errors.txt"
        if UPDATE:
            golden.write_text(rendered + "\n", encoding="utf-8")
        assert rendered + "\n" == golden.read_text(encoding="utf-8")

    def test_structured_fields(self) -> None:
        """The exception carries path, line, column, code and every diagnostic, sorted by position."""
        err = compile_error(BAD)
        assert (err.path, err.line, err.column, err.code) == ("bad.policy", 2, 8, "E110")
        codes = [d.code for d in err.diagnostics]
        assert codes == ["E110", "E231", "E191", "E122", "E181", "E241", "E250"]
        positions = [(d.span.line, d.span.column) for d in err.diagnostics if d.span]
        assert positions == sorted(positions)

    def test_duplicate_names_both_places(self) -> None:
        """A name defined twice names both places."""
        err = compile_error('terms a = ["x"]\npattern a = /x/\n')
        assert "bad.policy:1:7" in err.diagnostics[0].message
        assert err.line == 2

    def test_error_pickles(self) -> None:
        """Compile errors survive pickling with their fields."""
        err = compile_error(BAD)
        again = pickle.loads(pickle.dumps(err))
        assert str(again) == str(err)
        assert again.line == err.line

    @pytest.mark.parametrize(
        ("source", "fragment"),
        [
            ('rule r { when: "x" }', "needs a policy"),
            ('policy p { title: "P" action: label }\nrule r { policy: p }', "needs a condition"),
            ('policy p { action: label }', "needs a title"),
            ('policy p { title: "P" action: zap }', "'zap' is not one of"),
            ('policy p { title: "P" action: label }\nterms t (mtch: word) = ["x"]\nrule r { policy: p when: t }', "did you mean 'match'"),
            ('policy p { title: "P" action: label }\nterms t (match: words) = ["x"]\nrule r { policy: p when: t }', "did you mean 'word'"),
            ('policy p { title: "P" action: label }\nterms t = ["*"]\nrule r { policy: p when: t }', "only a wildcard"),
            ('policy p { title: "P" action: label }\nterms t = a\nterms a = t\nrule r { policy: p when: t }', "cycle"),
            ('policy p { title: "P" action: label }\nterms t = file("x.txt")\nrule r { policy: p when: t }', "needs a ruleset directory"),
            ('policy p { title: "P" action: label }\nrule r { policy: p when: 3 of ("a", "b") }', "could never be true"),
            ('policy p { title: "P" action: label }\nrule r { policy: p mode: loud when: "a" }', "'loud' is not one of"),
            ('policy p { title: "P" action: label }\nrule r { policy: p when: rule(q) }', "unknown rule"),
            ('policy p { title: "P" action: label }\nterms t = []\nrule r { policy: p when: t }', "empty list"),
        ],
    )
    def test_messages(self, source: str, fragment: str) -> None:
        """Each kind of mistake gets a message that says what to do."""
        assert fragment in str(compile_error(source))


class TestDirectories:
    """Rulesets as directories: one namespace, list files, ruleset.toml."""

    def test_directory_ruleset(self, tmp_path: Path) -> None:
        """Files share one namespace; file() lists are read relative to their .policy file."""
        (tmp_path / "lists").mkdir()
        (tmp_path / "lists" / "t.txt").write_text("# threats\nkill you\n#freemoney\n", encoding="utf-8")
        (tmp_path / "a.policy").write_text('policy p { title: "P" action: label }\n', encoding="utf-8")
        (tmp_path / "b.policy").write_text('terms t = file("lists/t.txt")\nrule r { policy: p when: t }\n', encoding="utf-8")
        (tmp_path / "ruleset.toml").write_text('name = "demo"\nversion = "1.2"\n', encoding="utf-8")
        rs = policyrules.load(tmp_path)
        assert (rs.name, rs.version) == ("demo", "1.2")
        assert [t.text for t in rs.terms[0].terms] == ["kill you", "#freemoney"]
        assert rs.evaluate("I will kill you").action == "label"
        assert rs.evaluate("#FreeMoney").action == "label"

    def test_digest_changes_with_lists(self, tmp_path: Path) -> None:
        """The digest covers list files, not only .policy sources."""
        (tmp_path / "t.txt").write_text("a\n", encoding="utf-8")
        (tmp_path / "a.policy").write_text('policy p { title: "P" action: label }\nterms t = file("t.txt")\nrule r { policy: p when: t }\n', encoding="utf-8")
        d1 = policyrules.load(tmp_path).digest
        (tmp_path / "t.txt").write_text("b\n", encoding="utf-8")
        assert policyrules.load(tmp_path).digest != d1

    def test_list_file_error_points_into_list(self, tmp_path: Path) -> None:
        """A bad term in a list file is reported at its line in the list file."""
        (tmp_path / "t.txt").write_text("ok\nba*d\n", encoding="utf-8")
        (tmp_path / "a.policy").write_text('policy p { title: "P" action: label }\nterms t = file("t.txt")\nrule r { policy: p when: t }\n', encoding="utf-8")
        with pytest.raises(PolicyCompileError) as info:
            policyrules.load(tmp_path)
        assert info.value.path is not None and info.value.path.endswith("t.txt")
        assert info.value.line == 2

    def test_file_cannot_escape_root(self, tmp_path: Path) -> None:
        """file() may not leave the ruleset root."""
        root = tmp_path / "rs"
        root.mkdir()
        (tmp_path / "secret.txt").write_text("x\n", encoding="utf-8")
        (root / "a.policy").write_text('policy p { title: "P" action: label }\nterms t = file("../secret.txt")\nrule r { policy: p when: t }\n', encoding="utf-8")
        with pytest.raises(PolicyCompileError, match="outside the ruleset root"):
            policyrules.load(root)
