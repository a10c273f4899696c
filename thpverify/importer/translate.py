"""Kernel C -> DSL predicates, through the abstraction map.

One function is one predicate; a helper the map does not cover is read and
translated as a predicate of its own, with its pointer and integer
arguments put in (so `transhuge_vma_suitable(vma, vma->vm_end -
HPAGE_PMD_SIZE)` reads its range test with that address). Supported:
early returns, if/else, switch with fallthrough, local variables, `&&`,
`||`, `!`, `?:`, bit tests on flag words. Anything else is a located
error that names the map entry that would cover it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tree_sitter import Node

from ..lang.diagnostics import Diagnostic, SpecError
from ..lang.nodes import Span
from .absmap import AbstractionMap, Carried, canonical
from .ctree import Function, KernelTree, live_children, preproc_value

# DSL precedence, loosest first (lang/grammar.lark).
TERN, IMPL, OR, AND, CMP, SUM, PROD, UNARY, PRIM = range(9)
_PRIMARY_C = ("identifier", "field_expression", "call_expression", "number_literal", "parenthesized_expression", "true", "false")
_NOT_LABELS = {"true", "false", "in", "not", "PMD_ORDER", "PUD_ORDER"}
_SIMPLE_DSL = re.compile(r"!?\w+(\(\w*\))?")
_SET_TYPES = ("unsigned long", "unsigned int")  # C types of a set of orders (a bit per order)
VMA = "vma"


@dataclass(frozen=True)
class Dsl:
    text: str
    prec: int

    def at(self, prec: int) -> str:
        return self.text if self.prec >= prec else f"({self.text})"


@dataclass(frozen=True)
class Binding:
    node: Node | None  # None: declared, not yet assigned
    env: Env | None
    ambiguous: bool = False


@dataclass(frozen=True)
class Env:
    opaque: dict[str, Binding] = field(default_factory=dict)
    bools: frozenset[str] = frozenset()
    sets: frozenset[str] = frozenset()  # variables holding a set of orders

    def bind(self, name: str, b: Binding) -> Env:
        return Env({**self.opaque, name: b}, self.bools, self.sets)

    def with_bool(self, name: str) -> Env:
        return Env(self.opaque, self.bools | {name}, self.sets)

    def with_set(self, name: str) -> Env:
        return Env(self.opaque, self.bools, self.sets | {name})


@dataclass
class Predicate:
    name: str
    fn: Function
    flag_params: list[str] = field(default_factory=list)  # words of flags (vm_flags, tva_flags)
    returns: str = "bool"  # or "set": a set of orders (unsigned long)
    verdicts: dict[str, str] | None = None  # a return type the map reads as bool: C value -> DSL
    enum_params: dict[str, str] = field(default_factory=dict)  # C name -> C enum type the map names
    bool_params: list[str] = field(default_factory=list)
    set_params: list[str] = field(default_factory=list)
    param_order: list[str] = field(default_factory=list)  # C names: bool params and the flag word, in C order
    bits: dict[str, list[str]] = field(default_factory=dict)  # flag word -> its bits read, as parameters
    lines: list[str] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    enum_atoms: dict[str, str] = field(default_factory=dict)  # C name of an enum parameter -> its atom

    def dsl_params(self) -> list[tuple[str, str]]:
        """(name, DSL type) of each parameter, in order."""
        out: list[tuple[str, str]] = []
        for p in self.param_order:
            if p in self.flag_params:
                out.extend((bit_param(b), "bool") for b in sorted(self.bits.get(p, [])))
            elif p in self.enum_params:
                out.append((p, self.enum_atoms[p]))
            else:
                out.append((p, "set of order" if p in self.set_params else "bool"))
        return out


def bit_param(bit: str) -> str:
    """VM_HUGEPAGE -> hugepage (as the hand specs say), TVA_SMAPS -> tva_smaps."""
    return bit.removeprefix("VM_").lower()


def bit_params(pred: Predicate) -> set[str]:
    return {bit_param(b) for bits in pred.bits.values() for b in bits}


class Translator:
    def __init__(self, tree: KernelTree, amap: AbstractionMap) -> None:
        self.tree = tree
        self.amap = amap
        self.done: dict[tuple[str, tuple[str, ...]], Predicate] = {}
        self.order: list[Predicate] = []
        self.busy: set[tuple[str, tuple[str, ...]]] = set()
        self.read: list[Function] = []
        self.imports: dict[str, None] = {}  # spec files the map's entries used need (in order)

    # ------------------------------------------------------------ errors

    def error(self, node: Node, file: str, message: str, hint: str = "") -> SpecError:
        line, col = node.start_point
        end_line, end_col = node.end_point
        span = Span(self.tree.display(file), line + 1, col + 1, end_line + 1, end_col + 1)
        return SpecError([Diagnostic(span, "I010", message, hint)])

    def uncovered(self, node: Node, pred: Predicate, env: Env, what: str = "a boolean") -> SpecError:
        text = self.canon(node, env)
        return self.error(node, pred.fn.file, f"the abstraction map does not cover `{text}` ({what})",
                          f'the map entry that would cover it: expr "{text}" => "<DSL expression>"; in {self.amap.path}')

    # ------------------------------------------------------------ text

    def canon(self, node: Node, env: Env) -> str:
        tokens: list[str] = []
        self._tokens(node, env, tokens)
        return canonical(tokens)

    def _tokens(self, node: Node, env: Env, out: list[str]) -> None:
        if node.type == "comment":
            return
        if node.type == "identifier":
            name = _text(node)
            b = env.opaque.get(name)
            if b is not None and b.node is not None and not b.ambiguous:
                inner: list[str] = []
                self._tokens(b.node, b.env or Env(), inner)
                out.extend(inner if b.node.type in _PRIMARY_C else ["(", *inner, ")"])
                return
            out.append(name)
            return
        if node.child_count == 0:
            out.append(_text(node))
            return
        for c in node.children:
            self._tokens(c, env, out)

    # ------------------------------------------------------------ predicates

    def predicate(self, fn: Function, args: Sequence[tuple[str, Node | None, Env]], site: tuple[Node, str] | None) -> Predicate:
        """The predicate for fn with its opaque parameters bound as given
        (name, caller's node, caller's env); translated once per binding."""
        params = self.params(fn)
        env = Env()
        bound = {name: (node, cenv) for name, node, cenv in args}
        pred = Predicate(fn.name, fn)
        key_parts: list[str] = []
        bools: set[str] = set()
        sets: set[str] = set()
        for ctype, name, _ in params:
            if ctype in self.amap.enum_types:
                pred.enum_params[name] = ctype
                pred.enum_atoms[name] = self.amap.enum_types[ctype][0]
                pred.param_order.append(name)
            elif name in self.amap.flags:
                pred.flag_params.append(name)
                pred.param_order.append(name)
            elif ctype == "bool":
                bools.add(name)
                pred.bool_params.append(name)
                pred.param_order.append(name)
            elif ctype in _SET_TYPES and name in self.amap.orders:
                sets.add(name)
                pred.set_params.append(name)
                pred.param_order.append(name)
            else:
                node, cenv = bound.get(name, (None, Env()))
                if node is not None:
                    env = env.bind(name, Binding(node, cenv))
                    key_parts.append(self.canon(node, cenv))
                else:
                    key_parts.append(name)
        env = Env(env.opaque, frozenset(bools), frozenset(sets))
        key = (fn.name, tuple(key_parts))
        if key in self.done:
            return self.done[key]
        if key in self.busy:
            node = site[0] if site else fn.node
            raise self.error(node, site[1] if site else fn.file, f"{fn.name} calls itself: recursion is not supported")
        self.busy.add(key)
        self.order.append(pred)
        taken = {p.name for p in self.done.values()}
        n = 2
        while pred.name in taken:
            pred.name, n = f"{fn.name}_{n}", n + 1
        if fn not in self.read:
            self.read.append(fn)
        pred.returns = self.returns(fn, pred)
        body = fn.node.child_by_field_name("body")
        assert body is not None
        completes = self.block(_statements(body), env, pred, 2)
        if completes:
            raise self.error(body, fn.file, f"{fn.name} may end without a return")
        self.busy.discard(key)
        self.done[key] = pred
        return pred

    def returns(self, fn: Function, pred: Predicate) -> str:
        """bool; set (unsigned long, or unsigned int where the map's orders
        entry names the function); or a type the map's returns entry reads."""
        ctype = " ".join(_text(fn.node.child_by_field_name("type")).split())
        if ctype == "bool":
            return "bool"
        if ctype == "unsigned long" or (ctype in _SET_TYPES and fn.name in self.amap.orders):
            return "set"
        if ctype in self.amap.returns:
            pred.verdicts = {k: v for k, (v, _) in self.amap.returns[ctype].items()}
            return "bool"
        entry = f"orders {fn.name};" if ctype in _SET_TYPES else f'returns "{ctype}" {{ "VALUE" => "<DSL>"; }}'
        hint = f"the map entry that would read it{' as a set of orders' if ctype in _SET_TYPES else ''}: {entry} in {self.amap.path}"
        raise self.error(fn.node, fn.file, f"{fn.name} returns {ctype}, neither bool nor a set of orders", hint)

    def returned(self, value: Node, env: Env, pred: Predicate) -> Dsl:
        """The DSL of a returned C value."""
        if pred.verdicts is None:
            return self.expr(value, env, pred, pred.returns)
        key = self.canon(value, env)
        if key not in pred.verdicts:
            raise self.error(value, pred.fn.file, f"{pred.fn.name} returns `{key}`, a value the map's returns entry does not read",
                             f'the case that would read it: "{key}" => "<DSL>"; in {self.amap.path}')
        text = pred.verdicts[key]
        return Dsl(text, PRIM if _SIMPLE_DSL.fullmatch(text) else TERN)

    def params(self, fn: Function) -> list[tuple[str, str, Node]]:
        d = fn.node.child_by_field_name("declarator")
        while d is not None and d.type != "function_declarator":
            d = d.child_by_field_name("declarator")
        assert d is not None
        plist = d.child_by_field_name("parameters")
        out: list[tuple[str, str, Node]] = []
        for p in plist.named_children if plist else []:
            if p.type != "parameter_declaration":
                continue
            decl = p.child_by_field_name("declarator")
            if decl is None:
                continue  # (void)
            pointer = decl.type == "pointer_declarator"
            inner: Node | None = decl
            while inner is not None and inner.type == "pointer_declarator":
                decl, inner = inner, inner.child_by_field_name("declarator")
            decl = inner or decl
            ctype = " ".join(_text(p.child_by_field_name("type")).split()) + ("*" if pointer else "")
            out.append((ctype, _text(decl), p))
        return out

    # ------------------------------------------------------------ statements

    def block(self, stmts: list[Node], env: Env, pred: Predicate, indent: int) -> bool:
        """Translate statements in order; True when control may run past the end."""
        for s in stmts:
            completes, env = self.statement(s, env, pred, indent)
            if not completes:
                return False
        return True

    def statement(self, s: Node, env: Env, pred: Predicate, indent: int) -> tuple[bool, Env]:
        pad = "  " * indent
        file = pred.fn.file
        if s.type == "compound_statement":
            return self.block(_statements(s), env, pred, indent), env
        if s.type == "return_statement":
            value = s.named_children[0] if s.named_children else None
            if value is None:
                raise self.error(s, file, "a return without a value in a bool function")
            e = self.returned(value, env, pred)
            pred.lines.append(f"{pad}{self.tag(s, pred, None)}return {e.text};")
            return False, env
        if s.type == "if_statement":
            cond = self.expr(_strip(s.child_by_field_name("condition")), env, pred)
            cons = s.child_by_field_name("consequence")
            alt = s.child_by_field_name("alternative")
            assert cons is not None
            if cond.text in ("true", "false"):
                # the map makes the test a constant (`if (vma)`): only the branch taken is read
                taken = cons if cond.text == "true" else alt
                if taken is None:
                    return True, env
                return self.branch(taken.named_children[-1] if taken.type == "else_clause" else taken, env, pred, indent)
            tag = self.tag(s, pred, cond)
            simple = cons.type == "return_statement" and alt is None
            if simple:
                value = cons.named_children[0] if cons.named_children else None
                if value is None:
                    raise self.error(cons, file, "a return without a value in a bool function")
                pred.lines.append(f"{pad}{tag}if ({cond.text}) return {self.returned(value, env, pred).text};")
                return True, env
            pred.lines.append(f"{pad}{tag}if ({cond.text}) {{")
            done_cons, env_cons = self.branch(cons, env, pred, indent + 1)
            done_alt, env_alt = True, env
            if alt is not None:
                pred.lines.append(f"{pad}}} else {{")
                inner = alt.named_children[-1] if alt.type == "else_clause" else alt
                done_alt, env_alt = self.branch(inner, env, pred, indent + 1)
            pred.lines.append(f"{pad}}}")
            return done_cons or done_alt, _merge(env, [env_cons, env_alt])
        if s.type == "declaration":
            return True, self.declaration(s, env, pred, indent)
        if s.type == "expression_statement":
            what = s.named_children[0] if s.named_children else None
            if what is None or (what.type == "identifier" and _text(what) == "fallthrough"):
                return True, env
            if what.type == "assignment_expression":
                return True, self.assign(what, env, pred, indent)
            raise self.error(s, file, f"a statement the importer does not read: `{self.canon(s, env)}`")
        if s.type == "switch_statement":
            return self.switch(s, env, pred, indent)
        if s.type == "while_statement":
            return self.order_loop(s, env, pred, indent)
        if s.type in ("preproc_ifdef", "preproc_if"):
            if preproc_value(s, self.tree.config) is None:
                raise self.error(s, file, "a preprocessor condition the map's config entries do not settle",
                                 f"the map entry that would settle it: config NAME = y; in {self.amap.path}")
            live = [c for c in live_children(s, self.tree.config) if c.type != "comment"]
            return self.branch_list(live, env, pred, indent)
        if s.type == "preproc_else":
            return self.block([c for c in s.named_children], env, pred, indent), env
        if s.type == "comment":
            return True, env
        raise self.error(s, file, f"a {s.type.replace('_', ' ')} the importer does not read")

    def branch(self, s: Node, env: Env, pred: Predicate, indent: int) -> tuple[bool, Env]:
        if s.type == "compound_statement":
            e = env
            for stmt in _statements(s):
                ok, e = self.statement(stmt, e, pred, indent)
                if not ok:
                    return False, e
            return True, e
        return self.statement(s, env, pred, indent)

    def declaration(self, s: Node, env: Env, pred: Predicate, indent: int) -> Env:
        ctype = _text(s.child_by_field_name("type"))
        for d in s.children_by_field_name("declarator"):
            value = d.child_by_field_name("value") if d.type == "init_declarator" else None
            target = d.child_by_field_name("declarator") if d.type == "init_declarator" else d
            while target is not None and target.type == "pointer_declarator":
                target = target.child_by_field_name("declarator")
            assert target is not None
            name = _text(target)
            if ctype in _SET_TYPES and name in self.amap.orders:
                env = env.with_set(name)
                start = self.expr(value, env, pred, "set").text if value is not None else "{}"
                pred.lines.append(f"{'  ' * indent}let {name} = {start};")
            elif ctype == "bool":
                env = env.with_bool(name)
                if value is not None:
                    pred.lines.append(f"{'  ' * indent}let {name} = {self.expr(value, env, pred).text};")
                else:
                    pred.lines.append(f"{'  ' * indent}let {name} = false;")
            else:
                env = env.bind(name, Binding(value, env))
        return env

    def assign(self, a: Node, env: Env, pred: Predicate, indent: int) -> Env:
        left, right = a.child_by_field_name("left"), a.child_by_field_name("right")
        op = _text(a.child_by_field_name("operator"))
        assert left is not None and right is not None
        name = _text(left)
        if left.type == "identifier" and name in env.sets and op in ("=", "&=", "|="):
            pred.lines.append(f"{'  ' * indent}{name} {op} {self.expr(right, env, pred, 'set').text};")
            return env
        if left.type != "identifier" or op != "=":
            raise self.error(a, pred.fn.file, f"an assignment the importer does not read: `{self.canon(a, env)}`")
        if name in env.bools:
            pred.lines.append(f"{'  ' * indent}{name} = {self.expr(right, env, pred).text};")
            return env
        return env.bind(name, Binding(right, env))

    def switch(self, s: Node, env: Env, pred: Predicate, indent: int) -> tuple[bool, Env]:
        file = pred.fn.file
        sel = _strip(s.child_by_field_name("condition"))
        key = self.canon(sel, env)
        typed = self.enum_value(sel, env, pred)
        if typed is not None and not typed[2]:
            atom, table = typed[0], self.amap.enum_types[typed[1]][1]
        elif key not in self.amap.enums:
            raise self.error(sel, file, f"the abstraction map does not cover the switch on `{key}`",
                             f'the map entry that would cover it: enum "{key}" => ATOM {{ CONSTANT => value; ... }} in {self.amap.path}')
        else:
            atom, table, _ = self.amap.enums[key]
        body = s.child_by_field_name("body")
        assert body is not None
        cases = [c for c in body.named_children if c.type == "case_statement"]
        listed: set[str] = set()
        for c in cases:
            v = c.child_by_field_name("value")
            if v is not None:
                if _text(v) not in table:
                    raise self.error(v, file, f"the map's enum for `{key}` has no case {_text(v)}",
                                     f"the map entry that would cover it: {_text(v)} => value; in enum \"{key}\"")
                listed.add(table[_text(v)])
        domain = list(dict.fromkeys(table.values()))
        reaching: list[str] = []
        falls, leaves, last_header = False, False, -1
        pad = "  " * indent
        for c in cases:
            v = c.child_by_field_name("value")
            own = [table[_text(v)]] if v is not None else [x for x in domain if x not in listed]
            reaching = ([*reaching] if falls else []) + [x for x in own if x not in reaching or not falls]
            stmts = [x for x in c.named_children if x != v and x.type != "comment"]
            ends_break = bool(stmts) and stmts[-1].type == "break_statement"
            if ends_break:
                stmts = stmts[:-1]
            if any(x.type == "break_statement" for x in stmts):
                raise self.error(c, file, "a break before the end of a case is not supported")
            if not stmts:
                falls = not ends_break
                leaves = leaves or ends_break
                continue
            guard = " || ".join(f"{atom} == {x}" for x in reaching)
            last_header = len(pred.lines)
            pred.lines.append(f"{pad}{self.tag(c, pred, Dsl(guard, OR))}if ({guard}) {{")
            ok, case_env = self.branch_list(stmts, env, pred, indent + 1)
            pred.lines.append(f"{pad}}}")
            env = _merge(env, [case_env])
            falls = ok and not ends_break
            leaves = leaves or ends_break
        has_default = any(c.child_by_field_name("value") is None for c in cases)
        completes = falls or leaves or (not has_default and len(listed) < len(domain))
        if not completes and last_header >= 0:
            # Every value that gets here takes the last case: say so without a guard,
            # so that the predicate visibly returns on every path.
            header = pred.lines[last_header]
            pred.lines[last_header] = header[:header.index("if (")] + "{"
        return completes, env

    def branch_list(self, stmts: list[Node], env: Env, pred: Predicate, indent: int) -> tuple[bool, Env]:
        for stmt in stmts:
            ok, env = self.statement(stmt, env, pred, indent)
            if not ok:
                return False, env
        return True, env

    def tag(self, s: Node, pred: Predicate, cond: Dsl | None) -> str:
        first, last = s.start_point[0] + 1, s.end_point[0] + 1
        cite = f"{first}..{last}" if last > first else f"{first}"
        if cond is None:
            return f"@{cite}: "
        words = [w for w in re.findall(r"[A-Za-z_]\w*", cond.text) if w not in _NOT_LABELS]
        # The first word that is not one of the caller's flags names the rule best.
        own = [w for w in words if w not in pred.bool_params and w not in bit_params(pred)]
        base = (own or words or ["rule"])[0]
        label, n = base, 2
        while label in pred.labels:
            label, n = f"{base}_{n}", n + 1
        pred.labels.add(label)
        return f"{label} @{cite}: "

    # ------------------------------------------------------------ expressions

    def expr(self, node: Node, env: Env, pred: Predicate, want: str = "bool") -> Dsl:
        key = self.canon(node, env)
        if key in self.amap.exprs:
            text = self.amap.exprs[key][0]
            return Dsl(text, PRIM if _SIMPLE_DSL.fullmatch(text) or text.startswith("{") and text.count("{") == 1 else TERN)
        if want == "set":
            return self.set_expr(node, env, pred)
        t = node.type
        file = pred.fn.file
        if t == "parenthesized_expression":
            return self.expr(_strip(node), env, pred)
        if t in ("true", "false"):
            return Dsl(t, PRIM)
        if t == "unary_expression" and _text(node.child_by_field_name("operator")) == "!":
            arg = node.child_by_field_name("argument")
            assert arg is not None
            inner = self.expr(arg, env, pred)
            if inner.prec == UNARY and inner.text.startswith("!"):
                return Dsl(inner.text[1:], UNARY)  # !!x is x as a truth value
            return Dsl("!" + inner.at(UNARY), UNARY)
        if t == "binary_expression":
            op = _text(node.child_by_field_name("operator"))
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            assert left is not None and right is not None
            if op in ("&&", "||"):
                a, b = self.expr(left, env, pred), self.expr(right, env, pred)
                p = AND if op == "&&" else OR
                return Dsl(f"{a.at(p)} {op} {b.at(p + 1)}", p)
            if op == "&" and right.type == "identifier" and _text(right).isupper():
                return self.bit(left, _text(right), env, pred)
            mask = _constant_mask(right) if op == "&" else None
            if mask:
                # a test of several bits at once: any of them
                tests = [self.bit(left, b, env, pred) for b in sorted(mask)]
                return tests[0] if len(tests) == 1 else Dsl(" || ".join(d.at(AND) for d in tests), OR)
            if op in ("==", "!=") and self.canon(left, env) in self.amap.enums and right.type == "identifier":
                return self.enum_test(left, right, op, env, pred)
            if op in ("==", "!="):
                ea, eb = self.enum_value(left, env, pred), self.enum_value(right, env, pred)
                if ea is not None and eb is not None:
                    return self.enum_compare(node, ea, eb, op, pred)
            if op in (">", "!=") and _text(right) == "0":
                # a set of orders compared with 0: not empty
                try:
                    return Dsl(f"!empty({self.set_expr(left, env, pred).text})", UNARY)
                except SpecError:
                    raise self.uncovered(node, pred, env) from None
        if t == "identifier":
            name = _text(node)
            if name in env.bools:
                return Dsl(name, PRIM)
            if name in env.sets:
                return Dsl(f"!empty({name})", UNARY)
            bound = env.opaque.get(name)
            if bound is not None and bound.ambiguous:
                raise self.error(node, file, f"`{name}` may hold either of two values here (it is assigned in a branch)")
            if bound is not None and bound.node is not None:
                try:
                    return self.expr(bound.node, bound.env or Env(), pred)
                except SpecError:
                    raise self.uncovered(node, pred, env, f"the value of `{name}` here") from None
            expanded = self.expand(node, name, env, pred, "bool")
            if expanded is not None:
                return expanded
        if t == "conditional_expression":
            test, yes, no = (node.child_by_field_name(f) for f in ("condition", "consequence", "alternative"))
            assert test is not None and yes is not None and no is not None
            then, other = self.expr(yes, env, pred).text, self.expr(no, env, pred).text
            return Dsl(f"{self.expr(test, env, pred).at(IMPL)} ? {then} : {other}", TERN)
        if t == "call_expression":
            callee = node.child_by_field_name("function")
            name = _text(callee)
            fn = self.tree.function(name)
            if callee is not None and callee.type == "identifier" and fn is not None:
                d, returns = self.call(node, fn, env, pred)
                return d if returns == "bool" else Dsl(f"!empty({d.text})", UNARY)
        raise self.uncovered(node, pred, env)

    def set_expr(self, node: Node, env: Env, pred: Predicate) -> Dsl:
        """A C value that holds a set of orders (a bit per order)."""
        t = node.type
        if t == "parenthesized_expression":
            return self.expr(_strip(node), env, pred, "set")
        if t == "number_literal" and _text(node) == "0":
            return Dsl("{}", PRIM)
        if t == "identifier":
            name = _text(node)
            if name in env.sets:
                return Dsl(name, PRIM)
            bound = env.opaque.get(name)
            if bound is not None and bound.node is not None and not bound.ambiguous:
                return self.expr(bound.node, bound.env or Env(), pred, "set")
            expanded = self.expand(node, name, env, pred, "set")
            if expanded is not None:
                return expanded
        if t == "binary_expression":
            op = _text(node.child_by_field_name("operator"))
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            assert left is not None and right is not None
            if op in ("&", "|"):
                a, b = self.expr(left, env, pred, "set"), self.expr(right, env, pred, "set")
                if op == "&":
                    return Dsl(f"{a.at(PROD)} & {b.at(UNARY)}", PROD)
                return Dsl(f"{a.at(SUM)} | {b.at(PROD)}", SUM)
        if t == "conditional_expression":
            test, yes, no = (node.child_by_field_name(f) for f in ("condition", "consequence", "alternative"))
            assert test is not None and yes is not None and no is not None
            then, other = self.expr(yes, env, pred, "set").text, self.expr(no, env, pred, "set").text
            return Dsl(f"{self.expr(test, env, pred).at(IMPL)} ? {then} : {other}", TERN)
        if t == "call_expression":
            callee = node.child_by_field_name("function")
            fn = self.tree.function(_text(callee))
            if callee is not None and callee.type == "identifier" and fn is not None:
                d, returns = self.call(node, fn, env, pred)
                if returns == "set":
                    return d
        raise self.uncovered(node, pred, env, "a set of orders")

    def expand(self, node: Node, name: str, env: Env, pred: Predicate, want: str) -> Dsl | None:
        """An object-like macro of the tree (THP_ORDERS_ALL = ANON | FILE), read through."""
        if not name.isupper() or name in env.opaque:
            return None
        macro = self.tree.macro(name)
        if macro is None:
            return None
        try:
            return self.expr(macro.node, Env(), pred, want)
        except SpecError:
            raise self.uncovered(node, pred, env, f"the value of macro {name} ({macro.file}:{macro.line})") from None

    def order_loop(self, s: Node, env: Env, pred: Predicate, indent: int) -> tuple[bool, Env]:
        """`while (S) { v = ...; if (TEST) break; order = next_order(&S, order); }`:
        the orders of S, highest first, until one passes TEST. The map's
        filter entry for TEST gives the set of orders that pass; the loop
        keeps those (exact when the test is closed downwards, as the map
        entry says of each test it names). The test may also gather the
        orders left (`{ X |= S; break; }`) or return them (`return S;`).
        A variable the loop carries from one order to the next is read
        only through a carried filter entry of the map, which names it,
        its value before the loop and its update."""
        file = pred.fn.file
        cond = _strip(s.child_by_field_name("condition"))
        body = s.child_by_field_name("body")
        stmts = _statements(body) if body is not None and body.type == "compound_statement" else []
        shape = ("an order loop: while (ORDERS) { ...; if (TEST) break; order = next_order(&ORDERS, order); } "
                 "(or `if (TEST) { X |= ORDERS; break; }`, or `if (TEST) return ORDERS;`)")
        if cond.type != "identifier" or _text(cond) not in env.sets or len(stmts) < 2:
            raise self.error(s, file, f"a while loop the importer does not read (it reads {shape})")
        orders = _text(cond)
        step, test = stmts[-1], stmts[-2]
        step_expr = step.named_children[0] if step.type == "expression_statement" and step.named_children else None
        if (step_expr is None or step_expr.type != "assignment_expression"
                or not _text(step_expr.child_by_field_name("right")).replace(" ", "").startswith(f"next_order(&{orders},")):
            raise self.error(step, file, f"the last statement of {shape}")
        var = _text(step_expr.child_by_field_name("left"))
        cons = test.child_by_field_name("consequence") if test.type == "if_statement" else None
        gather = None  # `if (TEST) { X |= ORDERS; break; }`: X takes the orders left
        returns = False  # `if (TEST) return ORDERS;`
        if cons is not None and cons.type == "compound_statement":
            inside = _statements(cons)
            first = inside[0].named_children[0] if inside and inside[0].type == "expression_statement" else None
            if (len(inside) == 2 and inside[1].type == "break_statement" and first is not None
                    and first.type == "assignment_expression" and _text(first.child_by_field_name("operator")) == "|="
                    and _text(first.child_by_field_name("right")) == orders and _text(first.child_by_field_name("left")) in env.sets):
                gather, cons = _text(first.child_by_field_name("left")), inside[1]
        if (cons is not None and cons.type == "return_statement" and pred.returns == "set" and cons.named_children
                and _text(_strip(cons.named_children[0])) == orders):
            returns = True
        elif cons is None or cons.type != "break_statement" or test.child_by_field_name("alternative") is not None:
            raise self.error(test, file, f"the test of {shape}")
        inner = env.bind(var, Binding(None, None))
        assigned: set[str] = set()
        carried = None
        for st in stmts[:-2]:
            a = st.named_children[0] if st.type == "expression_statement" and st.named_children else None
            if a is None or a.type != "assignment_expression" or _text(a.child_by_field_name("operator")) != "=":
                raise self.error(st, file, f"a statement inside {shape}")
            name, right = _text(a.child_by_field_name("left")), a.child_by_field_name("right")
            assert right is not None
            if name in _identifiers(right) and name not in assigned:
                # the value carries over from one order to the next: only a carried filter of the map reads it
                carried = self.carried(st, name, right, env, inner, pred, shape)
                assigned.add(name)
                inner = inner.bind(name, Binding(None, None))
                continue
            assigned.add(name)
            inner = inner.bind(name, Binding(right, inner))
        key = self.canon(_strip(test.child_by_field_name("condition")), inner)
        if carried is not None:
            if key != carried.test:
                raise self.error(test, file, f"`{carried.name}` is carried from one order to the next, and the order test "
                                 f"`{key}` is not the one of the map's carried filter for it (`{carried.test}`)")
            dsl = carried.dsl
            if carried.spec_import:
                self.imports.setdefault(carried.spec_import, None)
        elif key not in self.amap.filters:
            raise self.error(test, file, f"the abstraction map has no filter for the order test `{key}`",
                             f'the map entry that would cover it: filter "{key}" => "<set of orders>"; in {self.amap.path}')
        else:
            dsl = self.amap.filters[key][0]
        pad = "  " * indent
        kept = Dsl(dsl, PRIM if _SIMPLE_DSL.fullmatch(dsl) else TERN)
        pred.lines.append(f"{pad}{self.tag(s, pred, kept)}{orders} &= {kept.at(UNARY)};")
        if gather is not None:
            pred.lines.append(f"{pad}{gather} |= {orders};")
        if returns:
            pred.lines.append(f"{pad}if (!empty({orders})) return {orders};")
        for name in {var, *assigned}:
            env = env.bind(name, Binding(None, None, ambiguous=True))
        return True, env

    def carried(self, st: Node, name: str, right: Node, env: Env, inner: Env, pred: Predicate, shape: str) -> Carried:
        """The map's carried filter for `name`, checked against the loop: the
        variable's value before the loop and its update must be the entry's."""
        file = pred.fn.file
        entry = next((c for c in self.amap.carried if c.name == name), None)
        if entry is None:
            raise self.error(st, file, f"`{name}` is carried from one order to the next inside {shape}",
                             f'the map entry that would read it: filter carried {name} from "<C value before the loop>" '
                             f'step "<C update>" "<C test>" => "<set of orders>"; in {self.amap.path}')
        step = self.canon(right, inner.bind(name, Binding(None, None)))
        before = env.opaque.get(name)
        start = self.canon(before.node, before.env or Env()) if before is not None and before.node is not None else name
        if before is not None and before.ambiguous:
            start = f"<{name}, assigned in a branch>"
        if step != entry.step or start != entry.start:
            raise self.error(st, file, f"`{name}` is carried from one order to the next as `{name} = {step}` from `{start}`; "
                             f"the map's carried filter for it says `{name} = {entry.step}` from `{entry.start}`")
        return entry

    def bit(self, word: Node, bit: str, env: Env, pred: Predicate) -> Dsl:
        word = _strip(word) if word.type == "parenthesized_expression" else word
        if word.type == "identifier" and _text(word) in pred.flag_params and _text(word) not in env.opaque:
            own = self.amap.flags[_text(word)].get(bit)
            vma = self.amap.flags.get("vma->vm_flags", {}).get(bit)
            if own is None:
                raise self.error(word, pred.fn.file, f"the abstraction map's word `{_text(word)}` has no bit {bit}",
                                 f'the map entry that would cover it: {bit} => "<atom>"; in flags "{_text(word)}"')
            if vma is not None and vma[0] == own[0]:
                return Dsl(own[0], PRIM)
            read = pred.bits.setdefault(_text(word), [])
            if bit not in read:
                read.append(bit)
            return Dsl(bit_param(bit), PRIM)
        if word.type == "identifier" and _text(word) in env.opaque:
            b = env.opaque[_text(word)]
            if b.node is not None and not b.ambiguous:
                return self.bit_in_caller(b.node, bit, b.env or Env(), pred)
        return self.bit_in_caller(word, bit, env, pred)

    def bit_in_caller(self, word: Node, bit: str, env: Env, pred: Predicate) -> Dsl:
        key = self.canon(word, env)
        if word.type == "identifier" and _text(word) in pred.flag_params:
            return self.bit(word, bit, env, pred)
        if word.type == "conditional_expression":
            test, yes, no = (word.child_by_field_name(f) for f in ("condition", "consequence", "alternative"))
            assert test is not None and yes is not None and no is not None
            a, b = self.bit(yes, bit, env, pred), self.bit(no, bit, env, pred)
            return Dsl(f"{self.expr(test, env, pred).at(IMPL)} ? {a.text} : {b.text}", TERN)
        constants = _constant_mask(word)
        prefix = bit.split("_", 1)[0] + "_"
        if constants is not None and all(c.startswith(prefix) for c in constants):
            return Dsl("true" if bit in constants else "false", PRIM)  # a mask of named bits, e.g. TVA_SMAPS | TVA_IN_PF
        table = self.amap.flags.get(key)
        if table is None or bit not in table:
            raise self.error(word, pred.fn.file, f"the abstraction map does not cover bit {bit} of `{key}`",
                             f'the map entry that would cover it: flags "{key}" {{ {bit} => "<atom>"; }} in {self.amap.path}')
        return Dsl(table[bit][0], PRIM)

    def enum_value(self, node: Node, env: Env, pred: Predicate) -> tuple[str, str, bool] | None:
        """(DSL, C enum type, constant?) of a value of an enum type the map
        names: a parameter of that type, or one of its constants."""
        node = _strip(node) if node.type == "parenthesized_expression" else node
        if node.type != "identifier":
            return None
        name = _text(node)
        bound = env.opaque.get(name)
        if bound is not None:
            if bound.ambiguous:
                raise self.error(node, pred.fn.file, f"`{name}` may hold either of two values here (it is assigned in a branch)")
            return self.enum_value(bound.node, bound.env or Env(), pred) if bound.node is not None else None
        if name in pred.enum_params:
            return name, pred.enum_params[name], False
        for ctype, (_, table, _) in self.amap.enum_types.items():
            if name in table:
                return table[name], ctype, True
        return None

    def enum_compare(self, node: Node, a: tuple[str, str, bool], b: tuple[str, str, bool], op: str, pred: Predicate) -> Dsl:
        if a[1] != b[1]:
            raise self.error(node, pred.fn.file, f"a comparison of {a[1]} with {b[1]}")
        if a[2] and b[2]:  # two constants
            return Dsl("true" if (a[0] == b[0]) == (op == "==") else "false", PRIM)
        if a[2]:
            a, b = b, a
        return Dsl(f"{a[0]} {op} {b[0]}", CMP)

    def enum_test(self, left: Node, right: Node, op: str, env: Env, pred: Predicate) -> Dsl:
        key = self.canon(left, env)
        atom, table, _ = self.amap.enums[key]
        const = _text(right)
        if const not in table:
            raise self.error(right, pred.fn.file, f"the map's enum for `{key}` has no case {const}",
                             f"the map entry that would cover it: {const} => value; in enum \"{key}\"")
        return Dsl(f"{atom} {op} {table[const]}", CMP)

    def call(self, node: Node, fn: Function, env: Env, pred: Predicate) -> tuple[Dsl, str]:
        args_node = node.child_by_field_name("arguments")
        args = [a for a in (args_node.named_children if args_node else []) if a.type != "comment"]
        params = self.params(fn)
        if len(args) != len(params):
            raise self.error(node, pred.fn.file, f"{fn.name} takes {len(params)} arguments, the call gives {len(args)}")
        bound = [(name, arg, env) for (ctype, name, _), arg in zip(params, args, strict=True)
                 if name not in self.amap.flags and ctype != "bool" and ctype not in self.amap.enum_types
                 and not (ctype in _SET_TYPES and name in self.amap.orders)]
        callee = self.predicate(fn, bound, (node, pred.fn.file))
        by_name = {name: arg for (_, name, _), arg in zip(params, args, strict=True)}
        out: list[str] = []
        for p in callee.param_order:
            if p in callee.flag_params:
                out.extend(self.bit(by_name[p], b, env, pred).text for b in sorted(callee.bits.get(p, [])))
            elif p in callee.enum_params:
                value = self.enum_value(by_name[p], env, pred)
                if value is None or value[1] != callee.enum_params[p]:
                    raise self.error(by_name[p], pred.fn.file, f"the argument `{self.canon(by_name[p], env)}` of {fn.name} is not a "
                                     f"{callee.enum_params[p]} the map names (a parameter of that type or one of its constants)")
                out.append(value[0])
            else:
                out.append(self.expr(by_name[p], env, pred, "set" if p in callee.set_params else "bool").text)
        return Dsl(f"{callee.name}({', '.join(out)})", PRIM), callee.returns


def _identifiers(node: Node) -> set[str]:
    if node.type == "identifier":
        return {_text(node)}
    return {name for c in node.children for name in _identifiers(c)}


def _constant_mask(node: Node) -> set[str] | None:
    """The named bits of a constant mask (A | B | 0), or None."""
    node = _strip(node) if node.type == "parenthesized_expression" else node
    if node.type == "number_literal" and _text(node) == "0":
        return set()
    if node.type == "identifier" and _text(node).isupper():
        return {_text(node)}
    if node.type == "binary_expression" and _text(node.child_by_field_name("operator")) == "|":
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        a = _constant_mask(left) if left is not None else None
        b = _constant_mask(right) if right is not None else None
        return a | b if a is not None and b is not None else None
    return None


def _merge(base: Env, branches: list[Env]) -> Env:
    """After a branch: a variable some branch reassigned holds one of two values."""
    out = base
    for e in branches:
        for name, b in e.opaque.items():
            if base.opaque.get(name) is not b:
                out = out.bind(name, Binding(None, None, ambiguous=True))
    return out


def _statements(block: Node) -> list[Node]:
    return [c for c in block.named_children if c.type != "comment"]


def _strip(node: Node | None) -> Node:
    assert node is not None
    while node.type == "parenthesized_expression" and node.named_children:
        inner = [c for c in node.named_children if c.type != "comment"]
        if len(inner) != 1:
            break
        node = inner[0]
    return node


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")
