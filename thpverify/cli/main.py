"""The command line. Each subcommand is a function (args, out, err) -> exit code.

Exit codes follow CBMC's contract: 0 all as expected; 10 a verdict differs
from its expectation or a property fails; 5 inconclusive (unknown, timeout);
2 spec or usage error; 6 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .. import model as m
    from ..results import Fixed, Verdict

EXIT_OK, EXIT_SPEC, EXIT_UNKNOWN, EXIT_INTERNAL, EXIT_FAILED = 0, 2, 5, 6, 10

DESCRIPTION = """\
thpverify: a formal verifier for the Linux kernel's transparent-huge-page
eligibility decision. Specs transcribe each release's predicate rule by rule;
Z3 proves properties or returns the smallest counterexample VMA together
with the rule that decided it."""

EPILOG = """\
exit codes: 0 all as expected; 10 a verdict differs from its expectation
(or, for prove, the claim fails); 5 inconclusive; 2 spec or usage error;
6 internal error.
With no spec path, the bundled spec library is used."""


# Modules that add subcommands: each has register(sub, common, library),
# which adds its parsers; like this module, they import z3 and lark only
# inside the commands, so that --help stays fast.
_COMMAND_MODULES: tuple[str, ...] = ("reports", "kernel", "analysis", "reproduce")

CHECK_FORMATS = ("text", "json", "junit", "sarif", "markdown")


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON (schema thpverify/1)")
    library = argparse.ArgumentParser(add_help=False)
    library.add_argument("--spec", action="append", type=Path, metavar="PATH",
                         help="spec file or directory to load instead of the bundled library (repeatable)")

    p = argparse.ArgumentParser(prog="thpverify", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("check", parents=[common], help="prove every property on every version, compare with expectations")
    c.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="spec files or directories (default: the bundled library)")
    c.add_argument("--verbose", "-v", action="store_true", help="show witnesses, traces and the checks made on each answer")
    c.add_argument("--jobs", "-j", type=int, metavar="N", help="worker processes (default: the number of cores, at most 4)")
    c.add_argument("--no-cache", action="store_true",
                   help="check everything again, neither reading nor writing the result cache")
    c.add_argument("--format", choices=CHECK_FORMATS, help="text (default), json (as --json), junit, sarif or markdown")
    c.add_argument("--output", "-o", type=Path, metavar="FILE",
                   help="write the --format output to FILE (atomically); the text report still goes to stdout")
    c.add_argument("--cross-check", choices=["cvc5"], dest="cross_check",
                   help="re-prove every proved claim with cvc5 from the SMT-LIB export (exit 6 on a disagreement)")
    c.set_defaults(run=cmd_check)

    e = sub.add_parser("eval", parents=[common, library], help="the value and trace for one VMA")
    e.add_argument("--version", help="a version of the library, e.g. v6.1")
    e.add_argument("--caller", help="page_fault, smaps, khugepaged or madv_collapse")
    e.add_argument("--set", action="append", default=[], metavar="ATOM=VALUE",
                   help="an atom's value: VM_HUGEPAGE=1, thp_enabled=madvise, block_fits=9,18, block_fits[9]=1")
    e.add_argument("--output", default="eligible", help="the predicate to evaluate (default: eligible)")
    e.add_argument("--batch", type=Path, metavar="FILE.jsonl", help="one assignment per line; one JSON result per line")
    e.set_defaults(run=cmd_eval)

    pr = sub.add_parser("prove", parents=[common, library], help="prove one property")
    pr.add_argument("property")
    pr.add_argument("--version", help="only this version")
    pr.set_defaults(run=cmd_prove)

    x = sub.add_parser("export", parents=[library], help="write a version as an SMT-LIB 2 script")
    x.add_argument("--version", required=True)
    x.add_argument("--format", choices=["smt2"], default="smt2")
    x.set_defaults(run=cmd_export)

    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{name}").register(sub, common, library)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code in (0, None) else EXIT_SPEC
    if not getattr(args, "command", None):
        parser.print_help(out)
        return EXIT_SPEC
    from ..lang.diagnostics import SpecError

    try:
        code: int = args.run(args, out, err)
        return code
    except SpecError as exc:
        return _spec_error(exc, args, out, err)
    except UsageError as exc:
        err.write(f"thpverify: error: {exc}\n")
        return EXIT_SPEC
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the promise is no traceback, and exit 6
        if os.environ.get("THPVERIFY_DEBUG"):
            raise
        err.write(f"thpverify: internal error: {type(exc).__name__}: {exc}\n"
                  "set THPVERIFY_DEBUG=1 to see where; please report it\n")
        return EXIT_INTERNAL


def _spec_error(exc: Exception, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..lang.diagnostics import SpecError
    from ..render import json as render_json
    from ..render import text as render_text

    assert isinstance(exc, SpecError)
    if getattr(args, "json", False):
        out.write(render_json.diagnostics(exc.diagnostics))
    sources: dict[str, str] = {}
    for d in exc.diagnostics:
        if d.span.file not in sources:
            try:
                sources[d.span.file] = Path(d.span.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                from ..lang.library import bundled_path

                candidate = bundled_path().parent / d.span.file
                sources[d.span.file] = candidate.read_text(encoding="utf-8") if candidate.is_file() else ""
    err.write(render_text.diagnostics(exc.diagnostics, sources))
    return EXIT_SPEC


def _load(paths: list[Path] | None) -> m.Library:
    from ..lang.library import load_library

    return load_library(paths or None)


def _library(paths: list[Path] | None) -> m.Library:
    """The specs, parsed and type-checked, or read back from the cache when unchanged."""
    from ..infra import cache
    from ..lang.library import bundled_path, load_library

    for p in paths or []:
        if not p.exists():
            raise UsageError(f"{p}: no such file or directory")
    key = cache.key(paths or [bundled_path()], {"command": "library"})
    lib: m.Library | None = cache.load(key) if key else None
    if lib is None:
        lib = load_library(paths or None)
        if key:
            cache.store(key, lib.paths, lib.sources, lib)
    return lib


# ------------------------------------------------------------------ check


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..render import json as render_json
    from ..render import text as render_text
    from ..results import CheckReport
    from .reports import cross_check, render_check, require_solver, write_atomic

    fmt = args.format or ("json" if args.json else "text")
    if args.json and fmt != "json":
        raise UsageError(f"--json and --format {fmt} disagree; give one")
    if args.cross_check:
        require_solver(args.cross_check)
    lib, verdicts = _checked(args.paths, args.jobs, not args.no_cache)
    report = CheckReport(lib.files, tuple(lib.versions), verdicts)
    code = report.exit_code
    if args.output is not None:
        write_atomic(args.output, render_check(fmt, report, lib, args.verbose))
        fmt = "text"
    if fmt == "text":
        docs = {p.name: p.doc for p in lib.properties.values()}
        out.write(render_text.check_report(report, docs, args.verbose))
    elif fmt == "json":
        out.write(render_json.check_report(report))
    else:
        out.write(render_check(fmt, report, lib))
    if args.cross_check:
        code = cross_check(args.cross_check, lib, report, out if fmt == "text" else err, code)
    return code


def _checked(paths: list[Path], jobs: int | None, use_cache: bool) -> tuple[m.Library, tuple[Verdict, ...]]:
    """The library and its verdicts: from the cache when nothing changed
    (no z3, no lark, no solving), else loaded, checked and stored."""
    from ..infra import cache
    from ..lang.library import bundled_path

    for p in paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or directory")
    key = cache.key(paths or [bundled_path()], {"command": "check"}) if use_cache else None
    hit = cache.load(key) if key else None
    if hit is not None:
        lib, verdicts = hit
        return lib, verdicts
    from ..infra.runner import check_all

    lib = _library(paths) if use_cache else _load(paths)
    verdicts = check_all(lib, jobs)
    if key and not any(v.verdict in ("error", "unknown") for v in verdicts):
        cache.store(key, lib.paths, lib.sources, (lib, verdicts))
    return lib, verdicts


# ------------------------------------------------------------------ prove


def cmd_prove(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..backend.solver import Solver
    from ..lang.diagnostics import did_you_mean
    from ..render import json as render_json
    from ..render import text as render_text

    lib = _library(args.spec)
    prop = lib.properties.get(args.property)
    if prop is None:
        hint = did_you_mean(args.property, lib.properties)
        raise UsageError(f"no property '{args.property}'" + (f"; {hint}" if hint else ""))
    instances = [i for i in prop.instances if args.version in (None, i.version)]
    if args.version is not None and not instances:
        _known_version(lib, args.version)
        raise UsageError(f"property '{args.property}' is checked across versions, not on one; drop --version")
    solver = Solver(lib)
    verdicts = [solver.check(i) for i in instances]
    if args.json:
        out.write(render_json.dumps({"command": "prove", "property": prop.name, "doc": prop.doc,
                                     "results": [render_json.verdict(v) for v in verdicts]}))
    else:
        out.write(f"{prop.name}\n")
        if prop.doc:
            out.write(f"  {prop.doc}\n")
        for v in verdicts:
            out.write("\n".join(render_text.verdict(v, detail=True)) + "\n")
    if any(v.verdict == "error" for v in verdicts):
        return EXIT_INTERNAL
    if any(v.verdict in ("refuted", "vacuous") for v in verdicts):
        return EXIT_FAILED
    if any(v.verdict == "unknown" for v in verdicts):
        return EXIT_UNKNOWN
    return EXIT_OK


def _known_version(lib: m.Library, version: str) -> None:
    from ..lang.diagnostics import did_you_mean

    if version not in lib.versions:
        hint = did_you_mean(version, lib.versions)
        raise UsageError(f"no version '{version}'" + (f"; {hint}" if hint else "")
                         + "\nversions: " + ", ".join(lib.versions))


# ------------------------------------------------------------------- eval


def parse_value(lib: m.Library, text: str) -> list[Fixed]:
    """ATOM=VALUE, ATOM[k]=VALUE -> coordinates; raises UsageError."""
    from ..lang.diagnostics import did_you_mean
    from ..results import Fixed

    if "=" not in text:
        raise UsageError(f"'{text}': expected ATOM=VALUE")
    name, raw = (s.strip() for s in text.split("=", 1))
    element = None
    if name.endswith("]") and "[" in name:
        name, index = name[:-1].split("[", 1)
        element = _int(index, text)
    atom = lib.atoms.get(name)
    if atom is None:
        hint = did_you_mean(name, lib.atoms)
        raise UsageError(f"unknown atom '{name}'" + (f"; {hint}" if hint else ""))
    kind = atom.type.kind
    if element is not None:
        if kind != "set":
            raise UsageError(f"'{name}' is not a set; write {name}={raw}")
        universe = lib.universes[atom.type.name]
        if element not in universe.elements:
            raise UsageError(f"{element} is not in universe {atom.type.name} {list(universe.elements)}")
        return [Fixed(name, element, _bool(raw, text))]
    if kind == "bool":
        return [Fixed(name, None, _bool(raw, text))]
    if kind == "enum":
        if raw not in atom.values:
            hint = did_you_mean(raw, atom.values)
            raise UsageError(f"'{raw}' is not a value of {name}: {', '.join(atom.values)}" + (f"; {hint}" if hint else ""))
        return [Fixed(name, None, raw)]
    universe = lib.universes[atom.type.name]
    members = {_int(x, text) for x in raw.strip("{}").replace(" ", "").split(",") if x}
    outside = sorted(members - set(universe.elements))
    if outside:
        raise UsageError(f"{outside[0]} is not in universe {atom.type.name} {list(universe.elements)}")
    return [Fixed(name, None, sum(1 << k for k in members))]


def _bool(raw: str, whole: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise UsageError(f"'{whole}': expected true or false")


def _int(raw: str, whole: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"'{whole}': '{raw}' is not a number") from None


def _eval_one(lib: m.Library, solver: object, version: str | None, caller: str | None,
              sets: list[str], output: str) -> object:
    from ..backend.solver import Solver

    assert isinstance(solver, Solver)
    if not version:
        raise UsageError("--version is required; versions: " + ", ".join(lib.versions))
    _known_version(lib, version)
    v = lib.versions[version]
    if output not in v.functions or v.functions[output].params:
        raise UsageError(f"'{output}' is not an output of {version}; outputs: {', '.join(v.outputs)}")
    given = parse_values(lib, ([f"caller={caller}"] if caller is not None else []) + list(sets))
    return solver.evaluate(version, output, given)


def parse_values(lib: m.Library, texts: Sequence[str]) -> list[Fixed]:
    """Several ATOM=VALUE texts -> coordinates, each once; raises UsageError
    when one coordinate is given two values."""
    given: list[Fixed] = []
    for text in texts:
        given.extend(parse_value(lib, text))
    seen: dict[tuple[str, int | None], object] = {}
    for f in given:
        key = (f.atom, f.element)
        if key in seen and seen[key] != f.value:
            raise UsageError(f"'{f.atom}' is given two values")
        seen[key] = f.value
    return list({(f.atom, f.element): f for f in given}.values())


def cmd_eval(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..backend.solver import Solver
    from ..render import json as render_json
    from ..render import text as render_text
    from ..results import EvalResult

    lib = _library(args.spec)
    solver = Solver(lib)
    if args.batch is None:
        r = _eval_one(lib, solver, args.version, args.caller, args.set, args.output)
        assert isinstance(r, EvalResult)
        out.write(render_json.eval_result(r) if args.json else render_text.eval_result(r))
        return EXIT_OK
    try:
        lines = args.batch.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.batch}: cannot read: {exc}") from None
    code = EXIT_OK
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            if not isinstance(doc, dict):
                raise UsageError("each line must be a JSON object")
            version = doc.pop("version", args.version)
            caller = doc.pop("caller", args.caller)
            output = doc.pop("output", args.output)
            sets = [f"{k}={_json_value(v)}" for k, v in doc.items()] + list(args.set)
            r = _eval_one(lib, solver, version, caller, sets, output)
            assert isinstance(r, EvalResult)
            out.write(render_json.eval_result(r, compact=True))
        except (UsageError, json.JSONDecodeError) as exc:
            out.write(json.dumps({"schema": "thpverify/1", "line": number, "error": str(exc)}, sort_keys=True) + "\n")
            err.write(f"{args.batch}:{number}:1: error: {exc}\n")
            code = EXIT_SPEC
    return code


def _json_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


# ----------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..backend.solver import smt2

    lib = _library(args.spec)
    _known_version(lib, args.version)
    out.write(smt2(lib, args.version))
    return EXIT_OK


def main_entry() -> None:
    """The console script: exit with main()'s code."""
    sys.exit(main())
