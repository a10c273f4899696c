"""Every diagnostic code of the front end, produced by a spec of its own,
with its message and the line it points at.

Each case is a small spec; the line that should be blamed ends with `//!`
(or, for a file-level problem, the case names line 0). The test loads the
spec as `check` does and expects exactly that code, on that line, with a
message that contains the given words.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from thpverify.lang.diagnostics import SpecError
from thpverify.lang.library import load_library

VOCAB = """\
universe order = {1..9};
atom a, b: bool;
atom e: enum {x, y};
atom s: set of order;
"""

PRED = 'version "v" {\n  predicate p() -> bool from p in "mm/x.c" {\n%s\n  }\n}\n'

CASES: dict[str, tuple[str, str]] = {
    "E001": ("atom $x: bool; //!", "unexpected character '$'"),
    "E002": ("atom c bool; //!", "expected"),
    "E003": ("universe u = {5..2}; //!", "empty range 5..2"),
    "E004": (VOCAB + 'version "v" {}\nproperty p "doc" { //!\n  expect holds;\n}\n', "has no 'prove' clause"),
    "E005": ("atom a: bool;\ndef d = " + "!" * 150 + "a; //!", "nest"),
    "E006": ("atom a: bool;\ndef d = 1234567890 == 1; //!", "a number of 10 digits"),
    "E007": ('version "v" {\n  release "6.1\\x"; //!\n}', "a malformed escape in a string"),
    "E010": ('import "nowhere.thp"; //!', "cannot import 'nowhere.thp'"),
    "E011": ("atom c: bool;\natom c: bool; //!", "'c' is already declared"),
    "E012": ('version "a" extends "b" {} //!\nversion "b" extends "a" {}', "extends itself"),
    "E013": ('version "a" extends "zz" {} //!', "unknown base version 'zz'"),
    "E014": ('version "a" {\n  relese "1"; //!\n}', "unknown version attribute 'relese'"),
    "E015": ('version "a" {\n  drop nope; //!\n}', "no assumption 'nope' to drop"),
    "E016": ('version "a" {}\nversion "b" extends "a" {\n  patch q { delete x; } //!\n}', "no predicate 'q' to patch"),
    "E017": (VOCAB + PRED % "    one @1: if (a) return false;\n    two @2: return true;"
             + 'version "w" extends "v" {\n  patch p {\n    delete tree; //!\n  }\n}\n', "no rule labelled 'tree' in p"),
    "E018": ('version "a" {\n  intends caller x; //!\n}', "'intends' belongs to a patch"),
    "E020": ("universe u = {70}; //!", "universe elements must be 0..62"),
    "E021": (VOCAB + "const K = a; //!", "constant 'K' must be a literal value"),
    "E022": ("atom c: enum {x, x}; //!", "repeats a value"),
    "E023": (VOCAB + "atom q: set of nope; //!", "unknown universe 'nope'"),
    "E024": ('arch "a" { const K = 1; }\narch "b" { const K = 2; }\nversion "v" {}\n'
             'property p {\n  prove true;\n  expect holds arch "c"; //!\n}', "no architecture 'c'"),
    "E030": (VOCAB + "def d1 = d2; //!\ndef d2 = d1;", "calls itself"),
    "E031": (VOCAB + "context c: s; //!", "must be a condition (bool)"),
    "E032": (VOCAB + 'version "v" {\n  predicate p(x: bool, x: bool) -> bool { //!\n    return x;\n  }\n}', "declared twice"),
    "E033": (VOCAB + 'version "v" {\n  predicate p() -> bool { //!\n    r @1: if (a) return true;\n  }\n}',
             "can reach its end without returning"),
    "E034": (VOCAB + PRED % "    one @1: if (a) return false;\n    one @2: return true; //!", "rule label 'one' is already used"),
    "E035": (VOCAB + PRED % "    one @1: return true;\n    two @2: return false; //!", "can never run"),
    "E036": (VOCAB + PRED % "    one @1: return s; //!", "returns bool, not set of order"),
    "E037": (VOCAB + PRED % "    @1: let a = true; //!\n    two @2: return true;", "'a' is already a name here"),
    "E038": (VOCAB + PRED % "    @1: z = true; //!\n    two @2: return true;", "'z' is not a local variable"),
    "E039": (VOCAB + PRED % "    @1: let z = true;\n    @2: z |= s; //!\n    two @3: return z;", "works on sets"),
    "E040": (VOCAB + 'version "v" {}\nproperty p {\n  prove a;\n  expect holds;\n  expect fails; //!\n}', "one default 'expect'"),
    "E041": (VOCAB + 'version "v" {}\nproperty p {\n  prove a;\n  expect holds on "w"; //!\n}', "unknown version 'w'"),
    "E042": (VOCAB + 'version "v" {}\nproperty p { //!\n  callers nobody;\n  prove a;\n  expect holds;\n}',
             "unknown caller or context 'nobody'"),
    "E043": (VOCAB + 'version "v" {}\nversion "w" extends "v" {\n  intends property nope; //!\n}',
             "'intends property': unknown property 'nope'"),
    "E044": ("atom a: bool;\ndef d0 = a;\n" + "".join(f"def d{i} = d{i - 1};\n" for i in range(1, 700)) + "def top = d699; //!",
             "'top' nests 701 deep with the definitions it calls; the limit is 600"),
    "E050": (VOCAB + 'version "v" {}\nproperty p {\n  given s; //!\n  prove a;\n  expect holds;\n}', "expected a condition (bool)"),
    "E051": ('atom a: bool;\ndef d = 3 == 3; //!', "numbers need a declared universe"),
    "E052": (VOCAB + "def d = 999999999 in s; //!", "too large for a universe element"),
    "E053": (VOCAB + "def d = nope && a; //!", "unknown name 'nope'"),
    "E054": (VOCAB + "def d = nope(a); //!", "unknown predicate 'nope'"),
    "E055": (VOCAB + "def d = empty(s, s); //!", "takes one set, not 2 argument(s)"),
    "E056": (VOCAB + "def d = empty(a); //!", "needs a set, not bool"),
    "E057": (VOCAB + "def d = empty(a ? s : a); //!", "both arms of '?:' must have one type"),
    "E058": (VOCAB + "def d = {a} == s; //!", "holds elements of order, not bool"),
    "E059": (VOCAB + "def d = {12} == s; //!", "12 is not in universe order"),
    "E060": (VOCAB + "def d = e in {x, z}; //!", "expected a value of e"),
    "E061": (VOCAB + "universe u2 = {1};\natom t: set of u2;\ndef d = empty(s | t); //!", "needs two sets of one universe"),
    "E062": (VOCAB + "def d = a < b; //!", "orders universe elements, not bool"),
    "E063": (VOCAB + "def d = a in s; //!", "'in' tests an element of a universe against a set"),
    "W001": (VOCAB + PRED % "    if (a) return false; //!\n    two @2: return true;", "neither a label nor a kernel line"),
}


def _marked_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.endswith("//!"))


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_code_is_produced_with_its_message_and_place(code: str, tmp_path: Path) -> None:
    text, words = CASES[code]
    spec = tmp_path / "case.thp"
    spec.write_text(text + "\n", encoding="utf-8")
    if code.startswith("W"):
        found = load_library([spec]).warnings
    else:
        with pytest.raises(SpecError) as info:
            load_library([spec])
        found = info.value.diagnostics
    hits = [d for d in found if d.code == code]
    assert hits, [(d.code, d.message) for d in found]
    d = hits[0]
    assert words in d.message, d.message
    assert (Path(d.span.file).name, d.span.line) == ("case.thp", _marked_line(text)), (d.span, d.message)
    assert d.span.col >= 1


def test_every_code_in_the_front_end_has_a_case() -> None:
    import thpverify.lang as lang

    source = "".join(p.read_text(encoding="utf-8") for p in Path(lang.__file__).parent.glob("*.py"))
    used = set(re.findall(r'"([EW]\d{3})"', source)) - {"E019"}  # E019 is the CLI's: test_patch_workflow
    assert used <= set(CASES), sorted(used - set(CASES))
