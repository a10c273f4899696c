"""`thpverify import`: a kernel source tree's own C as a version spec.

Exit codes: 0 written (or, with --check-against, equivalent to the hand
spec); 10 the imported spec differs from the hand one; 2 the tree holds C
the abstraction map does not cover (a file:line:col message), or a usage
error. tree-sitter and z3 are imported inside the command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .common import EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from .. import model as m


def register(sub: Any, common: argparse.ArgumentParser, library: argparse.ArgumentParser) -> None:
    p = sub.add_parser("import", parents=[common, library],
                       help="read a kernel source tree's eligibility functions into a .thp version spec")
    p.add_argument("--tree", type=Path, required=True, metavar="PATH", help="a kernel source tree (its top-level directory)")
    p.add_argument("--name", help="the version's name (default: import-RELEASE)")
    p.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the spec to FILE (default: standard output)")
    p.add_argument("--check-against", metavar="VERSION",
                   help="prove the imported spec equivalent to a version of the library, per caller and output")
    p.set_defaults(run=cmd_import)


def _tree(path: Path) -> Path:
    if not path.is_dir():
        raise UsageError(f"--tree {path}: not a directory")
    return path


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..importer import import_tree

    imported = import_tree(_tree(args.tree), args.name)
    if args.output is not None:
        try:
            args.output.write_text(imported.text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--output {args.output}: {exc.strerror or exc}") from None
    if args.check_against is None:
        if args.output is None:
            out.write(imported.text)
        return EXIT_OK
    from ..importer.compare import compare
    from ..render import importer as render

    lib = _with_imported(args.spec, {"imported.thp": imported.text}, imported.name, args.check_against, args.include, args.arch)
    comparisons = compare(lib, args.check_against, imported.name)
    if args.json:
        from ..render.json import envelope

        out.write(envelope("import", render.check_json(imported, args.check_against, comparisons)))
    else:
        out.write(render.check_text(imported, args.check_against, comparisons))
    return EXIT_OK if all(c.equivalent for c in comparisons) else EXIT_FAILED


def _with_imported(spec: list[Path] | None, texts: dict[str, str], name: str, against: str | None,
                   include: list[Path] | None = None, arch: str | None = None) -> m.Library:
    """The library the command names (--spec, -I, --arch) with the imported specs beside it."""
    from ..importer.compare import load_with
    from ..lang.diagnostics import SpecError

    try:
        lib = load_with(texts, spec or None, include, arch)  # the library and the import, parsed once
    except SpecError as exc:
        if any(d.code == "E011" and f"version '{name}' is already declared" in d.message for d in exc.diagnostics):
            raise UsageError(f"--name {name}: the library already has a version of that name") from None
        raise
    if against is not None and against not in lib.versions:
        raise UsageError(f"no version '{against}' in the library; versions: " + ", ".join(v for v in lib.versions if v != name))
    return lib


def candidate_library(spec: list[Path] | None, tree: Path, diff: Path, base: str, name: str | None = None,
                      include: list[Path] | None = None, arch: str | None = None) -> tuple[m.Library, str]:
    """For `thpverify patch BASE --diff FILE --tree PATH`: the library with the
    tree, patched by the diff in memory, imported as a version; returns the
    library (with -I and --arch as given) and the candidate's name. Raises UsageError (unreadable diff, no
    such base) or SpecError (a hunk that does not apply, a diff that touches
    no function read, C the map does not cover), both exit 2."""
    from ..importer import import_patched

    text = _read_diff(diff)
    imported = import_patched(_tree(tree), text, base, name, source=str(diff))
    return _with_imported(spec, {"candidate.thp": imported.text}, imported.name, base, include, arch), imported.name


MAX_DIFF_BYTES = 8 << 20


def _read_diff(path: Path) -> str:
    """A patch file's text: a regular file (never a FIFO or a device), at
    most MAX_DIFF_BYTES; its content is parsed, never printed."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"--diff {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"--diff {path}: not a regular file")
        if st.st_size > MAX_DIFF_BYTES:
            raise UsageError(f"--diff {path}: {st.st_size} bytes; a patch is at most {MAX_DIFF_BYTES}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_DIFF_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--diff {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")
