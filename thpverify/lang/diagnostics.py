"""Problems in a spec, as data: a span, a stable code, a message, a hint."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import EXIT_SPEC, ThpverifyError
from .nodes import Span


@dataclass(frozen=True)
class Diagnostic:
    span: Span
    code: str
    message: str
    hint: str = ""
    severity: str = "error"


class SpecError(ThpverifyError):
    """One or more located problems; raised only at a pass boundary (exit 2)."""

    exit_code = EXIT_SPEC

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None) -> None:
        self.diagnostics = tuple(sorted(diagnostics, key=lambda d: (d.span, d.code, d.message)))
        # The text of every spec read, by the name shown in messages: an error
        # shows its source line from here, never by reading a file again.
        self.sources = dict(sources or {})
        super().__init__("; ".join(f"{d.span}: {d.message}" for d in self.diagnostics))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
