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
_COMMAND_MODULES: tuple[str, ...] = ("reports", "kernel", "analysis")

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
                try:
                    sources[d.span.file] = candidate.read_text(encoding="utf-8") if candidate.is_file() else ""
                except (OSError, UnicodeDecodeError):  # no caret line for a file that cannot be read as text
                    sources[d.span.file] = ""
    err.write(render_text.diagnostics(exc.diagnostics, sources))
    return EXIT_SPEC


def _load(paths: list[Path] | None) -> m.Library:
    from ..lang.library import load_library

    return load_library(paths or None)


def _library(paths: list[Path] | None) -> m.Library:
    """The specs, parsed and type-checked (never read back from a cache: only
    check verdicts are cached, as data)."""
    for p in paths or []:
        if not p.exists() and not p.is_symlink():
            raise UsageError(f"{p}: no such file or directory")
    return _load(paths)


# ------------------------------------------------------------------ check


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..render import json as render_json
    from ..render import text as render_text
    from ..results import CheckReport
    from .reports import check_output, cross_check, render_check, require_solver, write_atomic

    fmt = args.format or ("json" if args.json else "text")
    if args.json and fmt != "json":
        raise UsageError(f"--json and --format {fmt} disagree; give one")
    if args.cross_check:
        require_solver(args.cross_check)
    check_output(args.output)
    lib, verdicts = _checked(args.paths, args.jobs, not args.no_cache, err)
    report = CheckReport(lib.files, tuple(lib.versions), verdicts)
    code = report.exit_code
    if args.output is not None and str(args.output) != "-":  # -o - is stdout: as without --output
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


def _checked(paths: list[Path], jobs: int | None, use_cache: bool,
             err: TextIO | None = None) -> tuple[m.Library, tuple[Verdict, ...]]:
    """The library and its verdicts: the verdicts from the cache when every
    file the load read is unchanged, else checked (and stored when none is
    an error or unknown). A cache directory that is not private is refused
    with a warning on err, and the run goes on without it."""
    from ..infra import cache

    lib = _library(paths)
    key = cache.key(lib.sources, lib.paths, {"command": "check"}) if use_cache else None
    hit = cache.load_verdicts(key) if key else None
    wanted = sorted((i.property, i.version) for p in lib.properties.values() for i in p.instances)
    if hit is not None and sorted((v.property, v.version) for v in hit) == wanted:
        return lib, hit
    from ..infra.runner import check_all

    verdicts = check_all(lib, jobs)
    if key and not any(v.verdict in ("error", "unknown") for v in verdicts):
        try:
            cache.store_verdicts(key, verdicts)
        except cache.CacheRefusedError as exc:
            if err is not None:
                err.write(f"thpverify: warning: not using the result cache: {exc}\n")
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
              sets: list[str], output: str, memo: dict[str, list[Fixed]] | None = None) -> object:
    """One evaluation. With a memo (--batch), the interpreter answers when it
    settles the value alone, and parsed ATOM=VALUE texts are kept."""
    from ..backend.solver import Solver

    assert isinstance(solver, Solver)
    if not version:
        raise UsageError("--version is required; versions: " + ", ".join(lib.versions))
    _known_version(lib, version)
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
    from ..backend.solver import Solver, format_step, show_value
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
    return EvalResult(version=version, predicate=output, given=tuple(given), value=show_value(out.value), depends_on=(),
                      rule=rule.id, rule_at=str(rule.span), kernel=str(rule.cite) if rule.cite else "",
                      trace=tuple(format_step(step) for step in out.trace))


def parse_values(lib: m.Library, texts: Sequence[str], memo: dict[str, list[Fixed]] | None = None) -> list[Fixed]:
    """Several ATOM=VALUE texts -> coordinates, each once; raises UsageError
    when one coordinate is given two values. `memo` keeps texts already
    parsed (a batch repeats them)."""
    given: list[Fixed] = []
    for text in texts:
        if memo is None:
            given.extend(parse_value(lib, text))
            continue
        if text not in memo:
            if len(memo) > 100_000:
                memo.clear()
            memo[text] = parse_value(lib, text)
        given.extend(memo[text])
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
            out.write(json.dumps({"schema": "thpverify/1", "line": number, "error": reason}, sort_keys=True) + "\n")
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

    lib = _library(args.spec)
    _known_version(lib, args.version)
    out.write(smt2(lib, args.version))
    return EXIT_OK


def main_entry() -> None:
    """The console script: exit with main()'s code."""
    sys.exit(main())
