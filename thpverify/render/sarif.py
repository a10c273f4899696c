"""SARIF 2.1.0 for code-scanning tools: one result per property x version.

Each result is located at the property in its spec file; a refuted one
also at the kernel lines cited by the rule that decided it (under the
uri base id KERNEL: a kernel source tree) and, as related locations, at
the deciding rules in the spec. A verdict as expected is a `pass` at
level `none`; one that differs from its expectation is a `fail` at level
`error`; an inconclusive one (solver unknown) a `fail` at level
`warning`.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .. import __version__
from .. import model as m
from ..results import EXPECTED_VERDICT, CheckReport, Decision, Verdict, VerdictKind, show
from . import text as render_text

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True)
class Place:
    file: str
    line: int
    col: int = 0
    end_line: int = 0


def property_place(lib: m.Library, v: Verdict) -> Place | None:
    """Where the property is written in the spec."""
    prop = lib.properties.get(v.property_name)
    if prop is None or prop.span.line <= 0:
        return None
    return Place(prop.span.file, prop.span.line, prop.span.col)


def expect_place(lib: m.Library, v: Verdict) -> Place | None:
    """The `expect` line that applies to this version, else the property."""
    prop = lib.properties.get(v.property_name)
    if prop is not None:
        for inst in prop.instances:
            if inst.version == v.version and inst.expect_span is not None and inst.expect_span.line > 0:
                return Place(inst.expect_span.file, inst.expect_span.line, inst.expect_span.col)
    return property_place(lib, v)


def rule_place(d: Decision) -> Place | None:
    """The deciding rule in the spec."""
    at = d.rule_at
    return None if at is None else Place(at.file, at.line, at.col)


def kernel_place(d: Decision) -> Place | None:
    """The kernel lines the deciding rule cites."""
    cite = d.kernel
    return None if cite is None else Place(cite.file, cite.first, 0, cite.last)


class Status(StrEnum):
    """How CI should count a verdict."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


def status(v: Verdict) -> Status:
    if v.as_expected:
        return Status.PASS
    if v.verdict is VerdictKind.UNKNOWN:
        return Status.INCONCLUSIVE
    return Status.FAIL


def headline(v: Verdict) -> str:
    """One line for a verdict: what was found against what was expected."""
    where = v.version or "across versions"
    if v.expected is None:
        return f"{v.property_name} [{where}]: {v.verdict}; the spec states no expectation"
    want = EXPECTED_VERDICT[v.expected]
    if v.as_expected:
        return f"{v.property_name} [{where}]: {v.verdict}, as expected"
    return f"{v.property_name} [{where}]: {v.verdict}, expected {want}"


def details(v: Verdict) -> str:
    """The text report of one verdict with witness and trace (as `prove` prints it)."""
    return textwrap.dedent("\n".join(render_text.verdict(v, detail=True))) + "\n"


def _physical(place: Place, base: str) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": place.line}
    if place.col > 0:
        region["startColumn"] = place.col
    if place.end_line > place.line:
        region["endLine"] = place.end_line
    return {"physicalLocation": {"artifactLocation": {"uri": place.file, "uriBaseId": base}, "region": region}}


def _result(lib: m.Library, v: Verdict, index: int) -> dict[str, Any]:
    kind = status(v)
    level = {Status.PASS: "none", Status.FAIL: "error", Status.INCONCLUSIVE: "warning"}[kind]
    message = headline(v)
    if v.reason:
        message += f". {v.reason}"
    if v.counterexample is not None:
        cex = v.counterexample
        forced = ", ".join(str(f) for f in cex.partial) or "every input that satisfies the premises"
        message += f". Counterexample: {forced}"
        for d in cex.decisions:
            message += f"; {d.version + ' ' if d.version else ''}{d.predicate} = {show(d.value)}, decided by {d.rule}"
    elif v.verdict is VerdictKind.PROVED:
        message += ". Assumptions used: " + (", ".join(v.core) if v.core else "none")
    locations = []
    spec = property_place(lib, v)
    if spec is not None:
        locations.append(_physical(spec, "%SRCROOT%"))
    related: list[dict[str, Any]] = []
    if v.counterexample is not None:
        for d in v.counterexample.decisions:
            kernel = kernel_place(d)
            if kernel is not None:
                loc = _physical(kernel, "KERNEL")
                loc["message"] = {"text": f"kernel lines of rule {d.rule} ({d.kernel})"}
                locations.append(loc)
            rule = rule_place(d)
            if rule is not None:
                loc = _physical(rule, "%SRCROOT%")
                loc["id"] = len(related)
                loc["message"] = {"text": f"{d.predicate} = {show(d.value)}, decided by rule {d.rule}"}
                related.append(loc)
    expect = expect_place(lib, v)
    if expect is not None and expect != spec:
        loc = _physical(expect, "%SRCROOT%")
        loc["id"] = len(related)
        loc["message"] = {"text": "the expectation for this version"}
        related.append(loc)
    out: dict[str, Any] = {
        "ruleId": v.property_name,
        "ruleIndex": index,
        "kind": "pass" if kind is Status.PASS else "fail",
        "level": level,
        "message": {"text": message},
        "locations": locations,
        "partialFingerprints": {"thpverify/v1": f"{v.property_name}@{v.version}"},
        "properties": {
            "version": v.version,
            "verdict": v.verdict,
            "expected": v.expected,
            "asExpected": v.as_expected,
            "core": list(v.core),
            "checks": list(v.checks),
        },
    }
    if related:
        out["relatedLocations"] = related
    return out


def check_report(report: CheckReport, lib: m.Library) -> str:
    names = list(dict.fromkeys(v.property_name for v in report.verdicts))
    rules = []
    for name in names:
        prop = lib.properties.get(name)
        sentence = prop.doc if prop is not None and prop.doc else name
        rule: dict[str, Any] = {"id": name, "shortDescription": {"text": sentence},
                                "defaultConfiguration": {"level": "error"}}
        rules.append(rule)
    index = {name: i for i, name in enumerate(names)}
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "thpverify", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "originalUriBaseIds": {
                "%SRCROOT%": {"description": {"text": "the directory thpverify ran in"}},
                "KERNEL": {"description": {"text": "a Linux source tree of the release the rule cites"}},
            },
            "columnKind": "unicodeCodePoints",
            "results": [_result(lib, v, index[v.property_name]) for v in report.verdicts],
            "properties": {"versions": list(report.versions), "files": list(report.files),
                           "exitCode": report.exit_code},
        }],
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
