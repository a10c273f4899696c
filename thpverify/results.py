"""Verdicts and findings as plain data; render/ turns them into text or JSON."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

VERDICTS = ("proved", "refuted", "vacuous", "unknown", "error")
EXPECTED_VERDICT = {"holds": "proved", "fails": "refuted", "vacuous": "vacuous"}

SCHEMA = "thpverify/1"


@dataclass(frozen=True)
class Fixed:
    """One coordinate of a partial assignment: an atom, or one element of a set atom."""

    atom: str
    element: int | None
    value: bool | str | int

    def __str__(self) -> str:
        if self.element is not None:
            return f"{self.element} {'in' if self.value else 'not in'} {self.atom}"
        if isinstance(self.value, bool):
            return self.atom if self.value else f"!{self.atom}"
        if isinstance(self.value, int):  # a whole set, as a bit mask
            return f"{self.atom} = {{" + ", ".join(str(k) for k in range(64) if self.value >> k & 1) + "}"
        return f"{self.atom} = {self.value}"


@dataclass(frozen=True)
class Decision:
    """What one predicate said on one input, and the rule that decided it."""

    version: str
    predicate: str
    value: str
    rule: str | None
    rule_at: str  # spec file:line:col
    kernel: str  # cited kernel lines, or ""
    trace: tuple[str, ...] = ()


@dataclass(frozen=True)
class Counterexample:
    partial: tuple[Fixed, ...]  # forces the failure whatever the other atoms are
    witness: tuple[tuple[str, str], ...]  # one full input, atom -> shown value
    decisions: tuple[Decision, ...]  # the predicates the claim reads, on the witness
    replay: str  # how the interpreter confirmed the partial assignment
    minimal: str = ""  # in what sense the partial assignment is smallest


@dataclass(frozen=True)
class Verdict:
    property: str
    version: str
    verdict: str
    expected: str | None  # holds, fails, vacuous, or None when the spec gives none
    reason: str = ""
    core: tuple[str, ...] = ()  # named assumptions a proof needed, or that conflict
    counterexample: Counterexample | None = None
    checks: tuple[str, ...] = ()  # the second looks taken at this answer

    @builtins.property
    def as_expected(self) -> bool:
        return self.expected is not None and EXPECTED_VERDICT[self.expected] == self.verdict


@dataclass(frozen=True)
class CheckReport:
    files: tuple[str, ...]
    versions: tuple[str, ...]
    verdicts: tuple[Verdict, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        if any(v.verdict == "error" for v in self.verdicts):
            return 6
        if any(not v.as_expected and v.verdict != "unknown" for v in self.verdicts):
            return 10
        if any(v.verdict == "unknown" for v in self.verdicts):
            return 5
        return 0


@dataclass(frozen=True)
class EvalResult:
    version: str
    predicate: str
    given: tuple[Fixed, ...]
    value: str | None  # None: depends
    depends_on: tuple[str, ...]
    rule: str | None
    rule_at: str
    kernel: str
    trace: tuple[str, ...]
    note: str = ""  # e.g. the input contradicts an assumption
    contradicts: tuple[str, ...] = ()
