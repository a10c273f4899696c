"""Text (72 columns, for mail replies) and JSON for the analysis results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..location import Span
from ..results import (
    Change,
    DiffRow,
    DiffTable,
    LintReport,
    Literal,
    PatchReport,
    Requirement,
    Side,
    Timeline,
    show,
)
from .json import plain
from .text import _wrap

WIDTH = 72


def _lits(cube: tuple[Literal, ...]) -> str:
    return ", ".join(str(x) for x in cube) if cube else "every input"


def _short(at: Span | None) -> str:
    """specs/v6.1.thp:22:5 -> v6.1.thp:22"""
    return "" if at is None else f"{at.file.rsplit('/', 1)[-1]}:{at.line}"


def _number(n: int | None) -> str:
    return "(not counted)" if n is None else f"{n:,}"


def _share(part: int | None, whole: int | None) -> str:
    if part is None or whole is None:
        return "not counted: too many cubes"
    if not whole:
        return "0%"
    pct = 100 * part / whole
    if part and pct < 0.01:
        return "<0.01%"
    return f"{pct:.2f}%"


# -------------------------------------------------------------------- diff


def _side(s: Side, width: int) -> list[str]:
    where = _short(s.rule_at)
    if s.kernel:
        where += f", {s.kernel.where}"
    head = f"      {s.version:<{width}}  {show(s.value):<5}  by {s.rule}"
    line = f"{head}  ({where})"
    if len(line) <= WIDTH:
        return [line]
    return [head, f"      {'':<{width}}  ({where})"]


def wrap_items(items: Sequence[str], indent: str, width: int = WIDTH) -> list[str]:
    """Comma-separated items, never broken inside an item."""
    lines: list[str] = []
    line = indent
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if len(line) + len(piece) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += piece + " "
    if line.strip():
        lines.append(line.rstrip())
    return lines or [indent.rstrip()]


def _cube_lines(cube: tuple[Literal, ...], indent: str) -> list[str]:
    return wrap_items([str(x) for x in cube] or ["every input"], indent)


def _row(i: int, r: DiffRow, width: int) -> list[str]:
    lines = _cube_lines(r.cube, "    ")
    lines[0] = f"{i:>2}. " + lines[0][4:]
    return lines + _side(r.a, width) + _side(r.b, width)


def diff_header(t: DiffTable) -> list[str]:
    who = f", caller = {t.caller}" if t.caller else ""
    out = [f"diff {t.a} {t.b}: {t.output}{who}"]
    out.extend(_wrap(f"inputs allowed by the assumptions of both versions ({len(t.assumptions)} named"
                     + (f"; without {', '.join(t.dropped)})" if t.dropped else ")")
                     + ("" if t.caller else "; the caller is an input"), "  "))
    if not t.rows:
        out.append("  no input disagrees" + (f" ({_number(t.total)} inputs)" if t.total is not None else ""))
        if t.total != 0:
            used = ", ".join(t.core) if t.core else "none (they agree on every input)"
            out.extend(_wrap(f"assumptions needed: {used}", "  "))
    else:
        rows = "1 row" if len(t.rows) == 1 else f"{len(t.rows)} rows"
        if t.hidden:
            rows = f"{_number(len(t.rows) + t.hidden)} rows, the first {len(t.rows)} shown (--max-rows 0: all)"
        if t.disagreeing is None or t.total is None:
            out.extend(_wrap(f"{rows}; not counted: over the {len(t.space)} atoms the two answers and their "
                             "assumptions read, the exact count takes too many cubes", "  "))
        else:
            out.extend(_wrap(f"{rows}; {_number(t.disagreeing)} of {_number(t.total)} inputs disagree "
                             f"({_share(t.disagreeing, t.total)}), counted over the {len(t.space)} atoms "
                             "the two answers and their assumptions read", "  "))
    return out


def diff_text(t: DiffTable) -> str:
    """The table as plain text that fits a 72-column mail reply."""
    out = diff_header(t)
    width = max(len(t.a), len(t.b))
    for i, r in enumerate(t.rows, 1):
        out.append("")
        out.extend(_row(i, r, width))
    return "\n".join(out) + "\n"


def _literal_json(x: Literal) -> dict[str, Any]:
    return {"name": x.name, "element": x.element, "values": list(x.values), "derived": x.derived, "text": str(x)}


def diff_json(t: DiffTable) -> dict[str, Any]:
    """The table as the body of a JSON document (command diff)."""
    doc: dict[str, Any] = plain(t)
    doc["rows"] = [{**plain(r), "cube": [_literal_json(x) for x in r.cube], "text": _lits(r.cube)} for r in t.rows]
    if not t.hidden:
        del doc["hidden"]  # present only when rows were left out
    return doc


# ---------------------------------------------------------------- timeline


def timeline_text(t: Timeline) -> str:
    """One line per version (two when the answer depends or has a note)."""
    who = f", caller = {t.caller}" if t.caller else ""
    out = [f"timeline of {t.output}{who}"]
    given = ", ".join(str(f) for f in t.given) or "nothing (every atom unknown)"
    out.extend(_wrap(f"given: {given}; every other atom unknown", "  "))
    out.append("")
    width = max([len(s.version) for s in t.steps] + [5]) + 2
    for s in t.steps:
        name = ("  " if s.patch else "") + s.version
        if s.note and s.value is None and not s.depends_on:
            out.extend(_wrap(f"{name:<{width}} --  {s.note}", "  ", WIDTH))
            continue
        if s.value is None:
            out.extend(wrap_items(s.depends_on, f"  {name:<{width}} depends on ", WIDTH)[:1])
            rest = wrap_items(s.depends_on, "", WIDTH - width - 14)
            if len(rest) > 1:
                joined = ", ".join(s.depends_on)
                out[-1] = f"  {name:<{width}} depends on"
                out.extend(_wrap(joined, " " * (width + 4), WIDTH))
            continue
        value = "yes" if s.value is True else "no" if s.value is False else show(s.value)
        line = f"  {name:<{width}} {value:<4}"
        line += f" by {s.rule} ({_short(s.rule_at)})" if s.rule else " (the deciding rule depends on atoms not given)"
        out.append(line)
    return "\n".join(out) + "\n"


def timeline_json(t: Timeline) -> dict[str, Any]:
    doc: dict[str, Any] = plain(t)
    for step in doc["steps"]:
        step["status"] = "known" if step["value"] is not None else ("depends" if step["depends_on"] else "none")
    return doc


# ---------------------------------------------------------------- requires


def formula(r: Requirement) -> str:
    if r.never:
        return "false"
    if r.always:
        return "true"
    terms = [" && ".join(_lit_formula(x) for x in term) for term in r.terms]
    common = [_lit_formula(x) for x in r.common]
    if len(terms) == 1 and not terms[0]:
        return " && ".join(common)
    body = " || ".join(f"({t})" if len(r.terms) > 1 and " && " in t else t for t in terms)
    if common:
        return " && ".join(common) + " && " + (f"({body})" if len(terms) > 1 else body)
    return body


def _lit_formula(x: Literal) -> str:
    return str(x)


def requires_text(r: Requirement) -> str:
    who = f", caller = {r.caller}" if r.caller else ""
    which = r.versions[0] if len(r.versions) == 1 else f"every one of {len(r.versions)} versions"
    out = [f"requires {r.output}{who} on {which}"]
    if len(r.versions) > 1:
        out.extend(_wrap(", ".join(r.versions), "  "))
    out.extend(_wrap(f"inputs allowed by the assumptions ({len(r.assumptions)} named)", "  "))
    out.append("")
    if r.never:
        out.append("  never true")
    elif r.always:
        out.append("  always true")
    else:
        if r.common:
            out.append("  all of:")
            out.extend(_cube_lines(r.common, "    "))
            if r.terms and any(r.terms):
                out.append("  and one of:")
        elif len(r.terms) > 1:
            out.append("  one of:")
        for term in r.terms:
            if term:
                lines = _cube_lines(term, "      ")
                lines[0] = "    - " + lines[0][6:]
                out.extend(lines)
    out.append("")
    if r.count is None or r.total is None:
        out.extend(_wrap(f"not counted: over these {len(r.space)} atoms the exact count takes too many cubes", "  "))
    else:
        out.extend(_wrap(f"{_number(r.count)} of {_number(r.total)} inputs ({_share(r.count, r.total)}), "
                         f"counted over {len(r.space)} atoms", "  "))
    if r.replay:
        out.extend(_wrap(r.replay, "  "))
    return "\n".join(out) + "\n"


def requires_json(r: Requirement) -> dict[str, Any]:
    doc: dict[str, Any] = plain(r)
    doc["common"] = [_literal_json(x) for x in r.common]
    doc["terms"] = [[_literal_json(x) for x in t] for t in r.terms]
    doc["formula"] = formula(r)
    return doc


# ------------------------------------------------------------------- patch


def patch_text(p: PatchReport, strict: bool = False) -> str:
    out = [f"patch {p.base} -> {p.candidate}"]
    if p.intends_callers or p.intends_properties:
        declared = [f"caller {c}" for c in p.intends_callers] + [f"property {x}" for x in p.intends_properties]
        out.extend(_wrap("intends: " + ", ".join(declared), ""))
    for change in (Change.NEWLY_FAILING, Change.NEWLY_HOLDING):
        hits = [c for c in p.properties if c.kind is change]
        out.append("")
        out.append(f"{change} ({len(hits)}):")
        for c in hits:
            out.append(f"  {c.property_name}" + ("  (intended)" if c.intended else ""))
            across = f"  (with {p.candidate} in {p.base}'s place)" if c.across else ""
            out.append(f"    {p.base}: {c.base}, {p.candidate}: {c.candidate}{across}")
        if not hits:
            out.append("  none")
    other = [c for c in p.properties if c.kind is Change.OTHER]
    if other:
        out.append("")
        out.append(f"other changes ({len(other)}):")
        out.extend(f"  {c.property_name}: {c.change}" for c in other)
    same = [c for c in p.properties if c.kind is Change.UNCHANGED]
    out.append("")
    out.append(f"unchanged ({len(same)}):")
    out.extend(_wrap(", ".join(c.property_name for c in same) or "none", "  "))
    for t in p.diffs:
        out.append("")
        out.append("-" * 40)
        out.append(diff_text(t).rstrip("\n"))
    out.append("")
    out.append("-" * 40)
    out.extend(_coverage_text(p))
    out.append("")
    out.extend(_wrap(_patch_verdict(p, strict), ""))
    return "\n".join(out) + "\n"


def _rows(numbers: Sequence[int]) -> str:
    return ("row " if len(numbers) == 1 else "rows ") + ", ".join(str(n) for n in numbers)


def _coverage_text(p: PatchReport) -> list[str]:
    """The rows of the diff tables, by who accounts for them."""
    callers = list(dict.fromkeys(c.caller for c in p.coverage))
    out = [f"behaviour changes no property covers ({len(p.uncovered)} rows):"]
    for caller in callers:
        rows = [c.row for c in p.uncovered if c.caller == caller]
        if rows:
            out.extend(_wrap(f"{caller or 'every caller'}: {_rows(rows)}", "  "))
    if not p.uncovered:
        out.append("  none")
    intended = [c for c in p.coverage if c.intended and not c.covered_by]
    if intended:
        out.append(f"intended (declared with 'intends caller'), {len(intended)} rows:")
        for caller in callers:
            rows = [c.row for c in intended if c.caller == caller]
            if rows:
                out.extend(_wrap(f"{caller}: {_rows(rows)}", "  "))
    covered = [c for c in p.coverage if c.covered_by]
    if covered:
        out.append(f"covered by a property whose verdict changed ({len(covered)} rows):")
        groups: dict[tuple[str | None, tuple[str, ...]], list[int]] = {}
        for c in covered:
            groups.setdefault((c.caller, c.covered_by), []).append(c.row)
        for (caller, names), rows in groups.items():
            out.extend(_wrap(f"{caller or 'every caller'} {_rows(rows)}: {', '.join(names)}", "  "))
    return out


def _patch_verdict(p: PatchReport, strict: bool) -> str:
    code = p.exit_code(strict)
    failing = p.newly_failing
    if code == 6:
        return "verdict: ERROR: a check failed inside the tool (exit 6)"
    if failing:
        names = ", ".join(c.property_name for c in failing)
        counted = "1 property newly fails" if len(failing) == 1 else f"{len(failing)} properties newly fail"
        return f"verdict: FAIL: {counted}: {names} (exit 10)"
    if code == 10:
        return f"verdict: FAIL (--strict): {len(p.uncovered)} behaviour changes are covered by no property (exit 10)"
    if code == 5:
        return "verdict: INCONCLUSIVE: a verdict on the candidate is unknown (exit 5)"
    changed = sum(len(t.rows) for t in p.diffs if not t.dropped)
    if not changed:
        return "verdict: OK: no property newly fails, and no input changes its answer (exit 0)"
    if not p.uncovered:
        return (f"verdict: OK: no property newly fails; {changed} rows change behaviour, each covered by a "
                "property or declared with 'intends' (exit 0)")
    tail = "; --strict fails on them" if not strict else ""
    return (f"verdict: OK: no property newly fails; {changed} rows change behaviour, {len(p.uncovered)} of them "
            f"covered by no property{tail} (exit 0)")


def patch_json(p: PatchReport, strict: bool = False) -> dict[str, Any]:
    return {"base": p.base, "candidate": p.candidate, "strict": strict,
            "intends": {"callers": list(p.intends_callers), "properties": list(p.intends_properties)},
            "properties": plain(p.properties), "diffs": [diff_json(t) for t in p.diffs],
            "coverage": [{"caller": c.caller, "row": c.row, "covered_by": list(c.covered_by), "intended": c.intended,
                          "uncovered": c.uncovered} for c in p.coverage],
            "exit_code": p.exit_code(strict)}


# -------------------------------------------------------------------- lint


def lint_text(r: LintReport) -> str:
    out = [f"lint: {len(r.versions)} versions, {len(r.findings)} findings"
           + (f" ({len(r.allowed)} allowed)" if r.allowed else "")]
    for f in r.findings:
        out.append("")
        out.append(f"{f.at}: {f.kind}: {f.name}" if f.at else f"{f.kind}: {f.name}")
        out.extend(_wrap(f.message, "  "))
        if f.witness:
            lines = wrap_items([str(x) for x in f.witness], "    ")
            out.append("  witness: " + lines[0].strip() if len(lines[0]) + 7 <= WIDTH else "  witness:")
            out.extend(lines[1:] if len(lines[0]) + 7 <= WIDTH else lines)
        if f.replay:
            out.extend(_wrap(f.replay, "  "))
        out.append(f"  allow with: --allow {f.key}")
    return "\n".join(out) + "\n"


def lint_json(r: LintReport) -> dict[str, Any]:
    findings = []
    for f in r.findings:
        doc = plain(f)
        doc["key"] = f.key
        findings.append(doc)
    return {"versions": list(r.versions), "findings": findings, "allowed": list(r.allowed)}
