"""The abstraction map: C expressions and helper calls -> vocabulary atoms.

The map is data (specs/abstraction.map), in a small format of its own
(absmap.lark) read with Lark. `load_map()` returns it as frozen data, each
entry with the place it was written, so that tests and errors can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lark import Lark, Token, Tree, UnexpectedInput

from ..lang.diagnostics import Diagnostic, SpecError
from ..lang.nodes import Span

_TOKEN = re.compile(r"\s*(0[xX][0-9a-fA-F]+\w*|\w+|->|<<=?|>>=?|&&|\|\||\+\+|--|[<>=!&|+\-*/%^]=|\S)")
_WORD = re.compile(r"\w")


def canonical(tokens: list[str]) -> str:
    """Tokens joined without spaces, except one between two words."""
    out: list[str] = []
    for tok in tokens:
        if out and _WORD.match(out[-1][-1]) and _WORD.match(tok[0]):
            out.append(" ")
        out.append(tok)
    return "".join(out)


def canonical_text(text: str) -> str:
    """The canonical form of a C pattern written in the map."""
    tokens = []
    pos = 0
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if not found:
            break
        tokens.append(found.group(1))
        pos = found.end()
    return canonical(tokens)


@dataclass(frozen=True)
class Entry:
    kind: str  # expr, flags, enum, config, decision
    key: str  # what it covers, as the map names it
    span: Span


@dataclass(frozen=True)
class Decision:
    function: str
    file: str
    bindings: tuple[tuple[str, str], ...]  # C parameter -> DSL expression (or flags word)
    smaps_function: str
    smaps_file: str
    span: Span
    allowable: tuple[str, str] | None = None  # (C parameter, DSL set) for the allowable() output


@dataclass(frozen=True)
class Carried:
    """A carried-index filter: the loop variable `name`, its value before
    the loop (`start`), its update (`step`) and the test, all canonical."""

    name: str
    start: str
    step: str
    test: str
    dsl: str  # the set of orders the loop keeps
    spec_import: str | None  # the spec file that declares the set's atom
    entry: Entry


@dataclass(frozen=True)
class PerCaller:
    """5.19: one decision per caller, each a conjunction of functions."""

    callers: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # caller value -> ((function, file), ...)
    bindings: tuple[tuple[str, str], ...]
    smaps_function: str
    smaps_file: str
    span: Span


@dataclass(frozen=True)
class Absent:
    """Callers that releases before `before` do not have."""

    callers: tuple[str, ...]
    before: str
    reason: str
    entry: Entry


@dataclass(frozen=True)
class AbstractionMap:
    exprs: dict[str, tuple[str, Entry]]  # canonical C -> (DSL, entry)
    flags: dict[str, dict[str, tuple[str, Entry]]]  # word -> bit -> (DSL atom, entry)
    enums: dict[str, tuple[str, dict[str, str], Entry]]  # canonical C -> (atom, constant -> value, entry)
    config: dict[str, bool]
    decisions: tuple[Decision, ...]
    orders: frozenset[str]  # C names of order-set variables
    filters: dict[str, tuple[str, Entry]]  # canonical per-order test -> (DSL set, entry)
    entries: tuple[Entry, ...]
    path: str
    carried: tuple[Carried, ...] = ()
    enum_types: dict[str, tuple[str, dict[str, str], Entry]] = field(default_factory=dict)  # C type -> (atom, constant -> value, entry)
    returns: dict[str, dict[str, tuple[str, Entry]]] = field(default_factory=dict)  # C type -> canonical value -> (DSL, entry)
    per_caller: tuple[PerCaller, ...] = ()
    absent: tuple[Absent, ...] = ()


def map_path() -> Path:
    from ..lang.library import bundled_path

    return bundled_path() / "abstraction.map"


@cache
def _lark() -> Lark:
    grammar = (Path(__file__).parent / "absmap.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True)


def load_map(path: Path | None = None) -> AbstractionMap:
    path = path or map_path()
    return parse_map(path.read_text(encoding="utf-8"), str(path))


def parse_map(text: str, path: str) -> AbstractionMap:
    """Read a map; raise SpecError with a located message for a bad one."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        span = Span(path, exc.line, exc.column, exc.line, exc.column)
        raise SpecError([Diagnostic(span, "M001", "the abstraction map does not parse here")]) from None
    exprs: dict[str, tuple[str, Entry]] = {}
    flags: dict[str, dict[str, tuple[str, Entry]]] = {}
    enums: dict[str, tuple[str, dict[str, str], Entry]] = {}
    config: dict[str, bool] = {}
    decisions: list[Decision] = []
    orders: set[str] = set()
    filters: dict[str, tuple[str, Entry]] = {}
    entries: list[Entry] = []
    problems: list[Diagnostic] = []
    carried: list[Carried] = []
    enum_types: dict[str, tuple[str, dict[str, str], Entry]] = {}
    returns: dict[str, dict[str, tuple[str, Entry]]] = {}
    per_caller: list[PerCaller] = []
    absent: list[Absent] = []

    def span_of(node: Tree[Token]) -> Span:
        return Span(path, node.meta.line, node.meta.column, node.meta.end_line, node.meta.end_column)

    def add(entry: Entry, table: dict[str, object]) -> bool:
        if entry.key in table:
            problems.append(Diagnostic(entry.span, "M002", f"'{entry.key}' is mapped twice"))
            return False
        entries.append(entry)
        return True

    for node in tree.children:
        assert isinstance(node, Tree)
        span = span_of(node)
        kids = node.children
        if node.data == "config_entry":
            value = str(kids[-1]) == "y"
            for name in kids[:-1]:
                config[str(name)] = value
                entries.append(Entry("config", str(name), span))
        elif node.data == "expr_entry":
            dsl = _unquote(kids[-1])
            for pattern in kids[:-1]:
                key = canonical_text(_unquote(pattern))
                entry = Entry("expr", key, span)
                if add(entry, exprs):  # type: ignore[arg-type]
                    exprs[key] = (dsl, entry)
        elif node.data == "flags_entry":
            word = canonical_text(_unquote(kids[0]))
            bits: dict[str, tuple[str, Entry]] = {}
            for bit in kids[1:]:
                assert isinstance(bit, Tree)
                entry = Entry("flags", f"{word} & {bit.children[0]}", span_of(bit))
                bits[str(bit.children[0])] = (_unquote(bit.children[1]), entry)
                entries.append(entry)
            flags[word] = bits
        elif node.data == "enum_entry":
            atom = str(kids[-1]) if isinstance(kids[-1], Token) else ""
            cases = [k for k in kids if isinstance(k, Tree)]
            names = [k for k in kids if isinstance(k, Token) and k.type == "STRING"]
            atom = str(next(k for k in kids if isinstance(k, Token) and k.type == "NAME"))
            table = {str(c.children[0]): str(c.children[1]) for c in cases}
            for pattern in names:
                key = canonical_text(_unquote(pattern))
                entry = Entry("enum", key, span)
                if add(entry, enums):  # type: ignore[arg-type]
                    enums[key] = (atom, table, entry)
        elif node.data == "orders_entry":
            for name in kids:
                orders.add(str(name))
                entries.append(Entry("orders", str(name), span))
        elif node.data == "filter_entry":
            key = canonical_text(_unquote(kids[0]))
            entry = Entry("filter", key, span)
            if add(entry, filters):  # type: ignore[arg-type]
                filters[key] = (_unquote(kids[1]), entry)
        elif node.data == "decision_entry":
            trees = [k for k in kids if isinstance(k, Tree)]
            bindings = tuple((str(b.children[0]), _unquote(b.children[1])) for b in trees if b.data == "binding")
            smaps = next(b for b in trees if b.data == "smaps_entry")
            allow = next(((str(b.children[0]), _unquote(b.children[1])) for b in trees if b.data == "allowable_entry"), None)
            d = Decision(_unquote(kids[0]), _unquote(kids[1]), bindings, _unquote(smaps.children[0]),
                         _unquote(smaps.children[1]), span, allow)
            decisions.append(d)
            entries.append(Entry("decision", d.function, span))
        elif node.data == "carried_entry":
            spec = kids[5]
            test = canonical_text(_unquote(kids[3]))
            c = Carried(str(kids[0]), canonical_text(_unquote(kids[1])), canonical_text(_unquote(kids[2])), test,
                        _unquote(kids[4]), _unquote(spec) if spec is not None else None, Entry("carried", test, span))
            carried.append(c)
            entries.append(c.entry)
        elif node.data == "enum_type_entry":
            ctype = " ".join(_unquote(kids[0]).split())
            entry = Entry("enum type", ctype, span)
            if add(entry, enum_types):  # type: ignore[arg-type]
                cases = [k for k in kids if isinstance(k, Tree)]
                enum_types[ctype] = (str(kids[1]), {str(c.children[0]): str(c.children[1]) for c in cases}, entry)
        elif node.data == "returns_entry":
            ctype = " ".join(_unquote(kids[0]).split())
            values: dict[str, tuple[str, Entry]] = {}
            for case in kids[1:]:
                assert isinstance(case, Tree)
                entry = Entry("returns", f"{ctype}: {canonical_text(_unquote(case.children[0]))}", span_of(case))
                values[canonical_text(_unquote(case.children[0]))] = (_unquote(case.children[1]), entry)
                entries.append(entry)
            returns[ctype] = values
        elif node.data == "per_caller_entry":
            trees = [k for k in kids if isinstance(k, Tree)]
            bindings = tuple((str(b.children[0]), _unquote(b.children[1])) for b in trees if b.data == "binding")
            callers = tuple((str(c.children[0]), tuple((_unquote(f.children[0]), _unquote(f.children[1]))
                                                        for f in c.children[1:] if isinstance(f, Tree)))
                            for c in trees if c.data == "caller_entry")
            smaps = next(b for b in trees if b.data == "smaps_entry")
            pc = PerCaller(callers, bindings, _unquote(smaps.children[0]), _unquote(smaps.children[1]), span)
            per_caller.append(pc)
            entries.append(Entry("per caller", ", ".join(c for c, _ in callers), span))
        elif node.data == "absent_entry":
            who = tuple(str(k) for k in kids[:-2])
            a = Absent(who, _unquote(kids[-2]), _unquote(kids[-1]), Entry("absent", ", ".join(who), span))
            absent.append(a)
            entries.append(a.entry)
    if problems:
        raise SpecError(problems)
    return AbstractionMap(exprs, flags, enums, config, tuple(decisions), frozenset(orders), filters, tuple(entries), path,
                          tuple(carried), enum_types, returns, tuple(per_caller), tuple(absent))


def _unquote(tok: object) -> str:
    text = str(tok)
    return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
