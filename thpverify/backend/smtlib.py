"""The SMT-LIB 2 export: a version's predicates, or one property instance
as a script whose (check-sat) answers whether it can fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import z3

from .. import model as m
from .compiler import Compiler
from .solver import sort_of


def smt2(lib: m.Library, version: str) -> str:
    """An SMT-LIB 2 script for one version: atoms, assumptions, outputs.

    Every atom is declared under its own name; enums are datatypes
    `<atom>_t` with constructors `<atom>_<value>`; sets are bit-vectors with
    bit k set when order k is in the set. Assumptions are named asserts;
    each predicate of the version is a define-fun.
    """
    c = Compiler(lib)
    v = lib.versions[version]
    out = _smt2_preamble(c, f"; thpverify export of version {version}"
                         + (f" (release {v.get('release')})" if v.get("release") else ""))
    out.extend(_smt2_assumptions(c, v.assumptions))
    for fn in v.functions.values():
        if fn.kind != "predicate":
            continue
        params = {name: z3.Const(name, sort_of(c, t)) for name, t in fn.params}
        value, _ = c.body(fn, params)
        formals = " ".join(f"({name} {term.sort().sexpr()})" for name, term in params.items())
        out.append(f"(define-fun {fn.name} ({formals}) {sort_of(c, fn.returns).sexpr()}")
        out.append(f"  {value.sexpr()})")
    return "\n".join(out) + "\n"


def _smt2_preamble(c: Compiler, title: str) -> list[str]:
    """The script's head: logic, the atoms' declarations, well-formedness."""
    lib = c.lib
    out = [
        title,
        "; atoms are named as in the spec vocabulary; sets of orders are",
        "; bit-vectors with bit k set when order k is in the set",
        "(set-logic ALL)",
        "(set-option :produce-unsat-cores true)",
    ]
    for atom in lib.atoms.values():
        if atom.type.kind == "enum":
            ctors = " ".join(f"({atom.name}_{value})" for value in atom.values)
            out.append(f"(declare-datatypes (({atom.name}_t 0)) (({ctors})))")
    for atom in lib.atoms.values():
        out.append(f"(declare-const {atom.name} {c.atoms[atom.name].sort().sexpr()})")
    for i, wf in enumerate(c.well_formed()):
        out.append(f"(assert (! {wf.sexpr()} :named well_formed_{i}))")
    return out


def _smt2_assumptions(c: Compiler, assumptions: Iterable[m.Assumption]) -> list[str]:
    out = []
    for a in assumptions:
        out.append(f"; {a.doc}" if a.doc else f"; assumption {a.name}")
        out.append(f"(assert (! {c.expr(a.expr).sexpr()} :named {a.name}))")
    return out


def smt2_instance(lib: m.Library, inst: m.Instance, only: Sequence[str] | None = None,
                  compiler: Compiler | None = None) -> str:
    """An SMT-LIB 2 script asking whether one property instance can fail.

    The premises (callers, `given`), the instance's named assumptions (all
    of them, or only those named in `only`, e.g. a proof's core) and the
    negated claim, then (check-sat): unsat means the claim is proved under
    those assumptions. Predicates the claim reads are inlined. Declarations
    are those of smt2().
    """
    c = compiler or Compiler(lib)
    where = inst.version or "across versions"
    out = _smt2_preamble(c, f"; thpverify: can property {inst.property} fail on {where}?")
    for i, p in enumerate(inst.premises):
        out.append(f"(assert (! {c.expr(p).sexpr()} :named premise_{i}))")
    chosen = [a for a in inst.assumptions if only is None or a.name in only]
    missing = sorted(set(only or ()) - {a.name for a in chosen})
    if missing:
        raise ValueError(f"{inst.property}: no assumption named {', '.join(missing)}")
    out.extend(_smt2_assumptions(c, chosen))
    out.append("; the claim, negated: unsat proves it")
    out.append(f"(assert (! (not {c.expr(inst.claim).sexpr()}) :named negated_claim))")
    out.append("(check-sat)")
    return "\n".join(out) + "\n"
