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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..errors import InconclusiveError, ThpverifyError
from ..results import VerdictKind
from .common import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_SPEC,
    EXIT_UNKNOWN,
    UsageError,
    checked,
    known_version,
    library,
    nothing_to_check,
    parse_values,
)

if TYPE_CHECKING:
    from .. import model as m
    from ..infra import warm
    from ..results import Fixed

__all__ = ["main", "main_entry"]


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
_COMMAND_MODULES: tuple[str, ...] = ("reports", "kernel", "analysis", "reproduce", "versions", "importer")

CHECK_FORMATS = ("text", "json", "junit", "sarif", "markdown")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON (schema thpverify/2)")
    library = argparse.ArgumentParser(add_help=False)
    library.add_argument("--spec", action="append", type=Path, metavar="PATH",
                         help="spec file or directory to load instead of the bundled library (repeatable)")
    library.add_argument("-I", "--include", action="append", type=Path, default=[], metavar="DIR",
                         help="also look for imported specs in DIR, before $THPVERIFY_PATH and the bundled library (repeatable)")
    library.add_argument("--arch", metavar="NAME",
                         help="the architecture whose page orders the specs use (default: the first declared, x86_64)")

    p = argparse.ArgumentParser(prog="thpverify", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("check", parents=[common], help="prove every property on every version, compare with expectations")
    c.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="spec files or directories (default: the bundled library)")
    c.add_argument("-I", "--include", action="append", type=Path, default=[], metavar="DIR",
                   help="also look for imported specs in DIR, before $THPVERIFY_PATH and the bundled library (repeatable)")
    c.add_argument("--arch", metavar="NAME",
                   help="the architecture whose page orders the specs use (default: the first declared, x86_64)")
    c.add_argument("--verbose", "-v", action="store_true", help="show witnesses, traces and the checks made on each answer")
    c.add_argument("--jobs", "-j", type=int, metavar="N", help="worker processes (default: the number of cores, at most 4)")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bar on stderr (shown only on a terminal)")
    c.add_argument("--no-cache", action="store_true",
                   help="check everything again, neither reading nor writing the result cache")
    c.add_argument("--format", choices=CHECK_FORMATS, help="text (default), json (as --json), junit, sarif or markdown")
    c.add_argument("--output", "-o", type=Path, metavar="FILE",
                   help="write the --format output to FILE (atomically; a regular file only; - is stdout); the text report goes to stdout")
    c.add_argument("--cross-check", choices=["cvc5"], dest="cross_check",
                   help="re-prove every proved claim with cvc5 from the SMT-LIB export (exit 6 on a disagreement)")
    c.set_defaults(run=cmd_check)

    e = sub.add_parser("eval", parents=[common, library], help="the value and trace for one VMA")
    e.add_argument("--version", help="a version of the library, e.g. v6.1")
    e.add_argument("--caller", help="page_fault, smaps, khugepaged or madv_collapse")
    e.add_argument("--set", action="append", default=[], metavar="ATOM=VALUE",
                   help="an atom's value: VM_HUGEPAGE=1, thp_enabled=madvise, block_fits=9,18, block_fits[9]=1")
    e.add_argument("--output", default="eligible", help="the predicate to evaluate (default: eligible)")
    e.add_argument("--batch", type=Path, metavar="FILE.jsonl", help=BATCH_HELP)
    e.set_defaults(run=cmd_eval)

    pr = sub.add_parser("prove", parents=[common, library], help="prove one property")
    pr.add_argument("property_name", metavar="property")
    pr.add_argument("--version", help="only this version")
    pr.add_argument("--all", action="store_true",
                    help="every class of the failing inputs, counted, with minimum cubes (as thpverify counterexamples)")
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
        return exc.exit_code
    except InconclusiveError as exc:
        err.write(f"thpverify: inconclusive: {exc}\n")
        return exc.exit_code
    except ThpverifyError as exc:
        if os.environ.get("THPVERIFY_DEBUG"):
            raise
        err.write(f"thpverify: internal error: {exc}\nplease report it\n")
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "thpverify":  # our own module missing is a packaging bug: below
            err.write(f"thpverify: error: a module thpverify needs is not installed: {exc.name}\n"
                      "install thpverify with its dependencies: pip install . in a thpverify checkout\n")
            return EXIT_SPEC
        return _internal(exc, err)
    except Exception as exc:  # the promise is no traceback, and exit 6
        return _internal(exc, err)


def _internal(exc: Exception, err: TextIO) -> int:
    """A fault of thpverify itself: one line and exit 6, never a traceback
    (THPVERIFY_DEBUG=1 shows it)."""
    if os.environ.get("THPVERIFY_DEBUG"):
        raise exc
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
    # Source lines come from the specs as they were read: a file that was
    # refused, or is not a spec, is never read again to be shown.
    err.write(render_text.diagnostics(exc.diagnostics, exc.sources))
    return EXIT_SPEC


# ------------------------------------------------------------------ check


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .reports import check_output, require_solver

    fmt = args.format or ("json" if args.json else "text")
    if args.json and fmt != "json":
        raise UsageError(f"--json and --format {fmt} disagree; give one")
    if args.cross_check:
        require_solver(args.cross_check)
    check_output(args.output)
    to_file = args.output is not None and str(args.output) != "-"  # -o - is stdout: as without --output
    replay = None
    if not args.no_cache and not args.cross_check:
        from ..infra import warm

        replay = warm.key({"paths": [str(p) for p in args.paths], "include": [str(p) for p in args.include], "arch": args.arch,
                           "format": fmt, "verbose": args.verbose, "to_file": to_file})
        done = warm.replay(replay) if replay is not None else None
        if done is not None:
            return _emit_check(done, args.output, out, err)
    return _check(args, fmt, to_file, replay, out, err)


def _check(args: argparse.Namespace, fmt: str, to_file: bool, replay: str | None, out: TextIO, err: TextIO) -> int:
    from ..infra import warm
    from ..render import json as render_json
    from ..render import text as render_text
    from ..results import CheckReport
    from .reports import cross_check, render_check

    lib, verdicts = checked(args.paths, args.jobs, not args.no_cache, args.include, args.arch, err, args.quiet)
    warnings = render_text.diagnostics(lib.warnings, lib.sources) if lib.warnings else ""
    if warnings:
        err.write(warnings)
    nothing_to_check(lib)
    report = CheckReport(lib.files, tuple(lib.versions), verdicts)
    code = report.exit_code
    file_text = render_check(fmt, report, lib, args.verbose) if to_file else None
    if to_file:
        fmt = "text"
    if fmt == "text":
        docs = {p.name: p.doc for p in lib.properties.values()}
        text = render_text.check_report(report, docs, args.verbose)
    elif fmt == "json":
        text = render_json.check_report(report)
    else:
        text = render_check(fmt, report, lib)
    done = warm.Output(text, "", file_text, code)
    if replay is not None and not any(v.verdict in (VerdictKind.ERROR, VerdictKind.UNKNOWN) for v in verdicts):
        from ..lang.library import bundled_path, search_path

        named = list(args.paths) or [bundled_path()]  # as load_library names them
        read = [(lib.paths[shown], lib.sources[shown]) for shown in lib.files]
        warm.record(replay, named, search_path(named, args.include).dirs, read, warm.Output(text, warnings, file_text, code))
    code = _emit_check(done, args.output, out, err)
    if args.cross_check:
        code = cross_check(args.cross_check, lib, report, out if fmt == "text" else err, code)
    return code


def _emit_check(done: warm.Output, path: Path | None, out: TextIO, err: TextIO) -> int:
    """Write a check's output (its warnings, when replayed, then the --output file, then stdout)."""
    from .reports import write_atomic

    err.write(done.stderr)
    if done.file is not None:
        assert path is not None
        write_atomic(path, done.file)
    out.write(done.stdout)
    return done.code


# ------------------------------------------------------------------ prove


def cmd_prove(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..backend.solver import Solver
    from ..lang.diagnostics import did_you_mean
    from ..render import json as render_json
    from ..render import text as render_text

    if args.all:
        from .reproduce import cmd_counterexamples

        args.limit = None
        return cmd_counterexamples(args, out, err)
    lib = library(args.spec, args.include, arch=args.arch)
    prop = lib.properties.get(args.property_name)
    if prop is None:
        hint = did_you_mean(args.property_name, lib.properties)
        raise UsageError(f"no property '{args.property_name}'" + (f"; {hint}" if hint else ""))
    instances = [i for i in prop.instances if args.version in (None, i.version)]
    if args.version is not None and not instances:
        known_version(lib, args.version)
        raise UsageError(f"property '{args.property_name}' is checked across versions, not on one; drop --version")
    solver = Solver(lib)
    verdicts = [solver.check(i) for i in instances]
    if args.json:
        out.write(render_json.envelope("prove", {"property": prop.name, "doc": prop.doc,
                                                 "results": [render_json.verdict(v) for v in verdicts]}))
    else:
        out.write(f"{prop.name}\n")
        if prop.doc:
            out.write(f"  {prop.doc}\n")
        for v in verdicts:
            out.write("\n".join(render_text.verdict(v, detail=True)) + "\n")
    if any(v.verdict is VerdictKind.ERROR for v in verdicts):
        return EXIT_INTERNAL
    if any(v.verdict in (VerdictKind.REFUTED, VerdictKind.VACUOUS) for v in verdicts):
        return EXIT_FAILED
    if any(v.verdict is VerdictKind.UNKNOWN for v in verdicts):
        return EXIT_UNKNOWN
    return EXIT_OK


# ------------------------------------------------------------------- eval


def _eval_one(lib: m.Library, solver: object, version: str | None, caller: str | None,
              sets: list[str], output: str, memo: dict[str, list[Fixed]] | None = None) -> object:
    """One evaluation. With a memo (--batch), the interpreter answers when it
    settles the value alone, and parsed ATOM=VALUE texts are kept."""
    from ..backend.solver import Solver

    assert isinstance(solver, Solver)
    if not version:
        raise UsageError("--version is required; versions: " + ", ".join(lib.versions))
    known_version(lib, version)
    v = lib.versions[version]
    if output not in v.functions or v.functions[output].params:
        raise UsageError(f"'{output}' is not an output of {version}; outputs: {', '.join(v.outputs)}")
    given = parse_values(lib, ([f"caller={caller}"] if caller is not None else []) + list(sets), memo)
    if memo is not None:
        known = _interpreted(lib, solver, version, output, given)
        if known is not None:
            return known
    return solver.evaluate(version, output, given)


def _interpreted(lib: m.Library, solver: object, version: str, output: str, given: Sequence[Fixed]) -> object:
    """The answer from the interpreter alone, when it settles it: every
    assumption of the version is true on the given atoms (so the input
    cannot contradict them) and the predicate's value and deciding rule are
    known whatever the atoms not given are. Else None: the solver decides
    (a contradiction, a value fixed only through the assumptions, or
    "depends on")."""
    from ..backend.solver import Solver, trace_steps, typed_value
    from ..results import EvalResult
    from ..semantics import evaluate as ev

    assert isinstance(solver, Solver)
    partial = solver.partial(given)
    if not all(ev.value_of(lib, a.expr, partial) is True for a in lib.versions[version].assumptions):
        return None
    out = ev.run(lib, version, output, partial)
    if not out.known or out.rule is None:
        return None
    rule = out.rule
    return EvalResult(version=version, predicate=output, given=tuple(given), value=typed_value(out.value), depends_on=(),
                      rule=rule.id, rule_at=rule.span, kernel=rule.cite,
                      trace=trace_steps(out.trace))


def cmd_eval(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..backend.solver import Solver
    from ..render import json as render_json
    from ..render import text as render_text
    from ..results import EvalResult

    lib = library(args.spec, args.include, arch=args.arch)
    solver = Solver(lib)
    if args.batch is None:
        r = _eval_one(lib, solver, args.version, args.caller, args.set, args.output)
        assert isinstance(r, EvalResult)
        out.write(render_json.eval_result(r) if args.json else render_text.eval_result(r))
        return EXIT_OK
    code = EXIT_OK
    memo: dict[str, list[Fixed]] = {}
    for number, line in _batch_lines(args.batch):
        try:
            version, caller, output, sets = _batch_line(line, args)
            r = _eval_one(lib, solver, version, caller, sets, output, memo)
            assert isinstance(r, EvalResult)
            out.write(render_json.eval_result(r, compact=True))
        except (UsageError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, bad UTF-8
            reason = "the line nests too deeply" if isinstance(exc, RecursionError) else str(exc)
            out.write(render_json.envelope("eval", {"line": number, "error": reason}, compact=True))
            err.write(f"{args.batch}:{number}:1: error: {reason}\n")
            code = EXIT_SPEC
    return code


BATCH_HELP = """\
one JSON object per line (FILE.jsonl, or - for stdin): "version", "caller" and
"output" (strings; default --version, --caller, --output), every other key an
atom (or ATOM[k] for one element of a set) with a value: true/false, a number,
an enum value's name, or a list of numbers for a set. One JSON result per line;
a bad line is one error line (exit 2 at the end) and the rest still run."""


def _batch_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a batch file (or stdin), read as they come."""
    if str(path) == "-":
        stream = sys.stdin.buffer
    else:
        try:
            stream = open(path, "rb")  # noqa: SIM115 -- closed below
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        for number, raw in enumerate(stream, 1):
            if raw.strip():
                yield number, raw
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _batch_line(raw: bytes, args: argparse.Namespace) -> tuple[str | None, str | None, str, list[str]]:
    """(version, caller, output, ATOM=VALUE texts) of one batch line; UsageError or ValueError when it is malformed."""
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict):
        raise UsageError("each line must be a JSON object")
    picked: dict[str, str | None] = {}
    for name, default in (("version", args.version), ("caller", args.caller), ("output", args.output)):
        value = doc.pop(name, default)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"'{name}' must be a string")
        picked[name] = value
    sets = []
    for k, v in doc.items():
        ok = isinstance(v, bool | int | str) or (isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v))
        if not ok:
            raise UsageError(f"'{k}': expected true or false, a number, a value's name or a list of numbers")
        sets.append(f"{k}={_json_value(v)}")
    return picked["version"], picked["caller"], picked["output"] or "eligible", sets + list(args.set)


def _json_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


# ----------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..backend.smtlib import smt2

    lib = library(args.spec, args.include, arch=args.arch)
    known_version(lib, args.version)
    out.write(smt2(lib, args.version))
    return EXIT_OK


def main_entry() -> None:
    """The console script: exit with main()'s code."""
    sys.exit(main())
