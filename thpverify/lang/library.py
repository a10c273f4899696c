"""Where specs come from: the bundled library, or paths a user names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .. import model as m


def bundled_path() -> Path:
    """The spec library shipped inside the package (specs/ in a checkout)."""
    installed = Path(__file__).resolve().parent.parent / "specs"
    if any(installed.glob("*.thp")):
        return installed
    return Path(__file__).resolve().parent.parent.parent / "specs"


def load_library(paths: list[Path] | None = None) -> m.Library:
    """Parse, resolve and type-check; raises SpecError with every problem found."""
    from .resolve import load
    from .typecheck import typecheck

    if not paths:
        root = bundled_path()
        return typecheck(load([root], display_root=root.parent))
    return typecheck(load(paths))
