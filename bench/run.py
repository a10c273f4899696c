"""The benchmark suite of issue 7: one command, one run, every figure with
its baseline measured in the same run.

    python -m bench            # everything (the whole-library check once, ~2 min now)
    python -m bench --quick    # without the whole-library check
    python bench/run.py ...    # the same

Writes bench/results.json (raw numbers) and docs/performance.md (tables).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = ((10, 10), (30, 30), (50, 100), (100, 1000), (250, 5000))
SEED_ARGS = ["--version", "v6.1", "--caller", "page_fault", "--set", "VM_HUGEPAGE=1", "--set", "VM_MIXEDMAP=1",
             "--set", "huge_fault=1", "--set", "vma_is_dax=0", "--set", "vm_file=1", "--set", "vm_mm=1"]
ANALYSIS = (
    ("diff v6.6 v6.7 --caller page_fault", ["diff", "v6.6", "v6.7", "--caller", "page_fault"]),
    ("diff v6.2 v6.3 --caller page_fault", ["diff", "v6.2", "v6.3", "--caller", "page_fault"]),
    ("diff v6.2 v6.3", ["diff", "v6.2", "v6.3"]),
    ("lint v6.6 v6.7", ["lint", "v6.6", "v6.7"]),
    ("requires --version v6.7 --caller page_fault", ["requires", "--version", "v6.7", "--caller", "page_fault"]),
    ("requires --all-versions --caller khugepaged", ["requires", "--all-versions", "--caller", "khugepaged"]),
    ("diff v6.12 v6.13", ["diff", "v6.12", "v6.13"]),
)


# ------------------------------------------------------------------- commands


def command(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 600.0) -> dict[str, Any]:
    """Run a command; wall time, exit code, the child's own peak RSS (os.wait4), output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    return {"wall": wall, "exit": proc.returncode, "maxrss_mib": usage.ru_maxrss / 1024,
            "stdout": stdout, "stderr": stderr, "timed_out": wall >= timeout}


def env_with(cache: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if cache is not None:
        env["XDG_CACHE_HOME"] = cache
    return env


def repeated(cmd: list[str], reps: int, env: dict[str, str]) -> dict[str, Any]:
    runs = [command(cmd, env) for _ in range(reps)]
    walls = [r["wall"] for r in runs]
    return {"median": statistics.median(walls), "min": min(walls), "runs": reps, "exit": runs[-1]["exit"],
            "maxrss_mib": max(r["maxrss_mib"] for r in runs)}


def py(*args: str) -> list[str]:
    return [sys.executable, *args]


def startup(reps: int) -> dict[str, Any]:
    """Interpreter start, imports, --help, eval."""
    env = env_with(tempfile.mkdtemp(prefix="thpverify-bench-"))
    out: dict[str, Any] = {
        "python -c pass": repeated(py("-c", "pass"), reps, env),
        "python -c 'import z3'": repeated(py("-c", "import z3"), reps, env),
        "python -c 'import lark'": repeated(py("-c", "import lark"), reps, env),
        "thpverify --help": repeated(py("-m", "thpverify", "--help"), reps, env),
    }
    probe = command(py("-c", "import contextlib, io, sys; from thpverify.cli import main\n"
                       "with contextlib.redirect_stdout(io.StringIO()): main(['--help'], io.StringIO(), io.StringIO())\n"
                       "print(','.join(m for m in ('z3', 'lark') if m in sys.modules) or 'neither')"), env)
    out["modules_loaded_by_help"] = (probe["stdout"].strip().splitlines() or ["?"])[-1]
    out["importtime"] = importtime(command(py("-X", "importtime", "-c", "import thpverify.cli"), env)["stderr"])
    cold = tempfile.mkdtemp(prefix="thpverify-bench-")
    eval_cmd = py("-m", "thpverify", "eval", *SEED_ARGS)
    first = command(eval_cmd, env_with(cold))
    warm = repeated(eval_cmd, reps, env_with(cold))
    out["thpverify eval (cold cache)"] = {"median": first["wall"], "min": first["wall"], "runs": 1,
                                         "exit": first["exit"], "maxrss_mib": first["maxrss_mib"]}
    out["thpverify eval (warm)"] = warm
    out.update(batch(reps, env))
    return out


def batch_lines(n: int, seed: int = 17) -> list[str]:
    """n eval --batch lines: whole VMAs of random versions, each consistent
    with its version's assumptions (drawn, and kept when the interpreter finds
    every assumption true), as a caller would send from smaps."""
    import random

    from thpverify.lang.library import load_library
    from thpverify.semantics import evaluate as ev

    rng = random.Random(seed)
    lib = load_library()
    versions = [v for v in lib.versions if "eligible" in lib.versions[v].outputs]
    lines: list[str] = []
    while len(lines) < n:
        version = rng.choice(versions)
        doc: dict[str, Any] = {"version": version}
        given: dict[str, Any] = {}
        for name, atom in lib.atoms.items():
            if atom.type.kind == "bool":
                doc[name] = given[name] = rng.random() < 0.3
            elif atom.type.kind == "enum":
                doc[name] = given[name] = rng.choice(atom.values)
            else:
                elements = list(lib.universes[atom.type.name].elements)
                chosen = sorted(rng.sample(elements, rng.randint(0, len(elements))))
                doc[name], given[name] = chosen, sum(1 << k for k in chosen)
        if all(ev.value_of(lib, a.expr, given) is True for a in lib.versions[version].assumptions):
            lines.append(json.dumps(doc, sort_keys=True))
    return lines


def batch(reps: int, env: dict[str, str]) -> dict[str, Any]:
    """eval --batch on 200 and on 2000 lines: the difference is the cost of a line."""
    out: dict[str, Any] = {}
    lines = batch_lines(2000)
    with tempfile.TemporaryDirectory(prefix="thpverify-bench-") as tmp:
        for n in (200, 2000):
            path = Path(tmp) / f"batch{n}.jsonl"
            path.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
            out[f"thpverify eval --batch ({n} lines)"] = repeated(py("-m", "thpverify", "eval", "--batch", str(path)), reps, env)
    return out


def importtime(stderr: str) -> dict[str, Any]:
    """-X importtime output -> the heaviest top-level imports (cumulative, ms)."""
    top: list[tuple[str, float]] = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) <= 1:
            top.append((m.group(4), int(m.group(2)) / 1000))
    top.sort(key=lambda x: -x[1])
    return {"top_level_ms": dict(top[:8]), "z3_loaded": any(n == "z3" or n.startswith("z3.") for n, _ in top),
            "lark_loaded": any(n == "lark" or n.startswith("lark.") for n, _ in top)}


def analysis_commands(timeout: float = 120.0) -> dict[str, Any]:
    """diff, lint and requires on adjacent kernel versions: cold cache, then warm if a cache appeared."""
    env = env_with()
    probe = command(py("-m", "thpverify", "diff", "--help"), env)
    if probe["exit"] != 0:
        note = "thpverify diff/lint/requires are not there yet: skipped"
        print(f"bench: {note}", file=sys.stderr)
        return {"skipped": note}
    out: dict[str, Any] = {}
    for label, args in ANALYSIS:
        cache = tempfile.mkdtemp(prefix="thpverify-bench-")
        cold = command(py("-m", "thpverify", *args), env_with(cache), timeout=timeout)
        out[label] = {"cold": _brief(cold), "first_lines": cold["stdout"].splitlines()[:3]}
        if cold["timed_out"]:
            out[label]["note"] = f"stopped after {timeout:.0f} s"
        elif (Path(cache) / "thpverify").is_dir():
            out[label]["warm"] = _brief(command(py("-m", "thpverify", *args), env_with(cache), timeout=timeout))
    return out


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    return {"wall": r["wall"], "exit": r["exit"], "maxrss_mib": r["maxrss_mib"]}


def whole_check() -> dict[str, Any]:
    """`thpverify check --json` on the bundled library: once cold, and warm if a cache appeared."""
    cache = tempfile.mkdtemp(prefix="thpverify-bench-")
    cold = command(py("-m", "thpverify", "check", "--json"), env_with(cache), timeout=1800)
    out: dict[str, Any] = {"cold": _brief(cold), **summarise_check(cold["stdout"])}
    cached = Path(cache) / "thpverify"
    if cached.is_dir() and any(cached.rglob("*")):
        warm = command(py("-m", "thpverify", "check", "--json"), env_with(cache), timeout=1800)
        out["warm"] = _brief(warm)
        out["warm_same_output"] = warm["stdout"] == cold["stdout"]
    else:
        out["warm"] = {"skipped": f"no verdict cache appeared under {cached}"}
    return out


def summarise_check(stdout: str) -> dict[str, Any]:
    try:
        doc = json.loads(stdout)
    except json.JSONDecodeError:
        return {"summary": "output is not JSON"}
    verdicts = doc.get("verdicts") or doc.get("results") or []
    counts: dict[str, int] = {}
    timing: list[float] = []
    for v in verdicts:
        counts[v.get("verdict", "?")] = counts.get(v.get("verdict", "?"), 0) + 1
        for key in ("seconds", "time", "elapsed", "time_s", "duration"):
            if isinstance(v.get(key), (int, float)):
                timing.append(float(v[key]))
    out: dict[str, Any] = {"verdicts": counts, "checks": len(verdicts)}
    if timing:
        out["per_verdict_time"] = {"count": len(timing), "median": statistics.median(timing), "max": max(timing),
                                   "sum": sum(timing)}
    else:
        out["per_verdict_time"] = None
    return out


def in_process_library(sample: int, profile: int) -> dict[str, Any]:
    r = command(py("-m", "bench.library", "--sample", str(sample), "--profile", str(profile)), env_with(), timeout=1800)
    if r["exit"] != 0:
        return {"error": r["stderr"][-2000:]}
    doc: dict[str, Any] = json.loads(r["stdout"])
    doc["maxrss_mib"] = r["maxrss_mib"]
    doc["wall"] = r["wall"]
    return doc


def sweep(sizes: list[tuple[int, int]], reps: int, budget: float, brute_max: int, bdd_max_n: int,
          cli: bool, diff_timeout: float, size_timeout: float = 900.0) -> list[dict[str, Any]]:
    out = []
    for n, m in sizes:
        print(f"bench: sweep {n} x {m} ...", file=sys.stderr, flush=True)
        cmd = py("-m", "bench.sweep", str(n), str(m), "--reps", str(reps), "--budget", str(budget),
                 "--brute-max", str(brute_max), "--bdd-max-n", str(bdd_max_n), "--diff-timeout", str(diff_timeout))
        cmd += ["--cli"] if cli else []
        r = command(cmd, env_with(tempfile.mkdtemp(prefix="thpverify-bench-")), timeout=size_timeout)
        if r["timed_out"]:
            out.append({"n": n, "m": m, "error": f"did not finish in {size_timeout:.0f} s", "wall": r["wall"]})
            print(f"bench: sweep {n} x {m} did not finish in {size_timeout:.0f} s", file=sys.stderr)
            continue
        if r["exit"] != 0:
            out.append({"n": n, "m": m, "error": r["stderr"][-3000:], "wall": r["wall"]})
            print(f"bench: sweep {n} x {m} failed:\n{r['stderr'][-3000:]}", file=sys.stderr)
            continue
        doc: dict[str, Any] = json.loads(r["stdout"])
        doc["maxrss_mib"] = r["maxrss_mib"]
        doc["wall"] = r["wall"]
        for problem in doc.get("disagreements", []):
            print(f"bench: ENGINES DISAGREE at {n} x {m}: {problem}", file=sys.stderr)
        out.append(doc)
    return out


# ---------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"uname": " ".join(platform.uname()), "cores": os.cpu_count()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        names = re.findall(r"model name\s*:\s*(.*)", cpuinfo)
        info["cpu"] = names[0] if names else platform.processor()
        mhz = re.findall(r"cpu MHz\s*:\s*(.*)", cpuinfo)
        info["cpu_mhz"] = mhz[0] if mhz else ""
        mem = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
        info["memory_gib"] = round(int(mem.group(1)) / 2**20, 1) if mem else None
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for module, attr in (("z3", "get_version_string"), ("lark", "__version__"), ("dd", "__version__")):
        try:
            mod = __import__(module)
            value = getattr(mod, attr)
            versions[module] = value() if callable(value) else str(value)
        except ImportError:
            versions[module] = "not installed"
    try:
        import dd.cudd  # noqa: F401

        versions["dd backend"] = "cudd"
    except ImportError:
        versions["dd backend"] = "none (dd.cudd unavailable)"
    info["versions"] = versions
    return info


# ------------------------------------------------------------------------- main


def parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        n, _, m = item.strip().partition("x")
        out.append((int(n), int(m)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="skip the whole-library `thpverify check` (the slow part)")
    p.add_argument("--sizes", type=parse_sizes, default=list(SIZES), metavar="NxM,...",
                   help="decision-list sizes (default: 10x10,30x30,50x100,100x1000,250x5000)")
    p.add_argument("--reps", type=int, default=5, help="repetitions per measurement (median and min are reported)")
    p.add_argument("--budget", type=float, default=2.0, help="seconds a measurement may repeat for")
    p.add_argument("--brute-max", type=int, default=20, help="brute force through the interpreter up to this n")
    p.add_argument("--bdd-max-n", type=int, default=50, help="CUDD baseline up to this n")
    p.add_argument("--diff-timeout", type=float, default=90.0,
                   help="give up on thpverify's diff of a table after this "
                        "(it times the table twice: as `diff` shows it, and with every row confirmed)")
    p.add_argument("--size-timeout", type=float, default=900.0, help="give up on one sweep size after this many seconds")
    p.add_argument("--no-library", action="store_true", help="only the sweep: no commands, no bundled library")
    p.add_argument("--no-cli", action="store_true", help="do not time `thpverify prove` as a command per size")
    p.add_argument("--sample", type=int, default=6, help="properties of the library timed per version in-process")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json", metavar="PATH")
    p.add_argument("--markdown", type=Path, default=ROOT / "docs" / "performance.md", metavar="PATH")
    args = p.parse_args(argv)
    # Every temporary cache directory of this run (ours and the children's) goes under one, removed at the end.
    scratch = tempfile.TemporaryDirectory(prefix="thpverify-bench-")
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = scratch.name
    try:
        return _run(args, argv)
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        scratch.cleanup()


def _run(args: argparse.Namespace, argv: list[str] | None) -> int:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "schema": "thpverify-bench/1",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": "python -m bench" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip(),
    }
    results["sweep"] = sweep(args.sizes, args.reps, args.budget, args.brute_max, args.bdd_max_n, not args.no_cli,
                             args.diff_timeout, args.size_timeout)
    if not args.no_library:
        print("bench: start-up and commands ...", file=sys.stderr, flush=True)
        results["startup"] = startup(args.reps)
        results["analysis"] = analysis_commands()
        print("bench: bundled library, in-process sample and profile ...", file=sys.stderr, flush=True)
        results["library"] = in_process_library(args.sample, 3 if args.sample >= 3 else args.sample)
        if args.quick:
            results["check"] = {"skipped": "--quick"}
        else:
            print("bench: thpverify check on the bundled library (once, cold) ...", file=sys.stderr, flush=True)
            results["check"] = whole_check()
    results["bench_wall"] = time.perf_counter() - started
    results["targets"] = report.targets(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(report.markdown(results), encoding="utf-8")
    disagreements = [d for s in results["sweep"] for d in s.get("disagreements", [])]
    failed = [s for s in results["sweep"] if "error" in s]
    print(f"bench: wrote {args.json} and {args.markdown} in {results['bench_wall']:.0f} s", file=sys.stderr)
    return 1 if disagreements or failed else 0


if __name__ == "__main__":
    sys.exit(main())
