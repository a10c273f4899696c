"""The engines thpverify is measured against, on the same formulas:

- Z3 fed SMT-LIB text (in-process `parse_smt2_string`, and the `z3` binary
  that the z3-solver wheel installs), and Z3 through its Python API;
- BDDs with CUDD (the `dd` package's `dd.cudd`), for equivalence, proofs and
  the irredundant cube cover (CUDD's `Cudd_zddIsop`) of a disagreement;
- brute-force enumeration through thpverify's own interpreter (small n).
"""

from __future__ import annotations

import ctypes
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .gen import EXPECTED, QUERIES, Table, smt2_text
from .timing import stats, timed

# ------------------------------------------------------------------ Z3 from text


def z3_smtlib(t: Table, reps: int, budget: float) -> dict[str, Any]:
    """parse_smt2_string + check, each query in a fresh context."""
    import z3

    out: dict[str, Any] = {}
    for query in QUERIES:
        text = smt2_text(t, query)

        def parse(text: str = text) -> tuple[Any, Any]:
            ctx = z3.Context()
            return ctx, z3.parse_smt2_string(text, ctx=ctx)

        def solve(parsed: tuple[Any, Any]) -> bool:
            ctx, formulas = parsed
            s = z3.Solver(ctx=ctx)
            s.add(formulas)
            r = s.check()
            return bool(r == z3.unsat)

        parse_times: list[float] = []
        solve_times: list[float] = []
        total_times: list[float] = []
        answer = None
        while True:
            t0 = time.perf_counter()
            parsed = parse()
            t1 = time.perf_counter()
            answer = solve(parsed)
            t2 = time.perf_counter()
            parse_times.append(t1 - t0)
            solve_times.append(t2 - t1)
            total_times.append(t2 - t0)
            if len(total_times) >= reps or sum(total_times) >= budget:
                break
        out[query] = {"parse": stats(parse_times), "solve": stats(solve_times), "total": stats(total_times),
                      "holds": answer, "bytes": len(text)}
    return out


def z3_binary_path() -> str | None:
    """The z3 executable shipped by the z3-solver wheel, if any."""
    candidate = Path(sys.executable).parent / "z3"
    if candidate.is_file():
        return str(candidate)
    return shutil.which("z3")


def z3_binary(t: Table, reps: int, budget: float) -> dict[str, Any]:
    """The z3 executable on a file: wall time including its process start."""
    exe = z3_binary_path()
    if exe is None:
        return {"skipped": "no z3 executable found"}
    out: dict[str, Any] = {"exe": exe}
    with tempfile.TemporaryDirectory() as tmp:
        for query in QUERIES:
            path = Path(tmp) / f"{query}.smt2"
            path.write_text(smt2_text(t, query), encoding="utf-8")

            def run(path: Path = path) -> str:
                return subprocess.run([exe, "-smt2", str(path)], capture_output=True, text=True, check=False).stdout.strip()

            answer, st = timed(run, reps, budget)
            out[query] = {"total": st, "holds": answer == "unsat" if answer in ("sat", "unsat") else None, "raw": answer}
    return out


# ----------------------------------------------------------------- Z3 Python API


def z3_api(t: Table, reps: int, budget: float) -> dict[str, Any]:
    """Terms built with the Z3 Python API (If chains), then check."""
    import z3

    def build() -> tuple[Any, list[Any], dict[str, Any]]:
        ctx = z3.Context()
        xs = [z3.Bool(f"x{i}", ctx) for i in range(t.n)]
        versions = {}
        for v in ("a", "b", "c"):
            f = z3.BoolVal(True, ctx)
            for r in reversed(t.rules_of(v)):
                lits = [xs[a] if pol else z3.Not(xs[a]) for a, pol in r.guard]
                cond = lits[0] if len(lits) == 1 else z3.And(*lits)
                f = z3.If(cond, z3.BoolVal(r.value, ctx), f)
            versions[v] = f
        return ctx, xs, versions

    (ctx, xs, vs), build_stats = timed(build, reps, budget)
    out: dict[str, Any] = {"build_three_versions": build_stats}
    goals = {
        "prove_holds": z3.And(xs[0], xs[1], z3.Not(vs["a"])),
        "prove_fails": z3.And(xs[2], z3.Not(vs["a"])),
        "equiv_differ": vs["a"] != vs["b"],
        "equiv_same": vs["a"] != vs["c"],
    }
    for query, goal in goals.items():

        def solve(goal: Any = goal) -> bool:
            s = z3.Solver(ctx=ctx)
            s.add(goal)
            return bool(s.check() == z3.unsat)

        answer, st = timed(solve, reps, budget)
        out[query] = {"solve": st, "holds": answer}
    return out


# ----------------------------------------------------------------------- CUDD


def bdd_engine() -> tuple[str, Any] | None:
    """('cudd', dd.cudd) or ('autoref (pure Python)', dd.autoref), or None without dd."""
    try:
        import dd.cudd as cudd

        return "cudd", cudd
    except ImportError:
        pass
    try:
        import dd.autoref as autoref

        return "autoref (pure Python)", autoref
    except ImportError:
        return None


def bdd(t: Table, reps: int, budget: float, limit: float = 30.0) -> dict[str, Any]:
    engine = bdd_engine()
    if engine is None:
        return {"skipped": "the dd package is not installed (pip install '.[bench]')"}
    label, module = engine

    built: dict[str, float] = {}

    def build() -> tuple[Any, dict[str, Any]]:
        # Top down: what is still undecided, and where it is true so far;
        # stops once every input is decided (later rules are unreachable).
        b = module.BDD()
        names = [f"x{i}" for i in range(t.n)]
        b.declare(*names)
        xs = [b.var(x) for x in names]
        versions = {}
        start = time.perf_counter()
        for v in ("a", "b", "c"):
            began = time.perf_counter()
            rest, f = b.true, b.false
            for r in t.rules_of(v):
                cond = b.true
                for a, pol in r.guard:
                    cond = cond & (xs[a] if pol else ~xs[a])
                if r.value:
                    f = f | (rest & cond)
                rest = rest & ~cond
                if rest == b.false:
                    break
                if time.perf_counter() - start > limit:
                    raise TimeoutError(f"building the BDDs took more than {limit:.0f} s")
            versions[v] = f | rest
            built[v] = time.perf_counter() - began
        return b, versions

    try:
        (b, vs), build_stats = timed(build, reps, budget)
    except TimeoutError as exc:
        return {"engine": label, "skipped": str(exc)}
    x0, x1, x2 = b.var("x0"), b.var("x1"), b.var("x2")
    queries = {
        "prove_holds": lambda: (x0 & x1 & ~vs["a"]) == b.false,
        "prove_fails": lambda: (x2 & ~vs["a"]) == b.false,
        "equiv_differ": lambda: vs["a"] == vs["b"],
        "equiv_same": lambda: vs["a"] == vs["c"],
    }
    out: dict[str, Any] = {"engine": label, "build_three_versions": build_stats, "build_each_last_run": dict(built),
                           "nodes": {v: len(f) for v, f in vs.items()}}
    # One run each: a repeated BDD operation is answered from CUDD's cache.
    for query, fn in queries.items():
        answer, st = timed(fn, 1, budget)
        out[query] = {"solve": st, "holds": bool(answer)}
    start = time.perf_counter()
    differ = b.apply("xor", vs["a"], vs["b"])
    out["xor_time"] = time.perf_counter() - start
    out["diff_minterms"] = int(b.count(differ, nvars=t.n))
    isop = _native_isop(b, differ) if label == "cudd" else None
    if isop is not None:
        (cubes, literals), st = timed(lambda: isop(), 1, budget)
        out["cover"] = {"how": "CUDD Cudd_zddIsop (C, via ctypes)", "cubes": cubes, "literals": literals, "time": st}
    else:
        (cover, _), st = timed(lambda: _minato_isop(b, differ, differ), 1, budget)
        out["cover"] = {"how": f"Minato-Morreale ISOP in Python over dd.{label.split()[0]} operations",
                        "cubes": len(cover), "literals": sum(len(c) for c in cover), "time": st}
    out["cover"]["holds_minterms"] = out["diff_minterms"]
    return out


def _minato_isop(b: Any, lower: Any, upper: Any) -> tuple[list[dict[str, bool]], Any]:
    """An irredundant sum of products of a function between lower and upper
    (Minato-Morreale): returns (cubes, the BDD of their union)."""
    if lower == b.false:
        return [], b.false
    if upper == b.true:
        return [{}], b.true
    level = min(b.level_of_var(v) for v in (b.support(lower) | b.support(upper)))
    x = b.var_at_level(level)
    l0, l1 = b.let({x: False}, lower), b.let({x: True}, lower)
    u0, u1 = b.let({x: False}, upper), b.let({x: True}, upper)
    c0, f0 = _minato_isop(b, l0 & ~u1, u0)
    c1, f1 = _minato_isop(b, l1 & ~u0, u1)
    lstar = (l0 & ~f0) | (l1 & ~f1)
    cs, fs = _minato_isop(b, lstar, u0 & u1)
    var = b.var(x)
    cubes = [{**c, x: False} for c in c0] + [{**c, x: True} for c in c1] + cs
    return cubes, (~var & f0) | (var & f1) | fs


def _native_isop(b: Any, f: Any) -> Any:
    """A closure computing CUDD's own ISOP of f (cubes, literals), or None
    when the manager's address cannot be read safely from the dd objects."""
    import dd.cudd as cudd

    lib = ctypes.CDLL(cudd.__file__)
    vp = ctypes.c_void_p
    for name, res, args in (
        ("Cudd_zddVarsFromBddVars", ctypes.c_int, [vp, ctypes.c_int]),
        ("Cudd_zddIsop", vp, [vp, vp, vp, ctypes.POINTER(vp)]),
        ("Cudd_Ref", None, [vp]),
        ("Cudd_RecursiveDeref", None, [vp, vp]),
        ("Cudd_RecursiveDerefZdd", None, [vp, vp]),
        ("Cudd_ReadSize", ctypes.c_int, [vp]),
        ("Cudd_IsConstant", ctypes.c_int, [vp]),
        ("Cudd_T", vp, [vp]),
        ("Cudd_E", vp, [vp]),
        ("Cudd_ReadOne", vp, [vp]),
    ):
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    # dd.cudd.Function's C fields: PyObject head, vtable, __weakref__, bdd, manager, node.
    words = (ctypes.c_void_p * 7).from_address(id(f))
    node = int(f) - 2
    manager = words[5]
    if words[6] != node or words[4] != id(b) or manager is None:
        return None
    if lib.Cudd_ReadSize(manager) != len(b.vars):
        return None

    def run() -> tuple[int, int]:
        zdd = vp()
        if lib.Cudd_zddVarsFromBddVars(manager, 2) != 1:
            raise RuntimeError("Cudd_zddVarsFromBddVars failed")
        result = lib.Cudd_zddIsop(manager, node, node, ctypes.byref(zdd))
        if not result or not zdd.value:
            raise RuntimeError("Cudd_zddIsop failed")
        lib.Cudd_Ref(result)
        lib.Cudd_Ref(zdd)
        try:
            if result != node:
                raise RuntimeError("CUDD's cover is not the function covered")
            return _count_paths(lib, manager, zdd.value)
        finally:
            lib.Cudd_RecursiveDeref(manager, result)
            lib.Cudd_RecursiveDerefZdd(manager, zdd)

    return run


def _count_paths(lib: Any, manager: int, root: int) -> tuple[int, int]:
    """(cubes, literals) of a ZDD cover: paths to the one terminal, and their then-edges."""
    one = lib.Cudd_ReadOne(manager)
    memo: dict[int, tuple[int, int]] = {}

    def walk(node: int) -> tuple[int, int]:
        if lib.Cudd_IsConstant(node):
            return (1, 0) if node == one else (0, 0)
        if node in memo:
            return memo[node]
        pt, lt = walk(lib.Cudd_T(node))
        pe, le = walk(lib.Cudd_E(node))
        memo[node] = (pt + pe, lt + pt + le)
        return memo[node]

    return walk(root)


# ---------------------------------------------------------------- brute force


def brute_force(t: Table, lib: Any) -> dict[str, Any]:
    """Every input through thpverify's interpreter: the answers and the diff's size."""
    from thpverify.semantics import evaluate as ev

    start = time.perf_counter()
    names = [f"x{i}" for i in range(t.n)]
    holds = {q: True for q in QUERIES}
    differ = 0
    for bits in itertools.product((False, True), repeat=t.n):
        assignment = dict(zip(names, bits, strict=True))
        a, b, c = (ev.run(lib, v, "eligible", assignment).value for v in ("a", "b", "c"))
        if bits[0] and bits[1] and a is not True:
            holds["prove_holds"] = False
        if bits[2] and a is not True:
            holds["prove_fails"] = False
        if a != b:
            holds["equiv_differ"] = False
            differ += 1
        if a != c:
            holds["equiv_same"] = False
    elapsed = time.perf_counter() - start
    return {"inputs": 1 << t.n, "time": elapsed, "answers": holds, "diff_minterms": differ,
            "agrees_with_plant": holds == EXPECTED}
