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
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .. import model as m
    from ..results import Verdict

_DECLARES_PROPERTY = re.compile(r"^\s*property\s+[A-Za-z_]", re.MULTILINE)


class _Libraries:
    """One library per spec directory and one solver per library, for the session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.libs: dict[Path, m.Library] = {}
        self.solvers: dict[Path, Any] = {}

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


_LIBRARIES = pytest.StashKey[_Libraries]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("thpverify_collect", type="bool", default=True,
                  help="collect .thp spec files that declare properties as tests (thpverify)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_LIBRARIES] = _Libraries(config.rootpath)


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
        libraries = self.config.stash[_LIBRARIES]
        lib = libraries.library(self.folder)
        inst = next(i for i in lib.properties[self.property_name].instances if i.version == self.version)
        verdict: Verdict = libraries.solver(self.folder).check(inst)
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
