"""Subcommands that compare versions: diff, patch, lint, timeline, requires.

Exit codes: diff 10 when the versions disagree, 0 when they agree; patch 10
when a property is newly failing (or, with --strict, a behaviour change is
uncovered); lint 10 when a finding is not allowed;
timeline and requires 0. Usage and spec errors 2, internal errors 6. z3 is
imported only inside the commands, so that --help stays fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..model import TypeKind
from .common import EXIT_FAILED, EXIT_OK, EXIT_UNKNOWN, UsageError, known_version, library, parse_value, parse_values

if TYPE_CHECKING:
    from .. import model as m


def register(sub: Any, common: argparse.ArgumentParser, library: argparse.ArgumentParser) -> None:
    d = sub.add_parser("diff", parents=[common, library], help="where two versions disagree, as a short decision table")
    d.add_argument("a", metavar="A")
    d.add_argument("b", metavar="B")
    d.add_argument("--caller", help="fix the caller (default: the caller is an input)")
    d.add_argument("--output", default="eligible", help="the predicate to compare (default: eligible)")
    d.add_argument("--atoms-only", action="store_true",
                   help="cubes over atoms only, without named conditions such as VM_NO_KHUGEPAGED")
    d.add_argument("--drop", action="append", default=[], metavar="ASSUMPTION",
                   help="leave out a named assumption, to see what it settles (repeatable)")
    d.add_argument("--max-rows", type=int, default=64, metavar="N",
                   help="show the first N rows of the table (default 64; 0: all); the header counts every row. "
                        "Past 64 rows the rows are an irredundant cover rather than prime cubes")
    d.add_argument("--short", action="store_true",
                   help="a short table or none: give up, with exit 5, when the search for prime rows finds more "
                        "than --max-rows rows, before redundant ones are dropped")
    d.set_defaults(run=cmd_diff)

    p = sub.add_parser("patch", parents=[common, library],
                       help="what a candidate changes: property verdicts, the diff table per caller, uncovered changes")
    p.add_argument("base", metavar="BASE", help="the version the candidate patches, e.g. v6.6")
    p.add_argument("candidate", metavar="CANDIDATE", nargs="?",
                   help="a version of the library, or a spec file (FILE.thp) that declares the candidate version; "
                        "with --diff, the name to give the imported candidate (default: BASE+diff)")
    p.add_argument("--diff", type=Path, metavar="FILE",
                   help="a kernel patch (git format-patch, diff -u, or a mail holding one): apply it in memory to the "
                        "tree of --tree, import the patched functions, and compare with BASE")
    p.add_argument("--tree", type=Path, metavar="PATH", help="the kernel source tree BASE was read from (with --diff)")
    p.add_argument("--output", default="eligible", help="the predicate to compare (default: eligible)")
    p.add_argument("--strict", action="store_true",
                   help="also exit 10 when a behaviour change is covered by no property and not declared with 'intends'")
    p.set_defaults(run=cmd_patch)

    li = sub.add_parser("lint", parents=[common, library],
                        help="dead, redundant and order-dependent rules; unread atoms; unused or conflicting assumptions")
    li.add_argument("versions", nargs="*", metavar="VERSION", help="versions to lint (default: all)")
    li.add_argument("--allow", action="append", default=[], metavar="KEY",
                    help="silence a finding by the key it prints (KIND:VERSION:NAME; '*' matches any part)")
    li.add_argument("--no-allow-file", action="store_true",
                    help="ignore the lint.allow files of the spec directories (the bundled library ships one)")
    li.add_argument("--order", action="store_true", help="also report adjacent rules whose swap changes the outcome")
    li.add_argument("--proofs", action="store_true",
                    help="also report assumptions no proof uses (proves every property: slow)")
    li.set_defaults(run=cmd_lint)

    t = sub.add_parser("timeline", parents=[common, library], help="one VMA through every version in release order")
    t.add_argument("--set", action="append", default=[], metavar="ATOM=VALUE", help="an atom's value (repeatable)")
    t.add_argument("--caller", help="page_fault, smaps, khugepaged or madv_collapse")
    t.add_argument("--output", default="eligible", help="the predicate (default: eligible)")
    t.add_argument("--releases-only", action="store_true", help="leave out patch versions (the fix series)")
    t.set_defaults(run=cmd_timeline)

    r = sub.add_parser("requires", parents=[common, library], help="the condition under which an output is true")
    r.add_argument("--version", help="one version")
    r.add_argument("--all-versions", action="store_true", help="true in every release at once")
    r.add_argument("--patches", action="store_true", help="with --all-versions, include patch versions")
    r.add_argument("--caller", help="fix the caller (default: the caller is an input)")
    r.add_argument("--output", default="eligible", help="a bool predicate (default: eligible)")
    r.add_argument("--atoms-only", action="store_true", help="terms over atoms only")
    r.set_defaults(run=cmd_requires)


def _dump(command: str, doc: dict[str, Any]) -> str:
    from ..render.json import envelope

    return envelope(command, doc)


def _caller(lib: m.Library, caller: str | None) -> str | None:
    if caller is not None:
        parse_value(lib, f"caller={caller}")
    return caller


def _output(lib: m.Library, version: str, output: str) -> None:
    known_version(lib, version)
    v = lib.versions[version]
    if output not in v.outputs:
        raise UsageError(f"'{output}' is not an output of {version}; outputs: {', '.join(v.outputs)}")


# -------------------------------------------------------------------- diff


def cmd_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..analysis.diff import diff
    from ..render import analysis as render

    lib = library(args.spec, args.include, arch=args.arch)
    for v in (args.a, args.b):
        _output(lib, v, args.output)
    known = {x.name for v in (args.a, args.b) for x in lib.versions[v].assumptions}
    for name in args.drop:
        if name not in known:
            raise UsageError(f"no assumption '{name}' in {args.a} or {args.b}")
    from ..analysis.engine import TooManyRowsError

    try:
        limit = args.max_rows or None
        t = diff(lib, args.a, args.b, _caller(lib, args.caller), args.output, derived=not args.atoms_only,
                 drop=tuple(args.drop), max_rows=limit if args.short else None, shown=limit)
    except TooManyRowsError as exc:
        narrow = "raise --max-rows (0: no limit)" if args.caller else "fix the caller with --caller, or raise --max-rows (0: no limit)"
        err.write(f"thpverify: diff {args.a} {args.b}: the disagreement needs more than {exc.limit} rows,\n"
                  f"no short table: {narrow}, or leave out --short to see its first rows\n")
        return EXIT_UNKNOWN
    out.write(_dump("diff", render.diff_json(t)) if args.json else render.diff_text(t))
    return EXIT_FAILED if t.rows else EXIT_OK


# ------------------------------------------------------------------- patch


def cmd_patch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..analysis.engine import TooManyRowsError
    from ..analysis.patch import patch
    from ..render import analysis as render
    from .common import nothing_to_check

    if args.diff is not None or args.tree is not None:
        if args.diff is None or args.tree is None:
            raise UsageError("--diff and --tree go together: the patch, and the kernel tree it applies to")
        from .importer import candidate_library

        lib, candidate = candidate_library(args.spec, args.tree, args.diff, args.base, args.candidate, args.include, args.arch)
    elif args.candidate is None:
        raise UsageError("give the candidate: a version, a FILE.thp, or --diff FILE --tree PATH")
    else:
        lib, candidate = _candidate(args)
    nothing_to_check(lib)
    for v in (args.base, candidate):
        _output(lib, v, args.output)
    try:
        report = patch(lib, args.base, candidate, args.output)
    except TooManyRowsError as exc:
        err.write(f"thpverify: patch {args.base} {candidate}: a caller's diff needs more than {exc.limit} rows,\n"
                  f"no short table: compare the two with thpverify diff --caller C --max-rows N\n")
        return EXIT_UNKNOWN
    out.write(_dump("patch", render.patch_json(report, args.strict)) if args.json else render.patch_text(report, args.strict))
    return report.exit_code(args.strict)


def _candidate(args: argparse.Namespace) -> tuple[m.Library, str]:
    """The library and the candidate's version name. A candidate that names
    a file is loaded beside the library (--spec, or the bundled one), with
    its imports resolved along the search path; the version it declares is
    the candidate (the one that extends BASE, when it declares several)."""
    text = args.candidate
    if not (text.endswith(".thp") or os.path.sep in text or os.path.lexists(text)):
        lib = library(args.spec, args.include, arch=args.arch)
        known_version(lib, text)
        return lib, text
    path = Path(text)
    lib = library(args.spec, args.include, extra=[path], arch=args.arch)
    real = os.path.realpath(path)
    shown = [name for name, read in lib.paths.items() if read == real]
    declared = [v.name for v in lib.versions.values() if v.span.file in shown]
    if not declared:
        raise UsageError(f"{text}: declares no version; a candidate is written as\n"
                         f"  version \"NAME\" extends \"{args.base}\" {{ ... }}")
    if len(declared) > 1:
        extending = [v for v in declared if _extends(lib, v, args.base)]
        if len(extending) != 1:
            raise UsageError(f"{text}: declares {len(declared)} versions ({', '.join(declared)}); "
                             f"{'none' if not extending else 'several'} of them extend {args.base}")
        declared = extending
    known_version(lib, args.base)
    return lib, declared[0]


def _extends(lib: m.Library, version: str, base: str) -> bool:
    seen: set[str] = set()
    v: str | None = version
    while v is not None and v not in seen:
        if v == base:
            return True
        seen.add(v)
        v = lib.versions[v].base if v in lib.versions else None
    return False


# -------------------------------------------------------------------- lint


def cmd_lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..analysis.lint import lint
    from ..render import analysis as render

    lib = library(args.spec, args.include, arch=args.arch)
    for v in args.versions:
        known_version(lib, v)
    allowed = list(args.allow) + ([] if args.no_allow_file else _allow_files(args.spec))
    report = lint(lib, args.versions or None, allow=allowed, order=args.order, proofs=args.proofs)
    out.write(_dump("lint", render.lint_json(report)) if args.json else render.lint_text(report))
    return EXIT_FAILED if report.findings else EXIT_OK


def _allow_files(spec: list[Path] | None) -> list[str]:
    """The keys of the lint.allow file of each spec directory loaded (the
    bundled library's when no --spec is given): one key a line, '#' comments."""
    from ..lang.library import bundled_path

    dirs = [p if p.is_dir() else p.parent for p in spec] if spec else [bundled_path()]
    keys: list[str] = []
    for d in dict.fromkeys(dirs):
        try:
            text = (d / "lint.allow").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        keys.extend(line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip())
    return keys


# ---------------------------------------------------------------- timeline


def cmd_timeline(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..analysis.timeline import timeline
    from ..render import analysis as render

    lib = library(args.spec, args.include, arch=args.arch)
    given = parse_values(lib, args.set)
    if any(f.atom == "caller" for f in given) and args.caller is not None:
        raise UsageError("give the caller once: --caller or --set caller=...")
    t = timeline(lib, given, _caller(lib, args.caller), args.output, releases_only=args.releases_only)
    out.write(_dump("timeline", render.timeline_json(t)) if args.json else render.timeline_text(t))
    return EXIT_OK


# ---------------------------------------------------------------- requires


def cmd_requires(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..analysis.engine import is_patch, release_key
    from ..analysis.requires import requires
    from ..render import analysis as render

    lib = library(args.spec, args.include, arch=args.arch)
    if args.all_versions == (args.version is not None):
        raise UsageError("give --version V or --all-versions")
    if args.version is not None:
        versions = [args.version]
    else:
        versions = sorted((v for v in lib.versions if args.patches or not is_patch(lib, v)), key=lambda v: release_key(lib, v))
        versions = [v for v in versions if args.output in lib.versions[v].outputs]
    for v in versions:
        _output(lib, v, args.output)
        if lib.function(v, args.output).returns.kind is not TypeKind.BOOL:
            raise UsageError(f"'{args.output}' of {v} is not a bool")
    r = requires(lib, versions, _caller(lib, args.caller), args.output, derived=not args.atoms_only)
    out.write(_dump("requires", render.requires_json(r)) if args.json else render.requires_text(r))
    return EXIT_OK
