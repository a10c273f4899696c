"""Text (72 columns) and JSON for `counterexamples` and `reproduce`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..kernel.conform import MappingKind
from ..results import CexClass, CexClasses, Literal, Side, VerdictKind, show, to_value
from .json import envelope, plain
from .text import _wrap

WIDTH = 72


def _cube(lits: Sequence[Literal]) -> str:
    return ", ".join(str(x) for x in lits) if lits else "every input"


def _side_lines(s: Side, name: str, indent: str) -> list[str]:
    out = _wrap(f"{s.version} {name} = {show(s.value)}" + (f", decided by {s.rule}" if s.rule else ""), indent)
    where = f"at {s.rule_at or ''}" + (f", kernel {s.kernel}" if s.kernel else "")
    return out + _wrap(where, indent + "  ")


def class_lines(k: CexClass, names: Sequence[str] = ()) -> list[str]:
    count = "not counted (too many cubes)" if k.count is None else f"{k.count} inputs"
    out = [f"class {k.index}: {count}"]
    for i, s in enumerate(k.sides):
        out += _side_lines(s, names[i] if i < len(names) else "", "  ")
    out.append(f"  prime cubes ({len(k.terms)}):")
    for t in k.terms:
        out += _wrap("- " + _cube(t), "    ")
    out += _wrap(f"minimum cube ({k.minimum_note}): {_cube(k.minimum)}", "  ")
    out += _wrap(k.replay, "  ")
    return out


def classes_text(results: Sequence[CexClasses]) -> str:
    out: list[str] = []
    for r in results:
        if out:
            out.append("")
        out.append(f"{r.property_name} on {r.version or '(across versions)'}: {r.verdict}")
        if r.doc:
            out += _wrap(r.doc, "  ")
        if r.premises:
            out += _wrap("given: " + "; ".join(p for p in r.premises if p), "  ")
        if r.claim:
            out += _wrap("claim: " + r.claim, "  ")
        if r.verdict is not VerdictKind.REFUTED:
            out += _wrap("no failing input: no class", "  ")
            continue
        failing = "not counted (too many cubes)" if r.failing is None else str(r.failing)
        total = "?" if r.total is None else str(r.total)
        out += _wrap(f"failing inputs: {failing} of {total}, counted over {len(r.space)} atoms", "  ")
        out += _wrap(f"classes: {r.found}, disjoint (one per deciding rule of each predicate), each a union of "
                     "prime cubes; minimum = fewest literals", "  ")
        if r.shown < r.found:
            out += _wrap(f"shown: the first {r.shown} (--limit)", "  ")
        for k in r.classes:
            out.append("")
            out += class_lines(k, r.predicates)
        for c in r.checks:
            out.append("")
            out += _wrap("checked: " + c, "")
    return "\n".join(out) + "\n"


def literal_json(x: Literal) -> dict[str, Any]:
    return {"name": x.name, "element": x.element, "values": list(x.values), "derived": x.derived, "text": str(x)}


def side_json(s: Side) -> dict[str, Any]:
    return {"version": s.version, "value": plain(s.value), "rule": s.rule, "rule_at": plain(s.rule_at), "kernel": plain(s.kernel)}


def class_json(k: CexClass) -> dict[str, Any]:
    return {"index": k.index, "count": k.count, "sides": [side_json(s) for s in k.sides],
            "terms": [[literal_json(x) for x in t] for t in k.terms], "minimum": [literal_json(x) for x in k.minimum],
            "minimum_proved": k.minimum_proved, "minimum_note": k.minimum_note, "replay": k.replay}


def classes_doc(r: CexClasses) -> dict[str, Any]:
    return {"property": r.property_name, "doc": r.doc, "version": r.version, "verdict": r.verdict,
            "assumptions": list(r.assumptions), "premises": list(r.premises), "claim": r.claim,
            "failing": r.failing, "total": r.total, "space": list(r.space), "found": r.found, "shown": r.shown,
            "classes_are": "disjoint", "measure": "literals", "classes": [class_json(k) for k in r.classes],
            "checks": list(r.checks), "predicates": list(r.predicates)}


def classes_json(results: Sequence[CexClasses]) -> str:
    return envelope("counterexamples", {"results": [classes_doc(r) for r in results]})


# ------------------------------------------------------------------ reproduce


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return "{" + ",".join(str(k) for k in range(64) if v >> k & 1) + "}"
    return str(v)


KIND_TEXT = {
    "anon": "anonymous private (mmap MAP_PRIVATE|MAP_ANONYMOUS)",
    "devzero": "/dev/zero",
    "shared_anon": "anonymous shared (mmap MAP_SHARED|MAP_ANONYMOUS: shmem)",
    "memfd": "memfd (memfd_create, shmem)",
    "sysv": "SysV shm (shmget/shmat, shmem)",
    "shm_file": "a file on /dev/shm (tmpfs)",
    "root_file": "a regular file on the root file system",
    "mount_file": "a file on a tmpfs mount",
}


def mapping_text(p: Any) -> list[str]:
    c = p.case
    kind = KIND_TEXT.get(c.kind, c.kind)
    if c.kind is MappingKind.DEVZERO:
        kind = ("shared" if c.shared else "private") + " " + kind
    if c.kind is MappingKind.MOUNT_FILE:
        kind += f" with huge={c.huge} (a private mount namespace)"
    if c.kind is MappingKind.MEMFD and not c.shared:
        kind += ", MAP_PRIVATE"
    if c.unlink:
        kind += f", unlinked {c.unlink} mmap"
    if c.kind is MappingKind.ROOT_FILE:
        kind += ", opened read-write and kept open" if c.write_open else ", opened read-only"
    out = [f"mapping: {kind}"]
    prot = "PROT_READ" + ("" if c.kind is MappingKind.ROOT_FILE and not c.write_open else "|PROT_WRITE") + ("|PROT_EXEC" if c.exec_ else "")
    out.append(f"  address {p.start:#x}, length {c.length:#x} ({_size(c.length)}), {prot}")
    if c.kind not in (MappingKind.ANON, MappingKind.SHARED_ANON) and c.kind is not MappingKind.DEVZERO:
        out.append(f"  file offset {c.pgoff * 4096:#x} (pgoff {c.pgoff}), file size {c.file_size:#x} ({_size(c.file_size)})")
    adv = " then ".join({"hg": "MADV_HUGEPAGE", "nh": "MADV_NOHUGEPAGE", "hg-pending": "MADV_HUGEPAGE (the class is the "
                         "call itself: khugepaged_enter_vma sees the flags about to be installed)"}[a]
                        for a in c.advice) or "none"
    out.append(f"  madvise: {adv}")
    out.append("  touch: " + ("write one byte first (gives the VMA an anon_vma)" if c.touch else "no"))
    return out


def _size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


OBS_TEXT = {"smaps": "smaps THPeligible", "fault": "AnonHugePages/ShmemPmdMapped/FilePmdMapped after a write",
            "collapse": "the result of madvise(MADV_COLLAPSE)", "none": "not watched"}


def plan_lines(p: Any, r: Any = None) -> list[str]:
    out = [f"class {p.klass}:" + (f" caller {p.caller}" if p.caller else "")]
    for name, value, rule in p.sides:
        out += _wrap(f"model: {name} = {value}" + (f" ({rule})" if rule else ""), "  ")
    if p.needs:
        out.append("  cannot be made from userspace; needs (one minimal way):")
        for atom, what in p.needs:
            out += _wrap(f"- {atom}: {what}", "    ")
    else:
        diff = p.differs()
        if p.settings:
            shown = [x for x in p.settings if x in diff or "hugepages-" not in x[0]]
            hidden = len(p.settings) - len(shown)
            out.append("  settings" + (" (* differs from this machine)" if diff else " (as this machine has them)")
                       + (f", {hidden} per-size modes as now" if hidden else "") + ":")
            for path, want, have in shown:
                mark = "*" if (path, want, have) in diff else " "
                out.append(f"   {mark}{path.replace('/sys/kernel/mm/transparent_hugepage/', '')} = {want}"
                           + ("" if have is None or have == want else f" (now {have})"))
        for b in p.boot:
            out += _wrap("boot/kernel: " + b, "  ")
        out.append("  prctl: " + {"none": "none", "disable": "PR_SET_THP_DISABLE",
                                   "except_advised": "PR_SET_THP_DISABLE with PR_THP_DISABLE_EXCEPT_ADVISED"}[p.prctl])
        for x in mapping_text(p):
            indent = "  " + " " * (len(x) - len(x.lstrip()))
            out += _wrap(x.strip(), indent)
    for o in p.observations:
        line = f"observe {o.predicate}" + (f" ({o.caller})" if o.caller else "") + f": {OBS_TEXT[o.how]}; the model says {show(o.expected)}"
        out += _wrap(line, "  ")
        if o.how == "none" and o.why:
            out += _wrap(o.why, "    ")
    if r is not None:
        out += run_lines(r)
    return out


def run_lines(r: Any) -> list[str]:
    out = _wrap(f"run: {r.status}" + (f": {r.why}" if r.why else ""), "  ")
    for s in r.seen:
        kernel = "-" if s.kernel is None else show(s.kernel)
        model = "depends" if s.model is None else show(s.model)
        out += _wrap(f"{s.predicate} via {s.how}: kernel {kernel}, model {model}"
                     + (f" ({s.rule})" if s.rule else "") + f": {s.status}" + (f"; {s.detail}" if s.detail else ""), "    ")
    if r.timings:
        out.append("    time: " + ", ".join(f"{name} {t * 1000:.0f} ms" for name, t in r.timings))
    return out


def reproduce_text(result: CexClasses, plans: Sequence[Any], runs: Sequence[Any], machine: Any) -> str:
    out = [f"{result.property_name} on {result.version}: {result.found} classes; machine: kernel {machine.kernel}"]
    if result.doc:
        out += _wrap(result.doc, "  ")
    byk = {r.klass: r for r in runs}
    for p in plans:
        out.append("")
        out += plan_lines(p, byk.get(p.klass))
    if runs:
        out.append("")
        counts: dict[str, int] = {}
        for r in runs:
            counts[r.status] = counts.get(r.status, 0) + 1
        out += _wrap("runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), "")
        if counts.get("DISAGREE"):
            out.append("!! the kernel and the model disagree: see the classes marked DISAGREE")
    return "\n".join(out) + "\n"


def plan_json(p: Any) -> dict[str, Any]:
    c = p.case
    return {"class": p.klass, "property": p.property_name, "version": p.version, "caller": p.caller,
            "sides": [{"predicate": n, "value": plain(v), "rule": r} for n, v, r in p.sides],
            "inputs": {a: plain(to_value(v, True)) for a, v in p.point},
            "needs": [{"atom": a, "what": w} for a, w in p.needs], "prctl": p.prctl,
            "settings": [{"file": f, "value": want, "now": have} for f, want, have in p.settings], "boot": list(p.boot),
            "mapping": None if c is None else {
                "kind": c.kind, "shared": c.shared, "address": p.start, "length": c.length, "pgoff": c.pgoff,
                "file_size": c.file_size, "advice": list(c.advice), "touch": c.touch, "exec": c.exec_,
                "unlink": c.unlink, "huge": c.huge, "write_open": c.write_open, "fault_at": p.fault_at},
            "observations": [{"predicate": o.predicate, "caller": o.caller, "how": o.how, "expected": o.expected,
                              "why": o.why} for o in p.observations]}


def run_json(r: Any) -> dict[str, Any]:
    return {"class": r.klass, "status": r.status, "why": r.why, "in_class": r.in_class,
            "seen": [{"predicate": s.predicate, "how": s.how, "model": s.model, "rule": s.rule, "kernel": s.kernel,
                      "detail": s.detail, "status": s.status} for s in r.seen],
            "timings_ms": {name: round(t * 1000) for name, t in r.timings}}


def reproduce_json(result: CexClasses, plans: Sequence[Any], runs: Sequence[Any], machine: Any) -> str:
    return envelope("reproduce", {"kernel": machine.kernel, **classes_doc(result),
                  "plans": [plan_json(p) for p in plans], "runs": [run_json(r) for r in runs]})
