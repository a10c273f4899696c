"""Text (72 columns) and JSON for `smaps` and `conform`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..kernel.advice import human
from ..kernel.smaps import VmaReport
from ..results import show, to_value
from .json import envelope, plain
from .text import _wrap

WIDTH = 72


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return "{" + ",".join(str(k) for k in range(64) if value >> k & 1) + "}"
    return str(value)


def _header(v: Any) -> str:
    head = f"{v.start:x}-{v.end:x} {v.perms} "
    path = v.path or "(anonymous)"
    room = WIDTH - len(head)
    if len(path) > room:
        path = "..." + path[-(room - 3):]
    return head + path


def vma_lines(r: VmaReport) -> list[str]:
    v = r.vma
    loud = r.status == "DISAGREE"
    kernel = "-" if r.kernel is None else str(r.kernel)
    model = "depends" if r.model is None else show(r.model)
    lines = [("!! " if loud else "") + _header(v)]
    lines += _wrap(f"{r.kind}, {human(v.size)}: THPeligible {kernel}, model {model} ({r.status})", "  ")
    if r.rule:
        lines.append(f"  rule {r.rule} at {r.rule_at}")
    if r.cite:
        lines.append(f"  kernel {r.cite}")
    lines += _wrap("-> " + r.advice, "  ")
    if loud:
        lines.append(f"  !! DISAGREES WITH THE KERNEL: THPeligible {kernel}, model says {model}")
    if r.note:
        lines += _wrap(r.note, "  ")
    return lines


def smaps_text(title: str, notes: Sequence[str], reports: Sequence[VmaReport]) -> str:
    out = [title]
    for n in notes:
        out += _wrap(n, "", WIDTH)
    for r in reports:
        out.append("")
        out += vma_lines(r)
    out.append("")
    c = Counter(r.status for r in reports)
    summary = (f"{len(reports)} VMAs: {c['agree']} agree, {c['depends']} depend on what smaps does not show, "
               f"{c['DISAGREE']} DISAGREE")
    if c["no-kernel-answer"]:
        summary += f", {c['no-kernel-answer']} without a THPeligible line"
    out += _wrap(summary, "")
    if c["DISAGREE"]:
        out.append("!! the model and the kernel disagree: see the VMAs marked !!")
    return "\n".join(out) + "\n"


def report_json(r: VmaReport) -> dict[str, Any]:
    v = r.vma
    return {"start": f"{v.start:x}", "end": f"{v.end:x}", "perms": v.perms, "pgoff": v.pgoff, "path": v.path,
            "vmflags": list(v.vmflags), "kind": r.kind, "kernel": None if r.kernel is None else bool(r.kernel),
            "model": plain(r.model), "status": r.status, "depends_on": list(r.depends_on), "rule": r.rule,
            "rule_at": plain(r.rule_at), "cite": plain(r.cite),
            "advice": r.advice, "unknown": dict(r.unknown), "note": r.note}


def smaps_json(meta: dict[str, Any], reports: Sequence[VmaReport]) -> str:
    c = Counter(r.status for r in reports)
    return envelope("smaps", {**meta, "vmas": [report_json(r) for r in reports],
                  "summary": {k: c[k] for k in ("agree", "depends", "DISAGREE", "no-kernel-answer")}})


def _inputs(known: Sequence[tuple[str, object]]) -> str:
    return ", ".join(f"{a}={_value(v)}" for a, v in known if a != "caller")


def conform_text(title: str, notes: Sequence[str], outs: Sequence[Any], verbose: bool = False,
                 faults: Sequence[Any] = ()) -> str:
    out = [title]
    for n in notes:
        out += _wrap(n, "", WIDTH)
    modes: dict[str, Counter[str]] = {}
    for o in outs:
        modes.setdefault(o.mode, Counter())[o.status] += 1
    out.append("")
    for mode, c in modes.items():
        line = f"prctl {mode}: {sum(c.values())} cases, {c['agree']} agree"
        for k in ("DISAGREE", "undecided", "skipped"):
            if c[k]:
                line += f", {c[k]} {k}"
        out.append(line)
    if verbose:
        out.append("")
        out.append("status   THPeligible/model  prctl   case")
        for o in outs:
            kernel = "-" if o.vma is None or o.vma.thp_eligible is None else str(o.vma.thp_eligible)
            model = "-" if o.result is None else ("dep" if o.result.value is None else show(o.result.value))
            rule = o.result.rule if o.result is not None and o.result.rule else ""
            out.append(f"{o.status:<8} {kernel} {model:<5} {o.mode[:7]:<7} {o.case.name}"[:WIDTH])
            if rule:
                out.append(f"{'':<24}[{rule}]")
    bad = [o for o in outs if o.status in ("DISAGREE", "undecided")]
    for o in bad:
        out.append("")
        kernel = "-" if o.vma is None else str(o.vma.thp_eligible)
        r = o.result
        out.append(f"!! {o.status}: {o.case.name} (prctl {o.mode})")
        out += _wrap(f"kernel THPeligible {kernel}, model {show(r.value) if r is not None and r.value is not None else 'depends'}"
                     + (f", decided by {r.rule} at {r.rule_at}" if r is not None and r.rule else ""), "   ")
        for p in o.problems:
            out += _wrap("probe: " + p, "   ")
        if r is not None and r.depends_on:
            out += _wrap("depends on " + ", ".join(r.depends_on), "   ")
        if r is not None and r.note:
            out += _wrap(r.note, "   ")
        out += _wrap("inputs: " + _inputs(o.known), "   ")
    skipped = Counter(o.skipped for o in outs if o.skipped)
    for why, count in sorted(skipped.items()):
        out.append("")
        out += _wrap(f"skipped {count}: {why}", "")
    total = [o for o in outs if o.status != "skipped"]
    agree = sum(1 for o in total if o.status == "agree")
    ones = sum(1 for o in total if o.vma is not None and o.vma.thp_eligible == 1)
    out.append("")
    out += _wrap(f"agreement: {agree} of {len(total)} mappings (THPeligible 1 in {ones}, 0 in {len(total) - ones}; "
                 f"{len({o.known for o in total})} distinct inputs)", "")
    if len(bad):
        out.append(f"!! {len(bad)} mapping(s) where the model and the kernel do not agree")
    if faults:
        out += _faults_text(faults, verbose)
    return "\n".join(out) + "\n"


def _faults_text(faults: Sequence[Any], verbose: bool) -> list[str]:
    """One fault per case: smaps' PMD counters after it against fault_tries_huge."""
    out = [""]
    if verbose:
        out.append("status   PMD kB/model  case")
        for o in faults:
            model = "-" if o.result is None else ("dep" if o.result.value is None else show(o.result.value))
            out.append(f"{o.status:<8} {'-' if o.pmd_kb is None else o.pmd_kb:>6} {model:<6} {o.case.name}"[:WIDTH])
        out.append("")
    for o in faults:
        if o.status not in ("DISAGREE", "undecided"):
            continue
        r = o.result
        out.append(f"!! fault {o.status}: {o.case.name}")
        out += _wrap(f"kernel PMD-mapped {o.pmd_kb} kB (fallbacks {o.fallback}), model "
                     f"{'depends' if r is None or r.value is None else show(r.value)}"
                     + (f", decided by {r.rule} at {r.rule_at}" if r is not None and r.rule else ""), "   ")
        if r is not None and r.depends_on:
            out += _wrap("depends on " + ", ".join(r.depends_on), "   ")
        out += _wrap("inputs: " + _inputs(o.known), "   ")
    for why, count in sorted(Counter(o.skipped for o in faults if o.skipped).items()):
        out += _wrap(f"fault cases skipped {count}: {why}", "")
    total = [o for o in faults if o.status != "skipped"]
    agree = sum(1 for o in total if o.status == "agree")
    mapped = sum(1 for o in total if o.pmd_kb)
    out += _wrap(f"fault_tries_huge: {agree} of {len(total)} faults agree (PMD-mapped after {mapped}, "
                 f"not after {len(total) - mapped})", "")
    return out


def conform_json(meta: dict[str, Any], outs: Sequence[Any], faults: Sequence[Any] = ()) -> str:
    rows = []
    for o in outs:
        r = o.result
        rows.append({"case": o.case.name, "prctl": o.mode, "status": o.status, "skipped": o.skipped,
                     "kernel": None if o.vma is None or o.vma.thp_eligible is None else bool(o.vma.thp_eligible),
                     "model": None if r is None else plain(r.value), "rule": None if r is None else r.rule,
                     "rule_at": None if r is None else plain(r.rule_at), "cite": None if r is None else plain(r.kernel),
                     "depends_on": [] if r is None else list(r.depends_on), "problems": list(o.problems),
                     "inputs": {a: plain(to_value(v, True)) for a, v in o.known}})
    fault_rows = [{"case": o.case.name, "status": o.status, "skipped": o.skipped, "pmd_kb": o.pmd_kb,
                   "fallback": o.fallback, "model": None if o.result is None else plain(o.result.value),
                   "rule": None if o.result is None else o.result.rule,
                   "inputs": {a: plain(to_value(v, True)) for a, v in o.known}}
                  for o in faults]
    c = Counter(o.status for o in outs)
    return envelope("conform", {**meta, "cases": rows, "faults": fault_rows,
                  "summary": {k: c[k] for k in ("agree", "DISAGREE", "undecided", "skipped")}})
