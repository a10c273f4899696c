"""The resolved, typed spec: what the interpreter and the compiler read.

Names are bound, types are known, defaults are applied, patches are applied,
and every return statement knows the rule it belongs to. Plain frozen data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import Diagnostic, InternalError
from .location import Span
from .results import Expectation, KernelCite


class TypeKind(StrEnum):
    """The kinds of type: a bool, an enum atom's values, a set over a
    universe, an element of a universe, and a set of an enum's values
    (written in `in {...}` tests)."""

    BOOL = "bool"
    ENUM = "enum"
    SET = "set"
    ELEM = "elem"
    ENUMSET = "enumset"


@dataclass(frozen=True)
class Type:
    kind: TypeKind
    name: str = ""  # the enum atom's name, or the universe's name

    def __str__(self) -> str:
        if self.kind is TypeKind.BOOL:
            return "bool"
        if self.kind is TypeKind.ENUM:
            return f"enum {self.name}"
        if self.kind is TypeKind.SET:
            return f"set of {self.name}"
        return self.name


BOOL = Type(TypeKind.BOOL)


@dataclass(frozen=True)
class Universe:
    name: str
    elements: tuple[int, ...]
    span: Span

    @property
    def mask(self) -> int:
        m = 0
        for e in self.elements:
            m |= 1 << e
        return m

    @property
    def width(self) -> int:
        return max(self.elements) + 1


@dataclass(frozen=True)
class Atom:
    name: str
    type: Type
    values: tuple[str, ...]  # enum values; () otherwise
    doc: str
    span: Span


# ------------------------------------------------------------ expressions


@dataclass(frozen=True)
class Lit:
    """bool; enum value (str); elem (int); set (int bitmask)."""

    value: bool | int | str
    type: Type
    span: Span


@dataclass(frozen=True)
class AtomRef:
    name: str
    type: Type
    span: Span


@dataclass(frozen=True)
class Local:
    name: str
    type: Type
    span: Span


@dataclass(frozen=True)
class Call:
    version: str  # the version whose function is called ("" for the global scope)
    name: str
    args: tuple[Expr, ...]
    type: Type
    span: Span


class Operator(StrEnum):
    """The operators of the model; OPERATORS says what each takes and gives."""

    NOT = "not"
    AND = "and"
    OR = "or"
    IMPLIES = "implies"
    IFF = "iff"
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    UNION = "union"
    INTER = "inter"
    DIFF = "diff"
    EMPTY = "empty"
    HIGHEST = "highest"
    SINGLETON = "singleton"
    COND = "cond"


@dataclass(frozen=True)
class Signature:
    """What an operator takes and gives, and how the language writes it.

    `operands` gives each operand's kind of type; None is "any type, the
    same for every operand marked None" (both sides of ==, both arms of
    ?:). `result` is the result's kind, None for the type of those operands.
    A set operand and result share one universe; an element operand is an
    element of it. `strict`: the value depends on every operand (no short
    cut), so a return built from one predicate call with strict operators
    is decided where that predicate is (evaluate.delegate). `spelling` is
    the language's spelling (a builtin is written as a call).
    """

    operands: tuple[TypeKind | None, ...]
    result: TypeKind | None
    spelling: str
    strict: bool
    builtin: bool = False

    @property
    def arity(self) -> int:
        return len(self.operands)


_B, _E, _S = TypeKind.BOOL, TypeKind.ELEM, TypeKind.SET

# The one operator table. The type checker reads the spellings, every Op is
# built to this arity, and each engine (semantics/evaluate, backend/compiler,
# backend/diagrams) registers one implementation per operator, checked by
# `implemented` when the engine is imported and by tests/test_engines.py,
# which runs every operator of this table through every engine.
OPERATORS: dict[Operator, Signature] = {
    Operator.NOT: Signature((_B,), _B, "!", strict=True),
    Operator.AND: Signature((_B, _B), _B, "&&", strict=False),
    Operator.OR: Signature((_B, _B), _B, "||", strict=False),
    Operator.IMPLIES: Signature((_B, _B), _B, "->", strict=False),
    Operator.IFF: Signature((_B, _B), _B, "<->", strict=False),
    Operator.EQ: Signature((None, None), _B, "==", strict=True),
    Operator.NE: Signature((None, None), _B, "!=", strict=True),
    Operator.LT: Signature((_E, _E), _B, "<", strict=True),
    Operator.LE: Signature((_E, _E), _B, "<=", strict=True),
    Operator.GT: Signature((_E, _E), _B, ">", strict=True),
    Operator.GE: Signature((_E, _E), _B, ">=", strict=True),
    Operator.IN: Signature((_E, _S), _B, "in", strict=True),
    Operator.UNION: Signature((_S, _S), _S, "|", strict=True),
    Operator.INTER: Signature((_S, _S), _S, "&", strict=True),
    Operator.DIFF: Signature((_S, _S), _S, "-", strict=True),
    Operator.EMPTY: Signature((_S,), _B, "empty", strict=True, builtin=True),
    Operator.HIGHEST: Signature((_S,), _E, "highest", strict=True, builtin=True),
    Operator.SINGLETON: Signature((_E,), _S, "{x}", strict=True),
    Operator.COND: Signature((_B, None, None), None, "?:", strict=False),
}

SPELLED: dict[str, Operator] = {sig.spelling: op for op, sig in OPERATORS.items()}
BUILTINS: tuple[str, ...] = tuple(sig.spelling for sig in OPERATORS.values() if sig.builtin)


def implemented(table: Iterable[object], engine: str) -> None:
    """An engine's implementations cover the operator table exactly (checked
    when the engine's module is imported: a gap is a fault of the tool)."""
    have = set(table)
    missing = [str(op) for op in Operator if op not in have]
    extra = sorted(str(x) for x in have - set(Operator))
    if missing or extra:
        raise InternalError(f"{engine}: operators missing {missing}, unknown {extra}")


def well_typed(e: Op) -> bool:
    """The operator node agrees with its signature (the type checker builds
    such nodes only; after a type error it may build others, but then no
    model is made)."""
    sig = OPERATORS[e.op]
    same = {a.type for a, kind in zip(e.args, sig.operands, strict=True) if kind is None}
    universes = {a.type.name for a, kind in zip(e.args, sig.operands, strict=True) if kind in (_E, _S)}
    if sig.result in (_E, _S):
        universes.add(e.type.name)
    kinds_ok = all(kind is None or a.type.kind is kind for a, kind in zip(e.args, sig.operands, strict=True))
    result_ok = e.type in same if sig.result is None else e.type.kind is sig.result
    return kinds_ok and len(same) <= 1 and len(universes) <= 1 and result_ok


@dataclass(frozen=True)
class Op:
    """An operator applied to its operands (OPERATORS gives the arity and types)."""

    op: Operator
    args: tuple[Expr, ...]
    type: Type
    span: Span

    def __post_init__(self) -> None:
        if len(self.args) != OPERATORS[self.op].arity:
            raise InternalError(f"{self.op} takes {OPERATORS[self.op].arity} operand(s), not {len(self.args)}")


Expr = Lit | AtomRef | Local | Call | Op


# ------------------------------------------------------------- statements


@dataclass(frozen=True)
class Rule:
    id: str  # the label, or "L<spec line>"
    function: str
    span: Span  # where the rule is written in the spec
    cite: KernelCite | None

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class SIf:
    test: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    rule: Rule


@dataclass(frozen=True)
class SReturn:
    value: Expr
    rule: Rule


@dataclass(frozen=True)
class SAssign:
    name: str
    value: Expr
    span: Span


Stmt = SIf | SReturn | SAssign


class FunctionKind(StrEnum):
    """A predicate (a decision with rules), a definition (a named
    expression), or a context (a condition of the vocabulary a property
    may name)."""

    PREDICATE = "predicate"
    DEF = "def"
    CONTEXT = "context"


@dataclass(frozen=True)
class Function:
    name: str
    version: str  # "" for a global definition used outside any version
    kind: FunctionKind
    params: tuple[tuple[str, Type], ...]
    returns: Type
    body: tuple[Stmt, ...]
    rules: tuple[Rule, ...]
    origin: str  # "hugepage_vma_check in mm/huge_memory.c:70-131 (6.1.20)" or ""
    span: Span


@dataclass(frozen=True)
class Assumption:
    name: str
    doc: str
    expr: Expr
    span: Span
    scope: str  # "vocabulary", a version name, or "property"


@dataclass(frozen=True)
class Version:
    name: str
    base: str | None
    meta: tuple[tuple[str, str], ...]
    functions: dict[str, Function] = field(hash=False, compare=False)
    assumptions: tuple[Assumption, ...]
    span: Span
    # What a patch declares it means to change (not inherited by versions
    # that extend it): callers whose answers may change, properties whose
    # verdicts may change.
    intends_callers: tuple[str, ...] = ()
    intends_properties: tuple[str, ...] = ()

    def get(self, key: str) -> str:
        return dict(self.meta).get(key, "")

    @property
    def outputs(self) -> tuple[str, ...]:
        """Predicates with no parameters, in a stable order: eligible first."""
        names = [f.name for f in self.functions.values() if f.kind is FunctionKind.PREDICATE and not f.params]
        return tuple(sorted(names, key=lambda x: (x != "eligible", x != "thp_eligible", x)))


@dataclass(frozen=True)
class Instance:
    """A property made concrete for one version (or across versions)."""

    property_name: str
    version: str  # "" for a property that names its versions itself
    premises: tuple[Expr, ...]  # callers and givens: always assumed
    assumptions: tuple[Assumption, ...]  # named: candidates for the core
    claim: Expr
    expected: Expectation | None
    expect_span: Span | None


@dataclass(frozen=True)
class Property:
    name: str
    doc: str
    callers: tuple[str, ...] | None
    instances: tuple[Instance, ...]
    span: Span


@dataclass(frozen=True)
class Library:
    universes: dict[str, Universe] = field(hash=False)
    atoms: dict[str, Atom] = field(hash=False)
    versions: dict[str, Version] = field(hash=False)
    properties: dict[str, Property] = field(hash=False)
    global_functions: dict[str, Function] = field(hash=False)
    assumptions: tuple[Assumption, ...]
    files: tuple[str, ...]
    sources: dict[str, str] = field(hash=False, compare=False)
    paths: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # shown name -> file read
    warnings: tuple[Diagnostic, ...] = ()  # problems that do not stop a check (W codes)
    arch: str = ""  # the architecture selected ("" when the specs declare none)
    arches: tuple[str, ...] = ()  # every architecture the specs declare
    constants: tuple[tuple[str, bool | int | str], ...] = ()  # named constants, e.g. ("PMD_ORDER", 9)

    def constant(self, name: str) -> bool | int | str | None:
        return dict(self.constants).get(name)

    def function(self, version: str, name: str) -> Function:
        if version:
            return self.versions[version].functions[name]
        return self.global_functions[name]

    # The one release order: the loader keeps `versions` in it (release_order).

    def in_release_order(self, names: Iterable[str]) -> list[str]:
        rank = {name: i for i, name in enumerate(self.versions)}
        return sorted(names, key=rank.__getitem__)

    def provenance(self, name: str) -> str:
        """"patch" (a candidate on a release), "read" (transcribed from a
        source tree the spec names) or "inferred" (no tree was read)."""
        if self.is_patch(name):
            return "patch"
        return "read" if self.versions[name].get("repository") else "inferred"

    def releases(self) -> list[str]:
        """The versions that model a release (not patches), in release order."""
        return [v for v in self.versions if not self.is_patch(v) and release_numbers(self.versions[v].get("release"))]

    def is_patch(self, name: str) -> bool:
        """A version that extends one of the same release: a candidate
        patch (the fix series, a user's patch), not a release."""
        v = self.versions[name]
        base = self.versions.get(v.base) if v.base else None
        return base is not None and release_numbers(v.get("release")) == release_numbers(base.get("release"))


def rename_versions(e: Expr, renames: dict[str, str]) -> Expr:
    """The expression with every call into a version of `renames` made into
    the version it maps to ("v6.6"::eligible -> "mine"::eligible)."""
    if isinstance(e, Call):
        args = tuple(rename_versions(a, renames) for a in e.args)
        return Call(renames.get(e.version, e.version), e.name, args, e.type, e.span)
    if isinstance(e, Op):
        return Op(e.op, tuple(rename_versions(a, renames) for a in e.args), e.type, e.span)
    return e


def versions_called(e: Expr) -> set[str]:
    """The versions an expression calls into by name ("" excluded)."""
    if isinstance(e, Call):
        found = {e.version} if e.version else set()
        for a in e.args:
            found |= versions_called(a)
        return found
    if isinstance(e, Op):
        return set().union(*(versions_called(a) for a in e.args)) if e.args else set()
    return set()


def release_numbers(release: str) -> tuple[int, ...]:
    """A release's first three numbers: "6.6.9 + v1 patch" -> (6, 6, 9)."""
    return tuple(int(x) for x in re.findall(r"\d+", release.split("+")[0])[:3])


def release_order(release: str, depth: int, declared: int) -> tuple[tuple[int, ...], int, int]:
    """The sort key of the one release order: by release number (a version
    without one last), then a patch after what it extends (`depth`: how many
    versions it extends), then in the order declared."""
    return (release_numbers(release) or (10**6,), depth, declared)


def predicate_calls(lib: Library, claim: Expr) -> list[tuple[str, str]]:
    """(version, name) of each parameterless predicate the claim reads, in order."""
    calls: list[tuple[str, str]] = []

    def walk(e: Expr) -> None:
        if isinstance(e, Call):
            fn = lib.function(e.version, e.name)
            if fn.kind is FunctionKind.PREDICATE and not fn.params and (e.version, e.name) not in calls:
                calls.append((e.version, e.name))
            for a in e.args:
                walk(a)
        elif isinstance(e, Op):
            for a in e.args:
                walk(a)

    walk(claim)
    return calls
