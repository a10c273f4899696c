"""Names, types and totality: resolved scopes -> the typed model.

Every name is bound here (local, predicate or definition, atom, constant,
enum value), every expression gets a type, every predicate is checked to
return on every path, and every return learns the rule it belongs to.
Problems are collected, all of them, as located diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .. import model as m
from ..results import Expectation, KernelCite
from . import nodes as n
from .diagnostics import Diagnostic, SpecError, did_you_mean
from .parser import without_cycle_collection
from .resolve import RawFunction, RawVersion, Scopes


def typecheck(scopes: Scopes) -> m.Library:
    with without_cycle_collection():
        return _Checker(scopes).run()


class _Checker:
    def __init__(self, scopes: Scopes) -> None:
        self.s = scopes
        self.problems: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.universes: dict[str, m.Universe] = {}
        self.atoms: dict[str, m.Atom] = {}
        self.consts: dict[str, m.Lit] = {}
        self.lowered: dict[tuple[str, str], m.Function] = {}
        self.in_progress: list[tuple[str, str]] = []
        self.version = ""  # the version whose scope names are looked up in
        self.versions: dict[str, m.Version] = {}

    # -------------------------------------------------------------- driver

    def run(self) -> m.Library:
        self._call_depth()
        if self.problems:  # lowering a chain past the limit would recurse too deep
            raise SpecError(self.problems, self.s.sources)
        self._vocabulary()
        for name, raw in self.s.versions.items():
            self.versions[name] = self._version(name, raw)
        self.version = ""
        global_functions = {name: self._function("", name) for name in self.s.functions}
        global_assumptions = tuple(self._assumption(d, scope) for d, scope in self.s.assumptions)
        properties = {name: self._property(decl) for name, decl in self.s.properties.items()}
        self._intents(properties)
        if self.problems:
            unique = {(d.span, d.code, d.message): d for d in self.problems}
            raise SpecError(unique.values(), self.s.sources)
        warnings = sorted({(d.span, d.code, d.message): d for d in self.warnings}.values(),
                          key=lambda d: (d.span, d.code, d.message))
        return m.Library(
            self.universes, self.atoms, self.versions, properties, global_functions,
            global_assumptions, tuple(self.s.files), self.s.sources, self.s.paths, tuple(warnings),
            self.s.arch, tuple(self.s.arches), tuple((k, c.value) for k, c in self.consts.items()),
        )

    def error(self, span: n.Span, code: str, message: str, hint: str = "") -> None:
        self.problems.append(Diagnostic(span, code, message, hint))

    def warn(self, span: n.Span, code: str, message: str, hint: str = "") -> None:
        self.warnings.append(Diagnostic(span, code, message, hint, "warning"))

    def _intents(self, properties: dict[str, m.Property]) -> None:
        """What each patch declares it means to change must name callers
        and properties that exist."""
        caller = self.atoms.get("caller")
        callers = caller.values if caller is not None else ()
        for raw in self.s.versions.values():
            for item in raw.intends:
                known = callers if item.kind is n.IntentKind.CALLER else tuple(properties)
                for name in item.names:
                    if name not in known:
                        hint = did_you_mean(name, known)
                        if not hint and item.kind is n.IntentKind.CALLER:
                            hint = f"callers: {', '.join(known)}"
                        self.error(item.span, "E043", f"'intends {item.kind}': unknown {item.kind} '{name}'", hint)

    def _call_depth(self) -> None:
        """Definitions and predicates may nest only so deep, counting the
        nesting of each one's text along the longest chain of calls: it is
        measured here, without recursion, before any pass recurses along it
        (E044)."""
        edges: dict[tuple[str, str], set[tuple[str, str]]] = {}
        spans: dict[tuple[str, str], n.Span] = {}
        own: dict[tuple[str, str], int] = {}
        scopes = [("", self.s.functions)] + [(v, raw.functions) for v, raw in self.s.versions.items()]
        for version, functions in scopes:
            for name, raw in functions.items():
                key = (version, name)
                spans[key] = raw.decl.span
                called, own[key] = _called(raw)
                edges[key] = {self._callee(key[0], c) for c in called}
        depth: dict[tuple[str, str], int] = {}
        for start in edges:
            stack = [(start, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    depth[node] = own[node] + max((depth.get(c, 0) for c in edges.get(node, ()) if c != node), default=0)
                    continue
                if node in depth or node not in edges:
                    continue
                depth[node] = 0  # in progress: a cycle is reported by the lowering (E030)
                stack.append((node, True))
                stack.extend((c, False) for c in edges[node] if c not in depth)
        deepest = max(depth.items(), key=lambda kv: kv[1], default=None)
        if deepest is not None and deepest[1] > MAX_CALL_DEPTH:
            key, d = deepest
            self.error(spans[key], "E044", f"'{key[1]}' nests {d} deep with the definitions it calls; the limit is {MAX_CALL_DEPTH}",
                       "write the chain as fewer, wider definitions")

    def _callee(self, version: str, called: tuple[str | None, str]) -> tuple[str, str]:
        scope, name = called
        if scope is not None:
            return (scope, name)
        if version and name in self.s.versions[version].functions:
            return (version, name)
        return ("", name)

    # ----------------------------------------------------------- vocabulary

    def _vocabulary(self) -> None:
        for name, u in self.s.universes.items():
            bad = [e for e in u.elements if e > 62]
            if bad:
                self.error(u.span, "E020", f"universe elements must be 0..62, not {bad[0]}")
            self.universes[name] = m.Universe(name, tuple(sorted(set(u.elements))), u.span)
        for name, a in self.s.atoms.items():
            typ, values = self._atom_type(name, a.type)
            self.atoms[name] = m.Atom(name, typ, values, a.doc, a.span)
        for name, c in self.s.consts.items():
            value = self.expr(c.value, {}, None)
            if not isinstance(value, m.Lit):
                self.error(c.span, "E021", f"constant '{name}' must be a literal value")
                continue
            self.consts[name] = value

    def _atom_type(self, name: str, t: n.TypeExpr) -> tuple[m.Type, tuple[str, ...]]:
        if isinstance(t, n.EnumType):
            if len(set(t.values)) != len(t.values):
                self.error(t.span, "E022", f"enum of '{name}' repeats a value")
            return m.Type(m.TypeKind.ENUM, name), t.values
        return self.type(t), ()

    def type(self, t: n.TypeExpr) -> m.Type:
        if isinstance(t, n.BoolType):
            return m.BOOL
        if isinstance(t, n.SetType):
            if t.universe not in self.s.universes:
                self.error(t.span, "E023", f"unknown universe '{t.universe}'", did_you_mean(t.universe, self.s.universes))
            return m.Type(m.TypeKind.SET, t.universe)
        if isinstance(t, n.NamedType):
            if t.name in self.s.universes:
                return m.Type(m.TypeKind.ELEM, t.name)
            atom = self.s.atoms.get(t.name)
            if atom is not None and isinstance(atom.type, n.EnumType):
                return m.Type(m.TypeKind.ENUM, t.name)
            hint = did_you_mean(t.name, list(self.s.universes) + ["bool"])
            self.error(t.span, "E023", f"unknown type '{t.name}'", hint or "types: bool, set of U, U, or an enum atom's name")
            return m.BOOL
        self.error(t.span, "E023", "an enum type is declared with its atom; name the atom instead")
        return m.BOOL

    # ------------------------------------------------------------- versions

    def _version(self, name: str, raw: RawVersion) -> m.Version:
        self.version = name
        names = list(self.s.functions) + [f for f in raw.functions if f not in self.s.functions]
        functions = {f: self._function(name, f) for f in names}
        dropped = {a.name for a, scope in raw.assumptions if scope == "drop"}
        assumptions = [
            self._assumption(d, scope)
            for d, scope in self.s.assumptions + raw.assumptions
            if scope != "drop" and d.name not in dropped
        ]
        callers = tuple(x for i in raw.intends if i.kind is n.IntentKind.CALLER for x in i.names)
        props = tuple(x for i in raw.intends if i.kind is n.IntentKind.PROPERTY for x in i.names)
        return m.Version(
            name, raw.decl.base, tuple(sorted(raw.meta.items())), functions, tuple(assumptions), raw.decl.span,
            intends_callers=callers, intends_properties=props,
        )

    def _raw(self, version: str, name: str) -> RawFunction | None:
        if version:
            raw = self.s.versions[version].functions.get(name)
            if raw is not None:
                return raw
        return self.s.functions.get(name)

    def _assumption(self, d: n.AssumeDecl, scope: str) -> m.Assumption:
        return m.Assumption(d.name, d.doc, self.bool_expr(d.value, {}), d.span, scope)

    # ------------------------------------------------------------ functions

    def _function(self, version: str, name: str) -> m.Function:
        key = (version, name)
        if key in self.lowered:
            return self.lowered[key]
        raw = self._raw(version, name)
        assert raw is not None
        decl = raw.decl
        if key in self.in_progress:
            cycle = " -> ".join(f for _, f in self.in_progress[self.in_progress.index(key):])
            self.error(decl.span, "E030", f"'{name}' calls itself through {cycle} -> {name}")
            return m.Function(name, version, m.FunctionKind.DEF, (), m.BOOL, (), (), "", decl.span)
        self.in_progress.append(key)
        saved, self.version = self.version, version
        try:
            fn = self._lower_function(version, raw)
        finally:
            self.version = saved
            self.in_progress.pop()
        self.lowered[key] = fn
        return fn

    def _lower_function(self, version: str, raw: RawFunction) -> m.Function:
        decl = raw.decl
        if isinstance(decl, (n.DefDecl, n.ContextDecl)):
            kind = m.FunctionKind.DEF if isinstance(decl, n.DefDecl) else m.FunctionKind.CONTEXT
            value = self.expr(decl.value, {}, None)
            if kind is m.FunctionKind.CONTEXT and value.type != m.BOOL:
                self.error(decl.span, "E031", f"context '{decl.name}' must be a condition (bool), not {value.type}")
            rule = m.Rule(decl.name, decl.name, decl.span, None)
            return m.Function(decl.name, version, kind, (), value.type, (m.SReturn(value, rule),), (rule,), "", decl.span)
        params = tuple((p.name, self.type(p.type)) for p in decl.params)
        names = [p for p, _ in params]
        for p in decl.params:
            if names.count(p.name) > 1:
                self.error(p.span, "E032", f"parameter '{p.name}' is declared twice")
        returns = self.type(decl.returns)
        home = raw.home
        lowering = _Body(self, decl, home, raw.homes, returns)
        body, total = lowering.block((raw.body or decl.body).body, dict(params), None)
        if not total:
            self.error(decl.span, "E033", f"predicate '{decl.name}' can reach its end without returning a value",
                       "end it with a 'return' that covers every remaining case")
        origin = ""
        if decl.origin is not None:
            o = decl.origin
            cite = self.cite(home, o.file, o.lines.first, o.lines.last, o.function) if o.lines else None
            origin = f"{o.function} in {cite}" if cite else f"{o.function} in {o.file}"
        return m.Function(decl.name, version, m.FunctionKind.PREDICATE, params, returns, body, tuple(lowering.rules), origin, decl.span)

    def cite(self, home: str, file: str, first: int, last: int, function: str = "") -> KernelCite:
        release = self.s.versions[home].meta.get("release", home) if home else ""
        return KernelCite(release, file, first, last, function)

    # ----------------------------------------------------------- properties

    def _property(self, decl: n.PropertyDecl) -> m.Property:
        versions = list(self.versions)
        explicit: dict[str, n.Expect] = {}
        default: n.Expect | None = None
        for e in decl.expects:
            for a in e.arches or ():
                if a not in self.s.arches:
                    self.error(e.span, "E024", f"no architecture '{a}' in these specs", did_you_mean(a, self.s.arches))
        # Expectations for the selected architecture override the general ones.
        general = [e for e in decl.expects if e.arches is None]
        specific = [e for e in decl.expects if e.arches is not None and self.s.arch in e.arches]
        for group in (general, specific):
            named: set[str] = set()
            seen_default = False
            for e in group:
                if e.versions is None:
                    if seen_default:
                        self.error(e.span, "E040", "a property has one default 'expect' (without 'on')")
                    seen_default, default = True, e
                    continue
                for v in e.versions:
                    if v not in self.versions:
                        self.error(e.span, "E041", f"unknown version '{v}'", did_you_mean(v, versions))
                    elif v in named:
                        self.error(e.span, "E040", f"two expectations for version '{v}'")
                    named.add(v)
                    explicit[v] = e
        cross = set(_names_versions(decl))
        for v, span in sorted(_names_versions(decl).items()):
            if v not in self.versions:
                self.error(span, "E041", f"unknown version '{v}'", did_you_mean(v, versions))
        targets = [""] if cross else versions
        instances = []
        for v in targets:
            if cross and any(x not in self.versions for x in cross):
                break
            instances.append(self._instance(decl, v, sorted(cross), self._expected(v, explicit, default)))
        return m.Property(decl.name, decl.doc, decl.callers, tuple(instances), decl.span)

    def _expected(self, version: str, explicit: dict[str, n.Expect], default: n.Expect | None) -> n.Expect | None:
        """A version's own expectation; else, for a version that extends
        another, its base's (a patch inherits what its base is expected to
        do unless it says otherwise); else the property's default."""
        seen: set[str] = set()
        v: str | None = version
        while v is not None and v not in seen and v in self.s.versions:
            if v in explicit:
                return explicit[v]
            seen.add(v)
            v = self.s.versions[v].decl.base
        return default

    def _instance(self, decl: n.PropertyDecl, version: str, cross: list[str], expect: n.Expect | None) -> m.Instance:
        self.version = version
        premises: list[m.Expr] = []
        if decl.callers is not None:
            premises.append(self._callers(decl))
        premises.extend(self.bool_expr(g, {}) for g in decl.givens)
        if version:
            scope_assumptions = list(self.versions[version].assumptions)
        else:
            merged: dict[str, m.Assumption] = {}
            for v in cross:
                for a in self.versions[v].assumptions:
                    merged.setdefault(a.name, a)
            scope_assumptions = list(merged.values())
        known = {a.name for a in scope_assumptions}
        for dropped in decl.drops:
            if dropped not in known:
                self.error(decl.span, "E015", f"no assumption '{dropped}' to drop", did_you_mean(dropped, known))
        kept = [a for a in scope_assumptions if a.name not in decl.drops]
        for d in decl.assumes:
            if d.name in known:
                self.error(d.span, "E011", f"assumption '{d.name}' is already declared")
            kept.append(m.Assumption(d.name, d.doc, self.bool_expr(d.value, {}), d.span, "property"))
        claim = self.bool_expr(decl.claim, {})
        self.version = ""
        return m.Instance(
            decl.name, version, tuple(premises), tuple(kept), claim,
            Expectation(expect.verdict) if expect else None, expect.span if expect else None,
        )

    def _callers(self, decl: n.PropertyDecl) -> m.Expr:
        caller = self.atoms.get("caller")
        options: list[m.Expr] = []
        for name in decl.callers or ():
            if caller is not None and name in caller.values:
                ref = m.AtomRef("caller", caller.type, decl.span)
                options.append(m.Op(m.Operator.EQ, (ref, m.Lit(name, caller.type, decl.span)), m.BOOL, decl.span))
                continue
            raw = self._raw(self.version, name)
            if raw is not None and isinstance(raw.decl, n.ContextDecl):
                fn = self._function(self.version, name)
                options.append(m.Call(fn.version, name, (), m.BOOL, decl.span))
                continue
            known = list(caller.values if caller else ()) + [
                f for f, r in self.s.functions.items() if isinstance(r.decl, n.ContextDecl)
            ]
            self.error(decl.span, "E042", f"unknown caller or context '{name}'", did_you_mean(name, known))
        return _any(options, decl.span)

    # ---------------------------------------------------------- expressions

    def bool_expr(self, e: n.Expr, env: dict[str, m.Type]) -> m.Expr:
        out = self.expr(e, env, m.BOOL)
        if out.type != m.BOOL:
            self.error(e.span, "E050", f"expected a condition (bool), found {out.type}")
        return out

    def expr(self, e: n.Expr, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        handler = _EXPR.get(type(e))
        if handler is None:
            raise TypeError(f"no type rule for {type(e).__name__}")
        return handler(self, e, env, expected)

    def _default_universe(self, span: n.Span, expected: m.Type | None) -> str:
        if expected is not None and expected.kind in (m.TypeKind.SET, m.TypeKind.ELEM):
            return expected.name
        if len(self.universes) == 1:
            return next(iter(self.universes))
        if not self.universes:
            self.error(span, "E051", "numbers need a declared universe ('universe order = {...};')")
        else:
            self.error(span, "E051", "cannot tell which universe this number belongs to")
        return next(iter(self.universes), "")

    def _lit_int(self, e: n.IntLit, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        u = self._default_universe(e.span, expected)
        if e.value > 62:
            self.error(e.span, "E052", f"{e.value} is too large for a universe element")
        return m.Lit(e.value, m.Type(m.TypeKind.ELEM, u), e.span)

    def _lit_bool(self, e: n.BoolLit, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        return m.Lit(e.value, m.BOOL, e.span)

    def bound(self, name: str, env: dict[str, m.Type]) -> bool:
        return name in env or self._raw(self.version, name) is not None or name in self.atoms or name in self.consts

    def _name(self, e: n.Name, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        if expected is not None and expected.kind is m.TypeKind.ENUM and e.name in self.atoms[expected.name].values:
            return m.Lit(e.name, expected, e.span)
        if e.name in env:
            return m.Local(e.name, env[e.name], e.span)
        raw = self._raw(self.version, e.name)
        if raw is not None:
            return self._call(n.Call(e.name, (), e.span), env, expected)
        if e.name in self.atoms:
            a = self.atoms[e.name]
            return m.AtomRef(a.name, a.type, e.span)
        if e.name in self.consts:
            c = self.consts[e.name]
            return m.Lit(c.value, c.type, e.span)
        enums = [a.name for a in self.atoms.values() if e.name in a.values]
        scope = list(self.s.versions[self.version].functions) if self.version else []
        hint = did_you_mean(e.name, list(env) + list(self.atoms) + list(self.consts) + list(self.s.functions) + scope)
        if enums and not hint:
            hint = f"'{e.name}' is a value of {', '.join(enums)}; compare it, e.g. '{enums[0]} == {e.name}'"
        self.error(e.span, "E053", f"unknown name '{e.name}'", hint)
        return m.Lit(False, expected or m.BOOL, e.span)

    def _call(self, e: n.Call, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        if e.version is None and e.name in m.BUILTINS and self._raw(self.version, e.name) is None:
            return self._builtin(e, env)
        scope = self.version if e.version is None else e.version
        if e.version is not None and e.version not in self.s.versions:
            self.error(e.span, "E041", f"unknown version '{e.version}'", did_you_mean(e.version, self.s.versions))
            return m.Lit(False, m.BOOL, e.span)
        raw = self._raw(scope, e.name)
        if raw is None:
            known = list(self.s.functions) + (list(self.s.versions[scope].functions) if scope else [])
            self.error(e.span, "E054", f"unknown predicate '{e.name}'", did_you_mean(e.name, known + list(m.BUILTINS)))
            return m.Lit(False, expected or m.BOOL, e.span)
        saved = self.version
        fn = self._function(scope, e.name)
        self.version = saved
        if len(e.args) != len(fn.params):
            self.error(e.span, "E055", f"'{e.name}' takes {len(fn.params)} argument(s), not {len(e.args)}")
            return m.Lit(False, fn.returns, e.span)
        args = []
        for arg, (pname, ptype) in zip(e.args, fn.params, strict=True):
            value = self.expr(arg, env, ptype)
            if value.type != ptype:
                self.error(arg.span, "E056", f"argument '{pname}' of '{e.name}' must be {ptype}, not {value.type}")
            args.append(value)
        return m.Call(scope, e.name, tuple(args), fn.returns, e.span)

    def _builtin(self, e: n.Call, env: dict[str, m.Type]) -> m.Expr:
        if len(e.args) != 1:
            self.error(e.span, "E055", f"'{e.name}' takes one set, not {len(e.args)} argument(s)")
            return m.Lit(False, m.BOOL, e.span)
        arg = self.expr(e.args[0], env, None)
        if arg.type.kind is not m.TypeKind.SET:
            self.error(e.args[0].span, "E056", f"'{e.name}' needs a set, not {arg.type}")
            return m.Lit(False, m.BOOL, e.span)
        op = m.SPELLED[e.name]
        result = m.OPERATORS[op].result
        return m.Op(op, (arg,), m.BOOL if result is m.TypeKind.BOOL else m.Type(m.TypeKind.ELEM, arg.type.name), e.span)

    def _not(self, e: n.Not, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        return m.Op(m.Operator.NOT, (self.bool_expr(e.operand, env),), m.BOOL, e.span)

    def _cond(self, e: n.Cond, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        test = self.bool_expr(e.test, env)
        then = self.expr(e.then, env, expected)
        orelse = self.expr(e.orelse, env, then.type)
        if then.type != orelse.type:
            self.error(e.span, "E057", f"both arms of '?:' must have one type, not {then.type} and {orelse.type}")
        return m.Op(m.Operator.COND, (test, then, orelse), then.type, e.span)

    def _setlit(self, e: n.SetLit, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        if expected is not None and expected.kind is m.TypeKind.ENUM:
            return self._enum_set(e, expected)
        u = self._default_universe(e.span, expected)
        universe = self.universes.get(u)
        set_type = m.Type(m.TypeKind.SET, u)
        mask = 0
        dynamic: list[m.Expr] = []
        for item in e.items:
            if isinstance(item, n.Range):
                low, high = self._bound(item.low, item.span), self._bound(item.high, item.span)
                if high < low:
                    self.error(item.span, "E003", f"empty range {item.low}..{item.high} ({low}..{high})")
                values = list(range(low, high + 1))
                if universe is not None:
                    values = [v for v in values if v in universe.elements]
                for v in values:
                    mask |= 1 << v
                continue
            value = self.expr(item, env, m.Type(m.TypeKind.ELEM, u))
            if value.type != m.Type(m.TypeKind.ELEM, u):
                self.error(item.span, "E058", f"a set of {u} holds elements of {u}, not {value.type}")
            elif isinstance(value, m.Lit):
                assert isinstance(value.value, int)
                if universe is not None and value.value not in universe.elements:
                    self.error(item.span, "E059", f"{value.value} is not in universe {u} {list(universe.elements)}")
                mask |= 1 << value.value
            else:
                dynamic.append(m.Op(m.Operator.SINGLETON, (value,), set_type, item.span))
        out: m.Expr = m.Lit(mask, set_type, e.span)
        for d in dynamic:
            out = m.Op(m.Operator.UNION, (out, d), set_type, e.span)
        return out

    def _bound(self, bound: int | str, span: n.Span) -> int:
        """A bound of a range: a number, or a constant that holds one."""
        if isinstance(bound, int):
            return bound
        const = self.consts.get(bound)
        if const is None or isinstance(const.value, bool) or not isinstance(const.value, int):
            hint = did_you_mean(bound, self.consts) or "a range bound is a number or a constant that holds one"
            self.error(span, "E053", f"'{bound}' is not a numeric constant", hint)
            return 0
        return const.value

    def _enum_set(self, e: n.SetLit, expected: m.Type) -> m.Expr:
        # Only meaningful on the right of `in`: returned as a marker literal.
        values = []
        for item in e.items:
            if not isinstance(item, n.Name) or item.name not in self.atoms[expected.name].values:
                self.error(item.span, "E060", f"expected a value of {expected.name}: {', '.join(self.atoms[expected.name].values)}")
                continue
            values.append(item.name)
        return m.Lit(",".join(values), m.Type(m.TypeKind.ENUMSET, expected.name), e.span)

    def _binop(self, e: n.BinOp, env: dict[str, m.Type], expected: m.Type | None) -> m.Expr:
        op = e.op
        if op in ("&&", "||", "->", "<->"):
            left = self.bool_expr(e.left, env)
            right = self.bool_expr(e.right, env)
            return m.Op(m.SPELLED[op], (left, right), m.BOOL, e.span)
        if op in ("in", "notin"):
            return self._member(e, env)
        if op in ("|", "&", "-"):
            left = self.expr(e.left, env, expected if expected and expected.kind is m.TypeKind.SET else None)
            right = self.expr(e.right, env, left.type)
            if left.type.kind is not m.TypeKind.SET or right.type != left.type:
                sym = {"|": "union", "&": "intersection", "-": "difference"}[op]
                self.error(e.span, "E061", f"set {sym} needs two sets of one universe, not {left.type} and {right.type}")
            return m.Op(m.SPELLED[op], (left, right), left.type, e.span)
        left_node, right_node, swapped = e.left, e.right, False
        if isinstance(e.left, n.Name) and not self.bound(e.left.name, env):
            left_node, right_node, swapped = e.right, e.left, True
        left = self.expr(left_node, env, None)
        right = self.expr(right_node, env, left.type)
        if swapped:
            left, right = right, left
        if left.type != right.type:
            self.error(e.span, "E062", f"cannot compare {left.type} with {right.type}")
        name = m.SPELLED[op]
        if m.OPERATORS[name].operands[0] is m.TypeKind.ELEM and left.type.kind is not m.TypeKind.ELEM:
            self.error(e.span, "E062", f"'{op}' orders universe elements, not {left.type}")
        return m.Op(name, (left, right), m.BOOL, e.span)

    def _member(self, e: n.BinOp, env: dict[str, m.Type]) -> m.Expr:
        left = self.expr(e.left, env, None)
        if left.type.kind is m.TypeKind.ENUM:
            right = self.expr(e.right, env, left.type)
            if right.type.kind is not m.TypeKind.ENUMSET:
                self.error(e.right.span, "E063", f"'in' after {left.type} takes a list of its values in braces")
                return m.Lit(False, m.BOOL, e.span)
            assert isinstance(right, m.Lit) and isinstance(right.value, str)
            tests = [m.Op(m.Operator.EQ, (left, m.Lit(v, left.type, right.span)), m.BOOL, e.span) for v in right.value.split(",") if v]
            out = _any(tests, e.span)
        else:
            set_type = m.Type(m.TypeKind.SET, left.type.name) if left.type.kind is m.TypeKind.ELEM else None
            right = self.expr(e.right, env, set_type)
            if left.type.kind is not m.TypeKind.ELEM or right.type != set_type:
                self.error(e.span, "E063", f"'in' tests an element of a universe against a set of it, not {left.type} in {right.type}")
            out = m.Op(m.Operator.IN, (left, right), m.BOOL, e.span)
        return m.Op(m.Operator.NOT, (out,), m.BOOL, e.span) if e.op == "notin" else out


_EXPR: dict[type, Callable[..., m.Expr]] = {
    n.BoolLit: _Checker._lit_bool,
    n.IntLit: _Checker._lit_int,
    n.Name: _Checker._name,
    n.Call: _Checker._call,
    n.Not: _Checker._not,
    n.BinOp: _Checker._binop,
    n.Cond: _Checker._cond,
    n.SetLit: _Checker._setlit,
}


def _any(options: Sequence[m.Expr], span: n.Span) -> m.Expr:
    if not options:
        return m.Lit(False, m.BOOL, span)
    out = options[0]
    for o in options[1:]:
        out = m.Op(m.Operator.OR, (out, o), m.BOOL, span)
    return out


def _names_versions(decl: n.PropertyDecl) -> dict[str, n.Span]:
    """The versions a property names ("v6.1"::eligible), each with the first place it does."""
    found: dict[str, n.Span] = {}

    def walk(e: n.Expr | n.Range) -> None:
        if isinstance(e, n.Call):
            if e.version is not None:
                found.setdefault(e.version, e.span)
            for a in e.args:
                walk(a)
        elif isinstance(e, n.Not):
            walk(e.operand)
        elif isinstance(e, n.BinOp):
            walk(e.left)
            walk(e.right)
        elif isinstance(e, n.Cond):
            walk(e.test)
            walk(e.then)
            walk(e.orelse)
        elif isinstance(e, n.SetLit):
            for i in e.items:
                walk(i)

    for g in decl.givens:
        walk(g)
    walk(decl.claim)
    return found


class _Body:
    """Lowers one predicate body: statements, locals, rules, totality."""

    def __init__(self, checker: _Checker, decl: n.PredicateDecl, home: str, homes: dict[int, str], returns: m.Type) -> None:
        self.c = checker
        self.decl = decl
        self.home = home
        self.homes = homes
        self.returns = returns
        self.rules: list[m.Rule] = []
        self.labels: dict[str, n.Span] = {}

    def rule(self, stmt: n.Stmt, outer: m.Rule | None) -> m.Rule | None:
        tag = stmt.tag
        if tag is None:
            return None
        if tag.label:
            if tag.label in self.labels:
                self.c.error(tag.span, "E034", f"rule label '{tag.label}' is already used at {self.labels[tag.label]}")
            self.labels[tag.label] = tag.span
        home = self.homes.get(id(stmt), self.home)
        cite = None
        if tag.cite is not None:
            origin = self.decl.origin
            file = tag.cite.file or (origin.file if origin else "")
            inside = origin is not None and file == origin.file and origin.lines is not None \
                and origin.lines.first <= tag.cite.first and tag.cite.last <= origin.lines.last
            function = origin.function if inside and origin is not None else ""  # lines of the predicate's kernel function
            cite = self.c.cite(home, file, tag.cite.first, tag.cite.last, function)
        elif outer is not None:
            cite = outer.cite
        rule = m.Rule(tag.label or f"L{tag.span.line}", self.decl.name, tag.span, cite)
        self.rules.append(rule)
        return rule

    def plain_rule(self, stmt: n.Stmt, outer: m.Rule | None) -> m.Rule:
        rule = m.Rule(f"L{stmt.span.line}", self.decl.name, stmt.span, outer.cite if outer else None)
        if outer is None and rule.cite is None and self.decl.origin is not None:
            # A rule of a kernel predicate that says neither what it is nor
            # where it comes from is shown as NAME.L<line>, with no kernel line.
            self.c.warn(stmt.span, "W001", f"this rule of '{self.decl.name}' has neither a label nor a kernel line",
                        "tag it: 'label @LINE: ...', 'label: ...' or '@LINE: ...'")
        self.rules.append(rule)
        return rule

    def block(self, stmts: tuple[n.Stmt, ...], env: dict[str, m.Type], outer: m.Rule | None) -> tuple[tuple[m.Stmt, ...], bool]:
        out: list[m.Stmt] = []
        env = dict(env)
        returned = False
        for stmt in stmts:
            if returned:
                self.c.error(stmt.span, "E035", "this statement can never run: every path before it returns")
                break
            lowered, returned = self.stmt(stmt, env, outer)
            out.extend(lowered)
        return tuple(out), returned

    def stmt(self, stmt: n.Stmt, env: dict[str, m.Type], outer: m.Rule | None) -> tuple[list[m.Stmt], bool]:
        own = self.rule(stmt, outer)
        if isinstance(stmt, n.Block):
            body, returned = self.block(stmt.body, env, own or outer)
            return list(body), returned
        if isinstance(stmt, n.Return):
            value = self.c.expr(stmt.value, env, self.returns)
            if value.type != self.returns:
                self.c.error(stmt.value.span, "E036", f"'{self.decl.name}' returns {self.returns}, not {value.type}")
            return [m.SReturn(value, own or outer or self.plain_rule(stmt, None))], True
        if isinstance(stmt, n.If):
            rule = own or self.plain_rule(stmt, outer)
            test = self.c.bool_expr(stmt.test, env)
            then, then_returns = self.block((stmt.then,), env, rule)
            orelse, else_returns = self.block((stmt.orelse,), env, rule) if stmt.orelse is not None else ((), False)
            return [m.SIf(test, then, orelse, rule)], then_returns and else_returns
        if isinstance(stmt, n.Let):
            if stmt.name in env or stmt.name in self.c.atoms:
                self.c.error(stmt.span, "E037", f"'{stmt.name}' is already a name here; pick another")
            value = self.c.expr(stmt.value, env, None)
            env[stmt.name] = value.type
            return [m.SAssign(stmt.name, value, stmt.span)], False
        if isinstance(stmt, n.Assign):
            if stmt.name not in env:
                hint = "declare it first with 'let'" if stmt.name not in self.c.atoms else "atoms cannot be assigned; use 'let'"
                self.c.error(stmt.span, "E038", f"'{stmt.name}' is not a local variable", hint)
                return [], False
            target = env[stmt.name]
            value = self.c.expr(stmt.value, env, target)
            if stmt.op != "=":
                if target.kind is not m.TypeKind.SET:
                    self.c.error(stmt.span, "E039", f"'{stmt.op}' works on sets, not {target}")
                value = m.Op(m.SPELLED[stmt.op.removesuffix("=")], (m.Local(stmt.name, target, stmt.span), value), target, stmt.span)
            if value.type != target:
                self.c.error(stmt.span, "E039", f"'{stmt.name}' holds {target}, not {value.type}")
            return [m.SAssign(stmt.name, value, stmt.span)], False
        raise TypeError(f"no lowering for {type(stmt).__name__}")


MAX_CALL_DEPTH = 600  # nesting levels along a chain of calls; the kernel specs go about 40 deep


def _called(raw: RawFunction) -> tuple[set[tuple[str | None, str]], int]:
    """The names a function's text calls or reads as a definition, with the
    version a qualified call names (None: its own scope), and how deep its
    text nests. Iterative."""
    decl = raw.decl
    found: set[tuple[str | None, str]] = set()
    start: object = decl.value if isinstance(decl, (n.DefDecl, n.ContextDecl)) else raw.body or decl.body
    todo: list[tuple[object, int]] = [(start, 1)]
    deepest = 1
    while todo:
        item, level = todo.pop()
        deepest = max(deepest, level)
        inner: list[object] = []
        _children_of(item, found, inner)
        todo.extend((c, level + 1) for c in inner)
    return found, deepest


def _children_of(x: object, found: set[tuple[str | None, str]], todo: list[object]) -> None:
    """The calls `x` itself makes go to `found`; its parts to `todo`."""
    if isinstance(x, n.Name):
        found.add((None, x.name))
    elif isinstance(x, n.Call):
        found.add((x.version, x.name))
        todo.extend(x.args)
    elif isinstance(x, n.Not):
        todo.append(x.operand)
    elif isinstance(x, n.BinOp):
        todo.extend((x.left, x.right))
    elif isinstance(x, n.Cond):
        todo.extend((x.test, x.then, x.orelse))
    elif isinstance(x, n.SetLit):
        todo.extend(x.items)
    elif isinstance(x, n.Block):
        todo.extend(x.body)
    elif isinstance(x, n.If):
        todo.extend((x.test, x.then) + ((x.orelse,) if x.orelse is not None else ()))
    elif isinstance(x, (n.Return, n.Let, n.Assign)):
        todo.append(x.value)
