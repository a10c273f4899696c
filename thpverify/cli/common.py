"""What every command shares: exit codes, the usage error, loading the
specs (with the result cache), and reading ATOM=VALUE settings.

Exit codes follow CBMC's contract: 0 all as expected; 10 a verdict differs
from its expectation or a property fails; 5 inconclusive (unknown,
timeout); 2 spec or usage error; 6 internal error. Like every cli module,
this one imports neither z3 nor lark at import time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .. import model as m
    from ..results import Fixed, Verdict

from ..errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_SPEC, EXIT_UNKNOWN, UsageError
from ..model import TypeKind
from ..results import VerdictKind

__all__ = ["EXIT_FAILED", "EXIT_INTERNAL", "EXIT_OK", "EXIT_SPEC", "EXIT_UNKNOWN", "UsageError", "checked", "known_version",
           "library", "nothing_to_check", "parse_value", "parse_values"]


def _exist(paths: Sequence[Path]) -> None:
    for p in paths:
        if not os.path.lexists(p):
            raise UsageError(f"{p}: no such file or directory")


def library(paths: list[Path] | None, include: list[Path] | None = None, extra: list[Path] | None = None,
            arch: str | None = None) -> m.Library:
    """The specs, parsed and type-checked: never read back from a cache
    (only check verdicts are cached, as data). A process that loads the
    same specs again (the tests, which run many commands in one process)
    is given the library it loaded before, when every file is found again
    as that load read it (infra.warm.unchanged: the same files, resolved the
    same way, with the same content)."""
    from ..lang.library import bundled_path, load_library, search_path

    _exist([*(paths or []), *(include or []), *(extra or [])])
    named = list(paths or [bundled_path()]) + list(extra or [])
    key = repr(([str(p) for p in named], [str(p) for p in include or []], arch, os.getcwd(), os.environ.get("THPVERIFY_PATH")))
    if key in _LOADED:
        from ..infra.warm import unchanged

        lib = _LOADED.pop(key)
        if unchanged(named, search_path(named, include).dirs, [(lib.paths[shown], lib.sources[shown]) for shown in lib.files]):
            _LOADED[key] = lib
            return lib
    lib = load_library(paths or None, include, extra, arch)
    _LOADED[key] = lib
    while len(_LOADED) > 4:
        del _LOADED[next(iter(_LOADED))]
    return lib


_LOADED: dict[str, m.Library] = {}  # the last loads of this process, by their options


def nothing_to_check(lib: m.Library) -> None:
    """A spec that names no property to check is an error, never a pass."""
    from ..lang.diagnostics import Diagnostic, SpecError
    from ..location import Span

    if any(p.instances for p in lib.properties.values()):
        return
    first = lib.files[0] if lib.files else "<no spec>"
    named = ", ".join(lib.files[:3]) + (", ..." if len(lib.files) > 3 else "")
    raise SpecError([Diagnostic(
        Span(first, 1, 1, 1, 1), "E019", f"nothing to check: no property in the {len(lib.files)} spec files read ({named})",
        'import "properties.thp" (the bundled properties) in your spec, or run '
        "thpverify patch BASE YOUR.thp to check a candidate against its base")])


def checked(paths: list[Path], jobs: int | None, use_cache: bool, include: list[Path] | None = None,
            arch: str | None = None, err: TextIO | None = None, quiet: bool = False) -> tuple[m.Library, tuple[Verdict, ...]]:
    """The library and its verdicts. With the cache, each check's verdict is
    read back under the digest of what it reads (infra.cone: its instance,
    the functions it reaches, the vocabulary, this thpverify), so an edit
    re-checks only the checks that read what changed; the new verdicts are
    stored when none is an error or unknown. A cache directory that is not
    private is refused with a warning on err, and the run goes on without it."""
    from ..infra import cache
    from ..infra.cone import instance_keys
    from ..infra.runner import check_all

    lib = library(paths, include, arch=arch)
    items = [(name, i) for name, prop in lib.properties.items() for i in range(len(prop.instances))]
    keys = instance_keys(lib, cache.fingerprint()) if use_cache and cache.directory() is not None else {}
    known = {item: v for item, v in cache.load_verdicts(keys).items() if _answers(lib, item, v)}
    with progress(err, len(items) - len(known), "checks", quiet) as tick:
        verdicts = check_all(lib, jobs, progress=tick, known=known)
    fresh = {keys[item]: v for item, v in zip(items, verdicts, strict=True)
             if item in keys and item not in known and v.verdict not in (VerdictKind.ERROR, VerdictKind.UNKNOWN)}
    try:
        cache.store_verdicts(fresh)
    except cache.CacheRefusedError as exc:
        if err is not None:
            err.write(f"thpverify: warning: not using the result cache: {exc}\n")
    return lib, verdicts


def _answers(lib: m.Library, item: tuple[str, int], v: Verdict) -> bool:
    """A cached verdict is the one of this check (its key says so; this is a second look)."""
    inst = lib.properties[item[0]].instances[item[1]]
    return (v.property_name, v.version, v.expected) == (inst.property_name, inst.version, inst.expected)


@contextlib.contextmanager
def progress(err: TextIO | None, total: int, unit: str, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (tqdm) for work that may take more than a
    second: only on a terminal, never with --quiet, and gone when done, so
    what is written to a file or a pipe is the same with or without it."""
    if quiet or err is None or not err.isatty() or total < 2:
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, file=err, leave=False, mininterval=0.5, delay=1.0, dynamic_ncols=True) as bar:
        yield bar.update


def known_version(lib: m.Library, version: str) -> None:
    from ..lang.diagnostics import did_you_mean

    if version not in lib.versions:
        hint = did_you_mean(version, lib.versions)
        raise UsageError(f"no version '{version}'" + (f"; {hint}" if hint else "")
                         + "\nversions: " + ", ".join(lib.versions))


def parse_value(lib: m.Library, text: str) -> list[Fixed]:
    """ATOM=VALUE, ATOM[k]=VALUE -> coordinates; raises UsageError."""
    from ..lang.diagnostics import did_you_mean
    from ..results import Fixed

    if "=" not in text:
        raise UsageError(f"'{text}': expected ATOM=VALUE")
    name, raw = (s.strip() for s in text.split("=", 1))
    element = None
    if name.endswith("]") and "[" in name:
        name, index = name[:-1].split("[", 1)
        element = _order(lib, index, text)
    atom = lib.atoms.get(name)
    if atom is None:
        hint = did_you_mean(name, lib.atoms)
        raise UsageError(f"unknown atom '{name}'" + (f"; {hint}" if hint else ""))
    kind = atom.type.kind
    if element is not None:
        if kind is not TypeKind.SET:
            raise UsageError(f"'{name}' is not a set; write {name}={raw}")
        universe = lib.universes[atom.type.name]
        if element not in universe.elements:
            raise UsageError(f"{element} is not in universe {atom.type.name} {list(universe.elements)}")
        return [Fixed(name, element, _bool(raw, text))]
    if kind is TypeKind.BOOL:
        return [Fixed(name, None, _bool(raw, text))]
    if kind is TypeKind.ENUM:
        if raw not in atom.values:
            hint = did_you_mean(raw, atom.values)
            raise UsageError(f"'{raw}' is not a value of {name}: {', '.join(atom.values)}" + (f"; {hint}" if hint else ""))
        return [Fixed(name, None, raw)]
    universe = lib.universes[atom.type.name]
    members = {_order(lib, x, text) for x in raw.strip("{}").replace(" ", "").split(",") if x}
    outside = sorted(members - set(universe.elements))
    if outside:
        raise UsageError(f"{outside[0]} is not in universe {atom.type.name} {list(universe.elements)}")
    return [Fixed(name, None, sum(1 << k for k in members))]


def _bool(raw: str, whole: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise UsageError(f"'{whole}': expected true or false")


def _order(lib: m.Library, raw: str, whole: str) -> int:
    """A number, or a named constant of the specs (PMD_ORDER)."""
    value = lib.constant(raw)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _int(raw, whole)


def _int(raw: str, whole: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"'{whole}': '{raw}' is not a number") from None


def parse_values(lib: m.Library, texts: Sequence[str], memo: dict[str, list[Fixed]] | None = None) -> list[Fixed]:
    """Several ATOM=VALUE texts -> coordinates, each once; raises UsageError
    when one coordinate is given two values. `memo` keeps texts already
    parsed (a batch repeats them)."""
    given: list[Fixed] = []
    for text in texts:
        if memo is None:
            given.extend(parse_value(lib, text))
            continue
        if text not in memo:
            if len(memo) > 100_000:
                memo.clear()
            memo[text] = parse_value(lib, text)
        given.extend(memo[text])
    seen: dict[tuple[str, int | None], object] = {}
    for f in given:
        key = (f.atom, f.element)
        if key in seen and seen[key] != f.value:
            raise UsageError(f"'{f.atom}' is given two values")
        seen[key] = f.value
    return list({(f.atom, f.element): f for f in given}.values())


