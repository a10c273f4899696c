"""A finished check, replayed when nothing it read has changed.

`thpverify check` stores what it wrote (stdout, stderr, the --output file,
the exit code) under a key of its options: the command line, the working
directory, $THPVERIFY_PATH, the installation and thpverify itself
(cache.key). With the output it records how the load found its files:
the paths named, the import search directories, and each file read, in
order, by the path it was reached through, its real path, size,
modification time and content digest.

A later run with the same key replays that output without parsing only
when the files are found again exactly so: the named directories walked as
the loader walks them, each file's imports looked up along the same
directories as the loader looks them up (so a new file that would shadow an
import is a miss, as is a re-pointed link), and every file's content
hashed again (content decides, not the modification time). Anything else
(a file changed, gone or added, an import that reads differently, a damaged
entry) is a miss, and the check runs as usual. This module imports
neither z3 nor lark: a replay costs the hashing of the spec files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Diagnostic
from ..lang.files import SPEC_SUFFIX, import_place, spec_files
from . import cache

_MAX_FILES = 10_000

# The tokens the loader's lexer (lang/grammar.lark) reads around an import:
# comments and strings hide what is inside them; `import` then a string is an import.
_TOKENS = re.compile(r'//[^\n]*|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/|"[^"\\\n]*(?:\\.[^"\\\n]*)*"|\bimport\b')


@dataclass(frozen=True)
class Output:
    """What a check wrote: stdout, stderr, the --output file's text, the exit code."""

    stdout: str
    stderr: str
    file: str | None
    code: int


class _ChangedError(Exception):
    """The files are not found as they were recorded."""


def key(options: Mapping[str, object]) -> str | None:
    """The key of a check run with these options here; None when the cache is off."""
    if cache.directory() is None:
        return None
    return cache.key({"replay": dict(options), "cwd": os.getcwd(), "THPVERIFY_PATH": os.environ.get("THPVERIFY_PATH", ""),
                      "package": str(Path(cache.__file__).resolve().parent.parent)})


def replay(k: str) -> Output | None:
    """The output recorded under k, when every file is found as it was; else None."""
    doc = cache.load(k)
    try:
        if not isinstance(doc, dict) or set(doc) != {"named", "dirs", "files", "output"}:
            raise _ChangedError
        named = [(Path(_str(p)), _flag(d)) for p, d in _pairs(doc["named"])]
        if any(p.is_dir() != is_dir for p, is_dir in named):
            raise _ChangedError
        files = _pairs_of(doc["files"])
        found = _walk([p for p, _ in named], [Path(_str(d)) for d in _list(doc["dirs"])], files)
        out = _list(doc["output"])
        if not files or [f[:3] + f[4:] for f in found] != [f[:3] + f[4:] for f in files] or len(out) != 4:
            raise _ChangedError
        if (out[2] is not None and not isinstance(out[2], str)) or type(out[3]) is not int:
            raise _ChangedError
        return Output(_str(out[0]), _str(out[1]), out[2], out[3])
    except (_ChangedError, OSError, ValueError, TypeError):
        return None


def record(k: str, named: Sequence[Path], dirs: Sequence[Path], read: Sequence[tuple[str, str]], output: Output) -> None:
    """Store the output under k, with how the files were found: `read` is
    the load's (real path, text) of each file in the order read, `dirs`
    its import search directories. Nothing is stored when the files, found
    again now, are not those the load read (an edit in between, or an
    import this module cannot follow, such as a path with escapes)."""
    found = unchanged(named, dirs, read)
    if found is None:
        return
    with contextlib.suppress(cache.CacheRefusedError):  # said once already, by the verdicts' store
        cache.store(k, {"named": [[str(p), p.is_dir()] for p in named], "dirs": [str(d) for d in dirs], "files": found,
                        "output": [output.stdout, output.stderr, output.file, output.code]})


def unchanged(named: Sequence[Path], dirs: Sequence[Path], read: Sequence[tuple[str, str]]) -> list[list[Any]] | None:
    """The files a load would read now, found as the loader finds them (see
    _walk), when they are those a load read: `read` holds its (real path,
    text) of each file, in order. None when they differ."""
    try:
        found = _walk(list(named), list(dirs), None)
    except (_ChangedError, OSError, ValueError):
        return None
    if [f[1] for f in found] != [real for real, _ in read] or \
            [f[4] for f in found] != [hashlib.sha256(text.encode()).hexdigest() for _, text in read]:
        return None
    return found


def _walk(named: list[Path], dirs: list[Path], recorded: list[Any] | None) -> list[list[Any]]:
    """Each file the loader reads, in its order, as [path reached, real path,
    size, mtime_ns, sha256]; with `recorded`, stop at the first difference."""
    queue = _spec_files(named)
    seen: set[str] = set()
    found: list[list[Any]] = []
    while queue:
        path = queue.pop(0)
        real = os.path.realpath(path, strict=True)
        data, st = _read(real)
        entry = [str(path), real, len(data), st.st_mtime_ns, hashlib.sha256(data).hexdigest()]
        if recorded is not None:
            n = len(found) if real not in seen else None
            if n is not None and (n >= len(recorded) or recorded[n][:3] != entry[:3] or recorded[n][4] != entry[4]):
                raise _ChangedError
        if real in seen:
            continue
        seen.add(real)
        found.append(entry)
        if len(found) > _MAX_FILES:
            raise _ChangedError
        for wanted in _imports(data.decode("utf-8")):
            queue.append(_find(wanted, path.parent, dirs))
    return found


def _read(real: str) -> tuple[bytes, os.stat_result]:
    """A regular file's bytes, never blocking on a FIFO."""
    fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > cache.MAX_ENTRY:
            raise _ChangedError
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(cache.MAX_ENTRY + 1), st
    finally:
        os.close(fd)


def _spec_files(named: list[Path]) -> list[Path]:
    """The files named, and the .thp files inside named directories, as the loader lists them."""
    problems: list[Diagnostic] = []
    found = spec_files(named, problems)
    if problems:
        raise _ChangedError
    return found


def _imports(text: str) -> list[str]:
    """The file names a spec imports, in order. _ChangedError when an
    `import` is not followed by a plain string (a comment in between, an
    escape in the name): such a spec is not replayed."""
    names: list[str] = []
    after_import = -1
    for t in _TOKENS.finditer(text):
        token = t.group(0)
        if after_import >= 0:
            if not token.startswith('"') or "\\" in token or text[after_import:t.start()].strip(" \t\r\n\f"):
                raise _ChangedError
            names.append(token[1:-1])
        after_import = t.end() if token == "import" else -1
    if after_import >= 0:
        raise _ChangedError
    return names


def _find(wanted: str, here: Path, dirs: list[Path]) -> Path:
    """Where the loader finds an import (lang.files.import_place)."""
    place = import_place(wanted, here, dirs) if wanted.endswith(SPEC_SUFFIX) else None
    if place is None:
        raise _ChangedError
    return place


def _pairs(x: object) -> list[tuple[object, object]]:
    if not isinstance(x, list) or not all(isinstance(i, list) and len(i) == 2 for i in x):
        raise _ChangedError
    return [(i[0], i[1]) for i in x]


def _pairs_of(x: object) -> list[list[Any]]:
    if not isinstance(x, list) or not all(isinstance(i, list) and len(i) == 5 for i in x):
        raise _ChangedError
    return x


def _list(x: object) -> list[Any]:
    if not isinstance(x, list):
        raise _ChangedError
    return x


def _str(x: object) -> str:
    if not isinstance(x, str):
        raise _ChangedError
    return x


def _flag(x: object) -> bool:
    if not isinstance(x, bool):
        raise _ChangedError
    return x
