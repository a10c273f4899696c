"""Results cached by content, as data only (JSON, never pickle).

A second `thpverify check` reads verdicts back instead of solving again:

    fingerprint()          the hash of: the cache format; thpverify's own
                           source; the content of the Z3 shared library
                           (remembered here under the file's identity) and
                           the Python, Z3 and Lark versions.
    load_verdicts(keys)    one verdict an entry, each under the digest of
    store_verdicts(...)    what its check reads (infra.cone), so an edit
                           misses only the checks that read what changed.
    key(doc) / load(k)     any other JSON payload (infra.warm: a finished
    store(k, v)            check's output, keyed by its options).

The cache lives in $THPVERIFY_CACHE_DIR, else $XDG_CACHE_HOME/thpverify,
else ~/.cache/thpverify; THPVERIFY_CACHE_DIR=off turns it off. The
directory is private: created 0700, it must be a real directory (not a
link) owned by the user with no access for group or others, else it is
refused (CacheRefusedError, with the reason; the command runs uncached). Entries
are opened with O_NOFOLLOW, must be regular files owned by the user, at most
MAX_ENTRY bytes, and carry their key and a digest of their own content; a
damaged, foreign, oversized or stale entry is a miss. Writes are atomic (a
temporary file, then rename); temporary files are removed on failure, and
those left by a killed run are removed later, as are the oldest entries past
MAX_ENTRIES. This module imports neither z3 nor lark.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import stat
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ThpverifyError
from ..location import Span
from ..results import Counterexample, Decision, Expectation, Fixed, KernelCite, StepKind, TraceStep, Value, Verdict, VerdictKind

FORMAT = 5
MAX_ENTRY = 64 << 20  # bytes; a larger entry is a miss
MAX_ENTRIES = 50_000  # past this many entries, the oldest are removed
_STALE_TEMP = 600  # seconds after which a killed run's temporary file is removed
_PACKAGE = Path(__file__).resolve().parent.parent
_TEMP = ".tmp-"
_K = TypeVar("_K")


class CacheRefusedError(ThpverifyError):
    """The cache directory is not private; the message says why. The run
    goes on without the cache, with a warning: never an exit of its own."""


def directory() -> Path | None:
    """Where entries live, or None when caching is off."""
    chosen = os.environ.get("THPVERIFY_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "thpverify"


def private_directory() -> Path | None:
    """The cache directory, created 0700 if missing; None when off.
    Raises CacheRefusedError when it is a link, not a directory, not the user's,
    or open to others."""
    where = directory()
    if where is None:
        return None
    try:
        where.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.mkdir(where, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise CacheRefusedError(f"cannot create {where}: {exc.strerror or exc}") from None
    try:
        fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise CacheRefusedError(f"{where} is not a directory (a link or a file): {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise CacheRefusedError(f"{where} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})")
        if st.st_mode & 0o022:
            raise CacheRefusedError(f"{where} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}); chmod 700 it")
        if st.st_mode & 0o077:  # readable by others only, as an older thpverify made it: made private
            os.fchmod(fd, 0o700)
    except OSError as exc:
        raise CacheRefusedError(f"{where}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return where


# ------------------------------------------------------------------- keys


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _installed(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


_FINGERPRINT: list[str] = []


def fingerprint() -> str:
    """thpverify's own source, the Z3 shared library's content, and the versions of what it runs on (once a process)."""
    if not _FINGERPRINT:
        _FINGERPRINT.append(_fingerprint())
    return _FINGERPRINT[0]


def _fingerprint() -> str:
    h = hashlib.sha256(f"format={FORMAT}\0python={sys.version_info[:3]}\0".encode())
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in (".py", ".lark") and "specs" not in path.relative_to(_PACKAGE).parts:
            h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    z3_dir = _installed("z3")
    seen: set[tuple[int, int]] = set()
    for lib in sorted((z3_dir / "lib").glob("libz3*")) if z3_dir else []:
        st = lib.stat()
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            h.update(f"{lib.name}:{_library_digest(lib, st)}\0".encode())
    for name in ("z3", "lark"):  # the Python side of both, by their files' names, sizes and times
        where = _installed(name)
        for f in sorted(where.glob("*.py")) if where else []:
            st = f.stat()
            h.update(f"{name}/{f.name}:{st.st_size}:{st.st_mtime_ns}\0".encode())
    h.update(os.environ.get("Z3_LIBRARY_PATH", "").encode())
    return h.hexdigest()


def _library_digest(path: Path, st: os.stat_result) -> str:
    """The digest of a shared library (30 MB for Z3), remembered in the cache
    under its file's identity: device, inode, size, and modification and
    change times (a write, a copy or a touch changes the change time)."""
    k = _digest(f"library\0{path}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}".encode())
    known = load(k)
    if isinstance(known, str) and len(known) == 64:
        return known
    digest = _file_digest(path)
    with contextlib.suppress(CacheRefusedError):
        store(k, digest)
    return digest


def key(doc: object) -> str:
    """A key for results computed by this thpverify from what `doc` (JSON data) says."""
    return _digest(fingerprint().encode() + b"\0" + _canonical(doc))


# ------------------------------------------------------------------ entries


def _canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _read(path: Path) -> bytes | None:
    """The bytes of a regular file of ours, never through a link, never blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > MAX_ENTRY:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_ENTRY + 1)
    finally:
        os.close(fd)


def load(k: str) -> Any | None:
    """The JSON payload stored under k; None for a miss (off, refused, absent, damaged, foreign)."""
    return load_many([k]).get(k)


def load_many(keys: Iterable[str]) -> dict[str, Any]:
    """The payloads found under these keys (a key missing from the answer is a miss)."""
    try:
        where = private_directory()
    except CacheRefusedError:
        return {}
    if where is None:
        return {}
    found = {}
    for k in keys:
        payload = _load_in(where, k)
        if payload is not None:
            found[k] = payload
    return found


_HEAD = b'{"digest":"'
_BODY = b'","entry":'


def _load_in(where: Path, k: str) -> Any | None:
    """An entry is the JSON object {"digest": D, "entry": B}, written
    canonically, where B is {"format", "key", "payload"} and D the sha256 of
    B's bytes: the digest is checked on the bytes read, before B is parsed."""
    if not k or not all(c in "0123456789abcdef" for c in k):
        return None
    data = _read(where / f"{k}.json")
    if data is None or len(data) > MAX_ENTRY or not data.startswith(_HEAD) or not data.endswith(b"}"):
        return None
    digest, body = data[len(_HEAD):len(_HEAD) + 64], data[len(_HEAD) + 64:-1]
    if not body.startswith(_BODY) or _digest(body[len(_BODY):]).encode() != digest:
        return None
    try:
        entry = json.loads(body[len(_BODY):])
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or set(entry) != {"format", "key", "payload"}:
        return None
    if entry["format"] != FORMAT or entry["key"] != k:
        return None
    return entry["payload"]


def store(k: str, payload: object) -> None:
    """Record a JSON payload under k, atomically. Raises CacheRefusedError when
    the directory is not private; any other failure only means no entry."""
    store_many({k: payload})


def store_many(entries: Mapping[str, object]) -> None:
    """Record several payloads (as store), then tidy the directory once."""
    if not entries:
        return
    where = private_directory()
    if where is None:
        return
    for k, payload in entries.items():
        _store_in(where, k, payload)
    _sweep(where)


def _store_in(where: Path, k: str, payload: object) -> None:
    body = _canonical({"format": FORMAT, "key": k, "payload": payload})
    data = _HEAD + _digest(body).encode() + _BODY + body + b"}"
    if len(data) > MAX_ENTRY:
        return
    tmp = where / f"{_TEMP}{os.getpid()}-{time.monotonic_ns()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, where / f"{k}.json")
    except OSError:
        pass  # a cache that cannot be written is only slower
    finally:
        tmp.unlink(missing_ok=True)


def _sweep(where: Path) -> None:
    """Remove temporary files a killed run left behind, the pickles older
    versions wrote, and the oldest entries past MAX_ENTRIES."""
    now = time.time()
    entries: list[Path] = []
    try:
        for p in where.iterdir():
            old = p.suffix == ".pickle" or p.name == "grammar.lark-tables"
            if p.suffix == ".json" and not old:
                entries.append(p)
            elif p.name.startswith(_TEMP) or old:
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and (old or now - st.st_mtime > _STALE_TEMP):
                    p.unlink(missing_ok=True)
        if len(entries) > MAX_ENTRIES:
            aged = []
            for p in entries:
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                    aged.append((st.st_mtime, p))
            for _, p in sorted(aged)[: len(aged) - MAX_ENTRIES * 4 // 5]:
                p.unlink(missing_ok=True)
    except OSError:
        pass


# ----------------------------------------------------------------- verdicts


def verdicts_to_json(verdicts: tuple[Verdict, ...]) -> list[dict[str, Any]]:
    return [_verdict_json(v) for v in verdicts]


def _verdict_json(v: Verdict) -> dict[str, Any]:
    cex = v.counterexample
    return {
        "property": v.property_name, "version": v.version, "verdict": v.verdict, "expected": v.expected,
        "reason": v.reason, "core": list(v.core), "checks": list(v.checks),
        "counterexample": None if cex is None else {
            "partial": [[f.atom, f.element, f.value] for f in cex.partial],
            "witness": [[a, _value_json(x)] for a, x in cex.witness],
            "decisions": [[d.version, d.predicate, _value_json(d.value), d.rule, _span_json(d.rule_at), _cite_json(d.kernel),
                           [_step_json(s) for s in d.trace]] for d in cex.decisions],
            "replay": cex.replay, "minimal": cex.minimal,
        },
    }


def _value_json(v: Value) -> object:
    return list(v) if isinstance(v, tuple) else v


def _step_json(s: TraceStep) -> object:
    value = None if s.value is None else _value_json(s.value)
    return [s.depth, s.function, s.rule, _span_json(s.rule_at), _cite_json(s.kernel), s.kind, value]


def _span_json(s: Span | None) -> object:
    return None if s is None else [s.file, s.line, s.col, s.end_line, s.end_col]


def _cite_json(c: KernelCite | None) -> object:
    return None if c is None else [c.release, c.file, c.first, c.last, c.function]


class _BadEntryError(Exception):
    pass


def _int(x: object) -> int:
    if type(x) is not int:
        raise _BadEntryError
    return x


def _value(x: object) -> Value:
    if isinstance(x, list):
        return tuple(_int(k) for k in x)
    if type(x) not in (bool, str, int):
        raise _BadEntryError
    return x  # type: ignore[return-value]


def _span(x: object) -> Span | None:
    if x is None:
        return None
    if not isinstance(x, list) or len(x) != 5:
        raise _BadEntryError
    return Span(_s(x[0]), _int(x[1]), _int(x[2]), _int(x[3]), _int(x[4]))


def _cite(x: object) -> KernelCite | None:
    if x is None:
        return None
    if not isinstance(x, list) or len(x) != 5:
        raise _BadEntryError
    return KernelCite(_s(x[0]), _s(x[1]), _int(x[2]), _int(x[3]), _s(x[4]))


def _s(x: object) -> str:
    if not isinstance(x, str):
        raise _BadEntryError
    return x


def _opt_s(x: object) -> str | None:
    return None if x is None else _s(x)


def _strs(x: object) -> tuple[str, ...]:
    if not isinstance(x, list):
        raise _BadEntryError
    return tuple(_s(i) for i in x)


def _fixed(x: object) -> Fixed:
    if not isinstance(x, list) or len(x) != 3:
        raise _BadEntryError
    atom, element, value = x
    if (element is not None and type(element) is not int) or type(value) not in (bool, str, int):
        raise _BadEntryError
    return Fixed(_s(atom), element, value)


def _decision(x: object) -> Decision:
    if not isinstance(x, list) or len(x) != 7:
        raise _BadEntryError
    if not isinstance(x[6], list):
        raise _BadEntryError
    return Decision(_s(x[0]), _s(x[1]), _value(x[2]), _opt_s(x[3]), _span(x[4]), _cite(x[5]), tuple(_step(s) for s in x[6]))


def _step(x: object) -> TraceStep:
    if not isinstance(x, list) or len(x) != 7 or type(x[0]) is not int or x[5] not in list(StepKind):
        raise _BadEntryError
    at = _span(x[3])
    if at is None:
        raise _BadEntryError
    return TraceStep(x[0], _s(x[1]), _s(x[2]), at, _cite(x[4]), StepKind(x[5]), None if x[6] is None else _value(x[6]))


def _counterexample(x: object) -> Counterexample | None:
    if x is None:
        return None
    if not isinstance(x, dict) or set(x) != {"partial", "witness", "decisions", "replay", "minimal"}:
        raise _BadEntryError
    if not all(isinstance(i, list) for i in (x["partial"], x["witness"], x["decisions"])):
        raise _BadEntryError
    if any(not isinstance(w, list) or len(w) != 2 for w in x["witness"]):
        raise _BadEntryError
    witness = tuple((_s(a), _value(v)) for a, v in x["witness"])
    return Counterexample(tuple(_fixed(f) for f in x["partial"]), witness,
                          tuple(_decision(d) for d in x["decisions"]), _s(x["replay"]), _s(x["minimal"]))


def verdicts_from_json(doc: object) -> tuple[Verdict, ...] | None:
    """The verdicts, or None when doc is not exactly what verdicts_to_json writes."""
    if not isinstance(doc, list):
        return None
    out = []
    fields = {"property", "version", "verdict", "expected", "reason", "core", "checks", "counterexample"}
    try:
        for d in doc:
            if not isinstance(d, dict) or set(d) != fields or d["verdict"] not in list(VerdictKind):
                raise _BadEntryError
            if d["expected"] is not None and d["expected"] not in list(Expectation):
                raise _BadEntryError
            expected = Expectation(d["expected"]) if d["expected"] is not None else None
            out.append(Verdict(_s(d["property"]), _s(d["version"]), VerdictKind(d["verdict"]), expected, _s(d["reason"]),
                               _strs(d["core"]), _counterexample(d["counterexample"]), _strs(d["checks"])))
    except _BadEntryError:
        return None
    return tuple(out)


def load_verdicts(keys: Mapping[_K, str]) -> dict[_K, Verdict]:
    """The verdicts stored under these keys (one verdict an entry), by item;
    an entry that is not exactly what store_verdicts writes is a miss."""
    payloads = load_many(keys.values())
    found: dict[_K, Verdict] = {}
    for item, k in keys.items():
        read = verdicts_from_json([payloads[k]]) if k in payloads else None
        if read is not None:
            found[item] = read[0]
    return found


def store_verdicts(verdicts: Mapping[str, Verdict]) -> None:
    """Store each verdict under its key, when it reads back equal to itself
    (CacheRefusedError as store)."""
    entries = {}
    for k, v in verdicts.items():
        doc = _verdict_json(v)
        if verdicts_from_json([json.loads(_canonical(doc))]) == (v,):
            entries[k] = doc
    store_many(entries)
