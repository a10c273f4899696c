"""Real kernel trees, read where they lie (never copied into the project):
runs when THPVERIFY_KERNEL_TREES names a directory of trees (one
subdirectory per release, e.g. 6.6.9/, as bench/import_trees.py takes);
the 2023 fix series also needs THPVERIFY_FIX_DIFFS, a directory with the
mails v1.mbox, v2-1.mbox, v2-both.mbox (1/2 then 2/2) and v3.mbox."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import import_trees  # noqa: E402

TREES = os.environ.get("THPVERIFY_KERNEL_TREES")
DIFFS = os.environ.get("THPVERIFY_FIX_DIFFS")
needs_trees = pytest.mark.skipif(not TREES, reason="THPVERIFY_KERNEL_TREES is not set: no kernel trees to import")


@needs_trees
def test_every_tree_imports_equivalent_to_its_hand_spec() -> None:
    assert TREES is not None
    rows = import_trees.run(Path(TREES))
    assert rows
    for row in rows:
        assert row.equivalent, row
        assert row.hand is not None and row.functions, row


@needs_trees
@pytest.mark.skipif(not DIFFS, reason="THPVERIFY_FIX_DIFFS is not set: no fix series mails")
@pytest.mark.parametrize(("mail", "hand"), [("v1", "fix-v1"), ("v2-1", "fix-v2"), ("v2-both", "fix-v2-2"), ("v3", "fix-v3")])
def test_fix_series_reproduces_the_hand_fix_spec(mail: str, hand: str) -> None:
    from thpverify.analysis.diff import diff
    from thpverify.cli.importer import candidate_library

    assert TREES is not None and DIFFS is not None
    lib, name = candidate_library(None, Path(TREES) / "6.6.9", Path(DIFFS) / f"{mail}.mbox", "v6.6")
    for output in ("eligible", "thp_eligible"):
        for caller in lib.atoms["caller"].values if output == "eligible" else (None,):
            assert not diff(lib, hand, name, caller, output).rows, (hand, output, caller)
