"""A second opinion: re-prove Z3's proofs with cvc5 from the SMT-LIB export.

For every proved verdict the property instance is written as an SMT-LIB 2
script (smtlib.smt2_instance: premises, named assumptions, the negated
claim) twice, once with every assumption of the instance and once with
only the core the proof reported, and each script is handed to cvc5's own
SMT-LIB parser. Both must come back unsat; a sat, an unknown or an error
from cvc5 where Z3 proved is a disagreement, reported loudly (exit 6).

cvc5 is an optional dependency (`pip install "thpverify[cvc5]"`); this
module imports no z3 itself (the export goes through smtlib.py).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import model as m
from ..errors import UsageError
from ..results import Verdict, VerdictKind

TIME_LIMIT_MS = 60_000


class MissingSolverError(UsageError):
    """cvc5 is not installed (exit 2)."""


@dataclass(frozen=True)
class CrossCheck:
    """cvc5's answer on one proved instance under one set of assumptions."""

    property_name: str
    version: str
    scope: str  # "all assumptions" or "core"
    assumptions: tuple[str, ...]
    answer: str  # unsat, sat, unknown, or error: ...

    @property
    def agrees(self) -> bool:
        return self.answer == "unsat"


def cvc5_version() -> str:
    try:
        import cvc5
    except ImportError as exc:
        raise MissingSolverError("cvc5 is not installed; pip install 'thpverify[cvc5]' (PyPI package cvc5)") from exc
    return str(getattr(cvc5, "__version__", "?"))


def run_cvc5(script: str, name: str = "thpverify", time_limit_ms: int = TIME_LIMIT_MS) -> str:
    """Run an SMT-LIB 2 script in a fresh cvc5; the answer of its last (check-sat)."""
    import cvc5

    tm = cvc5.TermManager()
    solver = cvc5.Solver(tm)
    solver.setOption("tlimit-per", str(time_limit_ms))
    symbols = cvc5.SymbolManager(tm)
    parser = cvc5.InputParser(solver, symbols)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, script, name)
    answer = "error: the script has no (check-sat)"
    try:
        while True:
            command = parser.nextCommand()
            if command.isNull():
                break
            said = command.invoke(solver, symbols).strip()
            if said in ("sat", "unsat", "unknown"):
                answer = said
            elif said.startswith("(error"):
                return f"error: {said}"
    except Exception as exc:  # cvc5 reports parse and API errors as exceptions
        return f"error: {type(exc).__name__}: {exc}"
    return answer


def _instance(lib: m.Library, v: Verdict) -> m.Instance:
    for inst in lib.properties[v.property_name].instances:
        if inst.version == v.version:
            return inst
    raise KeyError(f"{v.property_name} has no instance for {v.version or 'across versions'}")


def cross_check(lib: m.Library, verdicts: Iterable[Verdict], time_limit_ms: int = TIME_LIMIT_MS) -> tuple[CrossCheck, ...]:
    """cvc5's answers for every proved verdict: all assumptions, then the core alone."""
    cvc5_version()
    from . import smtlib

    compiler = smtlib.compiler(lib)
    out: list[CrossCheck] = []
    for v in verdicts:
        if v.verdict is not VerdictKind.PROVED:
            continue
        inst = _instance(lib, v)
        scopes: list[tuple[str, Sequence[str] | None]] = [("all assumptions", None), ("core", v.core)]
        for scope, only in scopes:
            script = smtlib.smt2_instance(lib, inst, only=only, compiler=compiler)
            names = tuple(a.name for a in inst.assumptions if only is None or a.name in only)
            answer = run_cvc5(script, f"{v.property_name}@{v.version}", time_limit_ms)
            out.append(CrossCheck(v.property_name, v.version, scope, names, answer))
    return tuple(out)


def text(results: Sequence[CrossCheck]) -> str:
    """The cross-check's verdict for people: one line when all agree, every disagreement otherwise."""
    version = cvc5_version()
    proofs = len({(r.property_name, r.version) for r in results})
    wrong = [r for r in results if not r.agrees]
    head = (f"cross-check with cvc5 {version}: {proofs} proofs re-checked from the SMT-LIB export, "
            f"{len(results)} queries (with all assumptions, and with the core alone)")
    if not wrong:
        return textwrap.fill(head + "; cvc5 agrees: every query unsat", 72, subsequent_indent="  ") + "\n"
    lines = [textwrap.fill(head + f"; {len(wrong)} DISAGREE", 72, subsequent_indent="  ")]
    for r in wrong:
        where = r.version or "across versions"
        lines.append(textwrap.fill(
            f"CROSS-CHECK DISAGREEMENT: z3 proved {r.property_name} on {where}, but cvc5 says {r.answer} "
            f"with {r.scope} ({', '.join(r.assumptions) or 'none'})", 72, subsequent_indent="  "))
    return "\n".join(lines) + "\n"


def as_json(results: Sequence[CrossCheck]) -> list[dict[str, Any]]:
    return [{"property": r.property_name, "version": r.version, "scope": r.scope,
             "assumptions": list(r.assumptions), "answer": r.answer, "agrees": r.agrees} for r in results]
