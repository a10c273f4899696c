"""One VMA, partially described, through every version in release order.

Each step is the three-valued answer of `solver.Solver.evaluate` (which the
interpreter re-checks): a value, or "depends" with the atoms whose value can
change it, and the deciding rule when every completion allowed by that
version's assumptions shares it. Patch versions (the 2023 fix series) come
right after the release they patch; `releases_only` leaves them out.
"""

from __future__ import annotations

from .. import model as m
from ..backend.solver import Solver
from ..results import Fixed, Timeline, TimelineStep
from .engine import is_patch, release_key


def timeline(lib: m.Library, given: list[Fixed], caller: str | None = None, output: str = "eligible",
             releases_only: bool = False, solver: Solver | None = None) -> Timeline:
    """`given` fixes some coordinates; `caller` (if set) fixes the caller."""
    solver = solver or Solver(lib)
    fixed = list(given)
    if caller is not None:
        fixed = [Fixed("caller", None, caller)] + [f for f in fixed if f.atom != "caller"]
    steps = []
    for name in sorted(lib.versions, key=lambda v: release_key(lib, v)):
        patch = is_patch(lib, name)
        if patch and releases_only:
            continue
        release = lib.versions[name].get("release")
        if output not in lib.versions[name].outputs:
            steps.append(TimelineStep(name, release, patch, None, (), None, None, None, note=f"no output '{output}'"))
            continue
        r = solver.evaluate(name, output, fixed)
        note = r.note
        if r.contradicts:
            note = "no such VMA: it contradicts " + ", ".join(r.contradicts)
        steps.append(TimelineStep(name, release, patch, r.value, r.depends_on if r.value is None and not r.contradicts else (),
                                  r.rule, r.rule_at, r.kernel, note))
    return Timeline(tuple(given), caller, output, tuple(steps))
