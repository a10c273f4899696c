"""The benchmark cannot rot: its generator plants what it says, and the
runner runs end to end at the smallest size with every engine agreeing."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gen  # noqa: E402
from bench.run import main  # noqa: E402


@pytest.mark.parametrize("n,m", [(4, 2), (8, 8), (10, 30)])
def test_generator_plants_its_answers(n: int, m: int) -> None:
    t = gen.generate(n, m)
    assert t == gen.generate(n, m)  # deterministic
    a, b, c = (t.rules_of(v) for v in "abc")
    assert gen.decide(a, t.witness) != gen.decide(b, t.witness)
    for point in itertools.product((False, True), repeat=n):
        for rules in (a, b, c):
            if point[0] and point[1]:
                assert gen.decide(rules, point)  # holds_p
        assert gen.decide(a, point) == gen.decide(c, point)
    assert not gen.decide(a, (False, False, True, True) + (False,) * (n - 4))  # fails_p's witness
    assert 'property equal_ab' in gen.thp_text(t)
    assert gen.smt2_text(t, "equiv_differ").rstrip().endswith("(check-sat)")


def test_runner_smallest_size(tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "results.json", tmp_path / "performance.md"
    code = main(["--sizes", "8x8", "--no-library", "--no-cli", "--reps", "1",
                 "--json", str(out_json), "--markdown", str(out_md)])
    results = json.loads(out_json.read_text(encoding="utf-8"))
    [size] = results["sweep"]
    assert "error" not in size, size.get("error")
    assert size["disagreements"] == []
    assert code == 0
    assert size["brute_force"]["agrees_with_plant"]
    assert {q["verdict_answer"] for q in size["thpverify"]["queries"].values()} == {"proved", "refuted"}
    text = out_md.read_text(encoding="utf-8")
    assert "| 8 × 8 | prove (holds) |" in text
    assert "## Targets (issues 7 and 13)" in text
