"""JSON for tools: one versioned schema ("thpverify/2"), sorted keys.

Every `--json` document is made by `envelope`: the schema name, the
command, and the body, with values typed: booleans as true/false, a set
of orders as an array of orders, an enum value as a string, a place as an
object with integer fields (`plain`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from ..lang.diagnostics import Diagnostic
from ..results import SCHEMA, CheckReport, EvalResult, Fixed, TraceStep, Verdict
from .text import eval_trace, trace_step

# Field names that differ from their JSON key: the key keeps the DSL's word
# (a Python field cannot be called `property` without shadowing the builtin).
_KEYS = {"property_name": "property"}


def plain(value: Any) -> Any:
    """Typed result data as JSON values."""
    if isinstance(value, Fixed):
        return {"atom": value.atom, "element": value.element, "value": plain(value.typed), "text": str(value)}
    if isinstance(value, TraceStep):
        return trace_step(value)  # a trace is its lines
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_KEYS.get(f.name, f.name): plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def envelope(command: str, body: Mapping[str, Any], compact: bool = False) -> str:
    """One JSON document: `schema`, `command` and the body's fields."""
    doc = {**plain(body), "schema": SCHEMA, "command": command}
    if compact:
        return json.dumps(doc, sort_keys=True) + "\n"
    return json.dumps(doc, sort_keys=True, indent=2) + "\n"


def verdict(v: Verdict) -> dict[str, Any]:
    out: dict[str, Any] = plain(v)
    out["as_expected"] = v.as_expected
    if v.counterexample is not None:
        out["counterexample"]["witness"] = {a: plain(x) for a, x in v.counterexample.witness}
    return out


def check_report(report: CheckReport) -> str:
    return envelope("check", {
        "files": report.files,
        "versions": report.versions,
        "results": [verdict(v) for v in report.verdicts],
        "exit_code": report.exit_code,
    })


def eval_result(r: EvalResult, compact: bool = False) -> str:
    doc: dict[str, Any] = plain(r)
    del doc["completed"]
    doc["trace"] = eval_trace(r)
    doc["status"] = "known" if r.value is not None else ("contradiction" if r.contradicts else "depends")
    return envelope("eval", doc, compact)


def diagnostics(diags: Iterable[Diagnostic]) -> str:
    return envelope("error", {
        "errors": [
            {"file": d.span.file, "line": d.span.line, "column": d.span.col, "code": d.code,
             "message": d.message, "hint": d.hint, "severity": d.severity}
            for d in diags
        ],
        "exit_code": 2,
    })
