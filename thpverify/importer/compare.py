"""Hand and imported specs side by side: load an imported spec next to the
spec library, and prove the two versions equivalent per caller and output
(analysis.diff gives the rows where they are not)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import model as m
from ..results import DiffTable

OUTPUTS = ("eligible", "thp_eligible", "allowable")  # allowable: 6.8+, where both versions have it


def load_with(texts: dict[str, str], spec_paths: list[Path] | None = None, include: list[Path] | None = None,
              arch: str | None = None) -> m.Library:
    """The library (bundled, or the paths given) plus imported specs (file
    name -> text), for the architecture named (default: the first); their
    `import "vocab.thp"` finds the bundled vocabulary along the search path
    (-I directories first), as any user's spec does."""
    from ..lang.library import load_library

    with tempfile.TemporaryDirectory(prefix="thpverify-import-") as tmp:
        files = []
        for name, text in sorted(texts.items()):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            files.append(path)
        return load_library(spec_paths or None, include or None, extra=files, arch=arch)


@dataclass(frozen=True)
class Comparison:
    hand: str
    imported: str
    output: str
    caller: str | None
    table: DiffTable

    @property
    def equivalent(self) -> bool:
        return not self.table.rows


def compare(lib: m.Library, hand: str, imported: str) -> list[Comparison]:
    """eligible (and from 6.8 allowable) per caller, and thp_eligible, of the
    hand version against the imported one. A set-valued output is first
    proved equal as a property would be (both engines, replayed); the diff
    table, whose classes are per set value and slow to build, is computed
    only when that proof fails."""
    from ..analysis.diff import diff

    out: list[Comparison] = []
    callers = _callers(lib)
    for output in OUTPUTS:
        if any(output not in lib.versions[v].outputs for v in (hand, imported)):
            continue
        for caller in callers if output != "thp_eligible" else [None]:
            table = proved_equal(lib, hand, imported, output, caller) if _set_valued(lib, hand, output) else None
            out.append(Comparison(hand, imported, output, caller, table or diff(lib, hand, imported, caller, output)))
    return out


def _set_valued(lib: m.Library, version: str, output: str) -> bool:
    return lib.function(version, output).returns.kind is m.TypeKind.SET


def proved_equal(lib: m.Library, hand: str, imported: str, output: str, caller: str | None) -> DiffTable | None:
    """An empty diff table when the two outputs are proved equal for the
    caller under both versions' assumptions; None otherwise."""
    from ..backend.solver import Solver

    span = lib.versions[imported].span
    calls = tuple(m.Call(v, output, (), lib.function(v, output).returns, span) for v in (hand, imported))
    seen: dict[str, m.Assumption] = {}
    for v in (hand, imported):
        for a in lib.versions[v].assumptions:
            seen.setdefault(a.name, a)
    premises: tuple[m.Expr, ...] = ()
    if caller is not None:
        atom = lib.atoms["caller"]
        premises = (m.Op(m.Operator.EQ, (m.AtomRef("caller", atom.type, span), m.Lit(caller, atom.type, span)), m.BOOL, span),)
    claim = m.Op(m.Operator.EQ, calls, m.BOOL, span)
    inst = m.Instance(f"{imported} == {hand} ({output})", "", premises, tuple(seen.values()), claim, None, None)
    verdict = Solver(lib).check(inst)
    if verdict.verdict != "proved":
        return None
    return DiffTable(hand, imported, output, caller, tuple(seen), (), 0, None, (), verdict.checks, verdict.core)


def _callers(lib: m.Library) -> list[str]:
    return list(lib.atoms["caller"].values)
