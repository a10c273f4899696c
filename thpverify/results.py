"""Verdicts and findings as typed data; render/ turns them into text or JSON.

Places are data, not text: a place in a spec is a `Span` (file, line,
column, end, as integers), a place in the kernel a `KernelCite` (release,
file, function, first and last line). A verdict is a `VerdictKind`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .location import Span

SCHEMA = "thpverify/2"


class VerdictKind(StrEnum):
    """What a check found (DESIGN.md section 5). `vacuous` and `unknown`
    are never reported as proved; `error` is an internal error."""

    PROVED = "proved"
    REFUTED = "refuted"
    VACUOUS = "vacuous"
    UNKNOWN = "unknown"
    ERROR = "error"


class Expectation(StrEnum):
    """What a spec expects of a property on a version (`expect holds;`)."""

    HOLDS = "holds"
    FAILS = "fails"
    VACUOUS = "vacuous"


EXPECTED_VERDICT = {Expectation.HOLDS: VerdictKind.PROVED, Expectation.FAILS: VerdictKind.REFUTED,
                    Expectation.VACUOUS: VerdictKind.VACUOUS}


@dataclass(frozen=True)
class KernelCite:
    """Kernel lines a rule cites: `file` lines `first`..`last` of `release`,
    in the kernel function `function` ("" when the spec does not say)."""

    release: str
    file: str
    first: int
    last: int
    function: str = ""

    @property
    def where(self) -> str:
        """file:first-last, without the release."""
        lines = f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.file}:{lines}"

    def __str__(self) -> str:
        return f"{self.where} ({self.release})" if self.release else self.where


def set_members(mask: int) -> tuple[int, ...]:
    """The elements of a set held as a bit mask (bit k: element k), ascending."""
    return tuple(k for k in range(mask.bit_length()) if mask >> k & 1)


Value = bool | str | int | tuple[int, ...]  # a bool, an enum value, one order, or a set of orders (ascending)


def to_value(value: bool | str | int, whole_set: bool) -> Value:
    """A value as the engines hold it (a whole set as a bit mask) as data."""
    if whole_set and isinstance(value, int) and not isinstance(value, bool):
        return set_members(value)
    return value


def show(value: Value | None) -> str:
    """A value as people read it: true/false, an enum value, a set in braces, unknown (None) as '?'."""
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "{" + ", ".join(str(k) for k in value) + "}"
    return str(value)


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
        return f"{self.atom} = {show(self.typed)}"

    @property
    def typed(self) -> Value:
        """The value as data: a bool, an enum value, or a whole set as its orders."""
        return to_value(self.value, self.element is None)


class StepKind(StrEnum):
    """A trace step: a rule's test was evaluated, or a rule returned."""

    TEST = "test"
    RETURN = "return"


@dataclass(frozen=True)
class TraceStep:
    """One step of a run of a predicate, `depth` calls deep: rule `rule` of
    `function` (written at `rule_at`, citing `kernel`) tested its condition
    (`kind` TEST: `value` True when taken, False when not, None when it
    depends on unknown atoms) or returned (`kind` RETURN: the value, None
    when unknown)."""

    depth: int
    function: str
    rule: str
    rule_at: Span
    kernel: KernelCite | None
    kind: StepKind
    value: Value | None


@dataclass(frozen=True)
class Decision:
    """What one predicate said on one input, and the rule that decided it."""

    version: str
    predicate: str
    value: Value
    rule: str | None
    rule_at: Span | None  # where the deciding rule is written in the spec
    kernel: KernelCite | None  # the kernel lines it cites
    trace: tuple[TraceStep, ...] = ()


@dataclass(frozen=True)
class Counterexample:
    partial: tuple[Fixed, ...]  # forces the failure whatever the other atoms are
    witness: tuple[tuple[str, Value], ...]  # one full input, atom -> value
    decisions: tuple[Decision, ...]  # the predicates the claim reads, on the witness
    replay: str  # how the interpreter confirmed the partial assignment
    minimal: str = ""  # in what sense the partial assignment is smallest


@dataclass(frozen=True)
class Verdict:
    property_name: str
    version: str
    verdict: VerdictKind
    expected: Expectation | None  # None when the spec gives none
    reason: str = ""
    core: tuple[str, ...] = ()  # named assumptions a proof needed, or that conflict
    counterexample: Counterexample | None = None
    checks: tuple[str, ...] = ()  # the second looks taken at this answer

    @property
    def as_expected(self) -> bool:
        return self.expected is not None and EXPECTED_VERDICT[self.expected] == self.verdict


@dataclass(frozen=True)
class CheckReport:
    files: tuple[str, ...]
    versions: tuple[str, ...]
    verdicts: tuple[Verdict, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        if any(v.verdict is VerdictKind.ERROR for v in self.verdicts):
            return 6
        if any(not v.as_expected and v.verdict is not VerdictKind.UNKNOWN for v in self.verdicts):
            return 10
        if any(v.verdict is VerdictKind.UNKNOWN for v in self.verdicts):
            return 5
        return 0


@dataclass(frozen=True)
class EvalResult:
    version: str
    predicate: str
    given: tuple[Fixed, ...]
    value: Value | None  # None: depends
    depends_on: tuple[str, ...]
    rule: str | None
    rule_at: Span | None
    kernel: KernelCite | None
    trace: tuple[TraceStep, ...]
    note: str = ""  # e.g. the input contradicts an assumption
    contradicts: tuple[str, ...] = ()
    completed: bool = False  # the trace runs on one completion of the atoms not given (the value is fixed)


# ------------------------------------------------------------- analysis
# diff, patch, lint, timeline and requires (thpverify.analysis).


@dataclass(frozen=True)
class Literal:
    """One literal of a cube: a coordinate (an atom, or one element of a set
    atom) or a named derived condition (a bool `def` such as VM_NO_KHUGEPAGED),
    restricted to `values` (one value for a bool; one or more for an enum)."""

    name: str
    element: int | None  # the set element, or None
    values: tuple[bool | str, ...]
    derived: bool = False  # a `def` of the vocabulary, not an atom
    options: tuple[bool | str, ...] = (False, True)  # every value the coordinate can take

    def __str__(self) -> str:
        if self.element is not None:
            return f"{self.element} {'in' if self.values[0] else 'not in'} {self.name}"
        if len(self.values) == 1 and isinstance(self.values[0], bool):
            return self.name if self.values[0] else f"!{self.name}"
        if len(self.values) == 1:
            return f"{self.name} = {self.values[0]}"
        rest = [v for v in self.options if v not in self.values]
        if len(rest) == 1:
            return f"{self.name} != {rest[0]}"
        return f"{self.name} in {{{', '.join(map(str, self.values))}}}"


@dataclass(frozen=True)
class Side:
    """One version's answer on every input of a row: its value and the rule
    that decided it (label, place in the spec, cited kernel lines)."""

    version: str
    value: Value
    rule: str | None
    rule_at: Span | None
    kernel: KernelCite | None


@dataclass(frozen=True)
class DiffRow:
    """A cube (literals not named take any value) on which A and B disagree
    everywhere the assumptions allow, each with a constant value and rule.

    `replay` says how the interpreter confirmed it."""

    cube: tuple[Literal, ...]
    a: Side
    b: Side
    replay: str


@dataclass(frozen=True)
class DiffTable:
    """Where versions `a` and `b` give `output` different values.

    Inputs range over the atoms, restricted by the named assumptions of both
    versions (`assumptions`) and, when `caller` is set, by that caller. The
    rows cover the disagreement exactly; each row is prime in a table of up
    to 64 rows, a longer table is an irredundant cover (`checks` says
    which); `hidden` rows of it are left out of `rows`. `disagreeing`
    of `total` inputs disagree, counted exactly over the atoms in `space`:
    the atoms the two predicates read plus those of the assumptions that
    touch them (closed under sharing an assumption); every other atom is
    independent of both answers and is not counted."""

    a: str
    b: str
    output: str
    caller: str | None
    assumptions: tuple[str, ...]
    rows: tuple[DiffRow, ...]
    disagreeing: int | None  # exact, counted on the decision diagrams
    total: int | None
    space: tuple[str, ...]
    checks: tuple[str, ...] = ()
    core: tuple[str, ...] = ()  # no row: a minimal set of the assumptions under which none disagrees
    dropped: tuple[str, ...] = ()  # assumptions of the versions left out on request
    hidden: int = 0  # rows of the table left out of `rows` on request (diff's `shown`)


@dataclass(frozen=True)
class TimelineStep:
    """One version's answer for the partially described VMA: `value` is
    a bool (a set of orders for set-valued outputs), or None when it depends
    on atoms not given (`depends_on`); `rule` is the deciding rule when it
    is the same for every completion; `note` says when the input contradicts
    the version's assumptions or the version lacks the output."""

    version: str
    release: str
    patch: bool  # a patch version (fix series), not a release
    value: Value | None
    depends_on: tuple[str, ...]
    rule: str | None
    rule_at: Span | None
    kernel: KernelCite | None
    note: str = ""


@dataclass(frozen=True)
class Timeline:
    """One VMA, partially described by `given`, through versions in release
    order (patch versions right after the release they patch)."""

    given: tuple[Fixed, ...]
    caller: str | None
    output: str
    steps: tuple[TimelineStep, ...]


@dataclass(frozen=True)
class Requirement:
    """The condition under which `output` is true: a disjunction of prime
    cubes (`terms`), with the literals every term shares factored out into
    `common`. `versions` are the versions it must hold in (all of them at
    once); `count` of `total` inputs satisfy it, counted over `space`."""

    versions: tuple[str, ...]
    output: str
    caller: str | None
    assumptions: tuple[str, ...]
    common: tuple[Literal, ...]
    terms: tuple[tuple[Literal, ...], ...]
    always: bool  # true on every allowed input
    never: bool  # true on no allowed input
    count: int | None  # exact, counted on the decision diagrams
    total: int | None
    space: tuple[str, ...]
    replay: str = ""


class Change(StrEnum):
    """How a property's verdict moves from the base to a candidate: it
    newly fails (it held, or was not decided, and is refuted), newly
    holds, stays the same, or moves between vacuous, unknown and error."""

    NEWLY_FAILING = "newly failing"
    NEWLY_HOLDING = "newly holding"
    UNCHANGED = "unchanged"
    OTHER = "other"

    @staticmethod
    def between(before: VerdictKind, after: VerdictKind) -> Change:
        holds = {VerdictKind.PROVED: True, VerdictKind.REFUTED: False}
        was, now = holds.get(before), holds.get(after)
        if was is not False and now is False:
            return Change.NEWLY_FAILING
        if was is not True and now is True:
            return Change.NEWLY_HOLDING
        return Change.UNCHANGED if before == after else Change.OTHER


@dataclass(frozen=True)
class PropertyChange:
    """A property's verdict on the base and on the candidate. `kind` is how
    it moved; `change` says it in words: "newly failing", "newly holding",
    "unchanged", or "BEFORE -> AFTER" for a change between vacuous, unknown
    and error. A property that names versions is checked with the
    candidate in the base's place (`across`). `intended`: the candidate
    declares it means to change this property."""

    property_name: str
    base: VerdictKind
    candidate: VerdictKind
    change: str
    across: bool = False
    intended: bool = False

    @property
    def kind(self) -> Change:
        return Change.between(self.base, self.candidate)


@dataclass(frozen=True)
class RowCoverage:
    """Whether a behaviour change (row `row`, counted from 1, of the diff
    table for `caller`) is covered: some property whose verdict the patch
    changes tells the two versions apart on an input of the row
    (`covered_by`, each confirmed on one input by the interpreter), or the
    patch declared it meant to change that caller (`intended`)."""

    caller: str | None
    row: int
    covered_by: tuple[str, ...]
    intended: bool

    @property
    def uncovered(self) -> bool:
        return not self.covered_by and not self.intended


@dataclass(frozen=True)
class PatchReport:
    """What a candidate version changes against its base: property verdicts,
    per caller the diff table of `output`, and which rows of those tables
    some property or a declared intent covers."""

    base: str
    candidate: str
    properties: tuple[PropertyChange, ...]
    diffs: tuple[DiffTable, ...]
    coverage: tuple[RowCoverage, ...] = ()
    intends_callers: tuple[str, ...] = ()
    intends_properties: tuple[str, ...] = ()

    @property
    def uncovered(self) -> tuple[RowCoverage, ...]:
        return tuple(c for c in self.coverage if c.uncovered)

    @property
    def newly_failing(self) -> tuple[PropertyChange, ...]:
        """Newly failing properties the patch did not declare."""
        return tuple(c for c in self.properties if c.kind is Change.NEWLY_FAILING and not c.intended)

    def exit_code(self, strict: bool = False) -> int:
        """10 when a property newly fails (and the patch did not declare it),
        or, with `strict`, when a behaviour change is uncovered; 5 when a
        verdict on the candidate is unknown; 6 on an error; else 0."""
        if any(c.candidate is VerdictKind.ERROR for c in self.properties):
            return 6
        if self.newly_failing or (strict and self.uncovered):
            return 10
        if any(c.candidate is VerdictKind.UNKNOWN for c in self.properties):
            return 5
        return 0


class LintKind(StrEnum):
    """What a lint finding is about (docs: `thpverify lint --help`)."""

    DEAD_RULE = "dead-rule"
    ALWAYS_TRUE = "always-true"
    ALWAYS_FALSE = "always-false"
    REDUNDANT_RULE = "redundant-rule"
    ORDER_DEPENDENT = "order-dependent"
    UNREAD_ATOM = "unread-atom"
    UNUSED_ASSUMPTION = "unused-assumption"
    CONTRADICTION = "contradiction"
    UNCITED_RULE = "uncited-rule"


@dataclass(frozen=True)
class LintFinding:
    """One lint finding: `kind`, where (a place in the spec), the rule or name, a witness
    input (may be empty when the finding is a static fact) and how it was
    replayed. `key` is what --allow takes to silence it."""

    kind: LintKind
    version: str
    name: str
    at: Span | None
    message: str
    witness: tuple[Fixed, ...] = ()
    replay: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.version or '*'}:{self.name}"


@dataclass(frozen=True)
class LintReport:
    versions: tuple[str, ...]
    findings: tuple[LintFinding, ...]
    allowed: tuple[str, ...] = ()  # keys silenced by --allow


# ------------------------------------------------------------- counterexample classes
# analysis/classes.py; the reproducers of kernel/reproduce.py.


@dataclass(frozen=True)
class CexClass:
    """One class of a property's failing inputs: those on which every
    predicate the claim reads gives the same value by the same rule (`sides`).
    Classes are disjoint; `terms` are prime cubes whose union is the class.
    `minimum` is a smallest cube (fewest literals) inside the class."""

    index: int  # 1-based, in the stable order
    sides: tuple[Side, ...]
    count: int | None  # exact number of inputs; None when reproduce asked for cubes without counts
    terms: tuple[tuple[Literal, ...], ...]
    minimum: tuple[Literal, ...]
    minimum_proved: bool
    minimum_note: str
    replay: str


@dataclass(frozen=True)
class CexClasses:
    """Every failing input of one property instance, by class."""

    property_name: str
    doc: str
    version: str
    verdict: VerdictKind
    assumptions: tuple[str, ...]  # named assumptions in force (premises are in `premises`)
    premises: tuple[str, ...]  # the callers and `given` clauses, as written
    claim: str
    failing: int | None
    total: int | None  # inputs the premises and assumptions allow
    space: tuple[str, ...]  # the atoms counted over
    classes: tuple[CexClass, ...]
    shown: int  # how many classes `classes` holds of all (--limit)
    found: int
    checks: tuple[str, ...] = ()
    predicates: tuple[str, ...] = ()  # the predicate of each side, in order
