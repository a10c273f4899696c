"""A kernel source tree as the importer reads it: files (with patched
contents laid over them in memory), the release from the Makefile, and the
function definitions of the files read, parsed with tree-sitter-c.

Preprocessor branches are chosen by the map's `config` entries; a branch
whose condition the map does not settle is read too, and the first
definition of a name wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import tree_sitter_c
from tree_sitter import Language, Node, Parser

from ..lang.diagnostics import Diagnostic, SpecError
from ..lang.nodes import Span

# The files whose functions the importer may read, in search order.
FILES = ("mm/huge_memory.c", "include/linux/huge_mm.h", "mm/shmem.c", "include/linux/shmem_fs.h",
         "include/linux/mm.h", "mm/khugepaged.c", "include/linux/khugepaged.h", "fs/proc/task_mmu.c", "mm/memory.c")


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_c.language()))


@dataclass(frozen=True)
class Function:
    name: str
    file: str  # relative to the tree
    node: Node

    @property
    def first_line(self) -> int:
        return self.node.start_point[0] + 1

    @property
    def last_line(self) -> int:
        return self.node.end_point[0] + 1


@dataclass(frozen=True)
class Macro:
    name: str
    file: str
    line: int
    node: Node  # the value, parsed as an expression
    tree: object  # keeps the parse alive


@dataclass
class KernelTree:
    root: Path
    overlay: dict[str, str] = field(default_factory=dict)  # relative path -> patched text
    config: dict[str, bool] = field(default_factory=dict)
    _parsed: dict[str, dict[str, Function]] = field(default_factory=dict)
    _macros: dict[str, Macro | None] = field(default_factory=dict)

    def read(self, rel: str) -> str | None:
        if rel in self.overlay:
            return self.overlay[rel]
        try:
            return (self.root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def display(self, rel: str) -> str:
        shown = str(self.root / rel)
        return f"{shown} (patched)" if rel in self.overlay else shown

    def release(self) -> str:
        """VERSION.PATCHLEVEL.SUBLEVEL from the top-level Makefile."""
        text = self.read("Makefile")
        where = Span(self.display("Makefile"), 1, 1, 1, 1)
        if text is None:
            raise SpecError([Diagnostic(where, "I001", f"{self.root} has no Makefile: is it a kernel source tree?")])
        parts = {}
        for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
            found = re.search(rf"^{key}\s*=\s*(\d+)\s*$", text, re.M)
            if not found:
                raise SpecError([Diagnostic(where, "I002", f"the Makefile sets no {key}")])
            parts[key] = found.group(1)
        return f"{parts['VERSION']}.{parts['PATCHLEVEL']}.{parts['SUBLEVEL']}"

    def function(self, name: str) -> Function | None:
        """The first definition of name in FILES order; files are parsed as the search reaches them."""
        for rel in FILES:
            fn = self._file(rel).get(name)
            if fn is not None:
                return fn
        return None

    def macro(self, name: str) -> Macro | None:
        """The object-like #define of name in FILES order (its value parsed as an expression)."""
        if name not in self._macros:
            self._macros[name] = None
            pattern = re.compile(rf"^[ \t]*#[ \t]*define[ \t]+{re.escape(name)}[ \t]+((?:.*\\\n)*.*)$", re.M)
            for rel in FILES:
                text = self.read(rel)
                found = pattern.search(text) if text is not None else None
                if found:
                    value = re.sub(r"\\\n", " ", found.group(1))
                    value = re.sub(r"/\*.*?\*/|//.*$", " ", value).strip()
                    tree = _parser().parse(f"int __thpverify_macro = {value};".encode())
                    decl = tree.root_node.named_children[0] if tree.root_node.named_children else None
                    init = decl.child_by_field_name("declarator") if decl is not None else None
                    node = init.child_by_field_name("value") if init is not None else None
                    if node is not None and not node.has_error:
                        line = text[:found.start()].count("\n") + 1 if text else 0
                        self._macros[name] = Macro(name, rel, line, node, tree)
                    break
        return self._macros[name]

    def functions(self) -> dict[str, Function]:
        found: dict[str, Function] = {}
        for rel in FILES:
            for name, fn in self._file(rel).items():
                found.setdefault(name, fn)
        return found

    def _file(self, rel: str) -> dict[str, Function]:
        if rel not in self._parsed:
            text = self.read(rel)
            fns: dict[str, Function] = {}
            if text is not None:
                tree = _parser().parse(text.encode("utf-8"))
                for fn in _definitions(tree.root_node, rel, self.config):
                    fns.setdefault(fn.name, fn)
            self._parsed[rel] = fns
        return self._parsed[rel]


def _definitions(node: Node, rel: str, config: dict[str, bool]) -> list[Function]:
    out: list[Function] = []
    for child in live_children(node, config):
        if child.type == "function_definition":
            name = function_name(child)
            if name:
                out.append(Function(name, rel, child))
        elif child.type.startswith("preproc_") or child.type in ("linkage_specification", "declaration_list"):
            out.extend(_definitions(child, rel, config))
    return out


def live_children(node: Node, config: dict[str, bool]) -> list[Node]:
    """Children of a node, with #if/#ifdef branches the config rules out left out."""
    if node.type not in ("preproc_ifdef", "preproc_if", "preproc_elif", "preproc_elifdef"):
        return [c for c in node.children if c.type not in ("else", "elif")]
    taken = preproc_value(node, config)
    alternative = node.child_by_field_name("alternative")
    body = [c for c in node.children if c.is_named and c.type != "comment" and c != alternative
            and c != node.child_by_field_name("name") and c != node.child_by_field_name("condition")]
    if taken is True:
        return body
    if taken is False:
        return [alternative] if alternative is not None else []
    return body + ([alternative] if alternative is not None else [])


def preproc_value(node: Node, config: dict[str, bool]) -> bool | None:
    """What the map says of an #if/#ifdef condition: True, False, or None (unknown)."""
    text = node.text.decode("utf-8", "replace") if node.text else ""
    first = text.split("\n", 1)[0]
    found = re.match(r"#\s*(ifdef|ifndef|if|elif)\s+(?:(?:defined|IS_ENABLED)\s*\(\s*)?(\w+)\s*\)?\s*$", first)
    if not found or found.group(2) not in config:
        return None
    value = config[found.group(2)]
    return not value if found.group(1) == "ifndef" else value


def function_name(node: Node) -> str | None:
    d = node.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    if d is None:
        return None
    name = d.child_by_field_name("declarator")
    return name.text.decode() if name is not None and name.text else None
