"""Architectures: the page orders of the library are a parameter (--arch)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from thpverify import model as m
from thpverify.lang.diagnostics import SpecError
from thpverify.lang.library import load_library

SPEC = """\
arch "small" { universe order = {1..4, 8}; const PMD_ORDER = 4; }
arch "large" { universe order = {1..6, 12}; const PMD_ORDER = 6; }
atom fits: set of order;
version "v" {
  predicate eligible() -> bool from f in "mm/x.c" {
    pmd @1: return PMD_ORDER in fits && empty(fits - {1..PMD_ORDER});
  }
}
property below_pmd "an eligible VMA fits no order above PMD" {
  prove eligible -> empty(fits - {1..4});
  expect holds arch "small";
  expect fails arch "large";
}
"""


def test_the_selected_arch_decides_the_universe_and_constants(tmp_path: Path) -> None:
    spec = tmp_path / "a.thp"
    spec.write_text(SPEC, encoding="utf-8")
    small, large = (load_library([spec], arch=a) for a in ("small", "large"))
    assert (small.arch, small.arches, small.constant("PMD_ORDER")) == ("small", ("small", "large"), 4)
    assert large.universes["order"].elements == (1, 2, 3, 4, 5, 6, 12)
    assert load_library([spec]).arch == "small"  # the first declared
    with pytest.raises(SpecError) as info:
        load_library([spec], arch="huge")
    assert info.value.diagnostics[0].code == "E024" and "small, large" in info.value.diagnostics[0].message


def test_expectations_per_arch(tmp_path: Path) -> None:
    # An eligible VMA fits nothing above order 4 when PMD is order 4, but
    # does (order 6) when PMD is order 6.
    spec = tmp_path / "a.thp"
    spec.write_text(SPEC, encoding="utf-8")
    code, out, err = run_cli("check", str(spec), "--arch", "small")
    assert code == 0, out + err
    code, out, err = run_cli("check", str(spec), "--arch", "large")
    assert code == 0, out + err
    assert "v        refuted  as expected" in out  # fails, as expected on "large"
    spec.write_text(SPEC.replace('expect fails arch "large";', ""), encoding="utf-8")
    assert run_cli("check", str(spec), "--arch", "large")[0] == 10  # with no expectation on "large", a failure fails


def test_the_bundled_library_loads_on_every_arch(lib: m.Library) -> None:
    orders = {}
    for arch in ("x86_64", "arm64-4k", "arm64-16k", "arm64-64k"):
        on = lib if arch == lib.arch else load_library(arch=arch)  # the session's library is the first declared
        orders[arch] = (on.constant("PAGE_SHIFT"), on.constant("PMD_ORDER"), on.constant("PUD_ORDER"),
                        max(on.universes["order"].elements))
    assert orders == {"x86_64": (12, 9, 18, 18), "arm64-4k": (12, 9, 18, 18), "arm64-16k": (14, 11, 22, 22),
                      "arm64-64k": (16, 13, 26, 26)}
