"""Where specs come from: the bundled library, or paths a user names, with
imports looked up along the search path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .. import model as m
    from .resolve import SearchPath

# The passes recurse along a spec's nesting, which the parser (E005) and the
# type checker (E044: 600 levels along a chain of calls) bound; a few frames
# a level need more than Python's default of 1000. Set once, when the
# loader is first imported.
RECURSION_LIMIT = 20_000
if sys.getrecursionlimit() < RECURSION_LIMIT:
    sys.setrecursionlimit(RECURSION_LIMIT)


def bundled_path() -> Path:
    """The spec library shipped inside the package (specs/ in a checkout)."""
    installed = Path(__file__).resolve().parent.parent / "specs"
    if any(installed.glob("*.thp")):
        return installed
    return Path(__file__).resolve().parent.parent.parent / "specs"


def search_path(paths: list[Path] | None = None, include: list[Path] | None = None) -> SearchPath:
    """Imports resolve in the importing file's directory, then each named
    directory and -I directory, then $THPVERIFY_PATH, then the bundled library."""
    from .resolve import SearchPath

    return SearchPath.make(list(paths or []), list(include or []), bundled_path())


def load_library(paths: list[Path] | None = None, include: list[Path] | None = None,
                 extra: list[Path] | None = None, arch: str | None = None) -> m.Library:
    """Parse, resolve and type-check `paths` (default: the bundled library)
    and `extra` (files loaded beside them, e.g. a candidate patch); raises
    SpecError with every problem found."""
    from .resolve import load
    from .typecheck import typecheck

    named = list(paths or [bundled_path()]) + list(extra or [])
    return typecheck(load(named, search=search_path(named, include), arch=arch))
