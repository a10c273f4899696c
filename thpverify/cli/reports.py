"""Reports for CI and for people: `check --format/--output/--cross-check`
helpers and the `report --html` command.

Like cli.py, nothing here imports z3 or lark at import time.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .common import EXIT_INTERNAL, UsageError, nothing_to_check, parse_value, parse_values
from .common import checked as _checked
from .common import known_version as _known_version

if TYPE_CHECKING:
    from .. import model as m
    from ..results import CheckReport, DiffTable, Fixed, Timeline


def write_atomic(path: Path, text: str, out: TextIO | None = None) -> None:
    """Write text to path atomically, a regular file only (infra.output);
    `-` is `out` (stdout). Any failure is a UsageError (exit 2) saying why."""
    from ..infra import output

    if output.is_stdout(path):
        if out is None:
            raise UsageError("'-' (stdout) is not a place for this output")
        out.write(text)
        return
    try:
        output.write_text(path, text)
    except output.OutputError as exc:
        raise UsageError(str(exc)) from None


def check_output(path: Path | None) -> None:
    """Refuse a bad --output/--html target before the work, not after it."""
    from ..infra import output

    if path is None or output.is_stdout(path):
        return
    try:
        output.check(path)
    except output.OutputError as exc:
        raise UsageError(str(exc)) from None


def render_check(fmt: str, report: CheckReport, lib: m.Library, verbose: bool = False) -> str:
    """A check report in one of cli.CHECK_FORMATS."""
    if fmt == "json":
        from ..render import json as render_json

        return render_json.check_report(report)
    if fmt == "junit":
        from ..render import junit

        return junit.check_report(report, lib)
    if fmt == "sarif":
        from ..render import sarif

        return sarif.check_report(report, lib)
    if fmt == "markdown":
        from ..render import markdown

        return markdown.check_report(report, lib)
    from ..render import text as render_text

    docs = {p.name: p.doc for p in lib.properties.values()}
    return render_text.check_report(report, docs, verbose)


def require_solver(solver: str) -> None:
    """Fail early, before the proofs, when the second solver is missing."""
    from ..backend import cvc5 as crosscheck

    try:
        crosscheck.cvc5_version()
    except crosscheck.MissingSolverError as exc:
        raise UsageError(str(exc)) from None


def cross_check(solver: str, lib: m.Library, report: CheckReport, out: TextIO, code: int) -> int:
    """Re-prove every proved claim with a second solver; exit 6 on any disagreement."""
    from ..backend import cvc5 as crosscheck

    results = crosscheck.cross_check(lib, report.verdicts)
    out.write(crosscheck.text(results))
    if any(not r.agrees for r in results):
        return EXIT_INTERNAL
    return code


# ------------------------------------------------------------------ report


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser,
             library: argparse.ArgumentParser) -> None:
    r = sub.add_parser("report", parents=[library],
                       help="one self-contained HTML page: the verdict matrix, counterexamples, diffs, a VMA's timeline")
    r.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="spec files or directories (default: the bundled library)")
    r.add_argument("--html", type=Path, metavar="FILE", required=True, help="the HTML file to write (atomically)")
    r.add_argument("--jobs", "-j", type=int, metavar="N", help="worker processes for the check")
    r.add_argument("--caller", help="the caller of the timeline's VMA (default: page_fault when the library has it)")
    r.add_argument("--set", action="append", default=None, metavar="ATOM=VALUE",
                   help="the timeline's VMA, as for eval (default: the seed thread's driver mapping when the library has its atoms)")
    r.add_argument("--output", default="eligible", help="the predicate the diff tables and timeline show (default: eligible)")
    r.add_argument("--diff", action="append", metavar="A:B", dest="diff_pairs",
                   help="the pairs of versions to diff (repeatable; default: consecutive releases, and each patch against its base)")
    r.add_argument("--no-diff", action="store_true", help="leave out the diff tables between consecutive versions")
    r.add_argument("--no-cache", action="store_true", help="check everything again, neither reading nor writing the result cache")
    r.set_defaults(run=cmd_report)


# The seed thread's driver mapping: VM_HUGEPAGE|VM_MIXEDMAP with ->huge_fault, not DAX.
SEED_VMA = ("VM_HUGEPAGE=1", "VM_MIXEDMAP=1", "huge_fault=1", "vma_is_dax=0", "vm_file=1", "vm_mm=1",
            "VM_NOHUGEPAGE=0", "MMF_DISABLE_THP=0", "thp_unsupported=0", "thp_enabled=madvise")


def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..render import html
    from ..results import CheckReport

    if args.spec and args.paths:
        raise UsageError("give spec paths either as arguments or with --spec, not both")
    paths = list(args.paths or args.spec or [])
    check_output(args.html)
    lib, verdicts = _checked(paths, args.jobs, not args.no_cache, args.include, args.arch, err)
    nothing_to_check(lib)
    given = _timeline_vma(lib, args.set)
    caller = args.caller
    if caller is None and "caller" in lib.atoms and "page_fault" in lib.atoms["caller"].values:
        caller = "page_fault"
    if caller is not None:
        parse_value(lib, f"caller={caller}")
    report = CheckReport(lib.files, tuple(lib.versions), verdicts)
    diffs: tuple[DiffTable, ...] = ()
    diff_note = "left out (--no-diff)"
    if not args.no_diff:
        diffs, diff_note = _diffs(lib, caller, args.output, _pairs(lib, args.diff_pairs))
    timeline, timeline_note = _timeline(lib, given, caller, args.output)
    page = html.report(report, lib, diffs=diffs, diff_note=diff_note, timeline=timeline,
                       timeline_note=timeline_note, given=given, caller=caller)
    write_atomic(args.html, page, out)
    from ..render import text as render_text

    (err if str(args.html) == "-" else out).write(f"wrote {args.html}: {render_text.summary(report.verdicts)}\n")
    return report.exit_code


def _timeline_vma(lib: m.Library, sets: list[str] | None) -> tuple[Fixed, ...]:
    chosen = list(sets) if sets is not None else [s for s in SEED_VMA if s.split("=")[0] in lib.atoms]
    return tuple(parse_values(lib, chosen))


def _pairs(lib: m.Library, given: list[str] | None) -> list[tuple[str, str]] | None:
    """--diff A:B pairs, checked against the library; None for the default."""
    if not given:
        return None
    out = []
    for text in given:
        a, sep, b = text.partition(":")
        if not sep:
            raise UsageError(f"--diff {text}: expected A:B, two versions")
        for v in (a, b):
            _known_version(lib, v)
        out.append((a, b))
    return out


def _diffs(lib: m.Library, caller: str | None, output: str,
           pairs: list[tuple[str, str]] | None = None) -> tuple[tuple[DiffTable, ...], str]:
    """The given pairs, or consecutive releases in release order and each patch version against its base."""
    try:
        from ..analysis.diff import diff
        from ..analysis.engine import Engine, is_patch, release_key
    except ImportError:
        return (), "not available in this build (thpverify.analysis.diff is missing)"
    having = [v for v in lib.versions if output in lib.versions[v].outputs]
    if pairs is None:
        releases = sorted((v for v in having if not is_patch(lib, v)), key=lambda v: release_key(lib, v))
        pairs = list(zip(releases, releases[1:], strict=False))
        for v in sorted((v for v in having if is_patch(lib, v)), key=lambda v: release_key(lib, v)):
            base = lib.versions[v].base
            if base in having:
                pairs.append((base, v))
    for a, b in pairs:
        for v in (a, b):
            if v not in having:
                raise UsageError(f"version '{v}' has no output '{output}'")
    engine = Engine(lib)
    from ..analysis.engine import TooManyRowsError

    tables: list[DiffTable] = []
    too_large: list[str] = []
    for a, b in pairs:
        try:
            tables.append(diff(lib, a, b, caller=caller, output=output, engine=engine))
        except TooManyRowsError as exc:
            too_large.append(f"{a} → {b} (more than {exc.limit} rows)")
    note = ("left out, no short table: " + ", ".join(too_large)) if too_large else ""
    return tuple(tables), note


def _timeline(lib: m.Library, given: tuple[Fixed, ...], caller: str | None, output: str) -> tuple[Timeline | None, str]:
    try:
        from ..analysis.timeline import timeline
    except ImportError:
        return None, "not available in this build (thpverify.analysis.timeline is missing)"
    return timeline(lib, list(given), caller=caller, output=output), ""

