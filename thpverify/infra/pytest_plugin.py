"""pytest plugin: spec files as tests, one item per property x version.

Registered through the `pytest11` entry point, so `pytest specs/` collects
every `.thp` file that declares a property as a test file, and each of its
properties on each version as a test item named `property[version]`:

    specs/properties.thp::huge_fault_stays_fault_eligible[v6.1]

A spec file is checked within the library formed by its directory (as
`thpverify check DIR` does: the versions a property ranges over live in
other files). An item passes when the verdict is the expected one; any
other verdict fails with the counterexample and the deciding rule in the
failure text, so `pytest --junitxml` reports it as CI expects.

Only files that declare properties are collected, and only where pytest
looks: a project keeps spec fixtures out with `collect_ignore` or
`collect_ignore_glob` in a conftest.py (our own tests/conftest.py ignores
every .thp file under tests/), turns collection off with the ini
option `thpverify_collect = false`, or disables the plugin with
`-p no:thpverify`. Lark is imported only when a spec file is collected and
Z3 only when an item runs.

Verdicts come from the result cache that `thpverify check` uses
(infra.cache, under the digest of what each check reads, infra.cone):
THPVERIFY_CACHE_DIR chooses it (`off` turns it off), and `--thpverify-no-cache`
checks every item again without reading or writing it. A verdict that is an
error or unknown is never stored.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..results import VerdictKind

if TYPE_CHECKING:
    from .. import model as m
    from ..results import Verdict

_DECLARES_PROPERTY = re.compile(r"^\s*property\s+[A-Za-z_]", re.MULTILINE)


class _Libraries:
    """One library per spec directory, one solver per library and the
    cache keys of its checks, for the session."""

    def __init__(self, root: Path, use_cache: bool) -> None:
        self.root = root
        self.use_cache = use_cache
        self.libs: dict[Path, m.Library] = {}
        self.solvers: dict[Path, Any] = {}
        self.keys: dict[Path, dict[tuple[str, int], str]] = {}
        self.known: dict[Path, dict[tuple[str, int], Verdict]] = {}
        self.fresh: dict[str, Verdict] = {}  # stored at the end of the session

    def library(self, folder: Path) -> m.Library:
        if folder not in self.libs:
            from ..lang.library import search_path
            from ..lang.resolve import load
            from ..lang.typecheck import typecheck

            # Specs in a project's own folder import the bundled library as `check` does.
            self.libs[folder] = typecheck(load([folder], display_root=self.root, search=search_path([folder])))
        return self.libs[folder]

    def solver(self, folder: Path) -> Any:
        if folder not in self.solvers:
            from ..backend.solver import Solver

            self.solvers[folder] = Solver(self.library(folder))
        return self.solvers[folder]

    def verdict(self, folder: Path, property_name: str, version: str) -> Verdict:
        """The verdict of one check: from the cache when it holds it, else solved (and stored)."""
        from . import cache

        lib = self.library(folder)
        index, inst = next((n, i) for n, i in enumerate(lib.properties[property_name].instances) if i.version == version)
        if folder not in self.keys:
            from .cone import instance_keys

            self.keys[folder] = instance_keys(lib, cache.fingerprint()) if self.use_cache and cache.directory() else {}
            self.known[folder] = cache.load_verdicts(self.keys[folder])
        hit = self.known[folder].get((property_name, index))
        if hit is not None and (hit.property_name, hit.version, hit.expected) == (property_name, version, inst.expected):
            return hit
        verdict: Verdict = self.solver(folder).check(inst)
        key = self.keys[folder].get((property_name, index))
        if key is not None and verdict.verdict not in (VerdictKind.ERROR, VerdictKind.UNKNOWN):
            self.fresh[key] = verdict
        return verdict

    def store(self) -> None:
        """Store the verdicts solved in this session (a cache that is not private is only not used)."""
        from . import cache

        with contextlib.suppress(cache.CacheRefusedError):
            cache.store_verdicts(self.fresh)
        self.fresh = {}


_LIBRARIES = pytest.StashKey[_Libraries]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("thpverify_collect", type="bool", default=True,
                  help="collect .thp spec files that declare properties as tests (thpverify)")
    parser.addoption("--thpverify-no-cache", action="store_true", default=False,
                     help="check every spec item again, neither reading nor writing thpverify's result cache")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_LIBRARIES] = _Libraries(config.rootpath, not config.getoption("thpverify_no_cache"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[_LIBRARIES].store()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix != ".thp" or not parent.config.getini("thpverify_collect"):
        return None
    try:
        text = file_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not _DECLARES_PROPERTY.search(text):
        return None
    spec: SpecFile = SpecFile.from_parent(parent, path=file_path)
    return spec


class SpecFile(pytest.File):
    """A .thp file: its properties, each on every version it ranges over."""

    def collect(self) -> Iterator[PropertyItem]:
        from ..lang.diagnostics import SpecError

        libraries = self.config.stash[_LIBRARIES]
        folder = self.path.parent.resolve()
        try:
            lib = libraries.library(folder)
        except SpecError as exc:
            raise self.CollectError(_diagnostics(exc, libraries.root)) from None
        here = self.path.resolve()
        for prop in lib.properties.values():
            if (libraries.root / prop.span.file).resolve() != here:
                continue
            for inst in prop.instances:
                name = f"{prop.name}[{inst.version}]" if inst.version else prop.name
                yield PropertyItem.from_parent(self, name=name, folder=folder, property_name=prop.name,
                                               version=inst.version, line=prop.span.line)


class UnexpectedVerdictError(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.property_name)
        self.verdict = verdict


class PropertyItem(pytest.Item):
    """One property on one version: passes when the verdict is the expected one."""

    def __init__(self, *, folder: Path, property_name: str, version: str, line: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = folder
        self.property_name = property_name
        self.version = version
        self.line = line

    def runtest(self) -> None:
        verdict = self.config.stash[_LIBRARIES].verdict(self.folder, self.property_name, self.version)
        self.user_properties.append(("verdict", verdict.verdict))
        self.user_properties.append(("expected", verdict.expected or ""))
        if not verdict.as_expected:
            raise UnexpectedVerdictError(verdict)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        if isinstance(excinfo.value, UnexpectedVerdictError):
            from ..render.sarif import details, headline

            v = excinfo.value.verdict
            return f"{headline(v)}\n{details(v)}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, max(self.line - 1, 0), self.name


def _diagnostics(exc: Exception, root: Path) -> str:
    from ..lang.diagnostics import SpecError
    from ..render import text as render_text

    assert isinstance(exc, SpecError)
    sources: dict[str, str] = {}
    for d in exc.diagnostics:
        try:
            sources[d.span.file] = (root / d.span.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            sources[d.span.file] = ""
    return render_text.diagnostics(exc.diagnostics, sources)
