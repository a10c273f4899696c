"""A kernel tree -> the text of a `.thp` version spec."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from ..lang.diagnostics import Diagnostic, SpecError
from ..lang.nodes import Span
from .absmap import AbstractionMap, Decision, PerCaller
from .ctree import Function, KernelTree
from .translate import Env, Predicate, Translator


@dataclass(frozen=True)
class Imported:
    name: str
    release: str
    text: str  # the spec, importing "vocab.thp"
    functions: tuple[str, ...]  # "file:function" read, in the order read
    decision: str


def build_spec(tree: KernelTree, amap: AbstractionMap, name: str | None = None, release: str | None = None,
               extra_meta: tuple[tuple[str, str], ...] = ()) -> Imported:
    release = release or tree.release()
    name = name or f"import-{release}"
    found = _decision(tree, amap)
    tr = Translator(tree, amap)
    assumptions = [f'  assume no_{c} "{a.reason}": caller != {c};' for a in amap.absent
                   if _release_key(release) < _release_key(a.before) for c in a.callers]
    if isinstance(found, PerCaller):
        eligible, shown = _per_caller(tr, found)
        printer, printer_file, summary = found.smaps_function, found.smaps_file, "its three per-caller checks"
    else:
        decision, main_fn = found
        main = tr.predicate(main_fn, [], None)
        eligible = _eligible(tr, main, decision)
        shown, printer, printer_file, summary = decision.function, decision.smaps_function, decision.smaps_file, decision.function
    smaps_fn = tree.function(printer)
    if smaps_fn is None or smaps_fn.file != printer_file:
        raise SpecError([Diagnostic(Span(tree.display(printer_file), 1, 1, 1, 1), "I004",
                                    f"no function {printer} in {printer_file}")])
    thp = _thp_eligible(tr, smaps_fn, shown)
    lines = [f"// Imported by `thpverify import` from a Linux {release} source tree.",
             "// Each rule cites the kernel lines it was translated from; the atoms are",
             "// those of the abstraction map (specs/abstraction.map).",
             'import "vocab.thp";']
    lines += [f'import "{f}";  // an atom the map\'s entries use' for f in tr.imports]
    lines += ["", f'version "{name}" {{', f'  release "{release}";']
    lines += [f'  {k} "{v}";' for k, v in extra_meta]
    lines.append(f'  summary "imported from {summary} and its helpers";')
    lines += ["", *assumptions] if assumptions else []
    for pred in tr.order:
        lines.append("")
        lines.extend(_predicate_text(pred))
    lines += ["", *eligible, "", *thp, "}", ""]
    read = tuple(f"{f.file}:{f.name}" for f in tr.read) + (f"{smaps_fn.file}:{smaps_fn.name}",)
    return Imported(name, release, "\n".join(lines), read, summary)


def _release_key(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", release)[:3])


def _decision(tree: KernelTree, amap: AbstractionMap) -> tuple[Decision, Function] | PerCaller:
    for d in amap.decisions:
        fn = tree.function(d.function)
        if fn is not None and fn.file == d.file:
            return d, fn
    for pc in amap.per_caller:
        wanted = [(f, file) for _, fns in pc.callers for f, file in fns]
        if all((fn := tree.function(f)) is not None and fn.file == file for f, file in wanted):
            return pc
    names = ", ".join([f"{d.function} ({d.file})" for d in amap.decisions]
                      + [" and ".join(f"{f} ({file})" for _, fns in pc.callers for f, file in fns) for pc in amap.per_caller])
    raise SpecError([Diagnostic(Span(tree.display("mm/huge_memory.c"), 1, 1, 1, 1), "I003",
                                f"none of the map's decision functions is defined in this tree: {names}",
                                "add a decision entry to the abstraction map for this release's function")])


def _predicate_text(pred: Predicate) -> list[str]:
    fn = pred.fn
    params = ", ".join(f"{p}: {t}" for p, t in pred.dsl_params())
    returns = "bool" if pred.returns == "bool" else "set of order"
    head = (f"  predicate {pred.name}({params}) -> {returns}\n"
            f'      from {fn.name} in "{fn.file}" lines {fn.first_line}..{fn.last_line} {{')
    return [head, *pred.lines, "  }"]


def _eligible(tr: Translator, main: Predicate, decision: Decision) -> list[str]:
    call = _call(tr, main, decision, dict(decision.bindings))
    if main.returns == "bool":
        return ["  // The decision the given caller takes (the caller's arguments as vocab.thp maps them).",
                "  predicate eligible() -> bool {", f"    return {call};", "  }"]
    lines = ["  // The PMD decision of the given caller: a non-empty answer for the orders eligible() asks.",
             "  predicate eligible() -> bool {", f"    return !empty({call});", "  }"]
    if decision.allowable is not None:
        binds = dict(decision.bindings)
        binds[decision.allowable[0]] = decision.allowable[1]
        lines += ["", "  // The orders the given caller gets for the orders it asks.",
                  "  predicate allowable() -> set of order {", f"    return {_call(tr, main, decision, binds)};", "  }"]
    return lines


def _per_caller(tr: Translator, pc: PerCaller) -> tuple[list[str], str]:
    """eligible() of a release with one check per caller (5.19), and the
    function the smaps caller asks first (what show_smap prints)."""
    lines = ["  // The decision the given caller takes: the map's functions for that caller, all of them.",
             "  predicate eligible() -> bool {"]
    binds = dict(pc.bindings)
    for caller, fns in pc.callers:
        calls = []
        for name, _ in fns:
            fn = tr.tree.function(name)
            assert fn is not None  # _decision checked
            calls.append(_call(tr, tr.predicate(fn, [], None), pc.span, binds))
        lines.append(f"    if (caller == {caller}) return {' && '.join(calls)};")
    lines += ["    return false;", "  }"]
    smaps = dict(pc.callers).get("smaps")
    if not smaps:
        raise SpecError([Diagnostic(pc.span, "I005", "the per-caller decision entry names no function for smaps")])
    return lines, smaps[0][0]


def _call(tr: Translator, main: Predicate, where: Decision | Span, binds: dict[str, str]) -> str:
    span = where.span if isinstance(where, Decision) else where
    args: list[str] = []
    for p in main.param_order:
        if p not in binds:
            raise SpecError([Diagnostic(span, "I005", f"the decision entry binds no '{p}' (a parameter of {main.fn.name})")])
        if p in main.flag_params:
            word = tr.amap.flags.get(binds[p])
            if word is None:
                raise SpecError([Diagnostic(span, "I005", f"no flags word '{binds[p]}' in the map")])
            for b in sorted(main.bits.get(p, [])):
                if b not in word:
                    raise SpecError([Diagnostic(span, "I005", f"the flags word '{binds[p]}' has no bit {b}")])
                args.append(word[b][0])
        else:
            args.append(binds[p])
    return f"{main.name}({', '.join(args)})"


def _thp_eligible(tr: Translator, fn: Function, shown: str) -> list[str]:
    calls = _calls(fn.node, shown)
    if len(calls) != 1:
        raise tr.error(fn.node, fn.file, f"{fn.name} calls {shown} {len(calls)} times, not once")
    call = calls[0]
    printed = Predicate("thp_eligible", fn)
    value = tr.expr(call, Env(), printed)
    first, last = call.start_point[0] + 1, call.end_point[0] + 1
    cite = f"{first}..{last}" if last > first else f"{first}"
    return ["  // What /proc/PID/smaps prints as THPeligible.",
            f'  predicate thp_eligible() -> bool from {fn.name} in "{fn.file}" lines {first}..{last} {{',
            f"    @{cite}: return {value.text};", "  }"]


def _calls(node: Node, name: str) -> list[Node]:
    out: list[Node] = []
    if node.type == "call_expression":
        f = node.child_by_field_name("function")
        if f is not None and f.text is not None and f.text.decode() == name:
            out.append(node)
    for c in node.children:
        out.extend(_calls(c, name))
    return out
