"""One size of the sweep, in a fresh interpreter: thpverify's phases and the
baselines on the same generated table. Prints one JSON document.

    python -m bench.sweep N M [--reps R] [--budget S] [--brute-max N] [--bdd-max-n N] [--cli]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import baselines
from .gen import EXPECTED, QUERIES, generate, thp_text
from .timing import stats, timed

DEEP_RECURSION = 200_000


def thpverify_phases(path: Path, text: str, reps: int, budget: float) -> tuple[Any, dict[str, Any]]:
    """parse / resolve / typecheck / compile / solve / verdict, per query."""
    import z3

    from thpverify.backend.compiler import Compiler
    from thpverify.backend.solver import Solver
    from thpverify.lang import resolve as resolve_module
    from thpverify.lang.parser import parse_text
    from thpverify.lang.resolve import load
    from thpverify.lang.typecheck import typecheck

    out: dict[str, Any] = {}
    start = time.perf_counter()
    parse_text("atom x: bool;\n", "warmup.thp")  # builds the Lark parser once
    out["grammar_load"] = time.perf_counter() - start
    _, out["parse"] = timed(lambda: parse_text(text, str(path)), reps, budget)
    # resolve.load parses the files itself: time the parse_text calls it makes
    # (by wrapping the name it looks up) and count the rest as resolve.
    inside: list[float] = []

    def wrapped(text: str, name: str) -> Any:
        began = time.perf_counter()
        try:
            return parse_text(text, name)
        finally:
            inside.append(time.perf_counter() - began)

    def load_split() -> Any:
        inside.clear()
        began = time.perf_counter()
        scopes = load([path])
        resolve_times.append(time.perf_counter() - began - sum(inside))
        return scopes

    resolve_times: list[float] = []
    setattr(resolve_module, "parse_text", wrapped)  # noqa: B010
    try:
        scopes, out["load"] = timed(load_split, reps, budget)
    finally:
        setattr(resolve_module, "parse_text", parse_text)  # noqa: B010
    out["resolve"] = stats(resolve_times)
    lib, out["typecheck"] = timed(lambda: typecheck(scopes), reps, budget)

    # The compiler recurses once per rule; say whether the default limit suffices.
    out["recursion_limit_default"] = sys.getrecursionlimit()
    try:
        Compiler(lib).function("a", "eligible")
        out["default_recursion_ok"] = True
    except Exception as exc:  # RecursionError, or ctypes' ArgumentError wrapping one inside z3
        if not isinstance(exc, RecursionError) and "RecursionError" not in str(exc):
            raise
        out["default_recursion_ok"] = False
        sys.setrecursionlimit(DEEP_RECURSION)

    queries: dict[str, Any] = {}
    for query, (prop, version) in QUERIES.items():
        inst = next(i for i in lib.properties[prop].instances if i.version == version)

        def compile_terms(inst: Any = inst) -> tuple[Any, list[Any], Any]:
            c = Compiler(lib)
            background = [c.expr(p) for p in inst.premises] + [c.expr(a.expr) for a in inst.assumptions]
            return c, background, c.expr(inst.claim)

        (c, background, claim), compile_stats = timed(compile_terms, reps, budget)

        def solve(c: Any = c, background: list[Any] = background, claim: Any = claim) -> bool:
            s = z3.Solver(ctx=c.ctx)
            s.add(*c.well_formed(), *background, z3.Not(claim))
            return bool(s.check() == z3.unsat)

        holds, solve_stats = timed(solve, reps, budget)
        def check(inst: Any = inst) -> Any:
            return Solver(lib).check(inst)

        verdict, verdict_stats = timed(check, reps, budget)
        queries[query] = {
            "compile": compile_stats, "solve": solve_stats, "verdict": verdict_stats,
            "holds": holds, "verdict_answer": verdict.verdict,
            "answered_by": "z3 alone" if any("Z3 alone" in c for c in verdict.checks) else "diagrams and z3",
            "cex_size": len(verdict.counterexample.partial) if verdict.counterexample else None,
            "cex_minimal": verdict.counterexample.minimal if verdict.counterexample else None,
        }
    out["queries"] = queries

    def end_to_end() -> str:
        lib = typecheck(load([path]))
        inst = next(i for i in lib.properties["holds_p"].instances if i.version == "a")
        return Solver(lib).check(inst).verdict

    answer, out["end_to_end_prove"] = timed(end_to_end, 1, budget)
    out["end_to_end_prove"]["verdict"] = answer
    return lib, out


def thpverify_diff(path: Path, reps: int, budget: float, timeout: float) -> dict[str, Any]:
    """bench.diffrun in a child process, given up after timeout seconds."""
    cmd = [sys.executable, "-m", "bench.diffrun", str(path), "--reps", str(reps), "--budget", str(budget)]
    r = run_command(cmd, timeout)
    if r["exit"] is None:
        return {"skipped": f"did not finish in {timeout:.0f} s"}
    if r["exit"] != 0:
        return {"skipped": "failed: " + r["stderr_tail"].strip().splitlines()[-1] if r["stderr_tail"].strip() else "failed"}
    doc: dict[str, Any] = json.loads(r["stdout"])
    return doc


def cli_prove(path: Path, timeout: float) -> dict[str, Any]:
    """`python -m thpverify prove holds_p --spec FILE --version a`: wall time, exit code, peak RSS."""
    cmd = [sys.executable, "-m", "thpverify", "prove", "holds_p", "--spec", str(path), "--version", "a"]
    return run_command(cmd, timeout)


def run_command(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"wall": time.perf_counter() - start, "exit": None, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    # communicate() has reaped the child; its own peak RSS is not separable any more, so
    # commands that need it are measured by the runner with os.wait4 (see run.py).
    return {"wall": wall, "exit": proc.returncode, "stdout": stdout.decode(errors="replace"),
            "stdout_tail": stdout.decode(errors="replace")[-400:],
            "stderr_tail": stderr.decode(errors="replace")[-400:]}


def agreement(result: dict[str, Any]) -> list[str]:
    """Every engine's answer against the planted truth; a list of disagreements."""
    problems = []
    tv = result["thpverify"]["queries"]
    for query, truth in EXPECTED.items():
        answers = {
            "thpverify solve": tv[query]["holds"],
            "thpverify verdict": tv[query]["verdict_answer"] == "proved" if tv[query]["verdict_answer"] in ("proved", "refuted") else None,
            "z3 smtlib": result["z3_smtlib"][query]["holds"],
            "z3 api": result["z3_api"][query]["holds"],
        }
        if query in result.get("z3_binary", {}):
            answers["z3 binary"] = result["z3_binary"][query]["holds"]
        if query in result.get("bdd", {}):
            answers["bdd"] = result["bdd"][query]["holds"]
        if "answers" in result.get("brute_force", {}):
            answers["brute force"] = result["brute_force"]["answers"][query]
        for engine, answer in answers.items():
            if answer != truth:
                problems.append(f"{query}: {engine} says {'holds' if answer else 'fails' if answer is False else answer}")
    bdd, tdiff, brute = result.get("bdd", {}), result.get("thpverify_diff", {}), result.get("brute_force", {})
    n = result["n"]
    counts = {}
    if "diff_minterms" in bdd:
        counts["bdd"] = bdd["diff_minterms"] / 2**n
    if "diff_minterms" in brute:
        counts["brute force"] = brute["diff_minterms"] / 2**n
    if tdiff.get("disagreeing") is not None and tdiff.get("total"):
        counts["thpverify diff"] = tdiff["disagreeing"] / tdiff["total"]
    if len(set(counts.values())) > 1:
        problems.append(f"diff: the share of disagreeing inputs differs: {counts}")
    return problems


def measure(n: int, m: int, reps: int, budget: float, brute_max: int, bdd_max_n: int, cli: bool,
            diff_timeout: float) -> dict[str, Any]:
    result: dict[str, Any] = {"n": n, "m": m}
    start = time.perf_counter()
    table = generate(n, m)
    text = thp_text(table)
    result["generate"] = time.perf_counter() - start
    result["flipped_rule"] = table.flipped
    result["spec_bytes"] = len(text.encode())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"table_{n}x{m}.thp"
        path.write_text(text, encoding="utf-8")
        if cli:
            result["cli_prove"] = cli_prove(path, timeout=300)
        lib, result["thpverify"] = thpverify_phases(path, text, reps, budget)
        result["thpverify_diff"] = thpverify_diff(path, reps, budget, diff_timeout)
        result["z3_smtlib"] = baselines.z3_smtlib(table, reps, budget)
        result["z3_binary"] = baselines.z3_binary(table, reps, budget)
        result["z3_api"] = baselines.z3_api(table, reps, budget)
        result["bdd"] = (baselines.bdd(table, reps, budget) if n <= bdd_max_n else
                         {"skipped": f"n > {bdd_max_n}: BDDs of these tables blow up (100 x 1000 took 75 s to build)"})
        result["brute_force"] = (baselines.brute_force(table, lib) if n <= brute_max else
                                 {"skipped": f"n > {brute_max}"})
    result["disagreements"] = agreement(result)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sweep")
    p.add_argument("n", type=int)
    p.add_argument("m", type=int)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--budget", type=float, default=2.0, help="seconds per measurement before it stops repeating")
    p.add_argument("--brute-max", type=int, default=20)
    p.add_argument("--bdd-max-n", type=int, default=50)
    p.add_argument("--cli", action="store_true", help="also time `thpverify prove` as a command")
    p.add_argument("--diff-timeout", type=float, default=90.0, help="give up on thpverify's diff after this many seconds")
    args = p.parse_args(argv)
    os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="thpverify-bench-cache-"))
    doc = measure(args.n, args.m, args.reps, args.budget, args.brute_max, args.bdd_max_n, args.cli, args.diff_timeout)
    sys.stdout.write(json.dumps(doc, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
