"""The parser builds nodes as Lark reduces (no parse tree): the error it
reports is still the one a whole tree would give, and spans still cover
the parentheses around an operand."""

from __future__ import annotations

import pytest

from thpverify.lang import nodes as n
from thpverify.lang.diagnostics import SpecError
from thpverify.lang.parser import parse_text

EMPTY_RANGE = "universe order = {3..1};\n"  # E003, met while building nodes


def _first(text: str) -> tuple[str, int, int]:
    with pytest.raises(SpecError) as caught:
        parse_text(text, "t.thp")
    d = caught.value.diagnostics[0]
    return d.code, d.span.line, d.span.col


def test_a_syntax_error_later_in_the_file_wins_over_an_earlier_building_error() -> None:
    assert _first(EMPTY_RANGE) == ("E003", 1, 19)
    assert _first(EMPTY_RANGE + "atom a: bool;\natom b bool;\n") == ("E002", 3, 8)


def test_the_nesting_depth_wins_over_an_earlier_building_error() -> None:
    code, line, _ = _first(EMPTY_RANGE + "atom a: bool;\ndef d = " + "!" * 150 + "a;\n")
    assert (code, line) == ("E005", 3)


def test_a_span_starts_at_the_parenthesis_of_its_first_operand() -> None:
    spec = parse_text("atom a, b: bool;\ndef d = (a || b) && a;\n", "t.thp")
    value = spec.decls[-1].value  # type: ignore[union-attr]
    assert isinstance(value, n.BinOp) and isinstance(value.left, n.BinOp)
    assert (value.span.col, value.left.span.col) == (9, 10)


def test_a_long_chain_is_balanced_and_each_node_spans_its_operands() -> None:
    spec = parse_text("atom a: bool;\ndef d = " + " && ".join(["a"] * 32) + ";\n", "t.thp")
    value = spec.decls[-1].value  # type: ignore[union-attr]
    depth = 0
    while isinstance(value, n.BinOp):
        assert value.span.col <= value.left.span.col and value.span.end_col >= value.right.span.end_col
        value, depth = value.left, depth + 1
    assert depth == 5
