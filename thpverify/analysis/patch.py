"""What a candidate version changes against its base.

Properties: every property is checked on the base and on the candidate. A
property written for each version is checked on both versions; a property
that names versions ("v6.6"::eligible, `fix_v3_is_v67`) and names the base
is checked as written and again with the candidate in the base's place; one
that does not name the base cannot change and is left out. Proved counts as
holding; refuted as failing; vacuous and unknown are neither. Each property
is newly failing, newly holding or unchanged.

Behaviour: for each caller, the diff table of the output; where no input
disagrees only thanks to some assumptions, also the table without them,
which shows what those assumptions settle.

Coverage: a row of a diff table is covered by a property whose verdict
changed when, on some input of the row that meets the property's premises
and assumptions, the property's claim differs between the two versions
(one query per row and property, its input confirmed by the interpreter).
A row of a caller the patch declares (`intends caller`) is intended. Any
other row is a behaviour change that no property covers.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import model as m
from ..backend.solver import Solver
from ..location import Span
from ..results import Change, DiffTable, Literal, PatchReport, PropertyChange, RowCoverage, VerdictKind
from .diff import diff
from .engine import Engine


def patch(lib: m.Library, base: str, candidate: str, output: str = "eligible") -> PatchReport:
    solver = Solver(lib)
    cand = lib.versions[candidate]
    pairs = [(prop, before, after) for prop in lib.properties.values() for before, after in _pairs(lib, prop, base, candidate)]
    changes = []
    for prop, before, after in pairs:
        was, now = solver.check(before).verdict, solver.check(after).verdict
        changes.append(PropertyChange(prop.name, was, now, _change(was, now), before.version == "",
                                      prop.name in cand.intends_properties))
    engine = Engine(lib, solver)
    diffs: list[DiffTable] = []
    coverage: list[RowCoverage] = []
    changed = [(c.property_name, before, after) for c, (_, before, after) in zip(changes, pairs, strict=True)
               if c.kind in (Change.NEWLY_FAILING, Change.NEWLY_HOLDING)]
    caller = lib.atoms.get("caller")
    for c in caller.values if caller is not None else (None,):
        t = diff(lib, base, candidate, c, output, engine=engine)
        diffs.append(t)
        for i, row in enumerate(t.rows, 1):
            covered = tuple(dict.fromkeys(name for name, before, after in changed
                                          if _tells_apart(lib, solver, row.cube, c, before, after)))
            coverage.append(RowCoverage(c, i, covered, c in cand.intends_callers))
        if not t.rows and t.core:
            # Agreement that rests on assumptions: show what they settle.
            diffs.append(diff(lib, base, candidate, c, output, engine=engine, drop=t.core))
    return PatchReport(base, candidate, tuple(changes), tuple(diffs), tuple(coverage),
                       cand.intends_callers, cand.intends_properties)


def _change(before: VerdictKind, after: VerdictKind) -> str:
    kind = Change.between(before, after)
    return f"{before} -> {after}" if kind is Change.OTHER else str(kind)


def _pairs(lib: m.Library, prop: m.Property, base: str, candidate: str) -> list[tuple[m.Instance, m.Instance]]:
    """The instances of a property to compare: (on the base, on the candidate)."""
    by_version = {i.version: i for i in prop.instances}
    if base in by_version and candidate in by_version:
        return [(by_version[base], by_version[candidate])]
    out = []
    for inst in prop.instances:
        if inst.version == "" and base in _named(inst):
            out.append((inst, _substitute(lib, inst, base, candidate)))
    return out


def _named(inst: m.Instance) -> set[str]:
    found: set[str] = set()
    for e in (*inst.premises, inst.claim):
        found |= m.versions_called(e)
    return found


def _substitute(lib: m.Library, inst: m.Instance, base: str, candidate: str) -> m.Instance:
    """A property across versions with the candidate in the base's place:
    its calls renamed, and the assumptions of the versions it now names
    (less those it drops, plus its own)."""
    renames = {base: candidate}
    named = _named(inst)
    merged_before = {a.name for v in named for a in lib.versions[v].assumptions}
    kept = {a.name for a in inst.assumptions}
    dropped = merged_before - kept
    merged: dict[str, m.Assumption] = {}
    for v in sorted({renames.get(v, v) for v in named}):
        for a in lib.versions[v].assumptions:
            if a.name not in dropped:
                merged.setdefault(a.name, a)
    own = [a for a in inst.assumptions if a.scope == "property"]
    return m.Instance(
        inst.property_name, "", tuple(m.rename_versions(p, renames) for p in inst.premises), tuple(merged.values()) + tuple(own),
        m.rename_versions(inst.claim, renames), None, None,
    )


def _tells_apart(lib: m.Library, solver: Solver, cube: Sequence[Literal], caller: str | None,
                 before: m.Instance, after: m.Instance) -> bool:
    """Whether, on some input of the row that both instances' premises and
    assumptions allow, the claim differs between them."""
    span = before.claim.span
    facts: list[m.Expr] = [literal_expr(lib, lit, span) for lit in cube]
    if caller is not None and "caller" in lib.atoms:
        atom = lib.atoms["caller"]
        facts.append(m.Op(m.Operator.EQ, (m.AtomRef("caller", atom.type, span), m.Lit(caller, atom.type, span)), m.BOOL, span))
    facts += [*before.premises, *after.premises]
    facts += list({a.name: a.expr for a in (*before.assumptions, *after.assumptions)}.values())
    facts.append(m.Op(m.Operator.NOT, (m.Op(m.Operator.IFF, (before.claim, after.claim), m.BOOL, span),), m.BOOL, span))
    return solver.find(facts) is not None


def literal_expr(lib: m.Library, lit: Literal, span: Span) -> m.Expr:
    """A literal of a decision-table row as an expression of the library."""
    if lit.derived:
        fn = lib.global_functions[lit.name]
        term: m.Expr = m.Call("", lit.name, (), fn.returns, span)
        return term if lit.values[0] is True else m.Op(m.Operator.NOT, (term,), m.BOOL, span)
    atom = lib.atoms[lit.name]
    ref = m.AtomRef(atom.name, atom.type, span)
    if lit.element is not None:
        elem = m.Lit(lit.element, m.Type(m.TypeKind.ELEM, atom.type.name), span)
        member: m.Expr = m.Op(m.Operator.IN, (elem, ref), m.BOOL, span)
        return member if lit.values[0] is True else m.Op(m.Operator.NOT, (member,), m.BOOL, span)
    if atom.type.kind is m.TypeKind.BOOL:
        return ref if lit.values[0] is True else m.Op(m.Operator.NOT, (ref,), m.BOOL, span)
    options: list[m.Expr] = [m.Op(m.Operator.EQ, (ref, m.Lit(v, atom.type, span)), m.BOOL, span) for v in lit.values]
    out = options[0]
    for o in options[1:]:
        out = m.Op(m.Operator.OR, (out, o), m.BOOL, span)
    return out
