"""Plain text for people: fits a 72-column mail reply where it can."""

from __future__ import annotations

from collections.abc import Iterable

from ..lang.diagnostics import Diagnostic
from ..results import EXPECTED_VERDICT, CheckReport, Counterexample, EvalResult, StepKind, TraceStep, Verdict, VerdictKind, show

# A verdict as one mark (Markdown and HTML matrices).
SYMBOL = {VerdictKind.PROVED: "✓", VerdictKind.REFUTED: "✗", VerdictKind.VACUOUS: "∅", VerdictKind.UNKNOWN: "?",
          VerdictKind.ERROR: "!"}


def diagnostics(diags: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    out: list[str] = []
    for d in diags:
        out.append(f"{d.span.file}:{d.span.line}:{d.span.col}: {d.severity}: {d.message}")
        line = _source_line(sources.get(d.span.file, ""), d.span.line)
        if line is not None:
            text, col = _clip(line.rstrip().expandtabs(4), max(d.span.col - 1, 0))
            out.append(f"    {text}")
            out.append("    " + " " * col + "^")
        if d.hint:
            out.append(f"    hint: {d.hint}")
    return "\n".join(out) + "\n"


CARET_WIDTH = 100  # a source line longer than this is shown around the column


def _source_line(source: str, number: int) -> str | None:
    """Line `number` (from 1) of a source, without splitting all of it."""
    if number < 1:
        return None
    start = 0
    for _ in range(number - 1):
        start = source.find("\n", start) + 1
        if start == 0:
            return None
    end = source.find("\n", start)
    return source[start:] if end < 0 else source[start:end]


def _clip(text: str, col: int) -> tuple[str, int]:
    """At most CARET_WIDTH characters of a line around `col`, and the caret's column in them."""
    if len(text) <= CARET_WIDTH:
        return text, col
    start = max(0, min(col - CARET_WIDTH // 2, len(text) - CARET_WIDTH))
    shown = ("..." if start else "") + text[start:start + CARET_WIDTH] + ("..." if start + CARET_WIDTH < len(text) else "")
    return shown, col - start + (3 if start else 0)


def counterexample(cex: Counterexample, indent: str = "    ", witness: bool = False) -> list[str]:
    out = []
    if cex.partial:
        out.append(f"{indent}counterexample (any other value for the rest):")
        out.extend(_wrap(", ".join(str(f) for f in cex.partial), indent + "  "))
        if cex.minimal:
            out.extend(_wrap(f"({cex.minimal})", indent + "  "))
    else:
        out.append(f"{indent}counterexample: every input that satisfies the premises")
    for d in cex.decisions:
        where = f"{d.version} " if d.version else ""
        out.append(f"{indent}{where}{d.predicate} = {show(d.value)}, decided by {d.rule}")
        out.append(f"{indent}  at {d.rule_at or ''}" + (f", kernel {d.kernel}" if d.kernel else ""))
    if witness:
        out.append(f"{indent}one full witness:")
        out.extend(_wrap(", ".join(f"{a}={show(v)}" for a, v in cex.witness), indent + "  "))
        for d in cex.decisions:
            out.append(f"{indent}trace of {d.predicate}:")
            out.extend(f"{indent}  {trace_step(s)}" for s in d.trace)
    out.extend(_wrap(cex.replay, indent))
    return out


def _wrap(text: str, indent: str, width: int = 72) -> list[str]:
    lines: list[str] = []
    line = indent
    for word in text.split(" "):
        if len(line) + len(word) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += word + " "
    if line.strip():
        lines.append(line.rstrip())
    return lines


def verdict(v: Verdict, detail: bool = False) -> list[str]:
    version = v.version or "(across versions)"
    if v.expected is None:
        status = "NO EXPECTATION in the spec"
    elif v.as_expected:
        status = "as expected"
    else:
        status = f"UNEXPECTED: expected {EXPECTED_VERDICT[v.expected]}"
    out = [f"  {version:<8} {v.verdict:<8} {status}"]
    if v.reason:
        out.extend(_wrap(v.reason, "    "))
    if v.verdict is VerdictKind.PROVED:
        used = ", ".join(v.core) if v.core else "none"
        out.extend(_wrap(f"assumptions used: {used}", "    "))
    elif v.verdict is VerdictKind.VACUOUS and v.core:
        out.extend(_wrap(f"conflicting assumptions: {', '.join(v.core)}", "    "))
    if v.counterexample is not None and (detail or not v.as_expected or v.verdict is VerdictKind.REFUTED):
        out.extend(counterexample(v.counterexample, witness=detail))
    if detail:
        out.extend(f"    check: {c}" for c in v.checks if v.counterexample is None)
    return out


def check_report(report: CheckReport, docs: dict[str, str], detail: bool = False) -> str:
    out = [f"thpverify check: {len(report.versions)} versions, {len(docs)} properties"]
    current = None
    for v in report.verdicts:
        if v.property_name != current:
            current = v.property_name
            out.append("")
            out.append(f"{v.property_name}")
            if docs.get(v.property_name):
                out.extend(_wrap(docs[v.property_name], "  "))
        out.extend(verdict(v, detail))
    out.append("")
    out.append(summary(report.verdicts))
    return "\n".join(out) + "\n"


def summary(verdicts: tuple[Verdict, ...]) -> str:
    counts = {k: sum(1 for v in verdicts if v.verdict is k) for k in VerdictKind}
    shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n or k in (VerdictKind.PROVED, VerdictKind.REFUTED))
    off = sum(1 for v in verdicts if not v.as_expected)
    tail = "all as expected" if not off else f"{off} not as expected"
    return f"{len(verdicts)} checks: {shown}; {tail}"


def eval_result(r: EvalResult) -> str:
    out = []
    if r.value is not None:
        out.append(f"{r.version} {r.predicate} = {show(r.value)}")
        if r.rule:
            out.append(f"  decided by {r.rule} at {r.rule_at}")
            if r.kernel:
                out.append(f"  kernel: {r.kernel}")
    elif r.contradicts:
        out.append(f"{r.version} {r.predicate}: no such VMA")
    else:
        out.append(f"{r.version} {r.predicate} = depends")
        out.extend(_wrap("on " + ", ".join(r.depends_on), "  "))
    if r.note:
        out.extend(_wrap(r.note, "  "))
    if r.given:
        out.extend(_wrap("given: " + ", ".join(str(f) for f in r.given), "  "))
    if r.trace:
        out.append("  trace:")
        out.extend(f"    {line}" for line in eval_trace(r))
    return "\n".join(out) + "\n"


COMPLETED = "(on one completion of the atoms not given)"


def eval_trace(r: EvalResult) -> list[str]:
    """An evaluation's trace, one line a step, said to run on one completion when it does."""
    return ([COMPLETED] if r.completed else []) + [trace_step(s) for s in r.trace]


def trace_step(step: TraceStep) -> str:
    """One trace line: predicate, rule, outcome, spec line, kernel lines."""
    where = f"{step.rule_at.file.rsplit('/', 1)[-1]}:{step.rule_at.line}"
    if step.kernel:
        where += f"  {step.kernel.where}"
    if step.kind is StepKind.TEST:
        outcome = {True: "taken", False: "not taken"}.get(step.value, "depends")  # type: ignore[arg-type]
    else:
        outcome = f"returns {show(step.value)}"
    return f"{'  ' * step.depth}{step.function} {step.rule}: {outcome}  {where}"
