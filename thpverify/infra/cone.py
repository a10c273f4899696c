"""What one check reads, as a digest: the key of its cached verdict.

A check is one property instance on one version. Its verdict is a function
of the instance (premises, named assumptions, claim, expectation), of every
function the instance reaches through its calls (transitively, each in the
version it lives in), and of the vocabulary every check shares (universes,
atoms in declaration order, constants, the architecture, the global
definitions and assumptions: the decision diagrams order their variables by
it and name derived conditions from it). The digest is taken over a
canonical serialisation of those model objects, never over file text, so a
comment or a change in another version leaves it alone.

Spans are left out, except a rule's: a verdict shows where the rule that
decided it is written (rule_at, the trace's spec line) and the kernel lines
it cites, so moving a rule is a new key; moving an atom's declaration is not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

from .. import model as m
from ..location import Span
from ..results import KernelCite

Item = tuple[str, int]  # (property, index of its instance)


class _CycleError(Exception):
    """A function reaches itself: the spec is refused elsewhere; no key here."""


def instance_keys(lib: m.Library, tool: str) -> dict[Item, str]:
    """A digest per instance, in library order; `tool` is the checker's
    fingerprint (infra.cache.fingerprint). Empty when the spec has a call
    cycle (no instance is cached then)."""
    digests = _Digests(lib)
    try:
        shared = _hash(["vocabulary", tool, digests.vocabulary()])
        return {(name, i): _hash(["instance", shared, digests.instance(inst)])
                for name, prop in lib.properties.items() for i, inst in enumerate(prop.instances)}
    except _CycleError:
        return {}


def _hash(doc: object) -> str:
    return hashlib.sha256(json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode()).hexdigest()


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> None:
    _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("span", "expect_span") or cls is m.Rule)


class _Digests:
    """Model objects as JSON-able data; a called function as its digest."""

    def __init__(self, lib: m.Library) -> None:
        self.lib = lib
        self.functions: dict[tuple[str, str], str] = {}
        self.open: set[tuple[str, str]] = set()
        self.parts: dict[int, tuple[object, str]] = {}  # id -> (the object, kept so its id is not reused; its digest)
        self.kinds: dict[type, Callable[[Any], object]] = {
            m.Op: self._op, m.AtomRef: _named, m.Local: _named, m.Lit: _lit, m.Type: _type, m.Call: self._call,
            Span: _span, KernelCite: _cite}

    def vocabulary(self) -> object:
        lib = self.lib
        return [lib.arch, [[u.name, list(u.elements)] for u in lib.universes.values()],
                [[a.name, self.node(a.type), list(a.values)] for a in lib.atoms.values()],
                [[k, v] for k, v in lib.constants], self.node(lib.assumptions),
                [[name, self.function("", name)] for name in lib.global_functions]]

    def instance(self, inst: m.Instance) -> object:
        return [inst.property_name, inst.version, [self.part(p) for p in inst.premises],
                [self.part(a) for a in inst.assumptions], self.part(inst.claim), inst.expected]

    def part(self, x: object) -> str:
        """The digest of an expression or an assumption; instances share most of theirs."""
        if id(x) not in self.parts:
            self.parts[id(x)] = (x, _hash(self.node(x)))
        return self.parts[id(x)][1]

    def node(self, x: object) -> object:
        kind = type(x)
        special = self.kinds.get(kind)
        if special is not None:
            return special(x)
        names = _FIELDS.get(kind)
        if names is not None:
            return [kind.__name__, *[self.node(getattr(x, f)) for f in names]]
        if kind is tuple:
            return [self.node(i) for i in x]  # type: ignore[attr-defined]
        if x is None or isinstance(x, str | int | bool):
            return x
        if dataclasses.is_dataclass(x):
            _fields(kind)
            return self.node(x)
        raise TypeError(f"no canonical form for {kind.__name__}")

    def _op(self, x: m.Op) -> object:
        return ["Op", x.op, [self.node(a) for a in x.args], _type(x.type)]

    def _call(self, x: m.Call) -> object:
        return ["Call", x.version, x.name, [self.node(a) for a in x.args], _type(x.type), self.function(x.version, x.name)]

    def function(self, version: str, name: str) -> str:
        """The digest of a function and of everything it calls."""
        k = (version, name)
        if k not in self.functions:
            if k in self.open:
                raise _CycleError
            self.open.add(k)
            fn = self.lib.function(version, name)
            self.functions[k] = _hash(self.node(fn))
            self.open.discard(k)
        return self.functions[k]


def _named(x: m.AtomRef | m.Local) -> object:
    return [type(x).__name__, x.name, _type(x.type)]


def _lit(x: m.Lit) -> object:
    return ["Lit", x.value, _type(x.type)]


def _type(x: m.Type) -> object:
    return [str(x.kind), x.name]


def _span(x: Span) -> object:
    return [x.file, x.line, x.col, x.end_line, x.end_col]


def _cite(x: KernelCite) -> object:
    return [x.release, x.file, x.first, x.last, x.function]
