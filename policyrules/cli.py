"""The ``policyrules`` command line: a thin click layer over the library.

argv → library calls (``policyrules.load``, ``corpus``, ``formatter``, ``lint``) → text for
people or one JSON document for machines. Exit status: 0 success, 1 failures (bad rules,
failed tests, rejected lines, unformatted files), 2 usage errors (click's default).
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import json
import os
import pickle
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from . import corpus as corpus_mod
from .errors import Diagnostic, PolicyError
from .parallel import cores

if TYPE_CHECKING:
    from .runtime import Ruleset
    from .verdict import Verdict

__all__ = ["main"]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# --------------------------------------------------------------------------- helpers


def _color_for(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.color is not None:
        return bool(ctx.color)
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _err(message: str = "", nl: bool = True) -> None:
    click.echo(message, err=True, nl=nl, color=_color_for(sys.stderr) or None)


def _out(message: str = "", nl: bool = True) -> None:
    click.echo(message, nl=nl)


def _json_out(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _diagnostics_of(exc: PolicyError) -> tuple[Diagnostic, ...]:
    diags: tuple[Diagnostic, ...] = tuple(getattr(exc, "diagnostics", ()) or ())
    if diags:
        return diags
    return (Diagnostic("error", "E000", str(exc) or type(exc).__name__),)


def _fail_with_policy_error(exc: PolicyError) -> NoReturn:
    """Render a library error's diagnostics to stderr and exit 1."""
    color = _color_for(sys.stderr)
    for diag in _diagnostics_of(exc):
        _err(diag.render(color=color))
    raise click.exceptions.Exit(1)


def _load(path: str) -> Ruleset:
    import policyrules

    try:
        return policyrules.load(path)
    except PolicyError as exc:
        _fail_with_policy_error(exc)


class _DateTime(click.ParamType):  # type: ignore[type-arg]
    """ISO 8601 date or datetime; ``Z`` or an offset, none means UTC."""

    name = "datetime"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or datetime (e.g. 2026-11-25T10:00Z)", param, ctx)
        return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


DATETIME = _DateTime()
RULESET = click.Path(exists=True, dir_okay=True, file_okay=True, path_type=str)


_F = TypeVar("_F", bound=Callable[..., Any])


def _format_option(*choices: str) -> Callable[[_F], _F]:
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default="text", show_default=True,
        help="text for people; json for machines" + ("; github for Actions annotations" if "github" in choices else "") + ".",
    )


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} " + (word if n == 1 else plural or word + "s")


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="policyrules", prog_name="policyrules")
@click.option("--color/--no-color", default=None,
              help="Force colour on or off (default: on a terminal, unless NO_COLOR is set).")
@click.pass_context
def main(ctx: click.Context, color: bool | None) -> None:
    """Compile, check, test and run trust-and-safety policy rules.

    \b
    Examples:
      policyrules check rulesets/x --strict
      policyrules explain rulesets/x "I'm gonna kill you tonight"
      policyrules test rulesets/x --junit report.xml
      policyrules sweep rulesets/x posts.jsonl -o verdicts.jsonl
      policyrules diff old/ new/ --corpus sample.jsonl
      policyrules fmt rulesets/x --check
    """
    ctx.color = color


# --------------------------------------------------------------------------- check


def _github_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _github_annotation(diag: Diagnostic) -> str:
    level = "error" if diag.severity == "error" else "warning"
    props = []
    if diag.span is not None:
        props.append(f"file={_github_escape(diag.span.path, True)}")
        props.append(f"line={diag.span.line}")
        props.append(f"col={diag.span.column}")
        if diag.span.end_line >= diag.span.line:
            props.append(f"endLine={diag.span.end_line}")
    props.append(f"title={_github_escape(diag.code, True)}")
    message = diag.message + "".join(f"\n{note}" for note in diag.notes)
    return f"::{level} {','.join(props)}::{_github_escape(message)}"


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("rulesets", nargs=-1, required=True, type=RULESET)
@click.option("--strict", is_flag=True, help="Treat lint warnings as errors (exit 1 on any).")
@click.option("--lint/--no-lint", "run_lint", default=True, show_default=True,
              help="Run lint checks after compiling.")
@_format_option("text", "json", "github")
def check(rulesets: tuple[str, ...], strict: bool, run_lint: bool, fmt: str) -> None:
    """Compile and lint RULESET... and report errors and warnings with file:line:col.

    Every ruleset is checked even when an earlier one has errors. Diagnostics go to
    stderr as ``file:line:col: severity[CODE]: message`` with the offending line and a
    caret; ``--format github`` also prints workflow annotations to stdout; ``--format json``
    prints one document to stdout.

    \b
    Examples:
      policyrules check rulesets/x
      policyrules check --strict rulesets/*/
      policyrules check --format github rulesets/x   # in GitHub Actions

    Exit status: 0 clean, 1 errors (or warnings with --strict), 2 usage.
    """
    import attrs

    import policyrules

    color = _color_for(sys.stderr)
    results = []
    total_errors = total_warnings = 0
    for path in rulesets:
        diags: list[Diagnostic] = []
        info: dict[str, Any] = {"path": path}
        try:
            rs = policyrules.load(path)
        except PolicyError as exc:
            diags.extend(_diagnostics_of(exc))
        else:
            info.update(rules=len(rs.rules), policies=len(rs.policies),
                        version=rs.version, digest=rs.digest)
            if run_lint:
                from .lint import lint_path

                try:
                    diags.extend(lint_path(path))
                except PolicyError as exc:
                    diags.extend(_diagnostics_of(exc))
        if strict:
            diags = [attrs.evolve(d, severity="error") if d.severity == "warning" else d for d in diags]
        errors = sum(1 for d in diags if d.severity == "error")
        warnings = sum(1 for d in diags if d.severity == "warning")
        total_errors += errors
        total_warnings += warnings
        info.update(ok=errors == 0, errors=errors, warnings=warnings,
                    diagnostics=[d.to_dict() for d in diags])
        results.append(info)
        if fmt in ("text", "github"):
            for d in diags:
                _err(d.render(color=color))
            if fmt == "github":
                for d in diags:
                    _out(_github_annotation(d))
            if errors == 0 and fmt == "text":
                _err(f"{path}: ok ({_plural(info['rules'], 'rule')}, {_plural(info['policies'], 'policy', 'policies')}"
                     + (f", {_plural(warnings, 'warning')}" if warnings else "") + ")")
    failed = total_errors > 0
    if fmt == "json":
        _json_out({"ok": not failed, "strict": strict, "errors": total_errors,
                   "warnings": total_warnings, "rulesets": results})
    elif len(rulesets) > 1 or failed:
        _err(f"checked {_plural(len(rulesets), 'ruleset')}: {_plural(total_errors, 'error')}, "
             f"{_plural(total_warnings, 'warning')}")
    if failed:
        raise click.exceptions.Exit(1)


# --------------------------------------------------------------------------- explain


def _field_value(post: Any, field: str) -> Any:
    """Resolve an evidence field name (``text``, ``author.bio``, ``hashtags[1]``) in a post."""
    if isinstance(post, str):
        return post if field == "text" else None
    cur: Any = post
    for part in field.split("."):
        index = None
        if part.endswith("]") and "[" in part:
            part, _, idx = part[:-1].partition("[")
            try:
                index = int(idx)
            except ValueError:
                return None
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
        if index is not None:
            if not isinstance(cur, list) or not -len(cur) <= index < len(cur):
                return None
            cur = cur[index]
    return cur


def _merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, spans: Iterable[tuple[int, int]], color: bool) -> str:
    """Mark evidence spans in *text*: styled on a terminal, ``[[...]]`` in plain text."""
    out = []
    pos = 0
    for start, end in _merge_spans((max(0, s), min(len(text), e)) for s, e in spans):
        if start < pos or start >= end:
            continue
        out.append(text[pos:start])
        piece = text[start:end]
        out.append(click.style(piece, fg="red", bold=True, underline=True) if color else f"[[{piece}]]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _read_post(text: str | None, post_file: str | None, lang: str | None) -> Any:
    if (text is None) == (post_file is None):
        raise click.UsageError("give either TEXT or --post FILE.json (not both)")
    post: Any
    if post_file is not None:
        try:
            with click.open_file(post_file, encoding="utf-8") as fh:
                post = json.load(fh)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read a JSON post from {post_file}: {exc}",
                                     param_hint="--post") from None
        if not isinstance(post, (dict, str)):
            raise click.BadParameter("the post must be a JSON object or string", param_hint="--post")
    else:
        post = text
    if lang is not None:
        post = {"text": post} if isinstance(post, str) else dict(post)
        post["lang"] = lang
    return post


def _check_rule_name(rs: Ruleset, rule: str | None) -> None:
    if rule is None:
        return
    names = [r.name for r in rs.rules]
    if rule not in names:
        close = difflib.get_close_matches(rule, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise click.BadParameter(f"no rule named {rule!r} in this ruleset{hint}", param_hint="--rule")


def _highlights(verdict: Verdict, post: Any, rule: str | None) -> list[dict[str, Any]]:
    out = []
    for kind, matches in (("enforced", verdict.matches), ("shadow", verdict.shadow_matches)):
        for m in matches:
            if rule is not None and m.rule != rule:
                continue
            for e in m.evidence:
                out.append({"rule": m.rule, "kind": kind, "field": e.field, "start": e.start,
                            "end": e.end, "text": e.text, "term": e.term, "item": e.item,
                            "steps": list(e.steps)})
    return out


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ruleset", type=RULESET)
@click.argument("text", required=False)
@click.option("--post", "post_file", metavar="FILE.json",
              help="Read the post (a JSON object with text, lang, author, ...) from a file; '-' is stdin.")
@click.option("--lang", metavar="L", help="The post's language (BCP 47), e.g. tr or pt-BR.")
@click.option("--at", type=DATETIME, help="Evaluation time for active windows (default: the post's created_at, else now).")
@click.option("--rule", metavar="NAME", help="Explain why this one rule did or did not fire.")
@_format_option("text", "json")
def explain(ruleset: str, text: str | None, post_file: str | None, lang: str | None,
            at: datetime | None, rule: str | None, fmt: str) -> None:
    """Show the verdict for one post and each rule's condition tree.

    Evidence is highlighted in the original text (in colour on a terminal, between
    ``[[`` and ``]]`` otherwise).

    \b
    Examples:
      policyrules explain rulesets/x "I'm gonna kill you tonight"
      policyrules explain rulesets/x "te voy a matar" --lang es
      policyrules explain rulesets/x --post post.json --rule vs_direct_threat
      policyrules explain rulesets/x "..." --at 2026-11-25T10:00Z --format json

    Exit status: 0 (1 when the ruleset does not compile or the post is invalid).
    """
    rs = _load(ruleset)
    post = _read_post(text, post_file, lang)
    _check_rule_name(rs, rule)
    try:
        verdict = rs.evaluate(post, at=at)
        explanation = rs.explain(post, rule=rule, at=at)
    except PolicyError as exc:
        _fail_with_policy_error(exc)
    marks = _highlights(verdict, post, rule)
    if fmt == "json":
        _json_out({"verdict": verdict.to_dict(), "explanation": explanation,
                   "post": post, "rule": rule, "highlights": marks})
        return
    color = _color_for(sys.stdout)
    if rule is not None:  # the library's explanation of one rule does not restate the verdict
        _out(_verdict_headline(verdict, color))
    by_field: dict[str, list[tuple[int, int]]] = {}
    for mark in marks:
        by_field.setdefault(mark["field"], []).append((mark["start"], mark["end"]))
    if "text" not in by_field:
        by_field = {"text": [], **by_field}
    for field, spans in by_field.items():
        value = _field_value(post, field)
        if isinstance(value, str):
            _out(f"{field}: {highlight(value, spans, color)}")
    _out("")
    _out(explanation)


def _verdict_headline(verdict: Verdict, color: bool) -> str:
    action = verdict.action
    if color and action != "none":
        action = click.style(action, fg="red", bold=True)
    line = f"verdict: {action}"
    if verdict.severity:
        line += f" (severity {verdict.severity})"
    for m in verdict.matches:
        line += f"\n  {m.rule} [{m.policy}] {m.action}/{m.severity}"
        if m.reason:
            line += f": {m.reason}"
    for m in verdict.shadow_matches:
        line += f"\n  shadow: {m.rule} [{m.policy}] {m.action}/{m.severity}"
    for note in verdict.incomplete:
        line += f"\n  incomplete: {note}"
    return line


# --------------------------------------------------------------------------- test


def _fmt_metric(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def _confusion_row(name: str, c: corpus_mod.Confusion, width: int, extra: str = "") -> str:
    return (f"  {name:<{width}} {c.tp:>6} {c.fp:>6} {c.fn:>6} {c.tn:>7}  "
            f"{_fmt_metric(c.precision)} {_fmt_metric(c.recall)} {_fmt_metric(c.f1)}{extra}")


def _render_report(report: corpus_mod.CorpusReport, thresholds: Sequence[corpus_mod.ThresholdResult],
                   samples: int, verbose: bool, color: bool) -> list[str]:
    lines = [f"corpus {report.name}: {_plural(report.records, 'record')}, {report.scored:,} scored, "
             f"{report.unlabeled:,} unlabeled, {report.rejected:,} rejected  ({report.path})"]
    for err in report.errors:
        lines.append(f"  rejected: {err}")
    names = [p.policy for p in report.policies] + [
        f"{r.rule} ({r.policy})" for r in report.rules if verbose or r.confusion.tp + r.confusion.fp]
    width = max([len(n) for n in names] + [10])
    def head(title: str) -> str:
        return (f"  {title:<{width}} {'TP':>6} {'FP':>6} {'FN':>6} {'TN':>7}  "
                f"{'prec':>6} {'recall':>6} {'F1':>6}")

    lines.append(head("policy"))
    for p in report.policies:
        extra = ""
        if p.shadow_only:
            extra = f"   +{p.shadow_only} shadow-only (with shadow: P {_fmt_metric(p.with_shadow.precision).strip()} R {_fmt_metric(p.with_shadow.recall).strip()})"
        lines.append(_confusion_row(p.policy, p.confusion, width, extra))
    fired = [r for r in report.rules if verbose or r.confusion.tp + r.confusion.fp]
    if fired:
        lines.append(head("rule (policy)"))
        for r in fired:
            mode = "  [shadow]" if r.mode == "shadow" else ""
            lines.append(_confusion_row(f"{r.rule} ({r.policy})", r.confusion, width, mode))
    silent = len(report.rules) - len(fired)
    if silent:
        lines.append(f"  ({_plural(silent, 'rule')} never fired on this corpus; -v lists them)")
    shown = [(f"policy {p.policy}", p.false_positives, p.false_negatives) for p in report.policies]
    if verbose:
        shown += [(f"rule {r.rule}", r.false_positives, r.false_negatives) for r in report.rules]
    for label, fps, fns in shown:
        for kind, items in (("false positives", fps), ("false negatives", fns)):
            if items[:samples]:
                lines.append(f"  {kind} of {label}:")
                lines.extend(f"    {s.id if s.id is not None else 'line ' + str(s.line)}: {json.dumps(s.text, ensure_ascii=False)}"
                             for s in items[:samples])
    for t in thresholds:
        lines.append("  " + _status(t.passed, color) + " threshold " + t.message)
    return lines


def _status(passed: bool, color: bool) -> str:
    word = "PASS" if passed else "FAIL"
    return click.style(word, fg="green" if passed else "red", bold=True) if color else word


@main.command("test", context_settings=CONTEXT_SETTINGS)
@click.argument("ruleset", type=RULESET)
@click.option("--corpus", "corpora", multiple=True, type=click.Path(exists=True, dir_okay=False),
              metavar="FILE.jsonl",
              help="A labeled JSONL corpus (each post has 'labels': [policy, ...]); repeatable. "
                   "Global [thresholds.X] of ruleset.toml apply to these.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Read at most N records of each corpus.")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write JUnit XML: one testcase per example and per threshold.")
@click.option("--examples-only", is_flag=True, help="Run the rules' examples, skip every corpus.")
@click.option("--require-corpora", is_flag=True,
              help="A [[corpus]] of ruleset.toml whose file is missing fails instead of being skipped.")
@click.option("--samples", type=click.IntRange(min=0), default=3, show_default=True,
              help="How many false positives and negatives to show per policy.")
@click.option("--at", type=DATETIME, help="Evaluation time for corpus posts (default: each post's created_at, else now).")
@click.option("-v", "--verbose", is_flag=True, help="Also show sample errors per rule and every passing example.")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Score corpora in parallel, one corpus per worker process (default: every core).")
@_format_option("text", "json")
def test_cmd(ruleset: str, corpora: tuple[str, ...], limit: int | None, junit: str | None,
             examples_only: bool, require_corpora: bool, samples: int, at: datetime | None,
             verbose: bool, workers: int | None, fmt: str) -> None:
    """Run the rules' examples, then score labeled corpora against thresholds.

    Examples run as if each rule were in enforce mode (a shadow match counts), at the
    start of its active window if it has one. Then every [[corpus]] of ruleset.toml and
    every --corpus file is scored: per policy (predicted = an enforced match under the
    policy) and per rule, TP/FP/FN/TN, precision, recall and F1, checked against the
    thresholds of ruleset.toml.

    \b
    Examples:
      policyrules test rulesets/x
      policyrules test rulesets/x --corpus labeled.jsonl --limit 5000
      policyrules test rulesets/x --junit test-results.xml --format json

    Exit status: 0 pass, 1 any failure (example, threshold, config), 2 usage.
    """
    rs = _load(ruleset)
    color = _color_for(sys.stdout)
    examples = corpus_mod.run_examples(rs)
    raw = dict(getattr(rs.config, "raw", {}) or {})
    root = getattr(rs, "root", None) or str(Path(ruleset).resolve().parent)
    specs: list[corpus_mod.CorpusSpec] = []
    problems: list[str] = []
    if not examples_only:
        specs.extend(corpus_mod.corpora_from_config(raw, root))
        gthresholds, gproblems = corpus_mod.global_thresholds(raw)
        problems.extend(gproblems)
        for path in corpora:
            specs.append(corpus_mod.CorpusSpec(Path(path).stem, path, corpus_mod.LabelMapping(),
                                               thresholds=gthresholds))
    reports: list[tuple[corpus_mod.CorpusReport, list[corpus_mod.ThresholdResult]]] = []
    skipped: list[tuple[str, str]] = []
    jobs: list[tuple[corpus_mod.CorpusSpec, int | None, int, datetime | None]] = []
    for spec in specs:
        problems.extend(spec.problems)
        if spec.problems:
            continue
        if not Path(spec.path).is_file():
            why = f"file not found: {spec.path}"
            if require_corpora:
                problems.append(f"corpus {spec.name!r}: {why}")
            else:
                skipped.append((spec.name, why))
            continue
        caps = [x for x in (spec.limit, limit) if x is not None]
        jobs.append((spec, min(caps) if caps else None, max(samples, 5), at))
    for spec, report in zip((j[0] for j in jobs), _score_all(rs, jobs, workers or cores()), strict=True):
        reports.append((report, corpus_mod.check_thresholds(report, spec.thresholds)))
    failed_examples = [e for e in examples if not e.passed]
    failed_thresholds = [t for _, ts in reports for t in ts if not t.passed]
    failed = bool(failed_examples or failed_thresholds or problems)
    if junit:
        xml = corpus_mod.junit_xml(
            examples, [t for _, ts in reports for t in ts],
            suite=getattr(rs.config, "name", "policyrules") or "policyrules",
            skipped=skipped, problems=problems)
        Path(junit).write_text(xml, encoding="utf-8")
    if fmt == "json":
        _json_out({
            "ok": not failed,
            "ruleset": {"path": ruleset, "version": rs.version, "digest": rs.digest},
            "examples": {"passed": len(examples) - len(failed_examples), "failed": len(failed_examples),
                         "results": [e.to_dict() for e in examples]},
            "corpora": [{**r.to_dict(), "thresholds": [t.to_dict() for t in ts]} for r, ts in reports],
            "skipped": [{"name": n, "reason": why} for n, why in skipped],
            "problems": problems,
        })
    else:
        _out(f"examples: {len(examples) - len(failed_examples)} passed, {len(failed_examples)} failed")
        for e in examples:
            if e.passed and not verbose:
                continue
            where = f" ({e.path}:{e.line})" if e.path else ""
            when = f" at {e.at.isoformat()}" if e.at else ""
            _out(f"  {_status(e.passed, color)} {e.rule} {e.kind} #{e.index}{where}{when}: {e.message}")
            if not e.passed:
                _out(f"       post: {json.dumps(e.post, ensure_ascii=False, default=str)}")
        for report, ts in reports:
            _out("")
            for line in _render_report(report, ts, samples, verbose, color):
                _out(line)
        for name, why in skipped:
            _out(f"\ncorpus {name}: skipped ({why})")
        for p in problems:
            _out(f"{_status(False, color)} {p}")
        n_thr = sum(len(ts) for _, ts in reports)
        _out(f"\nresult: {_status(not failed, color)} ({len(failed_examples)} of {_plural(len(examples), 'example')} failed, "
             f"{len(failed_thresholds)} of {_plural(n_thr, 'threshold')} failed, "
             f"{_plural(len(reports), 'corpus', 'corpora')} scored, {len(skipped)} skipped"
             + (f", {_plural(len(problems), 'configuration problem')}" if problems else "") + ")")
    if failed:
        raise click.exceptions.Exit(1)


_WORKER_STATE: dict[str, Any] = {}


def _worker_init(blob: bytes, at: datetime | None, full: bool) -> None:
    """Pool initializer: unpickle the ruleset ONCE per worker; leave Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent turns SIGTERM into KeyboardInterrupt; a worker that inherited that (fork) caught
    # the pool's terminate() after another worker died and blocked forever on its result pipe.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _WORKER_STATE["ruleset"] = pickle.loads(blob)
    _WORKER_STATE["at"] = at
    _WORKER_STATE["full"] = full


def _score_job(job: tuple[corpus_mod.CorpusSpec, int | None, int, datetime | None]) -> corpus_mod.CorpusReport:
    spec, limit, samples, at = job
    rs = _WORKER_STATE["ruleset"]
    return corpus_mod.score_corpus(rs, corpus_mod.read_jsonl(spec.path, limit), spec.mapping,
                                   name=spec.name, path=spec.path, samples=samples, at=at)


def _score_all(rs: Ruleset, jobs: list[tuple[corpus_mod.CorpusSpec, int | None, int, datetime | None]],
               workers: int) -> list[corpus_mod.CorpusReport]:
    """Score each corpus; several corpora go to worker processes (one corpus per task)."""
    workers = min(workers, len(jobs))
    if workers <= 1:
        _WORKER_STATE["ruleset"] = rs
        try:
            return [_score_job(job) for job in jobs]
        finally:
            _WORKER_STATE.clear()
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    blob = pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL)
    # biggest corpora first, so the slowest one does not start last
    order = sorted(range(len(jobs)), key=lambda i: -_size(jobs[i][0].path))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init, initargs=(blob, None, False)) as ex:
        futures = {i: ex.submit(_score_job, jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# --------------------------------------------------------------------------- sweep


# --------------------------------------------------------------------------- sweep


def _worker_chunk(chunk: list[tuple[int, str]]) -> tuple[str, corpus_mod.SweepSummary]:
    return corpus_mod.sweep_chunk(_WORKER_STATE["ruleset"], chunk, at=_WORKER_STATE["at"],
                                  full=_WORKER_STATE["full"])


def _chunks(lines: Iterable[str], skip: int, size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for n, raw in enumerate(lines, 1):
        if n <= skip:
            continue
        chunk.append((n, raw))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _resume_point(path: str, summary: corpus_mod.SweepSummary) -> int:
    """Count the whole, valid, consecutive output lines of an interrupted run; cut the rest.

    Returns how many input lines they cover; their verdicts are added to *summary*.
    """
    count = 0
    offset = 0
    with open(path, "r+b") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                obj = json.loads(raw)
            except ValueError:
                break
            if not isinstance(obj, dict) or obj.get("line") != count + 1:
                break
            count += 1
            offset += len(raw)
            summary.add_record(obj)
        fh.truncate(offset)
    summary.resumed = count
    return count


class _Progress:
    """A one-line progress report on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool, total_bytes: int | None) -> None:
        self.enabled = enabled
        self.total = total_bytes
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, lines: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        rate = lines / max(now - self.start, 1e-9)
        sys.stderr.write(f"\r  {lines:,} lines  {rate:,.0f} posts/s ")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _open_input(path: str) -> IO[str]:
    if path == "-":
        import io

        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


class _WorkerDied(Exception):
    """A worker process died (killed, out of memory) while chunks were in flight."""


class _Sink:
    """Where verdict lines go: whole chunks, one unbuffered write each, flushed at once.

    It remembers the offset after the last whole chunk, so an interrupted write can be cut
    back to a valid prefix of whole lines (:meth:`restore`).
    """

    def __init__(self, raw: IO[bytes], seekable: bool) -> None:
        self.raw = raw
        self.seekable = seekable
        self.good = raw.tell() if seekable else 0

    def write(self, text: str) -> None:
        view = memoryview(text.encode("utf-8"))
        size = len(view)
        while view:
            n = self.raw.write(view)
            view = view[n or 0:]
        self.raw.flush()
        self.good += size

    def restore(self) -> None:
        if self.seekable:
            self.raw.truncate(self.good)


def _run_sweep(rs: Ruleset | bytes, lines: Iterable[str], out: _Sink, *, skip: int, workers: int,
               chunk_size: int, at: datetime | None, full: bool,
               summary: corpus_mod.SweepSummary, progress: _Progress) -> int:
    """Evaluate and write, in input order, one whole chunk per write; returns lines written.

    *rs* is a ruleset, or the ruleset already pickled (so the caller can free its copy).
    With several workers, the ruleset is pickled once and unpickled once per worker (pool
    initializer); workers are spawned fresh, so they do not inherit the parent's memory. At
    most ``4 * workers`` chunks are in flight, so memory stays flat however long the input
    is. A worker that dies raises :class:`_WorkerDied`.
    """
    written = 0

    def emit(text: str, part: corpus_mod.SweepSummary) -> None:
        nonlocal written
        out.write(text)
        summary.merge(part)
        written += part.lines_in
        progress.update(written)

    chunks = _chunks(lines, skip, chunk_size)
    if workers <= 1:
        if isinstance(rs, bytes):
            rs = pickle.loads(rs)
        assert not isinstance(rs, bytes)
        for chunk in chunks:
            emit(*corpus_mod.sweep_chunk(rs, chunk, at=at, full=full))
        return written
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    blob = rs if isinstance(rs, bytes) else pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init, initargs=(blob, at, full))
    del blob
    pending: deque[Future[tuple[str, corpus_mod.SweepSummary]]] = deque()
    window = workers * 4
    try:
        for chunk in chunks:
            pending.append(executor.submit(_worker_chunk, chunk))
            while len(pending) >= window:
                emit(*pending.popleft().result())
        while pending:
            emit(*pending.popleft().result())
    except BrokenProcessPool as exc:
        raise _WorkerDied(str(exc)) from None
    finally:
        for fut in pending:
            fut.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
    return written


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _on_sigterm(handler: Any) -> Any:
    """Install a SIGTERM handler when we can (only the main thread may); return the old one."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, TypeError):  # not the main thread, or no previous Python handler
        return None


def _render_counter(title: str, counter: dict[str, int], top: int = 20) -> str:
    if not counter:
        return f"  {title:<13} -"
    items = list(counter.items())
    text = ", ".join(f"{k} {v:,}" for k, v in items[:top])
    if len(items) > top:
        text += f", ... {len(items) - top} more (--format json lists all)"
    return f"  {title:<13} {text}"


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ruleset", type=RULESET)
@click.argument("input_path", metavar="INPUT.jsonl", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), metavar="OUT.jsonl",
              help="Write verdict lines here (default: stdout).")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: every core).")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted -o file: keep its whole valid lines, skip that many input lines, append.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=500, show_default=True,
              help="Lines per chunk handed to a worker (and per flush).")
@click.option("--full", is_flag=True,
              help="Write the full verdict.to_dict() (with empty fields and the ruleset name/version/digest) on every line.")
@click.option("--at", type=DATETIME, help="Evaluation time for every post (default: each post's created_at, else now).")
@click.option("--progress/--no-progress", default=None, help="Progress line on stderr (default: when stderr is a terminal).")
@_format_option("text", "json")
def sweep(ruleset: str, input_path: str, output: str | None, workers: int | None, resume: bool,
          chunk_size: int, full: bool, at: datetime | None, progress: bool | None, fmt: str) -> None:
    """Evaluate every post of a JSONL file and write one verdict line per input line.

    Output lines are in input order: ``{"line": n, "id": ..., "verdict": {...}}``, or
    ``{"line": n, "id": ..., "error": "..."}`` for a line that is not JSON or not a valid
    post (never dropped). The file is streamed in chunks over worker processes, and each
    chunk is flushed whole, so an interrupted run leaves a valid prefix that ``--resume``
    continues. A summary by action, severity, policy and rule ends the run (stderr; with
    ``--format json`` a JSON document, on stdout when -o is given).

    \b
    Examples:
      policyrules sweep rulesets/x posts.jsonl -o verdicts.jsonl
      zcat posts.jsonl.gz | policyrules sweep rulesets/x - > verdicts.jsonl
      policyrules sweep rulesets/x posts.jsonl -o verdicts.jsonl --resume

    Exit status: 0, or 1 when lines were rejected (or a worker died, or interrupted).
    """
    if resume and not output:
        raise click.UsageError("--resume needs -o OUT.jsonl (the file to continue)")
    rs: Ruleset | bytes = _load(ruleset)
    assert not isinstance(rs, bytes)
    identity = {"path": ruleset, "name": rs.name, "version": rs.version, "digest": rs.digest}
    n_workers = workers or cores()
    if n_workers > 1:  # the workers hold the ruleset; keep only its pickle here
        rs = pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL)
        gc.collect()
    summary = corpus_mod.SweepSummary()
    skip = 0
    if resume and output and Path(output).is_file():
        skip = _resume_point(output, summary)
    show = progress if progress is not None else (fmt == "text" and _isatty(sys.stderr))
    meter = _Progress(show, None)
    started = time.monotonic()
    problem: str | None = None
    previous = _on_sigterm(_raise_interrupt)  # kill (TERM): stop cleanly, like Ctrl-C
    try:
        with contextlib.ExitStack() as stack:
            if output:
                raw: IO[bytes] = stack.enter_context(open(output, "ab" if resume else "wb", buffering=0))
                sink = _Sink(raw, seekable=True)
            else:
                sink = _Sink(sys.stdout.buffer, seekable=False)
            lines = stack.enter_context(_open_input(input_path))
            try:
                _run_sweep(rs, lines, sink, skip=skip, workers=n_workers, chunk_size=chunk_size,
                           at=at, full=full, summary=summary, progress=meter)
            except BaseException:
                sink.restore()
                raise
    except _WorkerDied as exc:
        problem = (f"a worker process died ({exc or 'killed'}); the output holds a valid prefix of "
                   f"{summary.lines_in:,} lines; rerun with --resume to continue")
    except KeyboardInterrupt:
        problem = (f"interrupted; the output holds a valid prefix of {summary.lines_in:,} lines"
                   + ("; rerun with --resume to continue" if output else ""))
    finally:
        _on_sigterm(previous if previous is not None else signal.SIG_DFL)
        meter.done()
    elapsed = time.monotonic() - started
    this_run = summary.lines_in - summary.resumed
    rate = this_run / elapsed if elapsed > 0 else 0.0
    doc = {
        **summary.to_dict(),
        "ruleset": identity,
        "output": output or "-",
        "workers": n_workers,
        "seconds": round(elapsed, 3),
        "posts_per_second": round(rate, 1),
        "complete": problem is None,
        "problem": problem,
    }
    if fmt == "json":
        text = json.dumps(doc, ensure_ascii=False, indent=2)
        click.echo(text, err=not output)
    else:
        d = summary.to_dict()
        _err(f"sweep: {d['lines_in']:,} lines in, {d['lines_out']:,} out ({d['verdicts']:,} verdicts, "
             f"{d['rejected']:,} rejected)" + (f"; {summary.resumed:,} resumed from {output}" if summary.resumed else ""))
        _err(f"  {this_run:,} posts in {elapsed:.2f} s = {rate:,.0f} posts/s with {_plural(n_workers, 'worker')}")
        _err(_render_counter("actions:", d["by_action"]))
        _err(_render_counter("severity:", d["by_severity"]))
        _err(_render_counter("policies:", d["by_policy"]))
        _err(_render_counter("rules:", d["by_rule"]))
        if d["by_shadow_rule"]:
            _err(_render_counter("shadow rules:", d["by_shadow_rule"]))
        if d["incomplete"]:
            _err(f"  incomplete:   {d['incomplete']:,} verdicts were cut short by a limit")
        if problem:
            _err(f"error: {problem}")
    if problem:
        raise click.exceptions.Exit(130 if problem.startswith("interrupted") else 1)
    if summary.rejected:
        raise click.exceptions.Exit(1)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- diff


def _render_diff_entry(e: corpus_mod.DiffEntry, color: bool) -> list[str]:
    ident = e.id if e.id is not None else f"line {e.line}"
    lines = [f"  {ident}: {e.old_action} -> {e.new_action}  "
             f"old [{', '.join(e.old_rules) or '-'}]  new [{', '.join(e.new_rules) or '-'}]"]
    spans: dict[str, list[tuple[int, int]]] = {}
    for side, rule, field, text, start, end in e.evidence:
        where = "" if field == "text" else f" in {field}"
        lines.append(f"      {side} {rule}: {json.dumps(text, ensure_ascii=False)}{where} @{start}-{end}")
        if field == "text":
            spans.setdefault(side, []).append((start, end))
    if e.text:
        shown = e.text if len(e.text) <= 300 else e.text[:299] + "…"
        marks = spans.get("new") or spans.get("old") or []
        lines.append(f"      text: {highlight(shown, [s for s in marks if s[1] <= len(shown)], color)}")
    return lines


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("old", type=RULESET)
@click.argument("new", type=RULESET)
@click.option("--corpus", "corpora", multiple=True, required=True, metavar="FILE.jsonl",
              type=click.Path(exists=True, dir_okay=False), help="Posts to compare on (JSONL); repeatable.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Read at most N posts of each corpus.")
@click.option("--show", type=click.IntRange(min=0), default=20, show_default=True,
              help="Posts to list per category (counts are always complete).")
@click.option("--at", type=DATETIME, help="Evaluation time (default: each post's created_at, else now).")
@_format_option("text", "json")
def diff(old: str, new: str, corpora: tuple[str, ...], limit: int | None, show: int,
         at: datetime | None, fmt: str) -> None:
    """Show what changing ruleset OLD into NEW does to a corpus.

    Posts newly matched, no longer matched, whose action changed, or matched by other
    rules for the same action, with ids, rules and evidence (enforced matches only).
    Counts come first, then per-rule changes, then the posts.

    \b
    Examples:
      policyrules diff main-rules/ rulesets/x --corpus sample.jsonl
      policyrules diff old.policy new.policy --corpus a.jsonl --corpus b.jsonl --format json

    Exit status: 0 (1 when a ruleset does not compile).
    """
    rs_old = _load(old)
    rs_new = _load(new)

    def records() -> Iterator[corpus_mod.Record]:
        for path in corpora:
            yield from corpus_mod.read_jsonl(path, limit)

    report = corpus_mod.diff_corpus(rs_old, rs_new, records(), keep=show, at=at)
    if fmt == "json":
        _json_out({"old": {"path": old, "version": rs_old.version, "digest": rs_old.digest},
                   "new": {"path": new, "version": rs_new.version, "digest": rs_new.digest},
                   **report.to_dict()})
        return
    color = _color_for(sys.stdout)
    c = report.counts
    _out(f"posts: {report.posts:,} (rejected {report.rejected:,})")
    _out(f"newly matched: {c['newly_matched']:,}  no longer matched: {c['no_longer_matched']:,}  "
         f"action changed: {c['action_changed']:,}  rules changed: {c['rules_changed']:,}")
    if report.rule_delta:
        _out("rules:")
        for name, (added, removed) in report.rule_delta.items():
            _out(f"  {name}: +{added:,} -{removed:,}")
    for title, entries, key in (
        ("newly matched", report.newly_matched, "newly_matched"),
        ("no longer matched", report.no_longer_matched, "no_longer_matched"),
        ("action changed", report.action_changed, "action_changed"),
        ("rules changed (same action)", report.rules_changed, "rules_changed"),
    ):
        if not entries:
            continue
        more = c[key] - len(entries)
        _out(f"\n{title} ({c[key]:,}" + (f", first {len(entries)} shown" if more > 0 else "") + "):")
        for e in entries:
            for line in _render_diff_entry(e, color):
                _out(line)


# --------------------------------------------------------------------------- fmt


def _policy_files(path: str) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        return sorted((q for q in p.rglob("*.policy") if q.is_file()), key=lambda q: q.as_posix())
    return [p]


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("rulesets", nargs=-1, required=True, type=RULESET)
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 and list the files that are not formatted.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print a unified diff of the changes.")
@_format_option("text", "json")
def fmt(rulesets: tuple[str, ...], check_only: bool, show_diff: bool, fmt: str) -> None:
    """Rewrite every .policy file of RULESET... in canonical form.

    \b
    Examples:
      policyrules fmt rulesets/x             # rewrite in place
      policyrules fmt --check rulesets/x     # CI / pre-commit: exit 1 when not formatted
      policyrules fmt --diff rulesets/x/violence.policy

    Exit status: 0; 1 with --check when a file is not formatted, or when a file does
    not parse.
    """
    from .formatter import format_source

    color = _color_for(sys.stderr)
    changed: list[str] = []
    failed: list[str] = []
    results = []
    files = [f for r in rulesets for f in _policy_files(r)]
    for path in files:
        display = path.as_posix()
        try:
            original = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            failed.append(display)
            _err(f"{display}: cannot read: {exc}")
            results.append({"path": display, "changed": False, "error": str(exc)})
            continue
        try:
            formatted = format_source(original, display)
        except PolicyError as exc:
            failed.append(display)
            for diag in _diagnostics_of(exc):
                _err(diag.render(color=color))
            results.append({"path": display, "changed": False,
                            "error": str(exc), "diagnostics": [d.to_dict() for d in _diagnostics_of(exc)]})
            continue
        is_changed = formatted != original
        entry: dict[str, Any] = {"path": display, "changed": is_changed}
        if is_changed:
            changed.append(display)
            patch = "".join(difflib.unified_diff(
                original.splitlines(keepends=True), formatted.splitlines(keepends=True),
                fromfile=f"a/{display}", tofile=f"b/{display}"))
            if show_diff:
                entry["diff"] = patch
                if fmt == "text":
                    _out(patch, nl=not patch.endswith("\n") and bool(patch))
            if not check_only and not show_diff:
                path.write_text(formatted, encoding="utf-8")
        results.append(entry)
    writes = not check_only and not show_diff
    if fmt == "json":
        _json_out({"ok": not failed and not (check_only and changed), "check": check_only,
                   "files": results, "changed": len(changed), "failed": len(failed)})
    else:
        for path_s in changed:
            _err(("reformatted " if writes else "would reformat ") + path_s)
        _err(f"{_plural(len(files), 'file')}: {len(changed)} "
             + ("reformatted" if writes else "to reformat") + f", {len(files) - len(changed) - len(failed)} unchanged"
             + (f", {len(failed)} failed" if failed else ""))
    if failed or (check_only and changed):
        raise click.exceptions.Exit(1)
