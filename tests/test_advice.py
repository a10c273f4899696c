"""The advice table's rule labels exist in every release that should have them."""

from __future__ import annotations

import inspect
import re

from thpverify import model as m
from thpverify.analysis.engine import is_patch, release_key
from thpverify.kernel import advice


def _labels(lib: m.Library, version: str) -> set[str]:
    """Rule labels of thp_eligible and every predicate it calls."""
    out: set[str] = set()
    seen: set[tuple[str, str]] = set()

    def function(fn: m.Function) -> None:
        if (fn.version, fn.name) in seen:
            return
        seen.add((fn.version, fn.name))
        out.update(r.id for r in fn.rules)
        body(fn.body)

    def expr(e: m.Expr) -> None:
        if isinstance(e, m.Call):
            function(lib.function(e.version, e.name))
        if isinstance(e, (m.Call, m.Op)):
            for a in e.args:
                expr(a)

    def body(stmts: tuple[m.Stmt, ...]) -> None:
        for st in stmts:
            if isinstance(st, m.SIf):
                expr(st.test)
                body(st.then)
                body(st.orelse)
            else:
                expr(st.value)

    function(lib.versions[version].functions["thp_eligible"])
    return out


def test_every_advice_label_is_a_rule_of_every_release_from_its_first(lib: m.Library) -> None:
    releases = sorted((v for v in lib.versions if not is_patch(lib, v)), key=lambda v: release_key(lib, v))
    for label, first in advice.ADVICE_LABELS.items():
        assert first in releases, f"{label}: no release {first}"
        for v in releases[releases.index(first):]:
            assert label in _labels(lib, v), f"advice keyed on '{label}', which {v}'s thp_eligible does not have"


def test_every_label_the_advice_reads_is_in_the_table() -> None:
    source = inspect.getsource(advice.explain_rule)
    named = set(re.findall(r'rule == "(\w+)"', source))
    for group in re.findall(r"rule in \(([^)]*)\)", source):
        named.update(re.findall(r'"(\w+)"', group))
    assert len(named) > 10
    assert named <= set(advice.ADVICE_LABELS), sorted(named - set(advice.ADVICE_LABELS))
