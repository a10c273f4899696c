"""`thpverify counterexamples` and `thpverify reproduce`: every class of a
property's failing inputs, and a mapping one can run for each."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from ..results import VerdictKind
from .common import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_UNKNOWN, UsageError, library
from .common import known_version as _known_version

if TYPE_CHECKING:
    from .. import model as m
    from ..analysis.engine import Engine
    from ..results import CexClasses


def register(sub: Any, common: argparse.ArgumentParser, library: argparse.ArgumentParser) -> None:
    c = sub.add_parser("counterexamples", parents=[common, library],
                       help="every class of a property's failing inputs: counts, deciding rules, minimum cubes")
    c.add_argument("property_name", metavar="property")
    c.add_argument("--version", help="only this version (default: every version the property fails on)")
    c.add_argument("--limit", type=int, metavar="N", help="show the first N classes of each version")
    c.set_defaults(run=cmd_counterexamples)

    r = sub.add_parser("reproduce", parents=[common, library],
                       help="a class of failing inputs as a mapping: settings, mmap/madvise, observation; text, C, sh, or run")
    r.add_argument("property_name", metavar="property")
    r.add_argument("--version", required=True, help="a version of the library")
    r.add_argument("--class", dest="klass", type=int, metavar="K", help="the class number (default: every class)")
    r.add_argument("--format", choices=("text", "c", "sh"), default="text", help="text (default), c or sh")
    r.add_argument("--run", dest="run_here", action="store_true", help="run it here when the running kernel is that version")
    r.set_defaults(run=cmd_reproduce)


def _instances(lib: m.Library, name: str, version: str | None) -> list[m.Instance]:
    from ..lang.diagnostics import did_you_mean

    prop = lib.properties.get(name)
    if prop is None:
        hint = did_you_mean(name, lib.properties)
        raise UsageError(f"no property '{name}'" + (f"; {hint}" if hint else ""))
    if version is not None:
        _known_version(lib, version)
    found = [i for i in prop.instances if version in (None, i.version)]
    if version is not None and not found:
        raise UsageError(f"property '{name}' is not checked on {version}")
    return found


def classes_of(lib: m.Library, name: str, version: str | None, limit: int | None,
               refuted_only: bool, only: int | None = None, count: bool = True,
               minimum: bool = True) -> tuple[list[CexClasses], Engine]:
    from ..analysis.classes import counterexample_classes
    from ..analysis.engine import Engine
    from ..backend.solver import Solver

    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    solver = Solver(lib)
    eng = Engine(lib, solver)
    out = []
    for inst in _instances(lib, name, version):
        verdict = solver.check(inst).verdict
        if refuted_only and verdict is not VerdictKind.REFUTED and version is None:
            continue
        out.append(counterexample_classes(lib, inst, verdict, eng, limit, only=only, count=count, minimum=minimum))
    return out, eng


def cmd_counterexamples(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..analysis.classes import ClassesError
    from ..analysis.engine import AnalysisError, TooManyRowsError
    from ..render import reproduce as render

    lib = library(args.spec, args.include, arch=args.arch)
    try:
        results, _ = classes_of(lib, args.property_name, args.version, args.limit, refuted_only=True)
    except TooManyRowsError as exc:
        err.write(f"thpverify: the failing inputs need more than {exc.limit} cubes; narrow the property\n")
        return EXIT_UNKNOWN
    except (AnalysisError, ClassesError) as exc:
        err.write(f"thpverify: internal error: {exc}\n")
        return EXIT_INTERNAL
    if not results:
        out.write(f"{args.property_name}: no version where it fails\n" if not args.json else render.classes_json([]))
        return EXIT_OK
    out.write(render.classes_json(results) if args.json else render.classes_text(results))
    verdicts = {r.verdict for r in results}
    if VerdictKind.ERROR in verdicts:
        return EXIT_INTERNAL
    if verdicts & {VerdictKind.REFUTED, VerdictKind.VACUOUS}:
        return EXIT_FAILED
    if VerdictKind.UNKNOWN in verdicts:
        return EXIT_UNKNOWN
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..analysis.engine import TooManyRowsError

    try:
        return _reproduce(args, out, err)
    except TooManyRowsError as exc:
        err.write(f"thpverify: the failing inputs need more than {exc.limit} cubes; narrow the property\n")
        return EXIT_UNKNOWN


def _reproduce(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..kernel import reproduce as rp
    from ..render import cprogram
    from ..render import reproduce as render

    lib = library(args.spec, args.include, arch=args.arch)
    results, eng = classes_of(lib, args.property_name, args.version, None, refuted_only=False, only=args.klass, count=False,
                              minimum=False)
    r = results[0]
    if r.verdict is not VerdictKind.REFUTED:
        raise UsageError(f"{args.property_name} is {r.verdict} on {args.version}: no failing input to reproduce")
    chosen = list(r.classes)
    if args.klass is not None:
        chosen = [k for k in r.classes if k.index == args.klass]
        if not chosen:
            raise UsageError(f"no class {args.klass}; classes: 1..{r.found}")
    machine = rp.machine()
    inst = next(i for i in lib.properties[args.property_name].instances if i.version == args.version)
    plans = [rp.plan(lib, inst, r, k, machine, eng) for k in chosen]
    if args.format != "text":
        if args.run_here:
            raise UsageError(f"--run runs the steps itself; give it without --format {args.format}")
        if len(plans) > 1:
            err.write(f"note: {len(plans)} classes; this is class {plans[0].klass}; give --class K for another\n")
        out.write(cprogram.c_program(plans[0]) if args.format == "c" else cprogram.sh_recipe(plans[0]))
        return EXIT_OK
    runs = [rp.run(lib, p, machine) for p in plans] if args.run_here else []
    if args.json:
        out.write(render.reproduce_json(r, plans, runs, machine))
    else:
        out.write(render.reproduce_text(r, plans, runs, machine))
    if runs:
        statuses = {x.status for x in runs}
        if "DISAGREE" in statuses:
            return EXIT_FAILED
        if statuses - {"agree"}:
            return EXIT_UNKNOWN
    return EXIT_OK
