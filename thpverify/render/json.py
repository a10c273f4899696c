"""JSON for tools: one versioned schema ("thpverify/1"), sorted keys."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from ..lang.diagnostics import Diagnostic
from ..results import SCHEMA, CheckReport, EvalResult, Verdict


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps({"schema": SCHEMA, **doc}, sort_keys=True, indent=2) + "\n"


def verdict(v: Verdict) -> dict[str, Any]:
    out = _plain(v)
    out["as_expected"] = v.as_expected
    if v.counterexample is not None:
        out["counterexample"]["partial"] = [
            {"atom": f.atom, "element": f.element, "value": f.value, "text": str(f)} for f in v.counterexample.partial
        ]
        out["counterexample"]["witness"] = dict(v.counterexample.witness)
    return out  # type: ignore[no-any-return]


def check_report(report: CheckReport) -> str:
    return dumps({
        "command": "check",
        "files": list(report.files),
        "versions": list(report.versions),
        "results": [verdict(v) for v in report.verdicts],
        "exit_code": report.exit_code,
    })


def eval_result(r: EvalResult, compact: bool = False) -> str:
    doc = _plain(r)
    doc["given"] = {str(f.atom) + (f"[{f.element}]" if f.element is not None else ""): f.value for f in r.given}
    doc["status"] = "known" if r.value is not None else ("contradiction" if r.contradicts else "depends")
    if compact:
        return json.dumps({"schema": SCHEMA, **doc}, sort_keys=True) + "\n"
    return dumps({"command": "eval", **doc})


def diagnostics(diags: Iterable[Diagnostic]) -> str:
    return dumps({
        "command": "error",
        "errors": [
            {"file": d.span.file, "line": d.span.line, "column": d.span.col, "code": d.code,
             "message": d.message, "hint": d.hint, "severity": d.severity}
            for d in diags
        ],
        "exit_code": 2,
    })
