"""A fuzzing campaign against thpverify's handling of hostile input (issue 17).

    python -m tests.fuzz --n 10000            # the long campaign, from the repository root
    python -m tests.fuzz --n 300 --seed 3     # any size, any seed; the same seed tries the same inputs

Inputs, each run in this process through the command line's main() (as
`thpverify ...` would run, with output captured) unless said otherwise:

    spec      a small spec mutated (bytes flipped, cut, repeated, tokens
              spliced in) or built hostile (deep nesting, long literals,
              malformed escapes, control characters, invalid UTF-8), then
              checked, exported, evaluated, proved or linted
    args      random command lines: known and unknown options, odd values
    batch     eval --batch files of random lines, JSON and not
    cache     a check whose cache entry was corrupted at random first; the
              answer must equal the uncorrupted one
    output    --output / --html at directories, devices, FIFOs, links,
              missing or read-only places (inside a scratch directory)
    export    random names (reserved words too) exported and read back by z3
    race      (separate processes) several checks sharing one cache at
              once, some killed at random; the next run must answer as before

It reports what was tried, the exit-code histogram, every internal error
(exit 6, or an exception escaping main: "tracebacks"), timeouts, and the
peak memory of this process and of the child processes. tests/test_fuzz.py
runs a few seconds of it in the suite.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import json
import os
import random
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
KINDS = ("spec", "args", "batch", "cache", "output", "export")
WEIGHTS = (50, 18, 12, 8, 6, 6)
TIMEOUT_S = 30

SMALL = '''universe order = {1..4};
atom a, b, c: bool;
atom mode: enum {x, y, z};
atom fits: set of order;
const TOP = 4;
def both = a && b;
assume a_b "a comes with b": a -> b;
version "v1" {
  release "1.0";
  predicate eligible() -> bool from f in "mm/x.c" lines 1..9 {
    first @2: if (!a) return false;
    if (mode == y) { if (c) return true; }
    let o = fits & {1, 2};
    @5: return TOP in fits || both;
  }
}
version "v2" extends "v1" {
  patch eligible { replace first { first: if (!a && !c) return false; } }
}
property p "doc \\n text" { callers; given !c; prove a -> eligible; expect holds on "v1"; }
'''

TOKENS = ("&&", "||", "!", "(", ")", "{", "}", ";", ":", ",", "..", "->", "<->", "?", "==", "!=", "in", "not", "if",
          "else", "return", "let", "def", "atom", "enum", "set", "of", "bool", "version", "extends", "patch", "replace",
          "insert", "before", "after", "delete", "property", "prove", "given", "callers", "expect", "holds", "fails",
          "import", "universe", "const", "assume", "drop", "predicate", "context", "\"v1\"::eligible", "\"nope\"::x",
          "\"\\x\"", "\"\\N{NOPE}\"", "\"\\0\"", "99999999999999999999", "0..100000000", "/*", "*/", "//", "\x00",
          "\u2028", "\x1b[2J", "é", "\\", "\"", "a", "b", "c", "mode", "fits", "y", "eligible", "5 in fits")


ESCAPES = ("\\x", "\\u12", "\\N{NOPE}", "\\0", "\\q", "\\U0011ffff", "\\777", "\\N{LATIN SMALL LETTER E WITH ACUTE}")
DOCS = ("a\\nb", "(assert false)", "\\r\\n(check-sat)", "\\n(assert false)\\n")


@dataclass
class Stats:
    tried: collections.Counter[str] = field(default_factory=collections.Counter)
    exits: collections.Counter[str] = field(default_factory=collections.Counter)
    internal: list[dict[str, str]] = field(default_factory=list)
    timeouts: list[dict[str, str]] = field(default_factory=list)
    wrong: list[dict[str, str]] = field(default_factory=list)  # an answer that must not change changed
    seconds: float = 0.0
    time_by_kind: collections.Counter[str] = field(default_factory=collections.Counter)

    def as_json(self) -> dict[str, Any]:
        self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {"inputs": sum(self.tried.values()), "by_kind": dict(sorted(self.tried.items())),
                "exit_codes": dict(sorted(self.exits.items())), "tracebacks": len(self.internal),
                "internal_errors": self.internal[:50], "timeouts": self.timeouts[:20], "wrong_answers": self.wrong[:20],
                "seconds_by_kind": {k: round(v, 1) for k, v in sorted(self.time_by_kind.items())},
                "peak_rss_mib": {"campaign": round(self_peak, 1), "children": round(child_peak, 1)},
                "seconds": round(self.seconds, 1)}


class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout


def run(argv: list[str], stdin: bytes = b"") -> tuple[int | str, str, str]:
    """main(argv) in this process: (exit code or 'timeout'/'exception', stdout, stderr)."""
    from thpverify.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    real_stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # argparse writes to sys.stdout/err
            code: int | str = main(argv, out, err)
    except _Timeout:
        code = "timeout"
    except BaseException as exc:  # an exception escaping main is a traceback for the user
        code = "exception"
        err.write(f"{type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        sys.stdin = real_stdin
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------- inputs


def seeds() -> list[str]:
    return [SMALL, (CORPUS / "mini.thp").read_text(encoding="utf-8"), (CORPUS / "lint.thp").read_text(encoding="utf-8")]


def mutate(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(7)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            del data[at:at + rng.randint(1, 40)]
        elif op == 2:
            data[at:at] = rng.choice(TOKENS).encode("utf-8") + b" "
        elif op == 3:
            piece = data[at:at + rng.randint(1, 80)]
            data[at:at] = piece * rng.randint(2, 50)
        elif op == 4:
            data = data[:at]
        elif op == 5:
            data[at:at] = rng.choice((b"\xff", b"\xc3", b"\x00", b"\r", b"\t", b"\x0c"))
        else:
            data[at:at] = " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 12))).encode("utf-8")
    return bytes(data)


def hostile(rng: random.Random) -> bytes:
    n = rng.choice((10, 100, 300, 1000, 5000, 20000))
    head = "atom a, b: bool;\n"
    body = rng.choice((
        lambda: "!" * n + "a", lambda: "(" * n + "a" + ")" * n, lambda: " && ".join(["a"] * n),
        lambda: " -> ".join(["a"] * n), lambda: " ? ".join(["a"] * n) + " : b" * (n - 1), lambda: "a" + " || b" * n,
    ))
    choice = rng.randrange(10)
    if choice < 4:
        text = head + f'version "v" {{ predicate eligible() -> bool {{ return {body()}; }} }}\nproperty p {{ prove a -> eligible; }}\n'
    elif choice == 4:
        text = head + 'version "v" { predicate eligible() -> bool { ' + "if (a) { " * n + "return a; " + "} " * n + "return b; } }\n"
    elif choice == 5:
        text = head + f'assume x "{"y" * n * 10}": a;\n' if rng.random() < 0.5 else "/*" + "x" * n * 100
    elif choice == 6:
        text = f"universe order = {{0..{rng.choice((63, 64, 10**6, 10**8, 10**30))}}};\n" + head
    elif choice == 7:
        text = head + "".join(f"def d{i} = d{i - 1};\n" if i else "def d0 = a;\n" for i in range(min(n, 400)))
    elif choice == 8:
        text = head + f"const K = {'9' * rng.choice((9, 10, 4300, 4301, 20000))};\n"
    else:
        escape = rng.choice(ESCAPES)
        text = head + f'atom c: bool "{escape}";\n'
    return text.encode("utf-8", "surrogatepass")


def spec_commands(rng: random.Random, path: Path) -> list[str]:
    return rng.choice((
        ["check", "--no-cache", str(path)], ["check", str(path), "--format", rng.choice(("json", "junit", "sarif", "markdown"))],
        ["export", "--spec", str(path), "--version", rng.choice(("v1", "v2", "old", "l", "v"))],
        ["eval", "--spec", str(path), "--version", rng.choice(("v1", "v2", "old", "new")), "--set", "a=1"],
        ["prove", "--spec", str(path), rng.choice(("p", "disabled_wins", "nope"))],
        ["lint", "--spec", str(path)],
    ))


OPTIONS = ("--version", "--caller", "--set", "--output", "--batch", "--format", "--spec", "--jobs", "-j", "--json", "--verbose",
           "--no-cache", "--html", "--diff", "--max-rows", "--file", "--settings", "--record", "--cross-check", "--help")
VALUES = ("v6.1", "v6.7", "v5.19", "nope", "", "-", "page_fault", "smaps", "x=1", "VM_HUGEPAGE=1", "block_fits=9,18",
          "block_fits[9]=1", "block_fits[99]=1", "thp_enabled=sometimes", "caller=", "=", "[", "0", "-1", "99999999999",
          "\x00", "é", "/dev/null", "/proc/self/environ", "/nonexistent/x", "smt2", "json", "a:b")
COMMANDS = ("check", "eval", "prove", "export", "diff", "patch", "lint", "timeline", "requires", "report", "smaps", "nosuch")


def random_args(rng: random.Random, sandbox: Path) -> list[str]:
    argv = [rng.choice(COMMANDS)]
    for _ in range(rng.randint(0, 6)):
        option = rng.choice(OPTIONS)
        if option in ("--output", "--html", "--record", "--file", "--batch", "--settings"):
            argv += [option, str(sandbox / rng.choice(("out", "dir", "missing/x", "fifo", "link")))]
        else:
            argv.append(option)
            if rng.random() < 0.8:
                argv.append(rng.choice(VALUES))
    if rng.random() < 0.3:
        argv.append(rng.choice(("v1", "v2", "v6.7", "p", "x", "--")))
    if rng.random() < 0.95:  # the bundled library's analyses take seconds each: mostly a small spec
        argv += ["--spec", str(sandbox / "small.thp")] if argv[0] not in ("check", "report") else [str(sandbox / "small.thp")]
    return [a for a in argv if "\x00" not in a or rng.random() < 0.5]


def batch_file(rng: random.Random, small: bool) -> bytes:
    """Lines for the bundled library, or (small) for SMALL."""
    atoms: tuple[str, ...] = ("VM_HUGEPAGE", "vma_is_dax", "thp_enabled", "block_fits", "block_fits[9]", "caller", "nosuch", "version")
    versions = ("v6.1", "v6.7", "v6.18")
    if small:
        atoms, versions = ("a", "b", "c", "mode", "fits", "fits[2]", "fits[9]", "nosuch", "version", "output"), ("v1", "v2", "v3")
    values: tuple[Any, ...] = (True, False, 0, 1, 2, -1, 10**30, 1.5, None, "madvise", "y", "v1", "nope", [9], [1, 2], [99],
                               ["x"], {"a": 1}, [[1]])
    lines = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.7:
            doc: dict[str, Any] = {"version": rng.choice(versions)}
            for _ in range(rng.randint(0, 5)):
                doc[rng.choice(atoms)] = rng.choice(values)
            lines.append(json.dumps(doc).encode())
        elif r < 0.8:
            lines.append(b"[" * rng.randint(1, 5000))
        elif r < 0.9:
            lines.append(mutate(rng, '{"version": "v6.1", "caller": "smaps", "VM_HUGEPAGE": true}'))
        else:
            lines.append(rng.choice((b"", b"   ", b"\xff\xfe", b"null", b"42", b'"x"')))
    return b"\n".join(lines) + b"\n"


def _digest(data: bytes | str) -> str:
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")).hexdigest()[:12]


# --------------------------------------------------------------- the kinds


class Campaign:
    def __init__(self, seed: int, sandbox: Path) -> None:
        self.rng = random.Random(seed)
        self.sandbox = sandbox
        self.stats = Stats()
        self.spec = sandbox / "spec.thp"
        self._reference: dict[str, tuple[int | str, str]] = {}

    def record(self, kind: str, argv: list[str], result: tuple[int | str, str, str], what: str) -> None:
        code, _, err = result
        self.stats.tried[kind] += 1
        self.stats.exits[str(code)] += 1
        if code in (6, "exception"):
            first = next((line for line in err.splitlines() if line.strip()), "")
            self.stats.internal.append({"kind": kind, "argv": " ".join(argv)[:200], "input": what, "error": first[:300]})
        elif code == "timeout":
            self.stats.timeouts.append({"kind": kind, "argv": " ".join(argv)[:200], "input": what})

    def spec_input(self) -> None:
        rng = self.rng
        data = hostile(rng) if rng.random() < 0.2 else mutate(rng, rng.choice(seeds()))
        self.spec.write_bytes(data)
        argv = spec_commands(rng, self.spec)
        self.record("spec", argv, run(argv), _digest(data))

    def args_input(self) -> None:
        argv = random_args(self.rng, self.sandbox)
        self.record("args", argv, run(argv), "")

    def batch_input(self) -> None:
        small = self.rng.random() < 0.9  # the bundled library takes a second to load: mostly the small spec
        data = batch_file(self.rng, small)
        path = self.sandbox / "batch.jsonl"
        path.write_bytes(data)
        argv = ["eval", "--batch", str(path) if self.rng.random() < 0.8 else "-"]
        argv += ["--spec", str(self.sandbox / "small.thp")] if small else []
        self.record("batch", argv, run(argv, stdin=data), _digest(data))

    def cache_input(self) -> None:
        """Corrupt the cache entry of a check and check again: the same answer, or a plain miss."""
        rng = self.rng
        where = Path(os.environ["THPVERIFY_CACHE_DIR"])
        spec = str(CORPUS / "mini.thp") if rng.random() < 0.5 else str(self.sandbox / "small.thp")
        argv = ["check", spec]
        if spec not in self._reference:
            code, out, _ = run(argv)
            self._reference[spec] = (code, out)
        entries = sorted(where.glob("*.json"))
        if entries:
            entry = rng.choice(entries)
            data = bytearray(entry.read_bytes())
            how = rng.randrange(5)
            if how == 0 and data:
                for _ in range(rng.randint(1, 8)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            elif how == 1:
                data = data[:rng.randrange(len(data) + 1)]
            elif how == 2:
                data = bytearray(json.dumps({"format": 2, "key": entry.stem, "payload": [], "digest": "0" * 64}).encode())
            elif how == 3:
                data = bytearray(b"\x80\x04\x95" + os.urandom(rng.randint(0, 64)))  # a pickle header
            else:
                text = data.decode("utf-8", "replace").replace('"proved"', '"refuted"', 1)
                data = bytearray(text.encode())
            entry.write_bytes(bytes(data))
        result = run(argv)
        self.record("cache", argv, result, "")
        if (result[0], result[1]) != self._reference[spec]:
            self.stats.wrong.append({"kind": "cache", "argv": " ".join(argv), "error": "the answer changed after a corruption"})

    def output_input(self) -> None:
        rng = self.rng
        target = rng.choice(("out.json", "dir", "fifo", "null", "link", "missing/x", "", "-", "ro/x.json", "out.json/"))
        where = str(self.sandbox / target) if target not in ("", "-") else target
        mini = str(CORPUS / "mini.thp")
        argv = (["check", mini, "--format", "json", "--output", where] if rng.random() < 0.8
                else ["report", mini, "--no-diff", "--html", where])
        before = self._specials()
        self.record("output", argv, run(argv), target)
        after = self._specials()
        if before != after:
            self.stats.wrong.append({"kind": "output", "argv": " ".join(argv), "error": "a special file was replaced"})

    def _specials(self) -> dict[str, tuple[int, int]]:
        return {p.name: (p.lstat().st_mode, p.lstat().st_ino) for p in self.sandbox.iterdir() if p.name in ("fifo", "null", "link", "dir")}

    def export_input(self) -> None:
        import z3

        from thpverify.backend import smtlib

        rng = self.rng
        words = sorted(smtlib.RESERVED) + ["and", "or", "not", "ite", "xor", "distinct", "let", "_", "as", "bvand", "x_y", "x"]
        names = sorted({w for w in rng.sample(words, 6) if w.replace("_", "a").isalnum() and not w[0].isdigit()} | {"base"})
        doc = rng.choice(DOCS)
        text = (f"atom {', '.join(names)}: bool;\natom x: enum {{y, {names[0]}}};\n"
                f'assume {names[-1]} "{doc}": {names[0]} -> {names[0]};\n'
                f'version "v" {{ predicate eligible() -> bool {{ return {" || ".join(names)} || x == y; }} }}\n')
        self.spec.write_text(text, encoding="utf-8")
        argv = ["export", "--spec", str(self.spec), "--version", "v"]
        result = run(argv)
        self.record("export", argv, result, _digest(text))
        if result[0] == 0:
            s = z3.Solver()
            try:
                s.from_string(result[1])
                ok = s.check() == z3.sat
            except z3.Z3Exception as exc:
                ok, result = False, (result[0], result[1], str(exc))
            if not ok:
                self.stats.wrong.append({"kind": "export", "argv": " ".join(names), "error": result[2][:200] or "unsat"})

    def race(self, rounds: int) -> None:
        """Checks sharing one cache from separate processes, some killed; then the answer must be the reference one."""
        spec = str(CORPUS / "mini.thp")
        env = dict(os.environ, THPVERIFY_CACHE_DIR=str(self.sandbox / "race-cache"))
        cmd = [sys.executable, "-m", "thpverify", "check", spec]
        reference = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=300)
        for _ in range(rounds):
            procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT) for _ in range(4)]
            for p in procs:
                if self.rng.random() < 0.5:
                    time.sleep(self.rng.random() * 1.5)
                    p.kill()
            for p in procs:
                out, err = p.communicate(timeout=300)
                self.stats.tried["race"] += 1
                self.stats.exits[str(p.returncode)] += 1
                if p.returncode not in (-signal.SIGKILL,) and (p.returncode, out.decode()) != (reference.returncode, reference.stdout):
                    self.stats.wrong.append({"kind": "race", "argv": " ".join(cmd), "error": err.decode()[:200]})
            after = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=300)
            self.stats.tried["race"] += 1
            self.stats.exits[str(after.returncode)] += 1
            if (after.returncode, after.stdout) != (reference.returncode, reference.stdout):
                self.stats.wrong.append({"kind": "race", "argv": " ".join(cmd), "error": "after the kills: " + after.stderr[:200]})


def _sandbox(root: Path) -> None:
    (root / "dir").mkdir()
    os.mkfifo(root / "fifo")
    (root / "kept").write_text("kept\n", encoding="utf-8")
    (root / "link").symlink_to(root / "kept")
    (root / "ro").mkdir(mode=0o500)
    (root / "small.thp").write_text(SMALL, encoding="utf-8")
    with contextlib.suppress(OSError):  # a character device needs root
        os.mknod(root / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))


def campaign(n: int, seed: int = 17, kinds: tuple[str, ...] = KINDS, race_rounds: int = 0,
             progress: Callable[[int, Stats], None] | None = None) -> Stats:
    """n inputs drawn among `kinds` (by WEIGHTS), then race_rounds of concurrent runs with kills."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="thpverify-fuzz-") as tmp, _cache_env(Path(tmp) / "cache"):
        sandbox = Path(tmp)
        _sandbox(sandbox)
        c = Campaign(seed, sandbox)
        weights = [w for k, w in zip(KINDS, WEIGHTS, strict=True) if k in kinds]
        chosen = [k for k in KINDS if k in kinds]
        for i in range(n):
            kind = c.rng.choices(chosen, weights)[0]
            t0 = time.perf_counter()
            getattr(c, f"{kind}_input")()
            c.stats.time_by_kind[kind] += time.perf_counter() - t0
            if progress and (i + 1) % 100 == 0:
                progress(i + 1, c.stats)
        if race_rounds:
            c.race(race_rounds)
        (sandbox / "ro").chmod(0o700)
        c.stats.seconds = time.perf_counter() - started
        return c.stats


@contextlib.contextmanager
def _cache_env(where: Path) -> Iterator[None]:
    old = os.environ.get("THPVERIFY_CACHE_DIR")
    os.environ["THPVERIFY_CACHE_DIR"] = str(where)
    try:
        yield
    finally:
        if old is None:
            del os.environ["THPVERIFY_CACHE_DIR"]
        else:
            os.environ["THPVERIFY_CACHE_DIR"] = old


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="inputs to try (default 1000)")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--kinds", default=",".join(KINDS), help=f"a comma-separated subset of {','.join(KINDS)}")
    p.add_argument("--race", type=int, default=None, help="rounds of concurrent runs with kills (default n/1000, at least 1)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args(argv)
    os.chdir(ROOT)

    def progress(i: int, s: Stats) -> None:
        print(f"fuzz: {i}/{args.n}, {len(s.internal)} internal errors, {len(s.timeouts)} timeouts", file=sys.stderr, flush=True)

    stats = campaign(args.n, args.seed, tuple(args.kinds.split(",")), args.race if args.race is not None else max(1, args.n // 1000),
                     progress)
    doc = stats.as_json()
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 1 if stats.internal or stats.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
