"""Where the loader finds spec files, without reading them: the `.thp` files
named or inside named directories, and the file an import names. Neither
parses anything (no lark here), so the warm replay (infra/warm.py) finds
files exactly as the loader (lang/resolve.py) does."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import Diagnostic
from ..location import Span

SPEC_SUFFIX = ".thp"


def spec_files(paths: list[Path], problems: list[Diagnostic] | None = None) -> list[Path]:
    """The .thp files named, and those inside named directories, sorted.
    A directory that cannot be listed is a problem, never skipped."""
    found: list[Path] = []
    for p in paths:
        if not p.is_dir():
            found.append(p)
            continue
        inside: list[Path] = []

        def unreadable(exc: OSError, top: Path = p) -> None:
            if problems is not None:
                where = exc.filename or str(top)
                problems.append(Diagnostic(Span(str(where), 0, 0, 0, 0), "E010",
                                           f"cannot read directory {where}: {exc.strerror or exc}"))

        for top, dirnames, filenames in os.walk(p, onerror=unreadable):
            dirnames.sort()
            inside.extend(Path(top) / f for f in filenames if f.endswith(SPEC_SUFFIX))
        found.extend(sorted(inside))
    return found


def import_place(name: str, here: Path, dirs: tuple[Path, ...] | list[Path]) -> Path | None:
    """Where an import of `name` (a spec file name) resolves: itself when
    absolute, else the importing file's directory `here`, then each search
    directory in order; None when none holds it. Nothing is read."""
    wanted = Path(name)
    places = [wanted] if wanted.is_absolute() else [here / wanted] + [d / wanted for d in dirs]
    for place in places:
        if os.path.lexists(place):
            return place
    return None
