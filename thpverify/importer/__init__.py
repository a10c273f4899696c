"""Read the kernel's own C: a release from its source tree, a candidate
patch from its diff, as `.thp` version specs (tree-sitter-c parses the C;
the abstraction map, specs/abstraction.map, says what each expression is).
"""

from __future__ import annotations

from pathlib import Path

from .absmap import AbstractionMap, load_map
from .ctree import KernelTree
from .spec import Imported, build_spec


def import_tree(root: Path, name: str | None = None, amap: AbstractionMap | None = None,
                overlay: dict[str, str] | None = None) -> Imported:
    """The version spec of the tree at root; raises SpecError (located) when
    the C holds something the map does not cover."""
    amap = amap or load_map()
    tree = KernelTree(root, dict(overlay or {}), dict(amap.config))
    return build_spec(tree, amap, name)


__all__ = ["Imported", "import_tree"]
