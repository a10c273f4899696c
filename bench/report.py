"""Results -> the targets of issues 7 and 13 and the Markdown page (docs/performance.md)."""

from __future__ import annotations

from typing import Any

QUERY_LABELS = {
    "prove_holds": "prove (holds)",
    "prove_fails": "prove (fails)",
    "equiv_differ": "equivalence (differ)",
    "equiv_same": "equivalence (identical)",
}


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "–"
    r = a / b
    return f"{r:.3g}×"


def med(d: Any) -> float | None:
    if isinstance(d, dict) and isinstance(d.get("median"), (int, float)):
        return float(d["median"])
    return None


def _size(results: dict[str, Any], n: int, m: int) -> dict[str, Any] | None:
    for s in results.get("sweep", []):
        if s.get("n") == n and s.get("m") == m and "error" not in s:
            found: dict[str, Any] = s
            return found
    return None


def _peak(results: dict[str, Any]) -> float:
    peaks = [s.get("maxrss_mib", 0.0) for s in results.get("sweep", [])]
    for value in results.get("startup", {}).values():
        if isinstance(value, dict) and "maxrss_mib" in value:
            peaks.append(value["maxrss_mib"])
    for value in results.get("analysis", {}).values():
        if isinstance(value, dict):
            peaks += [value[k]["maxrss_mib"] for k in ("cold", "warm") if k in value]
    for k in ("cold", "warm"):
        if "maxrss_mib" in results.get("check", {}).get(k, {}):
            peaks.append(results["check"][k]["maxrss_mib"])
    if "maxrss_mib" in results.get("library", {}):
        peaks.append(results["library"]["maxrss_mib"])
    return float(max(peaks or [0.0]))


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: what was measured, the bar, met or by how much missed."""
    out: list[dict[str, Any]] = []

    def add(what: str, value: float | None, bar: float, unit: str, note: str = "") -> None:
        out.append({"target": what, "value": value, "bar": bar, "unit": unit,
                    "met": None if value is None else value <= bar,
                    "times_bar": None if value is None else value / bar, "note": note})

    check = results.get("check", {})
    add("`thpverify check`, whole library, cold start", check.get("cold", {}).get("wall"), 1.5, "s",
        "" if "cold" in check else "not run (--quick)")
    add("`thpverify check`, warm cache", check.get("warm", {}).get("wall"), 0.3, "s",
        check.get("warm", {}).get("skipped", "") if "cold" in check else "not run (--quick)")
    analysis = results.get("analysis", {})
    for label, bar in (("requires --all-versions --caller khugepaged", 2.0), ("diff v6.12 v6.13", 5.0)):
        run = analysis.get(label, {}).get("cold", {})
        done = run.get("exit") in (0, 10)  # 10: diff answered that the versions differ
        add(f"`thpverify {label}`, cold (completes)", run.get("wall") if done else None, bar, "s",
            "" if done or not run else f"exit {run.get('exit')}: did not complete")
    add("`thpverify --help`", med(results.get("startup", {}).get("thpverify --help")), 0.15, "s")
    small = med(results.get("startup", {}).get("thpverify eval --batch (200 lines)"))
    large = med(results.get("startup", {}).get("thpverify eval --batch (2000 lines)"))
    add("`thpverify eval --batch`, one line (2000 lines minus 200, wall)",
        None if small is None or large is None else (large - small) / 1800 * 1000, 1.0, "ms")
    kernel = _size(results, 30, 30)
    if kernel:
        worst, which = None, ""
        for q in QUERY_LABELS:
            tv = med(kernel["thpverify"]["queries"][q]["verdict"])
            z3t = med(kernel["z3_smtlib"][q]["total"])
            if tv is not None and z3t and (worst is None or tv / z3t > worst):
                worst, which = tv / z3t, q
        add("30 × 30 property (`Solver.check`) ÷ Z3 from SMT-LIB (parse + check), worst query", worst, 3.0, "×",
            QUERY_LABELS.get(which, ""))
    big = _size(results, 250, 5000)
    if big:
        e2e = med(big["thpverify"]["end_to_end_prove"])
        add("250 × 5000 parsed, compiled and proved in-process (load + typecheck + `Solver.check`)", e2e, 3.0, "s")
        worst_solve = None
        for q in QUERY_LABELS:
            mine = med(big["thpverify"]["queries"][q]["solve"])
            best = min(x for x in (med(big["z3_smtlib"][q]["solve"]), med(big["z3_api"][q].get("solve"))) if x is not None)
            if mine is not None and best:
                worst_solve = max(worst_solve or 0.0, mine / best)
        add("250 × 5000 solve phase ÷ best baseline's solve, worst query", worst_solve, 2.0, "×")
    cube_ratio, time_ratio = None, None
    for s in results.get("sweep", []):
        if "error" in s or s.get("n", 99) > 30:
            continue
        td, cover = s.get("thpverify_diff", {}), s.get("bdd", {}).get("cover")
        if "cubes" in td and cover and cover.get("cubes"):
            cube_ratio = max(cube_ratio or 0.0, td["cubes"] / cover["cubes"])
            cudd = cudd_diff_time(s)
            if cudd:
                time_ratio = max(time_ratio or 0.0, med(td["time"]) / cudd)  # type: ignore[operator]
    add("diff cubes ÷ CUDD ISOP cubes, n ≤ 30 (worst size)", cube_ratio, 1.5, "×")
    add("diff time ÷ CUDD (build a, b, xor, ISOP), n ≤ 30 (worst size)", time_ratio, 3.0, "×")
    add("peak memory of any measured process", _peak(results), 500.0, "MiB")
    return out


def cudd_diff_time(s: dict[str, Any]) -> float | None:
    bdd = s.get("bdd", {})
    each, cover = bdd.get("build_each_last_run", {}), bdd.get("cover")
    if not cover or "a" not in each:
        return None
    return float(each["a"] + each["b"] + bdd.get("xor_time", 0.0) + med(cover["time"]))  # type: ignore[operator]


# ------------------------------------------------------------------ Markdown


def markdown(results: dict[str, Any]) -> str:
    mc = results["machine"]
    v = mc.get("versions", {})
    lines = [
        "# Performance",
        "",
        "Generated by `python -m bench` (bench/run.py); raw numbers in `bench/results.json`.",
        "Every figure is the median of up to 5 runs (fewer when a measurement takes",
        "longer than its 2 s budget; the JSON has the min and the count), and every",
        "ratio is to a baseline measured in the same run on the same formula.",
        "",
        "## How to rerun",
        "",
        "```",
        "pip install -e '.[bench]'   # dd with its CUDD backend",
        "python -m bench             # everything, with one cold `thpverify check` of the library",
        "python -m bench --quick     # without the whole-library check",
        "python -m bench --sizes 10x10,30x30 --no-library   # just part of the sweep",
        "```",
        "",
        "## Machine",
        "",
        f"- date: {results['date']}; command: `{results.get('command', 'python -m bench')}`;"
        f" bench wall time {fmt(results.get('bench_wall'))}",
        f"- CPU: {mc.get('cpu', '?')}, {mc.get('cores')} cores; memory {mc.get('memory_gib')} GiB;"
        f" load average at start {' '.join(mc.get('loadavg_at_start', []))} (the machine is shared:"
        " figures vary from run to run)",
        f"- `{mc.get('uname')}`",
        "- " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "",
    ]
    lines += _targets_md(results)
    lines += _sweep_md(results)
    lines += _commands_md(results)
    lines += _library_md(results)
    lines += _issue13_md()
    lines += _method_md()
    return "\n".join(lines) + "\n"


def _targets_md(results: dict[str, Any]) -> list[str]:
    out = ["## Targets (issues 7 and 13)", "", "| target | measured | bar | measured ÷ bar | met |", "|---|---|---|---|---|"]
    for t in results.get("targets", []):
        value = t["value"]
        if value is None:
            shown = "not measured" + (f" ({t['note']})" if t["note"] else "")
        elif t["unit"] == "s":
            shown = fmt(value)
        elif t["unit"] == "MiB":
            shown = f"{value:.0f} MiB"
        elif t["unit"] == "ms":
            shown = f"{value:.3g} ms"
        else:
            shown = f"{value:.3g}×" + (f" ({t['note']})" if t["note"] else "")
        bar = fmt(t["bar"]) if t["unit"] == "s" else f"{t['bar']:g} {t['unit']}" if t["unit"] in ("MiB", "ms") else f"{t['bar']:g}×"
        met = "–" if t["met"] is None else "yes" if t["met"] else "**no**"
        times = "–" if t["times_bar"] is None else f"{t['times_bar']:.3g}"
        out.append(f"| {t['target']} | {shown} | {bar} | {times} | {met} |")
    return out + [""]


def _sweep_md(results: dict[str, Any]) -> list[str]:
    sweep = [s for s in results.get("sweep", []) if "error" not in s]
    out = ["## Sweep: generated first-match decision lists", "",
           "n bool atoms, m rules of 1–4 literals, three versions (`b` flips one reachable rule,",
           "`c` is a copy of `a`); see bench/gen.py. Front end and whole-process figures:", "",
           "| n × m | spec | grammar load | parse | resolve | typecheck | prove end to end"
           " | `thpverify prove` command | deep recursion needed | peak RSS |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for s in sweep:
        tv = s["thpverify"]
        cli = s.get("cli_prove")
        cli_shown = "–" if not cli else f"{fmt(cli['wall'])} (exit {cli['exit']})"
        out.append(f"| {s['n']} × {s['m']} | {s['spec_bytes'] / 1024:.0f} KiB | {fmt(tv['grammar_load'])} | {fmt(med(tv['parse']))}"
                   f" | {fmt(med(tv.get('resolve')))} | {fmt(med(tv['typecheck']))} | {fmt(med(tv['end_to_end_prove']))}"
                   f" | {cli_shown} | {'no' if tv['default_recursion_ok'] else '**yes** (RecursionError at the default limit)'}"
                   f" | {s['maxrss_mib']:.0f} MiB |")
    for s in results.get("sweep", []):
        if "error" in s:
            out.append(f"| {s['n']} × {s['m']} | failed: see results.json | | | | | | | | |")
    out += ["", "Per query: thpverify's compile (terms for premises, assumptions and claim), solve (one",
            "`check` of those terms) and verdict (`Solver(lib).check`: compile, solve, assumption core,",
            "counterexample minimisation and the interpreter's replay), against Z3 fed SMT-LIB text",
            "in-process (`parse_smt2_string` + check), the `z3` binary (wall, with its start), the Z3",
            "Python API (solve only; building the three versions' terms is shown once per size in the",
            "JSON), and CUDD (solve on BDDs already built; build time in the diff table).", "",
            "| n × m | query | compile | solve | verdict | Z3 text parse + solve | z3 binary | Z3 API solve | CUDD"
            " | verdict ÷ Z3 text | solve ÷ Z3 text solve | answers agree |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in sweep:
        for q, label in QUERY_LABELS.items():
            tq = s["thpverify"]["queries"][q]
            zt = s["z3_smtlib"][q]
            zb = s.get("z3_binary", {}).get(q)
            za = s["z3_api"][q]
            bd = s.get("bdd", {}).get(q)
            agree = "yes" if not [d for d in s["disagreements"] if d.startswith(q)] else "**no**"
            out.append(f"| {s['n']} × {s['m']} | {label} | {fmt(med(tq['compile']))} | {fmt(med(tq['solve']))} | {fmt(med(tq['verdict']))}"
                       f" | {fmt(med(zt['parse']))} + {fmt(med(zt['solve']))} | {fmt(med(zb['total'])) if zb else '–'}"
                       f" | {fmt(med(za['solve']))} | {fmt(med(bd['solve'])) if bd else '–'}"
                       f" | {ratio(med(tq['verdict']), med(zt['total']))} | {ratio(med(tq['solve']), med(zt['solve']))} | {agree} |")
    out += ["", "Diff of `a` and `b` (the inputs where they disagree, as cubes) against CUDD's irredundant",
            "cover (`Cudd_zddIsop` on the BDD of `a xor b`; CUDD time = building `a` and `b`, xor, ISOP) and",
            "brute force through thpverify's interpreter (every input, n ≤ 20):", "",
            "thpverify diff: the whole table, as `thpverify diff` computes it (its first 64 rows confirmed by Z3,",
            "replayed and shown), then with every row confirmed and replayed (`--max-rows 0`); rows are prime up to",
            "64, an irredundant cover (Minato–Morreale on the diagrams, as CUDD's) past that.", "",
            "| n × m | thpverify diff | every row confirmed | cubes / literals | CUDD build a, b, xor, ISOP | CUDD cubes / literals"
            " | time ratio | cube ratio | disagreeing share | brute force |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for s in sweep:
        td, bd, bf = s.get("thpverify_diff", {}), s.get("bdd", {}), s.get("brute_force", {})
        cover = bd.get("cover")
        cudd = cudd_diff_time(s)
        share = "–"
        if td.get("total"):
            share = f"{td['disagreeing']} / {td['total']} = {td['disagreeing'] / td['total']:.4g}"
        brute = "–"
        if "time" in bf:
            brute = f"{fmt(bf['time'])} ({bf['inputs']} inputs, {'agrees' if bf.get('agrees_with_plant') else 'DISAGREES'})"
        mine = f"{fmt(med(td['time']))}" if "time" in td else td.get("skipped", "–")
        every = f"{fmt(med(td['time_every_row_confirmed']))}" if "time_every_row_confirmed" in td else "–"
        kind = "" if td.get("prime", True) else " (irredundant)"
        theirs = f"{cover['cubes']} / {cover['literals']}" if cover else "–"
        out.append(f"| {s['n']} × {s['m']} | {mine} | {every} | {td.get('cubes', '–')} / {td.get('literals', '–')}{kind}"
                   f" | {fmt(cudd) if cudd else bd.get('skipped', '–')} | {theirs}"
                   f" | {ratio(med(td.get('time')), cudd)} | {ratio(td.get('cubes'), cover['cubes'] if cover else None)}"
                   f" | {share} | {brute} |")
    problems = [f"{s['n']} × {s['m']}: {d}" for s in sweep for d in s["disagreements"]]
    out += ["", "Engines disagreeing: " + ("none (every engine gave the planted answer; the diff's share of"
                                           " disagreeing inputs matches CUDD's and brute force's count)"
                                           if not problems else "; ".join(problems)), ""]
    return out


def _commands_md(results: dict[str, Any]) -> list[str]:
    st = results.get("startup")
    if not st:
        return []
    out = ["## Commands (wall time from a cold interpreter; peak RSS of the process)", "",
           "| command | wall (median) | min | runs | exit | peak RSS |", "|---|---|---|---|---|---|"]
    for key, value in st.items():
        if isinstance(value, dict) and "median" in value:
            out.append(f"| `{key}` | {fmt(value['median'])} | {fmt(value['min'])} | {value['runs']} | {value['exit']}"
                       f" | {value['maxrss_mib']:.0f} MiB |")
    for label, value in results.get("analysis", {}).items():
        if isinstance(value, dict) and "cold" in value:
            for k in ("cold", "warm"):
                r = value.get(k)
                if r:
                    note = f" ({value['note']})" if k == "cold" and value.get("note") else ""
                    out.append(f"| `thpverify {label}` ({k} cache) | {fmt(r['wall'])}{note} | | 1 | {r['exit']}"
                               f" | {r['maxrss_mib']:.0f} MiB |")
    check = results.get("check", {})
    for k in ("cold", "warm"):
        r = check.get(k, {})
        if "wall" in r:
            out.append(f"| `thpverify check --json` ({k}) | {fmt(r['wall'])} | | 1 | {r['exit']} | {r['maxrss_mib']:.0f} MiB |")
    out.append("")
    if "skipped" in results.get("analysis", {}):
        out += [f"diff, lint, requires: {results['analysis']['skipped']}.", ""]
    if "skipped" in check:
        out += [f"Whole-library check: not run ({check['skipped']}).", ""]
    elif "warm" in check and "skipped" in check["warm"]:
        out += [f"Warm check: {check['warm']['skipped']}.", ""]
    if check.get("verdicts"):
        out += ["Check verdicts: " + ", ".join(f"{v} {k}" for k, v in sorted(check["verdicts"].items()))
                + ("; per-verdict timing in --json: " + ("yes" if check.get("per_verdict_time") else "not available")), ""]
    out += [f"Modules `--help` loads among z3, lark: {st.get('modules_loaded_by_help') or '-'}.", "",
            "Heaviest top-level imports of `import thpverify.cli` (`python -X importtime`, cumulative):", ""]
    for name, ms in st.get("importtime", {}).get("top_level_ms", {}).items():
        out.append(f"- `{name}`: {ms:.1f} ms")
    return out + [""]


def _library_md(results: dict[str, Any]) -> list[str]:
    lib = results.get("library")
    if not lib or "error" in lib:
        return [] if not lib else ["## Bundled library in-process", "", "failed: see results.json", ""]
    rows = lib["sample"]
    out = ["## Bundled library, in-process", "",
           f"{lib['properties']} properties, {lib['versions']} versions, {lib['instances']} checks."
           f" `load_library()` (parse, resolve, typecheck every spec file): {fmt(lib['load_library'])} first,"
           f" {fmt(lib['load_library_again'])} again in the same process. `Solver.check` per property × version,"
           " for a sample of properties spread over the library (one Solver per property, as the runner does):", "",
           "| property | versions | median | max | sum | verdicts |", "|---|---|---|---|---|---|"]
    by_prop: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_prop.setdefault(r["property"], []).append(r)
    for name, rs in by_prop.items():
        times = sorted(r["time"] for r in rs)
        verdicts: dict[str, int] = {}
        for r in rs:
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
        out.append(f"| `{name}` | {len(rs)} | {fmt(times[len(times) // 2])} | {fmt(times[-1])} | {fmt(sum(times))}"
                   f" | {', '.join(f'{v} {k}' for k, v in sorted(verdicts.items()))} |")
    total = sum(r["time"] for r in rows)
    if rows:
        out += ["", f"Sample: {len(rows)} checks in {fmt(total)}, {fmt(total / len(rows))} each on average;"
                f" at that rate the library's {lib['instances']} checks take about {fmt(total / len(rows) * lib['instances'])}"
                " on one core.", ""]
    prof = lib.get("profile")
    if prof:
        out += ["Profile (cProfile, part of the sample), top functions by own time:", ""]
        for e in prof["by_self_time"][:10]:
            out.append(f"- `{e['function']}`: {fmt(e['tottime'])} own, {fmt(e['cumtime'])} cumulative, {e['calls']} calls")
        out += ["", "thpverify functions by cumulative time:", ""]
        for e in prof["by_cumulative_thpverify"][:10]:
            out.append(f"- `{e['function']}`: {fmt(e['cumtime'])} cumulative, {e['calls']} calls")
        out.append("")
    return out


def _issue13_md() -> list[str]:
    """Where the engine's time goes, measured by hand on 2026-12-02 (not by this run)."""
    return [
        "## Issue 13: where the time goes (measured by hand, 2026-12-02, quiet machine, 2 cores)",
        "",
        "CPU seconds (`time.process_time`) of checking all 1099 instances in one process (load the",
        "library, then `infra.runner.check_chunk` on every chunk, as a worker does):",
        "",
        "| | d2b42b5 (start of the session) | now | what changed |",
        "|---|---|---|---|",
        "| all 1099 checks, one process | 10.5–10.9 s | 8.3 s | a worker's chunks share one Z3 context and one CUDD"
        " manager (terms and diagrams built once); linear assumption core; cheaper widest cube |",
        "| node-budget counting | – | 0.2 s | dd's `len()` visits every node (30 ms on a shared manager): counted on a"
        " doubling schedule, not at every step (at every step it took 215 of 234 s) |",
        "| parsing 250 × 5000 | 20 s (loaded) | 1.7–2.2 s | LALR with the nodes built at each reduction; no cycle"
        " collector while parsing and type checking |",
        "| `diff v6.12 v6.13` | refused (> 64 rows); `--max-rows 0` did not finish in 400 s | 1.9 s (first 64 of"
        " 6,768 rows shown and confirmed) | an irredundant cover past 64 rows; a linear redundancy pass; rows confirmed"
        " in one Z3 query per class pair |",
        "| a check after editing one version | the whole library again | the checks whose cone changed"
        " (`python -m bench.incremental`) | verdicts cached per check under the digest of what it reads |",
        "",
        "What is left in a cold check (CPU in one process, after): the interpreter's replays about",
        "1.7 s, building Z3 terms about 1.4 s, the minimum-cube search about 1.4 s, Z3's checks",
        "about 1.1 s, building diagrams about 1.0 s, drawing inputs 0.6 s. The 1.5 s target needs",
        "every one of these cut several times over while each answer is still confirmed by Z3 and",
        "replayed by the interpreter; with two workers each builds the shared terms and diagrams",
        "once, so `-j2` is about 15 s of CPU for 8–9 s of wall time.",
        "",
    ]


def _method_md() -> list[str]:
    return [
        "## Method",
        "",
        "- Each sweep size runs in a fresh interpreter (`python -m bench.sweep N M`), so its peak RSS",
        "  (`os.wait4`) is its own and Z3 keeps no state across sizes.",
        "- Phases are split with thpverify's public functions: `parser.parse_text` (parse),",
        "  `resolve.load` less the time spent in the `parse_text` calls it makes (resolve; measured by",
        "  wrapping the name `resolve` looks up), `typecheck.typecheck`, `compiler.Compiler.expr`",
        "  on the instance's premises, assumptions and claim (compile), one Z3 `check` of those terms",
        "  (solve), and `solver.Solver(lib).check` (verdict, which compiles again in a new Solver).",
        "- The planted answers (bench/gen.py) are true by construction; every engine must give them, and",
        "  the share of inputs where `a` and `b` disagree must be the same for thpverify's diff,",
        "  CUDD's model count and brute force. Any disagreement is printed and makes the run exit 1.",
        "- Commands are timed as subprocesses (`python -m thpverify ...`), with `XDG_CACHE_HOME` set",
        "  to a fresh temporary directory for a cold run, and reused for the warm run. Peak RSS is",
        "  what `os.wait4` reports for the command's process (and the descendants it reaped): for",
        "  `check`, whose proofs run in multiprocessing workers, it may leave the workers out.",
        "- The CUDD cover is `Cudd_zddIsop` called through ctypes on the manager and node of `dd.cudd`",
        "  (their addresses are read from the dd objects and checked before use); without `dd.cudd` it",
        "  falls back to a Minato–Morreale ISOP in Python over dd's operations, labelled as such.",
    ]
