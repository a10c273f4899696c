"""Read the kernel's own C: a release from its source tree, a candidate
patch from its diff, as `.thp` version specs (tree-sitter-c parses the C;
the abstraction map, specs/abstraction.map, says what each expression is).
"""

from __future__ import annotations

from pathlib import Path

from ..lang.diagnostics import Diagnostic, SpecError
from ..lang.nodes import Span
from .absmap import AbstractionMap, load_map
from .ctree import KernelTree
from .spec import Imported, build_spec
from .unidiff import apply, parse_patches


def import_tree(root: Path, name: str | None = None, amap: AbstractionMap | None = None,
                overlay: dict[str, str] | None = None) -> Imported:
    """The version spec of the tree at root; raises SpecError (located) when
    the C holds something the map does not cover."""
    amap = amap or load_map()
    tree = KernelTree(root, dict(overlay or {}), dict(amap.config))
    return build_spec(tree, amap, name)


def import_patched(root: Path, diff_text: str, base_name: str, name: str | None = None, source: str = "<diff>",
                   amap: AbstractionMap | None = None) -> Imported:
    """The version spec of the tree at root with the diff applied in memory,
    named `name` (default BASE+diff), to be compared with version base_name.
    Raises SpecError, located in the diff, when a hunk does not apply or when
    the diff changes none of the functions read."""
    amap = amap or load_map()
    tree = KernelTree(root, {}, dict(amap.config))
    patches = parse_patches(diff_text, source)
    overlay = apply(tree, patches, source)
    patched = KernelTree(root, overlay, dict(amap.config))
    before = build_spec(tree, amap)
    subjects = [p.subject for p in patches if p.subject]
    release = before.release + " + " + (", ".join(dict.fromkeys(subjects)) if subjects else Path(source).name)
    meta = (("title", subjects[-1].replace('"', "'")),) if subjects else ()
    after = build_spec(patched, amap, name or f"{base_name}+diff", release.replace('"', "'"), meta)
    if not _changed(tree, patched, before, after):
        read = ", ".join(sorted(set(before.functions) | set(after.functions)))
        raise SpecError([Diagnostic(Span(source, patches[0].line, 1, patches[0].line, 1), "I021",
                                    f"the diff changes none of the functions the importer reads ({read})")])
    return after


def _changed(tree: KernelTree, patched: KernelTree, before: Imported, after: Imported) -> bool:
    if before.functions != after.functions:
        return True
    for entry in before.functions:
        name = entry.split(":", 1)[1]
        old, new = tree.function(name), patched.function(name)
        if old is None or new is None or old.node.text != new.node.text:
            return True
    return False


__all__ = ["Imported", "import_patched", "import_tree"]
