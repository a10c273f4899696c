"""The SMT-LIB 2 export: a version's predicates, or one property instance
as a script whose (check-sat) answers whether it can fail.

Every symbol the export declares lives in a namespace of its own, so that
no spec name can meet an SMT-LIB reserved word (`let`, `_`, `assert`), a
theory symbol (`and`, `ite`, `bvand`) or another spec name:

    atom.NAME             an atom (Bool, a bit-vector for a set, a datatype for an enum)
    sort.NAME             the datatype of enum atom NAME
    value.NAME.VALUE      its constructors
    pred.NAME, param.NAME a predicate of the version and its parameters
    assume.NAME, premise.N, well_formed.N, claim.negated   the :named labels

A symbol that is not a simple SMT-LIB symbol is written |quoted|; one that
cannot be quoted (it holds `|` or `\\`) is refused. Comments carry spec
text (doc strings, names) with every control character written as an
escape, so no text of a spec can end a comment line early.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import z3

from .. import model as m
from .compiler import Compiler
from .solver import sort_of

_SIMPLE = re.compile(r"[A-Za-z~!@$%^&*_+=<>.?/-][0-9A-Za-z~!@$%^&*_+=<>.?/-]*")

# SMT-LIB 2.6 reserved words (section 3.1, and the command names).
RESERVED = frozenset({
    "BINARY", "DECIMAL", "HEXADECIMAL", "NUMERAL", "STRING", "_", "!", "as", "let", "exists", "forall", "match", "par",
    "assert", "check-sat", "check-sat-assuming", "declare-const", "declare-datatype", "declare-datatypes",
    "declare-fun", "declare-sort", "define-fun", "define-fun-rec", "define-funs-rec", "define-sort", "echo", "exit",
    "get-assertions", "get-assignment", "get-info", "get-model", "get-option", "get-proof", "get-unsat-assumptions",
    "get-unsat-core", "get-value", "pop", "push", "reset", "reset-assertions", "set-info", "set-logic", "set-option",
})


def symbol(name: str) -> str:
    """name as an SMT-LIB symbol: bare when it is a simple symbol and not
    reserved, else |quoted|; ValueError when it cannot be written at all."""
    if "|" in name or "\\" in name or not name:
        raise ValueError(f"{name!r} cannot be an SMT-LIB symbol")
    if _SIMPLE.fullmatch(name) and name not in RESERVED:
        return name
    return f"|{name}|"


def comment(text: str) -> str:
    """One comment line; control characters (a decoded newline too) are escaped."""
    safe = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return f"; {safe}"


class ExportCompiler(Compiler):
    """The compiler, declaring every atom under its namespaced export name."""

    def _declare(self, atom: m.Atom) -> z3.ExprRef:
        name = symbol(f"atom.{atom.name}")
        if atom.type.kind is m.TypeKind.BOOL:
            return z3.Bool(name, self.ctx)
        if atom.type.kind is m.TypeKind.ENUM:
            values = [symbol(f"value.{atom.name}.{v}") for v in atom.values]
            sort, made = z3.EnumSort(symbol(f"sort.{atom.name}"), values, ctx=self.ctx)
            self.sorts[atom.name] = sort
            self.constructors[atom.name] = dict(zip(atom.values, made, strict=True))
            return z3.Const(name, sort)
        return z3.BitVec(name, self.width(atom.type.name), self.ctx)


def smt2(lib: m.Library, version: str) -> str:
    """An SMT-LIB 2 script for one version: atoms, assumptions, outputs.

    Names as in the module's docstring; sets are bit-vectors with bit k set
    when order k is in the set. Assumptions are named asserts; each
    predicate of the version is a define-fun.
    """
    c = ExportCompiler(lib)
    v = lib.versions[version]
    release = v.get("release")
    out = _smt2_preamble(c, f"thpverify export of version {version}" + (f" (release {release})" if release else ""))
    out.extend(_smt2_assumptions(c, v.assumptions))
    for fn in v.functions.values():
        if fn.kind is not m.FunctionKind.PREDICATE:
            continue
        params = {name: z3.Const(symbol(f"param.{name}"), sort_of(c, t)) for name, t in fn.params}
        value, _ = c.body(fn, params)
        formals = " ".join(f"({term.sexpr()} {term.sort().sexpr()})" for term in params.values())
        out.append(f"(define-fun {symbol('pred.' + fn.name)} ({formals}) {sort_of(c, fn.returns).sexpr()}")
        out.append(f"  {value.sexpr()})")
    return "\n".join(out) + "\n"


def _smt2_preamble(c: Compiler, title: str) -> list[str]:
    """The script's head: logic, the atoms' declarations, well-formedness."""
    lib = c.lib
    out = [
        comment(title),
        "; atoms are atom.NAME; an enum's values are value.NAME.VALUE of sort sort.NAME;",
        "; sets of orders are bit-vectors with bit k set when order k is in the set",
        "(set-logic ALL)",
        "(set-option :produce-unsat-cores true)",
    ]
    for atom in lib.atoms.values():
        if atom.type.kind is m.TypeKind.ENUM:
            ctors = " ".join(f"({c.constructors[atom.name][value].sexpr()})" for value in atom.values)
            out.append(f"(declare-datatypes (({c.sorts[atom.name].sexpr()} 0)) (({ctors})))")
    for atom in lib.atoms.values():
        term = c.atoms[atom.name]
        out.append(f"(declare-const {term.sexpr()} {term.sort().sexpr()})")
    for i, wf in enumerate(c.well_formed()):
        out.append(f"(assert (! {wf.sexpr()} :named well_formed.{i}))")
    return out


def _smt2_assumptions(c: Compiler, assumptions: Iterable[m.Assumption]) -> list[str]:
    out = []
    for a in assumptions:
        out.append(comment(f"assumption {a.name}" + (f": {a.doc}" if a.doc else "")))
        out.append(f"(assert (! {c.expr(a.expr).sexpr()} :named {symbol('assume.' + a.name)}))")
    return out


def compiler(lib: m.Library) -> Compiler:
    """A compiler naming atoms as the export does; reuse it across smt2_instance calls."""
    return ExportCompiler(lib)


def smt2_instance(lib: m.Library, inst: m.Instance, only: Sequence[str] | None = None,
                  compiler: Compiler | None = None) -> str:
    """An SMT-LIB 2 script asking whether one property instance can fail.

    The premises (callers, `given`), the instance's named assumptions (all
    of them, or only those named in `only`, e.g. a proof's core) and the
    negated claim, then (check-sat): unsat means the claim is proved under
    those assumptions. Predicates the claim reads are inlined. Declarations
    are those of smt2(); `compiler`, when given, comes from compiler().
    """
    c = compiler if isinstance(compiler, ExportCompiler) else ExportCompiler(lib)
    where = inst.version or "across versions"
    out = _smt2_preamble(c, f"thpverify: can property {inst.property_name} fail on {where}?")
    for i, p in enumerate(inst.premises):
        out.append(f"(assert (! {c.expr(p).sexpr()} :named premise.{i}))")
    chosen = [a for a in inst.assumptions if only is None or a.name in only]
    missing = sorted(set(only or ()) - {a.name for a in chosen})
    if missing:
        raise ValueError(f"{inst.property_name}: no assumption named {', '.join(missing)}")
    out.extend(_smt2_assumptions(c, chosen))
    out.append("; the claim, negated: unsat proves it")
    out.append(f"(assert (! (not {c.expr(inst.claim).sexpr()}) :named claim.negated))")
    out.append("(check-sat)")
    return "\n".join(out) + "\n"
