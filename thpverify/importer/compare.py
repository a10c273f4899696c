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


def load_with(texts: dict[str, str], spec_paths: list[Path] | None = None) -> m.Library:
    """The library (bundled, or the paths given) plus imported specs (file
    name -> text); their `import "vocab.thp"` finds the bundled vocabulary
    along the search path, as any user's spec does."""
    from ..lang.library import load_library

    with tempfile.TemporaryDirectory(prefix="thpverify-import-") as tmp:
        files = []
        for name, text in sorted(texts.items()):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            files.append(path)
        return load_library(spec_paths or None, extra=files)


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
    hand version against the imported one."""
    from ..analysis.diff import diff

    out: list[Comparison] = []
    callers = _callers(lib)
    for output in OUTPUTS:
        if any(output not in lib.versions[v].outputs for v in (hand, imported)):
            continue
        for caller in callers if output != "thp_eligible" else [None]:
            out.append(Comparison(hand, imported, output, caller, diff(lib, hand, imported, caller, output)))
    return out


def _callers(lib: m.Library) -> list[str]:
    return list(lib.atoms["caller"].values)
