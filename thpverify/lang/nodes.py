"""The syntax tree: plain frozen data, each node with the span it came from.

Nothing here has behaviour beyond formatting a span; every pass lives in a
module of its own and dispatches on these classes through an explicit table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..location import NOWHERE, Span

__all__ = ["NOWHERE", "Span"]  # and the node classes below


# ------------------------------------------------------------------ types


@dataclass(frozen=True)
class BoolType:
    span: Span = field(compare=False, default=NOWHERE)


@dataclass(frozen=True)
class EnumType:
    values: tuple[str, ...]
    span: Span = field(compare=False, default=NOWHERE)


@dataclass(frozen=True)
class SetType:
    universe: str
    span: Span = field(compare=False, default=NOWHERE)


@dataclass(frozen=True)
class NamedType:
    """A universe name (its element type) or an enum atom's name (its type)."""

    name: str
    span: Span = field(compare=False, default=NOWHERE)


TypeExpr = BoolType | EnumType | SetType | NamedType


# ------------------------------------------------------------ expressions


@dataclass(frozen=True)
class BoolLit:
    value: bool
    span: Span


@dataclass(frozen=True)
class IntLit:
    value: int
    span: Span


@dataclass(frozen=True)
class Name:
    name: str
    span: Span


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    span: Span
    version: str | None = None  # "v5.19"::eligible names another version's predicate


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class BinOp:
    """op is one of: && || -> <-> == != < <= > >= in notin | & -"""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Cond:
    test: Expr
    then: Expr
    orelse: Expr
    span: Span


@dataclass(frozen=True)
class Range:
    low: int | str  # a number, or the name of a constant
    high: int | str
    span: Span


@dataclass(frozen=True)
class SetLit:
    items: tuple[Expr | Range, ...]
    span: Span


Expr = BoolLit | IntLit | Name | Call | Not | BinOp | Cond | SetLit


# ------------------------------------------------------------- statements


@dataclass(frozen=True)
class Cite:
    """Kernel lines a rule transcribes; file None means the predicate's file."""

    first: int
    last: int
    file: str | None = None


@dataclass(frozen=True)
class Tag:
    label: str | None
    cite: Cite | None
    span: Span


@dataclass(frozen=True)
class If:
    test: Expr
    then: Stmt
    orelse: Stmt | None
    span: Span
    tag: Tag | None = None


@dataclass(frozen=True)
class Return:
    value: Expr
    span: Span
    tag: Tag | None = None


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span
    tag: Tag | None = None


@dataclass(frozen=True)
class Assign:
    name: str
    op: str  # = &= |= -=
    value: Expr
    span: Span
    tag: Tag | None = None


@dataclass(frozen=True)
class Block:
    body: tuple[Stmt, ...]
    span: Span
    tag: Tag | None = None


Stmt = If | Return | Let | Assign | Block


# ----------------------------------------------------------- declarations


@dataclass(frozen=True)
class Import:
    path: str
    span: Span


@dataclass(frozen=True)
class UniverseDecl:
    name: str
    elements: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class ConstDecl:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class AtomDecl:
    name: str
    type: TypeExpr
    doc: str
    span: Span


@dataclass(frozen=True)
class DefDecl:
    name: str
    doc: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class AssumeDecl:
    name: str
    doc: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class ContextDecl:
    name: str
    doc: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Param:
    name: str
    type: TypeExpr
    span: Span


@dataclass(frozen=True)
class Origin:
    function: str
    file: str
    lines: Cite | None
    span: Span


@dataclass(frozen=True)
class PredicateDecl:
    name: str
    params: tuple[Param, ...]
    returns: TypeExpr
    origin: Origin | None
    body: Block
    span: Span


@dataclass(frozen=True)
class Meta:
    key: str
    value: str
    span: Span


@dataclass(frozen=True)
class DropDecl:
    names: tuple[str, ...]
    span: Span


class EditKind(StrEnum):
    """How a patch edits a rule it names by label."""

    REPLACE = "replace"
    INSERT_BEFORE = "insert_before"
    INSERT_AFTER = "insert_after"
    DELETE = "delete"


@dataclass(frozen=True)
class PatchOp:
    kind: EditKind
    target: str
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class PatchDecl:
    predicate: str
    ops: tuple[PatchOp, ...]
    span: Span


class IntentKind(StrEnum):
    """What a patch declares it means to change: a caller's answers, or a property's verdict."""

    CALLER = "caller"
    PROPERTY = "property"


@dataclass(frozen=True)
class IntendsDecl:
    kind: IntentKind
    names: tuple[str, ...]
    span: Span


VersionItem = Meta | DefDecl | AssumeDecl | DropDecl | PredicateDecl | PatchDecl | IntendsDecl


@dataclass(frozen=True)
class VersionDecl:
    name: str
    base: str | None
    items: tuple[VersionItem, ...]
    span: Span


@dataclass(frozen=True)
class Expect:
    verdict: str  # holds, fails, vacuous
    versions: tuple[str, ...] | None  # None: every version not named elsewhere
    span: Span
    arches: tuple[str, ...] | None = None  # None: whatever architecture is selected


@dataclass(frozen=True)
class ArchDecl:
    name: str
    doc: str
    decls: tuple[UniverseDecl | ConstDecl | DefDecl, ...]
    span: Span


@dataclass(frozen=True)
class PropertyDecl:
    name: str
    doc: str
    callers: tuple[str, ...] | None
    assumes: tuple[AssumeDecl, ...]
    drops: tuple[str, ...]
    givens: tuple[Expr, ...]
    claim: Expr
    expects: tuple[Expect, ...]
    span: Span


Decl = (
    Import
    | UniverseDecl
    | ConstDecl
    | AtomDecl
    | DefDecl
    | AssumeDecl
    | ContextDecl
    | PredicateDecl
    | VersionDecl
    | PropertyDecl
    | ArchDecl
)


@dataclass(frozen=True)
class SpecFile:
    path: str
    decls: tuple[Decl, ...]
