"""Random small decision tables, as spec text, and brute force over them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from hypothesis import strategies as st

from thpverify import model as m
from thpverify.lang.resolve import load
from thpverify.lang.typecheck import typecheck
from thpverify.semantics import evaluate as ev

BOOLS = ["a", "b", "c", "d"]
MODES = ["x", "y", "z"]
ORDERS = [1, 2]

HEADER = f"""universe order = {{{", ".join(map(str, ORDERS))}}};
atom {", ".join(BOOLS)}: bool;
atom mode: enum {{{", ".join(MODES)}}};
atom s: set of order;
"""


def literals() -> st.SearchStrategy[str]:
    atom = st.sampled_from(BOOLS).flatmap(lambda x: st.sampled_from([x, f"!{x}"]))
    enum = st.sampled_from(MODES).flatmap(lambda v: st.sampled_from([f"mode == {v}", f"mode != {v}"]))
    member = st.sampled_from(ORDERS).flatmap(lambda k: st.sampled_from([f"{k} in s", f"{k} not in s"]))
    return st.one_of(atom, enum, member, st.just("empty(s)"))


def conditions() -> st.SearchStrategy[str]:
    return st.lists(literals(), min_size=1, max_size=3).flatmap(
        lambda lits: st.sampled_from([" && ", " || "]).map(lambda op: "(" + op.join(lits) + ")")
    )


@st.composite
def versions(draw: st.DrawFn) -> str:
    """A spec with two versions "a" and "b" (a guard chain each, maybe nested), each with an assumption of its own."""
    out = HEADER
    for name in ("a", "b"):
        out += f'version "{name}" {{\n  assume fact_{name}: {draw(conditions())};\n' + _wrap("", draw(_chain())) + "}\n"
    return out


@st.composite
def _chain(draw: st.DrawFn) -> str:
    """The rules of a guard chain, the last returning."""
    lines = []
    for i in range(draw(st.integers(1, 5))):
        cond = draw(conditions())
        value = draw(st.sampled_from(["true", "false"]) | conditions())
        if draw(st.booleans()):
            inner = draw(conditions())
            lines.append(f"    r{i}: if ({cond}) {{ if ({inner}) return {value}; }}")
        else:
            lines.append(f"    r{i}: if ({cond}) return {value};")
    lines.append(f"    last: return {draw(st.sampled_from(['true', 'false']) | conditions())};")
    return "\n".join(lines)


@st.composite
def tables(draw: st.DrawFn) -> str:
    """A spec with one version (a guard chain, maybe nested), an assumption and a property."""
    body = draw(_chain())
    assumption = draw(conditions())
    given = draw(st.none() | conditions())
    claim = draw(st.sampled_from(["eligible", "!eligible", f"{draw(conditions())} -> eligible",
                                  f"{draw(conditions())} -> !eligible"]))
    return (
        HEADER
        + f"assume fact: {assumption};\n"
        + 'version "t" {\n' + _wrap(draw(st.sampled_from(["", "inner()", "!inner()", "inner() == a"])), body) + "}\n"
        + "property p {\n" + (f"  given {given};\n" if given else "")
        + f"  prove {claim};\n  expect holds;\n}}\n"
    )


def _wrap(wrapper: str, body: str) -> str:
    """The table as eligible itself, or as a helper that eligible's one return hands over to."""
    if not wrapper:
        return "  predicate eligible() -> bool {\n" + body + "\n  }\n"
    return ("  predicate inner() -> bool {\n" + body + "\n  }\n"
            f"  predicate eligible() -> bool {{ return {wrapper}; }}\n")


def build(tmp: Path, text: str) -> m.Library:
    path = tmp / "table.thp"
    path.write_text(text, encoding="utf-8")
    return typecheck(load([path]))


def inputs() -> Iterator[dict[str, bool | str | int]]:
    for bits in itertools.product((False, True), repeat=len(BOOLS)):
        for mode in MODES:
            for mask in range(1 << len(ORDERS)):
                s = sum(1 << k for i, k in enumerate(ORDERS) if mask >> i & 1)
                yield {**dict(zip(BOOLS, bits, strict=True)), "mode": mode, "s": s}


def holds(lib: m.Library, exprs: list[m.Expr], assignment: ev.Assignment) -> bool:
    return all(ev.value_of(lib, e, assignment) is True for e in exprs)
