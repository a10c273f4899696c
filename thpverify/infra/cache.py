"""Check results cached by content.

A second `thpverify check` of the same specs, by the same thpverify on the
same Z3, reads its verdicts back instead of solving again. The key is a
hash of: the package's own source (any change to thpverify misses), the
Python and Z3 versions, the options that change results, and the text of
every spec file named on the command line or found in a named directory.
An entry also records the hash of every file the library read (imports
included), and is used only if all of them are unchanged.

The cache lives in $THPVERIFY_CACHE_DIR, else $XDG_CACHE_HOME/thpverify,
else ~/.cache/thpverify; THPVERIFY_CACHE_DIR=off turns it off. Entries are
written atomically. This module imports neither z3 nor lark: a warm run
needs neither.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent.parent


def directory() -> Path | None:
    """Where entries live, or None when caching is off."""
    chosen = os.environ.get("THPVERIFY_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "thpverify"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint() -> str:
    """thpverify's own source, and the versions of what it runs on."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in (".py", ".lark") and "specs" not in path.relative_to(_PACKAGE).parts:
            h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in ("z3", "lark"):  # their installed files, without importing them
        spec = importlib.util.find_spec(name)
        where = Path(spec.origin).parent if spec and spec.origin else None
        for f in sorted(where.glob("*")) if where else []:
            if f.is_file():
                st = f.stat()
                h.update(f"{name}/{f.name}:{st.st_size}:{st.st_mtime_ns}\0".encode())
    h.update(f"python={sys.version_info[:2]}\0format={FORMAT}".encode())
    return h.hexdigest()


def key(paths: list[Path], options: dict[str, object]) -> str | None:
    """The key for checking these spec paths with these options; None if a path cannot be read."""
    h = hashlib.sha256(fingerprint().encode())
    h.update(repr(sorted(options.items())).encode())
    try:
        for p in paths:
            files = sorted(p.rglob("*.thp")) if p.is_dir() else [p]
            for f in files:
                h.update(str(f.resolve()).encode() + b"\0" + _digest(f.read_bytes()).encode())
    except OSError:
        return None
    return h.hexdigest()


def load(k: str) -> Any | None:
    """The payload stored under k, if every file it was computed from is unchanged."""
    where = directory()
    if where is None:
        return None
    try:
        entry = pickle.loads((where / f"{k}.pickle").read_bytes())
        for path, digest in entry["files"].items():
            if _digest(Path(path).read_text(encoding="utf-8").encode()) != digest:
                return None
        return entry["payload"]
    except Exception:  # a missing, stale or damaged entry is only a miss
        return None


def store(k: str, paths: dict[str, str], sources: dict[str, str], payload: Any) -> None:
    """Record payload under k with the texts it was computed from (shown
    name -> file, shown name -> text as read); atomic."""
    where = directory()
    if where is None:
        return
    try:
        digests = {paths[shown]: _digest(text.encode()) for shown, text in sources.items()}
        where.mkdir(parents=True, exist_ok=True)
        data = pickle.dumps({"files": digests, "payload": payload}, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".entry-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, where / f"{k}.pickle")
    except OSError:
        pass  # a cache that cannot be written is only slower
