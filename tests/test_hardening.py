"""Untrusted specs and shared machines (issue 17): every reproducer of the
issue that falls in the export, the cache, the parser's limits, --output
and eval --batch, as a regression test."""

from __future__ import annotations

import io
import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import z3
from conftest import run_cli, write_spec

from thpverify.backend import cvc5 as crosscheck
from thpverify.backend import smtlib
from thpverify.backend.solver import Solver
from thpverify.cli.common import parse_values
from thpverify.cli.main import _interpreted
from thpverify.infra import cache, output
from thpverify.infra.cone import instance_keys
from thpverify.lang import parser
from thpverify.lang.diagnostics import SpecError
from thpverify.lang.library import load_library
from thpverify.lang.parser import parse_text

# ------------------------------------------------------------------ export

# Every SMT-LIB 2.6 reserved word and the Core, BV, Int and Array theory
# symbols (and cvc5's binders) that the DSL accepts as a name.
SMT_WORDS = sorted(smtlib.RESERVED | {
    "and", "or", "not", "xor", "distinct", "ite", "true", "false", "Bool", "Int", "Real", "Array", "BitVec",
    "select", "store", "concat", "extract", "repeat", "bvand", "bvor", "bvnot", "bvadd", "bvult", "bvcomp",
    "div", "mod", "abs", "to_real", "to_int", "is_int", "zero_extend", "sign_extend", "rotate_left",
    "bv2nat", "int2bv", "lambda", "choice", "witness", "is", "a", "a_1", "well_formed_0", "premise_0",
    "negated_claim", "x_t", "x_y", "atom", "value", "sort", "pred", "param", "assume", "premise", "claim",
})


def _usable(name: str) -> bool:
    try:
        parse_text(f"atom {name}: bool; assume {name}: {name} -> {name};\n"
                   f"version \"v\" {{ predicate eligible() -> bool {{ if ({name}) return true; return false; }} }}", "w.thp")
    except SpecError:
        return False
    return True


def _corpus(tmp_path: Path) -> tuple[Path, list[str]]:
    names = [w for w in SMT_WORDS if _usable(w)]
    values = [w for w in names if w not in ("x", "y")][:6]
    lines = [f"atom {', '.join(names)}: bool;",
             f"atom x: enum {{y, {', '.join(values)}}};",
             # an assumption named like an atom, with a doc string that tries to end its comment
             'assume x_y "ends here\\n(assert false)\\r\\u2028(check-sat)": x_y -> and;',
             'version "v\\n(assert false)" {',
             f"  predicate eligible() -> bool {{ if (x == y) return x_y; return {' || '.join(names[:40])}; }}",
             "}",
             'property holds_one "x_y" { prove x_y && x == y -> eligible; expect holds; }',
             'property fails_one { prove eligible; expect fails; }']
    return write_spec(tmp_path, "\n".join(lines) + "\n"), names


def test_every_reserved_word_is_a_usable_name_and_reads_back_in_z3_and_cvc5(tmp_path: Path) -> None:
    pytest.importorskip("cvc5")
    path, names = _corpus(tmp_path)
    assert {"and", "or", "xor", "distinct", "_", "as", "let", "forall", "ite", "BINARY", "bvand"} <= set(names)
    lib = load_library([path])
    version = next(iter(lib.versions))
    script = smtlib.smt2(lib, version)
    assert "(assert false)" not in script.replace("\\n(assert false)", "")
    s = z3.Solver()
    s.from_string(script)  # z3 reads the whole version back
    assert s.check() == z3.sat
    assert crosscheck.run_cvc5(script + "(check-sat)\n") == "sat"
    solver = Solver(lib)
    for prop in lib.properties.values():
        for inst in prop.instances:
            verdict = solver.check(inst).verdict
            text = smtlib.smt2_instance(lib, inst)
            want = "sat" if verdict == "refuted" else "unsat"
            s = z3.Solver()
            s.from_string(text)
            assert str(s.check()) == want, (inst.property_name, text)
            assert crosscheck.run_cvc5(text) == want, inst.property_name


def test_a_doc_string_cannot_inject_into_the_cross_check(tmp_path: Path) -> None:
    pytest.importorskip("cvc5")
    path = write_spec(tmp_path, 'atom a, b: bool;\nassume ab "x\\n(assert false)": a -> a;\n'
                                'version "v" { predicate eligible() -> bool { return b; } }\n'
                                'property p { prove a -> eligible; expect fails; }\n'
                                'property q { prove b -> eligible; expect holds; }\n')
    lib = load_library([path])
    for inst in lib.properties["p"].instances:
        script = smtlib.smt2_instance(lib, inst)
        assert all(not line.startswith("(assert false)") for line in script.splitlines())
        assert crosscheck.run_cvc5(script) == "sat"
    code, out, _ = run_cli("check", str(path), "--cross-check", "cvc5", "--no-cache")
    assert code == 0 and "cvc5 agrees" in out


def test_names_that_collide_when_joined_stay_apart(tmp_path: Path) -> None:
    """enum x with value y against an atom x_y; an assumption named like an atom."""
    path = write_spec(tmp_path, "atom x_y, x_t: bool;\natom x: enum {y, t};\nassume x_y: x_y;\n"
                                'version "v" { predicate eligible() -> bool { return x == y && x_y; } }\n')
    script = smtlib.smt2(load_library([path]), "v")
    s = z3.Solver()
    s.from_string(script)
    assert s.check() == z3.sat
    assert "(declare-const atom.x_y Bool)" in script and "value.x.y" in script and ":named assume.x_y" in script


@pytest.mark.parametrize("name", sorted(smtlib.RESERVED) + ["x y", "1a", ""])
def test_symbol_quotes_what_is_not_simple(name: str) -> None:
    if not name:
        with pytest.raises(ValueError):
            smtlib.symbol(name)
        return
    written = smtlib.symbol(name)
    assert written == f"|{name}|"
    with pytest.raises(ValueError):
        smtlib.symbol(name + "|")


def test_comments_carry_no_control_characters() -> None:
    line = smtlib.comment("a\nb\rc\x00d\u2028e\x1b")
    assert "\n" not in line and line.isprintable() and line.startswith("; a\\nb\\rc")


# ------------------------------------------------------------------ outputs

MINI = "tests/corpus/mini.thp"


def _check_to(target: str) -> tuple[int, str, str]:
    return run_cli("check", MINI, "--format", "json", "--output", target)


def test_output_refuses_a_character_device_a_fifo_a_symlink_and_a_directory(tmp_path: Path) -> None:
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    kept = tmp_path / "kept"
    kept.write_text("precious\n", encoding="utf-8")
    link = tmp_path / "link"
    link.symlink_to(kept)
    stdout_link = tmp_path / "fd1"
    stdout_link.symlink_to("/proc/self/fd/1")
    for target, kind in ((device, "a character device"), (fifo, "a FIFO"), (link, "a symbolic link"),
                         (stdout_link, "a symbolic link"), (tmp_path, "a directory")):
        code, _, err = _check_to(str(target))
        assert code == 2 and kind in err, (target, err)
    assert stat.S_ISCHR(os.lstat(device).st_mode) and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert link.is_symlink() and kept.read_text(encoding="utf-8") == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fd1", "fifo", "kept", "link", "null"]  # no temp files left


@pytest.mark.parametrize("target", ["", "nosuchdir/x.json", "/proc/version", "/proc/nosuch/x"])
def test_output_to_an_impossible_place_is_exit_2(target: str) -> None:
    code, out, err = _check_to(target)
    assert code == 2 and err.startswith("thpverify: error:") and "Traceback" not in err and out == ""


def test_output_keeps_the_mode_of_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o600)
    code, _, _ = _check_to(str(target))
    assert code == 0 and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text(encoding="utf-8"))["command"] == "check"


def test_output_dash_is_stdout() -> None:
    code, out, _ = _check_to("-")
    assert code == 0 and json.loads(out)["command"] == "check"


def test_output_write_text_refuses_a_name_with_a_nul() -> None:
    with pytest.raises(output.OutputError, match="NUL"):
        output.write_text("a\0b", "x")


# ------------------------------------------------------------------- cache

_EVIL = b"cos\nsystem\n(S'touch %s'\ntR."  # a pickle that runs a shell command when loaded


def _cache_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", str(where))
    return where


def test_no_pickle_is_ever_loaded_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = _cache_at(tmp_path, monkeypatch)
    marker = tmp_path / "ran"
    assert run_cli("check", MINI)[0] == 0
    entries = list(where.glob("*.json"))
    assert entries and oct(where.stat().st_mode & 0o777) == "0o700"
    for entry in entries:
        json.loads(entry.read_bytes())  # data only
        (where / f"{entry.stem}.pickle").write_bytes(_EVIL % str(marker).encode())
        entry.write_bytes(_EVIL % str(marker).encode())
    (where / "grammar.lark-tables").write_bytes(_EVIL % str(marker).encode())
    parser._lark.cache_clear()
    code, out, _ = run_cli("check", MINI)
    assert code == 0 and "all as expected" in out and not marker.exists()


def test_a_cache_dir_of_another_user_or_open_to_others_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = _cache_at(tmp_path, monkeypatch)
    where.mkdir(mode=0o777)
    where.chmod(0o777)
    marker = tmp_path / "ran"
    code, out, err = run_cli("check", MINI)
    assert code == 0 and "open to other users" in err and not list(where.iterdir())
    os.chown(where, 65534, 65534)
    where.chmod(0o700)
    code, out, err = run_cli("check", MINI)
    assert code == 0 and "owned by uid 65534" in err and not list(where.iterdir())
    assert not marker.exists()
    os.chown(where, os.geteuid(), os.getegid())
    where.chmod(0o755)  # as an older thpverify made it: readable by others, writable by none
    code, out, err = run_cli("check", MINI)
    assert code == 0 and err == "" and stat.S_IMODE(where.stat().st_mode) == 0o700 and list(where.glob("*.json"))


def test_cache_writes_never_follow_a_planted_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = _cache_at(tmp_path, monkeypatch)
    precious = tmp_path / "precious"
    precious.write_text("root's file\n", encoding="utf-8")
    lib = load_library([Path(MINI)])
    where.mkdir(mode=0o700)
    for k in instance_keys(lib, cache.fingerprint()).values():
        (where / f"{k}.json").symlink_to(precious)
    (where / "grammar.lark-tables").symlink_to(precious)
    assert run_cli("check", MINI)[0] == 0
    assert precious.read_text(encoding="utf-8") == "root's file\n"
    assert run_cli("check", MINI)[0] == 0  # and the entry written in the link's place is read back
    link_to_dir = tmp_path / "linked-cache"
    link_to_dir.symlink_to(where)
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", str(link_to_dir))
    code, _, err = run_cli("check", MINI)
    assert code == 0 and "not a directory" in err


def test_a_repointed_import_link_is_not_a_stale_proof(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cache_at(tmp_path, monkeypatch)
    for name, body in (("v1.thp", "return a;"), ("v2.thp", "return false;")):
        write_spec(tmp_path, f'atom a: bool;\nversion "v" {{ predicate eligible() -> bool {{ {body} }} }}\n', name)
    top = write_spec(tmp_path, 'import "link.thp";\nproperty p { prove a -> eligible; expect holds; }\n', "top.thp")
    link = tmp_path / "link.thp"
    link.symlink_to("v1.thp")
    code, out, _ = run_cli("check", str(top))
    assert code == 0 and "1 proved" in out
    link.unlink()
    link.symlink_to("v2.thp")
    code, out, _ = run_cli("check", str(top))
    assert code == 10 and "1 refuted" in out


def test_corrupted_entries_are_misses_never_a_different_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = _cache_at(tmp_path, monkeypatch)
    first = run_cli("check", MINI)
    good = {entry: entry.read_bytes() for entry in where.glob("*.json")}  # the verdicts, the replay
    assert len(good) >= 7
    rng = random.Random(17)
    for _ in range(8):
        for entry, before in good.items():
            data = bytearray(before)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            entry.write_bytes(bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.2 else data))
        assert run_cli("check", MINI) == first
        for entry, before in good.items():
            entry.write_bytes(before)


def test_verdicts_round_trip_through_json() -> None:
    lib = load_library([Path(MINI)])
    verdicts = tuple(Solver(lib).check(i) for p in lib.properties.values() for i in p.instances)
    assert any(v.counterexample for v in verdicts)
    assert cache.verdicts_from_json(json.loads(json.dumps(cache.verdicts_to_json(verdicts)))) == verdicts
    assert cache.verdicts_from_json([{"verdict": "proved"}]) is None


# ------------------------------------------------------------------ limits

_HEAD = "atom a, b: bool;\n"


def _version(expr: str) -> str:
    return (_HEAD + f'version "v" {{ predicate eligible() -> bool {{ return {expr}; }} }}\n'
            "property p { prove a -> eligible; expect holds; }\n")


REJECTED = {
    "300 nested !": (_version("!" * 300 + "a"), "E005"),
    "300 nested parentheses": (_version("(" * 300 + "a" + ")" * 300), None),  # parentheses leave no node: accepted
    "300 nested ifs": (_HEAD + 'version "v" { predicate eligible() -> bool { ' + "if (a) { " * 300 + "return a; " + "} " * 300
                       + "return b; } }\n", "E005"),
    "1000 nested blocks": (_HEAD + 'version "v" { predicate eligible() -> bool { ' + "if (a) { " * 1000 + "return a; " + "} " * 1000
                           + "return b; } }\n", "E005"),
    "a 10 MB string": ('atom a: bool "' + "x" * 10_000_000 + '";\n', "E006"),
    "a long string": ('atom a: bool "' + "x" * 20_000 + '";\n', "E006"),
    "a 10 MB unterminated comment": ("/*" + "x" * 10_000_000, "E006"),
    "a huge universe": ("universe order = {0..100000000};\n", "E006"),
    "a 4301-digit number": ("const K = " + "9" * 4301 + ";\n", "E006"),
    "a malformed \\x escape": ('atom a: bool "\\x";\n', "E007"),
    "an unknown \\N{} name": ('atom a: bool "\\N{NOPE}";\n', "E007"),
    "a NUL in an import path": ('import "a\\0b.thp";\n', "E007"),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_hostile_input_is_a_located_error_not_exit_6(tmp_path: Path, name: str) -> None:
    text, code = REJECTED[name]
    path = write_spec(tmp_path, text)
    rc, _, err = run_cli("check", "--no-cache", str(path))
    assert "Traceback" not in err and "internal error" not in err
    if code is None:
        assert rc in (0, 10)
        return
    assert rc == 2 and f"{path}:" in err, err[:300]
    first = err.splitlines()[0]
    assert first.split(":")[1].isdigit() and first.split(":")[2].isdigit()
    with pytest.raises(SpecError) as caught:
        parse_text(text, "x.thp")
    assert caught.value.diagnostics[0].code == code


def test_a_long_chain_of_one_operator_is_regrouped_not_rejected(tmp_path: Path) -> None:
    """A 2000-term `||` and a 250-term `&&` parse to shallow trees and check normally."""
    wide = write_spec(tmp_path, _version(" || ".join(["a", "b"] * 1000)), "wide.thp")
    deep = write_spec(tmp_path, _version(" && ".join(["a"] * 250)), "deep.thp")
    for path in (wide, deep):
        rc, out, err = run_cli("check", str(path))
        assert rc == 0 and "1 proved" in out, err
    spec = parse_text(_version(" && ".join(["a"] * 250)), "x.thp")
    fn = spec.decls[2].items[0]  # type: ignore[attr-defined]
    expr, depth = fn.body.body[0].value, 0
    while hasattr(expr, "left"):
        expr, depth = expr.left, depth + 1
    assert depth == 8  # ceil(log2(250))


def test_escapes_decode_as_in_python_and_keep_other_characters() -> None:
    spec = parse_text('atom a: bool "caf\\u00e9 é \\x41\\n\\q";\n', "x.thp")
    assert spec.decls[0].doc == "café é A\n\\q"  # type: ignore[attr-defined]


def test_memory_stays_under_500_mib_at_the_size_limit(tmp_path: Path) -> None:
    """The costliest input the parser accepts to lex: an unterminated comment just under MAX_FILE_BYTES."""
    path = write_spec(tmp_path, "/*" + "x" * (parser.MAX_FILE_BYTES - 3))
    probe = ("import resource, subprocess, sys\n"
             f"subprocess.run([sys.executable, '-m', 'thpverify', 'check', '--no-cache', {str(path)!r}], capture_output=True)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert int(done.stdout) < 500 * 1024  # kB


# ------------------------------------------------------------ eval --batch

GOOD = '{"version": "v6.1", "caller": "khugepaged", "vma_is_dax": true}'
BAD_LINES = [
    '{"version": ["v6.1"]}', '{"version": 6.1}', '{"VM_HUGEPAGE": {"x": 1}}', '{"VM_HUGEPAGE": 1.5}', '{"VM_HUGEPAGE": null}',
    '{"block_fits": [9, "x"]}', "[1, 2]", '"text"', "nonsense", '{"VM_HUGEPAGE": ' + "9" * 5000 + "}",
    "[" * 100_000 + "]" * 100_000, '{"caller": "nosuch"}', '{"output": "nosuch", "version": "v6.1"}', '{"block_fits": [99]}',
]


def test_a_bad_batch_line_is_one_error_line_and_the_rest_still_run(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_bytes(("\n".join([GOOD, *BAD_LINES, GOOD]) + "\n").encode() + b'{"caller": "\xff"}\n' + GOOD.encode() + b"\n")
    code, out, err = run_cli("eval", "--batch", str(batch))
    assert code == 2 and "Traceback" not in err
    results = [json.loads(line) for line in out.splitlines()]
    assert len(results) == len(BAD_LINES) + 4
    assert [("error" in r) for r in results] == [False] + [True] * len(BAD_LINES) + [False, True, False]
    assert [r["line"] for r in results if "error" in r] == list(range(2, len(BAD_LINES) + 2)) + [len(BAD_LINES) + 3]
    assert results[0] == results[-1] and results[0]["value"] is False
    assert len(err.splitlines()) == len(BAD_LINES) + 1 and all(f"{batch}:" in line for line in err.splitlines())


def test_batch_from_stdin_and_an_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((GOOD + "\n").encode())))
    code, out, _ = run_cli("eval", "--batch", "-")
    assert code == 0 and json.loads(out)["value"] is False
    code, _, err = run_cli("eval", "--batch", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot read" in err


# Inputs of one page fault (fault_tries_huge), which `eligible` never reads:
# given fixed values that keep the fault assumptions true, so that the draw
# of the other atoms decides whether the fast path may answer.
FAULT_ONLY = {"fault_write", "VM_SHARED", "pmd_none", "fault_block_fits", "fault_within_size", "pagecache_pmd_folio",
              "pagecache_range_empty", "filemap_fault"}


def test_the_interpreter_answers_a_batch_line_exactly_as_the_solver_would(lib) -> None:  # type: ignore[no-untyped-def]
    """The batch's fast path (the interpreter alone, when it settles the value) against Solver.evaluate,
    on random VMAs with some atoms left unknown."""
    solver = Solver(lib)
    rng = random.Random(7)
    versions = [v for v in lib.versions if "eligible" in lib.versions[v].outputs]
    fast = slow = 0
    for _ in range(3000):
        version = rng.choice(versions)
        sets = []
        for name, atom in lib.atoms.items():
            if name in FAULT_ONLY:
                sets.append(f"{name}=" + ("0" if atom.type.kind == "bool" else ""))
                continue
            if rng.random() < 0.05:
                continue  # left unknown
            if atom.type.kind == "bool":
                sets.append(f"{name}={int(rng.random() < 0.3)}")
            elif atom.type.kind == "enum":
                sets.append(f"{name}={rng.choice(atom.values)}")
            else:
                elements = list(lib.universes[atom.type.name].elements)
                sets.append(f"{name}=" + ",".join(map(str, rng.sample(elements, rng.randint(0, len(elements))))))
        given = parse_values(lib, sets)
        quick = _interpreted(lib, solver, version, "eligible", given)
        if quick is not None:
            fast += 1
            assert quick == solver.evaluate(version, "eligible", given), (version, sets)
        elif slow < 3:
            slow += 1
            assert solver.evaluate(version, "eligible", given).version == version
        if fast >= 15 and slow >= 3:
            break
    assert fast >= 15
