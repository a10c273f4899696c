"""What a candidate version changes against its base.

For every property with an instance on both versions: its verdict on each
(proved counts as holding; refuted as failing; vacuous and unknown are
neither) and whether the candidate makes it newly failing, newly holding or
leaves it unchanged. Then, for each caller, the diff table of the output;
where no input disagrees only thanks to some assumptions, also the table
without them, which shows what those assumptions settle.
"""

from __future__ import annotations

from .. import model as m
from ..backend.solver import Solver
from ..results import DiffTable, PatchReport, PropertyChange
from .diff import diff
from .engine import Engine

HOLDS = {"proved": True, "refuted": False}


def patch(lib: m.Library, base: str, candidate: str, output: str = "eligible") -> PatchReport:
    solver = Solver(lib)
    changes = []
    for prop in lib.properties.values():
        by_version = {i.version: i for i in prop.instances}
        if base not in by_version or candidate not in by_version:
            continue
        before = solver.check(by_version[base]).verdict
        after = solver.check(by_version[candidate]).verdict
        was, now = HOLDS.get(before), HOLDS.get(after)
        if was is not False and now is False:
            change = "newly failing"
        elif was is not True and now is True:
            change = "newly holding"
        else:
            change = "unchanged" if before == after else f"{before} -> {after}"
        changes.append(PropertyChange(prop.name, before, after, change))
    engine = Engine(lib, solver)
    diffs: list[DiffTable] = []
    caller = lib.atoms.get("caller")
    for c in caller.values if caller is not None else (None,):
        t = diff(lib, base, candidate, c, output, engine=engine)
        diffs.append(t)
        if not t.rows and t.core:
            # Agreement that rests on assumptions: show what they settle.
            diffs.append(diff(lib, base, candidate, c, output, engine=engine, drop=t.core))
    return PatchReport(base, candidate, tuple(changes), tuple(diffs))
