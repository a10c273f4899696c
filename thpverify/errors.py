"""Every error thpverify raises has one root, and says the exit code it means.

The command line maps an error to its exit code here and nowhere else:
2 for input the tool refuses (a spec error with its places, a usage
error), 5 for a question that has no short answer within the limits, 6
for a fault of the tool itself (an engine and the interpreter disagree).
A spec error carries its diagnostics: each a place, a stable code, a
message and a hint. Nothing here imports another module of the package
but `location`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .location import Span

EXIT_OK, EXIT_SPEC, EXIT_UNKNOWN, EXIT_INTERNAL, EXIT_FAILED = 0, 2, 5, 6, 10


class ThpverifyError(Exception):
    """The root: an error of thpverify, with the exit code it means."""

    exit_code = EXIT_INTERNAL


class UsageError(ThpverifyError):
    """A command line, file or value the tool refuses (exit 2)."""

    exit_code = EXIT_SPEC


class InputError(UsageError):
    """Input that is not a spec (a smaps file, a batch line, a diff) and
    cannot be read (exit 2)."""


class InconclusiveError(ThpverifyError):
    """No answer within the limits: too many rows, a solver timeout (exit 5)."""

    exit_code = EXIT_UNKNOWN


class InternalError(ThpverifyError):
    """A fault of the tool: an engine's answer did not survive its second
    look (the interpreter, or the other engine, disagrees), or an engine
    failed (exit 6). Never a verdict."""

    exit_code = EXIT_INTERNAL


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec: where, a stable code (E0xx, W0xx), a message, a hint."""

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
