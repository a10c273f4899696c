"""Past the decision diagrams' node budget the SAT path answers: the same
verdicts as the diagrams give, each saying so, and its counterexamples
replay through the interpreter as the diagrams' do."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gen  # noqa: E402
from thpverify import model as m  # noqa: E402
from thpverify.backend.diagrams import Diagrams  # noqa: E402
from thpverify.backend.solver import Solver  # noqa: E402
from thpverify.lang.resolve import load  # noqa: E402
from thpverify.lang.typecheck import typecheck  # noqa: E402
from thpverify.results import EXPECTED_VERDICT, Verdict  # noqa: E402
from thpverify.semantics import evaluate as ev  # noqa: E402

SAID = "answered by Z3 alone"


def _replays(lib: m.Library, inst: m.Instance, v: Verdict) -> bool:
    """The witness meets the premises and the assumptions and falsifies the claim."""
    assert v.counterexample is not None
    values = {a: (sum(1 << k for k in x) if isinstance(x, tuple) else x) for a, x in v.counterexample.witness}
    held = [*inst.premises, *(a.expr for a in inst.assumptions)]
    return all(ev.value_of(lib, e, values) is True for e in held) and ev.value_of(lib, inst.claim, values) is False


def test_a_tiny_budget_hands_every_verdict_to_z3_with_the_same_answers(tmp_path: Path) -> None:
    path = tmp_path / "table.thp"
    path.write_text(gen.thp_text(gen.generate(8, 12)), encoding="utf-8")
    lib = typecheck(load([path]))
    diagrams, sat = Solver(lib), Solver(lib)
    sat._diagrams = Diagrams(lib, node_limit=1)
    seen = set()
    for prop in lib.properties.values():
        for inst in prop.instances:
            by_diagrams, by_sat = diagrams.check(inst), sat.check(inst)
            assert inst.expected is not None
            assert by_diagrams.verdict == by_sat.verdict == EXPECTED_VERDICT[inst.expected]
            assert SAID in by_sat.checks[-1] and not any(SAID in c for c in by_diagrams.checks)
            if by_sat.counterexample is not None:
                assert _replays(lib, inst, by_sat) and _replays(lib, inst, by_diagrams)
            seen.add(by_sat.verdict)
    assert len(seen) == 2  # proofs and refutations both crossed over
