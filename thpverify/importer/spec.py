"""A kernel tree -> the text of a `.thp` version spec."""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from ..lang.diagnostics import Diagnostic, SpecError
from ..lang.nodes import Span
from .absmap import AbstractionMap, Decision
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
    decision, main_fn = _decision(tree, amap)
    tr = Translator(tree, amap)
    main = tr.predicate(main_fn, [], None)
    eligible = _eligible(tr, main, decision)
    smaps_fn = tree.function(decision.smaps_function)
    if smaps_fn is None or smaps_fn.file != decision.smaps_file:
        raise SpecError([Diagnostic(Span(tree.display(decision.smaps_file), 1, 1, 1, 1), "I004",
                                    f"no function {decision.smaps_function} in {decision.smaps_file}")])
    thp = _thp_eligible(tr, smaps_fn, decision)
    lines = [f"// Imported by `thpverify import` from a Linux {release} source tree.",
             "// Each rule cites the kernel lines it was translated from; the atoms are",
             "// those of the abstraction map (specs/abstraction.map).",
             'import "vocab.thp";']
    lines += [f'import "{f}";  // an atom the map\'s entries use' for f in tr.imports]
    lines += ["", f'version "{name}" {{', f'  release "{release}";']
    lines += [f'  {k} "{v}";' for k, v in extra_meta]
    lines.append(f'  summary "imported from {decision.function} and its helpers";')
    for pred in tr.order:
        lines.append("")
        lines.extend(_predicate_text(pred))
    lines += ["", *eligible, "", *thp, "}", ""]
    read = tuple(f"{f.file}:{f.name}" for f in tr.read) + (f"{smaps_fn.file}:{smaps_fn.name}",)
    return Imported(name, release, "\n".join(lines), read, decision.function)


def _decision(tree: KernelTree, amap: AbstractionMap) -> tuple[Decision, Function]:
    for d in amap.decisions:
        fn = tree.function(d.function)
        if fn is not None and fn.file == d.file:
            return d, fn
    names = ", ".join(f"{d.function} ({d.file})" for d in amap.decisions)
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


def _call(tr: Translator, main: Predicate, decision: Decision, binds: dict[str, str]) -> str:
    args: list[str] = []
    for p in main.param_order:
        if p not in binds:
            raise SpecError([Diagnostic(decision.span, "I005", f"the decision entry binds no '{p}' (a parameter of {main.fn.name})")])
        if p in main.flag_params:
            word = tr.amap.flags.get(binds[p])
            if word is None:
                raise SpecError([Diagnostic(decision.span, "I005", f"no flags word '{binds[p]}' in the map")])
            for b in sorted(main.bits.get(p, [])):
                if b not in word:
                    raise SpecError([Diagnostic(decision.span, "I005", f"the flags word '{binds[p]}' has no bit {b}")])
                args.append(word[b][0])
        else:
            args.append(binds[p])
    return f"{main.name}({', '.join(args)})"


def _thp_eligible(tr: Translator, fn: Function, decision: Decision) -> list[str]:
    calls = _calls(fn.node, decision.function)
    if len(calls) != 1:
        raise tr.error(fn.node, fn.file, f"{fn.name} calls {decision.function} {len(calls)} times, not once")
    call = calls[0]
    shown = Predicate("thp_eligible", fn)
    value = tr.expr(call, Env(), shown)
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
