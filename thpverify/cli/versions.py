"""`thpverify versions`: the releases the library models, and where each was read.

A version is `read` when its spec names the tree it was transcribed from
(repository and commit), `patch` when it is a release with a patch applied
(its release says `+`), and `inferred` when no source of that release was
read (the spec names no repository; its note says what it was inferred
from). Nothing here proves anything: it lists the specs' own attributes.

Like main.py, nothing here imports z3 or lark at import time.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from .common import EXIT_OK, library

if TYPE_CHECKING:
    from .. import model as m

SHORT_COMMIT = 12


@dataclass(frozen=True)
class VersionEntry:
    name: str
    release: str
    status: str  # read, patch or inferred
    repository: str
    commit: str
    extends: str
    spec: str
    summary: str
    note: str


def register(sub: Any, common: argparse.ArgumentParser, library: argparse.ArgumentParser) -> None:
    v = sub.add_parser("versions", parents=[common, library],
                       help="the modelled releases: source tree, and whether each was read or inferred")
    v.set_defaults(run=cmd_versions)


def catalogue(lib: m.Library) -> tuple[VersionEntry, ...]:
    """One entry per version, in the library's release order."""
    entries = []
    for name, v in lib.versions.items():
        release, repository = v.get("release"), v.get("repository")
        entries.append(VersionEntry(name, release, lib.provenance(name), repository, v.get("commit"), v.base or "",
                                    v.span.file, v.get("summary"), v.get("note")))
    return tuple(entries)


def text(entries: tuple[VersionEntry, ...]) -> str:
    """A table, then each version's summary (and note) below it."""
    rows = [("version", "release", "status", "source tree", "extends", "spec")]
    for e in entries:
        tree = f"{e.repository} @{e.commit[:SHORT_COMMIT]}" if e.repository else "(none read)"
        rows.append((e.name, e.release, e.status, tree, e.extends or "-", e.spec))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    lines.append("")
    for e in entries:
        lines.append(f"{e.name}: {e.summary}" if e.summary else f"{e.name}:")
        if e.note:
            lines.append(f"  note: {e.note}")
    counts = {s: sum(e.status == s for e in entries) for s in ("read", "patch", "inferred")}
    lines.append("")
    patches = "patch" if counts["patch"] == 1 else "patches"
    lines.append(f"{len(entries)} versions: {counts['read']} read, {counts['patch']} {patches}, {counts['inferred']} inferred")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def as_json(entries: tuple[VersionEntry, ...]) -> str:
    from ..render.json import envelope

    return envelope("versions", {"versions": entries})


def cmd_versions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    entries = catalogue(library(args.spec, args.include, arch=args.arch))
    out.write(as_json(entries) if args.json else text(entries))
    return EXIT_OK
