"""`thpverify smaps` and `thpverify conform`: the model against the running kernel.

Read-only: /proc/PID/smaps, /proc/PID/status, /proc/PID/mounts,
/sys/kernel/mm/transparent_hugepage/**, /proc/config.gz. Nothing is written
to /sys or /proc/sys.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .common import EXIT_FAILED, EXIT_OK, EXIT_UNKNOWN, UsageError, library
from .common import known_version as _known_version

if TYPE_CHECKING:
    from .. import model as m
    from ..kernel.settings import Process, Settings


def register(sub: Any, common: argparse.ArgumentParser, library: argparse.ArgumentParser) -> None:
    s = sub.add_parser("smaps", parents=[common, library],
                       help="each VMA's THPeligible, the model's answer, the deciding rule and what to do")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--pid", help="a process id (or 'self')")
    src.add_argument("--file", type=Path, metavar="SMAPS_FILE", help="a recorded smaps file")
    s.add_argument("--settings", type=Path, metavar="JSON",
                   help="settings recorded with the smaps file (default: this machine's, read now)")
    s.add_argument("--version", default="auto", help="a version of the library, or auto (default)")
    s.add_argument("--record", type=Path, metavar="PREFIX", help="also write PREFIX.smaps and PREFIX.json")
    s.set_defaults(run=cmd_smaps)

    c = sub.add_parser("conform", parents=[common, library],
                       help="create mappings with known inputs, compare THPeligible with the model")
    c.add_argument("--version", default="auto", help="a version of the library, or auto (default)")
    c.add_argument("--verbose", "-v", action="store_true", help="one line per case")
    c.add_argument("--record", type=Path, metavar="DIR", help="write the children's smaps and the inputs to DIR")
    c.add_argument("--no-sweep", dest="sweep", action="store_false",
                   help="leave out the geometry sweep (placements over the whole address range)")
    c.add_argument("--from", dest="from_file", type=Path, metavar="JSON",
                   help="also run the classes of a `counterexamples --json` or `reproduce --json` output")
    c.set_defaults(run=cmd_conform)


@dataclass(frozen=True)
class Choice:
    """The model chosen for the running kernel: the version, notes for the
    report, and `first`: a line that must come first (the kernel is newer
    than every modelled release: the answers are the newest one's, and the
    run is inconclusive, exit 5)."""

    version: str
    notes: list[str]
    first: str = ""


def choose_version(lib: m.Library, wanted: str, kernel: str) -> Choice:
    """--version auto: the modelled release nearest at or below the running
    kernel, in the library's one release order; a kernel older than every
    modelled release is refused."""
    from ..model import release_numbers

    if wanted != "auto":
        _known_version(lib, wanted)
        return Choice(wanted, [])
    running = release_numbers(kernel)[:2]
    if len(running) < 2:
        raise UsageError(f"--version auto: cannot read a release from kernel '{kernel}'; give --version")
    releases = [(release_numbers(lib.versions[v].get("release"))[:2], v) for v in lib.releases()]
    below = [(numbers, v) for numbers, v in releases if numbers <= running]
    if not below:
        oldest = min(releases, default=None)
        raise UsageError(f"--version auto: kernel {kernel} is older than the oldest modelled release"
                         + (f" {oldest[1]} ({lib.versions[oldest[1]].get('release')})" if oldest else "")
                         + "; give --version to use one anyway")
    numbers, chosen = max(below)
    notes = []
    release = lib.versions[chosen].get("release")
    if lib.provenance(chosen) == "inferred":
        notes.append(f"note: {chosen} is inferred (no {release} tree was read; see thpverify versions)")
    newest = max(releases)
    if numbers == newest[0] and running > numbers:
        first = (f"kernel {kernel} is newer than the newest modelled release {chosen} ({release}); "
                 f"answers are {chosen}'s, and the run is inconclusive (exit 5) unless --version is given")
        return Choice(chosen, notes, first)
    if numbers != running:
        notes.insert(0, f"note: --version auto: {chosen}, the modelled release nearest at or below kernel {kernel} "
                        "(this kernel has no spec of its own)")
    else:
        notes.insert(0, f"note: --version auto: {chosen}, the modelled release nearest at or below kernel {kernel}")
    return Choice(chosen, notes)


def _settings(path: Path | None, pid: str) -> tuple[Settings, Process | None]:
    from ..kernel.proc import SmapsError, load_json
    from ..kernel.settings import Process, Settings, read_settings

    if path is None:
        return read_settings(pid), None
    doc = load_json(path)
    if not isinstance(doc, dict) or "settings" not in doc:
        raise SmapsError(f"{path}:1:1: error: expected an object with 'settings'")
    proc = Process.from_json(doc["process"]) if isinstance(doc.get("process"), dict) else None
    return Settings.from_json(doc["settings"], str(path)), proc


def cmd_smaps(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..kernel.proc import SmapsError, decode, parse_smaps
    from ..kernel.settings import Process, read_process
    from ..kernel.smaps import explain
    from ..render import kernel as render

    try:
        if args.file is not None:
            source = str(args.file)
            text = decode(args.file.read_bytes(), source)
            settings, proc = _settings(args.settings, "self")
            proc = proc or Process(None, None)
            title = f"{args.file}"
        else:
            pid = "self" if args.pid == "self" else str(_pid(args.pid))
            source = f"/proc/{pid}/smaps"
            text = decode(Path(source).read_bytes(), source)
            settings, recorded = _settings(args.settings, pid)
            proc = recorded or read_process(int(pid) if pid != "self" else "self")
            comm = _comm(pid)
            title = f"pid {args.pid}" + (f" ({comm})" if comm else "")
        vmas = parse_smaps(text, source)
    except OSError as exc:
        raise UsageError(f"cannot read: {exc}") from None
    except SmapsError as exc:
        err.write(f"{exc}\n")
        return 2
    lib = library(args.spec, args.include, arch=args.arch)
    choice = choose_version(lib, args.version, settings.kernel)
    version, notes = choice.version, choice.notes
    notes.append(_settings_note(settings, proc))
    reports = explain(lib, version, vmas, settings, proc)
    if args.record is not None:
        _record(args.record, text, settings, proc, title)
    title = f"{title}: kernel {settings.kernel}, model {version}"
    if args.json:
        out.write(render.smaps_json({"source": source, "kernel": settings.kernel, "version": version, "notes": notes,
                                     "newer_than_modelled": choice.first or None,
                                     "settings": settings.to_json(), "process": proc.to_json()}, reports))
    else:
        out.write((choice.first + "\n" if choice.first else "") + render.smaps_text(title, notes, reports))
    if any(r.status == "DISAGREE" for r in reports):
        return EXIT_FAILED
    return EXIT_UNKNOWN if choice.first else EXIT_OK


def _pid(text: str) -> int:
    try:
        pid = int(text)
    except ValueError:
        raise UsageError(f"--pid {text}: not a process id") from None
    if not Path(f"/proc/{pid}").is_dir():
        raise UsageError(f"--pid {text}: no such process")
    return pid


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _settings_note(s: Settings, p: Process) -> str:
    def orders(mask: int) -> str:
        return ",".join(str(k) for k in range(64) if mask >> k & 1) or "none"

    cfg = {True: "y", False: "n", None: "?"}[s.read_only_thp_for_fs]
    prctl = {True: "PR_SET_THP_DISABLE", False: "none", None: "?"}[p.disable_completely]
    if p.disable_completely is False and p.disable_except_advised:
        prctl = "PR_THP_DISABLE_EXCEPT_ADVISED"
    elif p.disable_completely is False and p.disable_except_advised is None:
        prctl = "not PR_SET_THP_DISABLE; EXCEPT_ADVISED unknown"
    return (f"settings: enabled={s.thp_enabled}, shmem_enabled={s.shmem_enabled}; anon orders "
            f"always={orders(s.anon.get('always', 0))} madvise={orders(s.anon.get('madvise', 0))} "
            f"inherit={orders(s.anon.get('inherit', 0))}; shmem orders always={orders(s.shmem.get('always', 0))} "
            f"inherit={orders(s.shmem.get('inherit', 0))}; CONFIG_READ_ONLY_THP_FOR_FS={cfg}; prctl: {prctl}")


def _record(prefix: Path, text: str, settings: Settings, proc: Process, what: str) -> None:
    from .reports import write_atomic

    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{prefix.parent}: cannot create: {exc.strerror or exc}") from None
    write_atomic(prefix.with_name(prefix.name + ".smaps"), text)
    doc = {"recorded_from": what, "settings": settings.to_json(), "process": proc.to_json()}
    write_atomic(prefix.with_name(prefix.name + ".json"), json.dumps(doc, indent=2, sort_keys=True) + "\n")


def cmd_conform(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..kernel import conform
    from ..kernel.settings import read_settings
    from ..kernel.smaps import Explainer
    from ..render import kernel as render

    settings = read_settings()
    lib = library(args.spec, args.include, arch=args.arch)
    choice = choose_version(lib, args.version, settings.kernel)
    version, notes = choice.version, choice.notes
    if os.geteuid() != 0:
        notes.append("note: not root: the tmpfs huge= mounts are left out")
    extra = _from_cases(lib, args.from_file) if args.from_file is not None else None
    outs, raw = conform.probe(settings)
    if args.sweep:
        from ..kernel.reproduce import machine
        from ..kernel.sweep import run_sweep

        outs += run_sweep(settings, machine().mmap_min_addr, os.geteuid() == 0)
    ex = Explainer(lib, version)
    outs = [dataclasses.replace(o, result=ex.ask(o.known)) if not o.skipped else o for o in outs]
    faults = _faults(lib, version, settings, ex, notes)
    if args.record is not None:
        conform.record(args.record, settings, [o for o in outs if o.mode != "sweep"], raw)
    if extra is not None:
        outs += _run_from(lib, extra)
    title = f"conform: kernel {settings.kernel}, model {version}"
    if args.json:
        out.write(render.conform_json({"kernel": settings.kernel, "version": version, "notes": notes,
                                       "newer_than_modelled": choice.first or None}, outs, faults))
    else:
        out.write((choice.first + "\n" if choice.first else "")
                  + render.conform_text(title, notes, outs, args.verbose, faults))
    statuses = {o.status for o in [*outs, *faults]}
    if "DISAGREE" in statuses:
        return EXIT_FAILED
    if "undecided" in statuses or choice.first:
        return EXIT_UNKNOWN
    return EXIT_OK


def _faults(lib: m.Library, version: str, settings: Any, ex: Any, notes: list[str]) -> list[Any]:
    """The fault probe, answered by the model's fault_tries_huge where the version has one."""
    from ..kernel import fault

    if "fault_tries_huge" not in lib.versions[version].outputs:
        notes.append(f"note: {version} does not model the fault path: fault_tries_huge is not checked")
        return []
    return fault.answered(fault.probe(settings), lambda known: ex.ask(known, "fault_tries_huge"))


def _from_cases(lib: m.Library, path: Path) -> list[tuple[str, str, int | None]]:
    """(property, version, class) of each class in a counterexamples or reproduce JSON output."""
    from ..kernel.proc import SmapsError, load_json

    try:
        doc = load_json(path)
    except SmapsError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(doc, dict) or doc.get("command") not in ("counterexamples", "reproduce"):
        raise UsageError(f"{path}:1:1: error: not the JSON of `counterexamples` or `reproduce`")
    docs = doc.get("results", []) if doc["command"] == "counterexamples" else [doc]
    out: list[tuple[str, str, int | None]] = []
    for d in docs:
        if not isinstance(d, dict) or not isinstance(d.get("property"), str) or not isinstance(d.get("version"), str):
            raise UsageError(f"{path}:1:1: error: a result without property and version")
        if d["property"] not in lib.properties:
            raise UsageError(f"{path}:1:1: error: no property '{d['property']}' in the library")
        _known_version(lib, d["version"])
        classes = [k.get("index") for k in d.get("classes", []) if isinstance(k, dict)]
        out.extend((d["property"], d["version"], k if isinstance(k, int) else None) for k in classes)
    return out


def _run_from(lib: m.Library, cases: list[tuple[str, str, int | None]]) -> list[Any]:
    """Each class planned and run as `reproduce --run` does, as conform outcomes."""
    from ..kernel import reproduce as rp
    from ..kernel.conform import Case, MappingKind
    from .reproduce import classes_of

    mach = rp.machine()
    out: list[Any] = []
    for prop, version, index in cases:
        results, eng = classes_of(lib, prop, version, None, refuted_only=False, only=index, count=False, minimum=False)
        inst = next(i for i in lib.properties[prop].instances if i.version == version)
        for k in results[0].classes:
            p = rp.plan(lib, inst, results[0], k, mach, eng)
            r = rp.run(lib, p, mach)
            name = f"{prop} on {version} class {k.index}"
            case = p.case or Case(name, MappingKind.NONE, 0)
            case = dataclasses.replace(case, name=name)
            out.append(rp.as_outcome(case, r))
    return out
