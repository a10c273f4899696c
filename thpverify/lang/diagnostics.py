"""Problems in a spec, as data (`Diagnostic`, `SpecError`, defined with the
other errors in `thpverify.errors`), and the "did you mean" hint."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..errors import Diagnostic, SpecError

__all__ = ["Diagnostic", "SpecError", "did_you_mean"]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
