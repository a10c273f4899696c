"""Unified diffs, applied in memory: `git format-patch` output, a plain
`diff -u`, or a mail (or an mbox of mails) holding either.

`parse_patches` finds every file patch in the text, in order; `apply`
lays them over a tree's files and returns the patched texts. A hunk whose
context or removed lines are not in the file, at its line or a few lines
off, is a located error in the diff.
"""

from __future__ import annotations

import quopri
import re
from dataclasses import dataclass

from ..lang.diagnostics import Diagnostic, SpecError
from ..lang.nodes import Span
from .ctree import KernelTree

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MAX_OFFSET = 200  # lines a hunk may have moved, as patch(1) allows


@dataclass(frozen=True)
class Hunk:
    old_start: int
    new_start: int
    lines: tuple[str, ...]  # each with its ' ', '-' or '+' mark
    line: int  # where the @@ line is in the diff


@dataclass(frozen=True)
class FilePatch:
    path: str  # as the +++ line names it, prefix removed
    hunks: tuple[Hunk, ...]
    line: int
    subject: str  # the mail's Subject, if any


def parse_patches(text: str, source: str = "<diff>") -> list[FilePatch]:
    text = _decode_mail(text)
    lines = text.split("\n")
    out: list[FilePatch] = []
    subject = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("Subject: "):
            subject = line[len("Subject: "):].strip()
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _path(line[4:]), _path(lines[i + 1][4:])
            if "/dev/null" in (old, new):
                raise _error(source, i + 1, "the diff creates or deletes a file: only changes to existing files are read")
            start = i + 1
            i += 2
            hunks: list[Hunk] = []
            while i < len(lines) and lines[i].startswith("@@"):
                hunk, i = _hunk(lines, i, source)
                hunks.append(hunk)
            if not hunks:
                raise _error(source, start, f"the patch of {new} has no hunk")
            out.append(FilePatch(_strip_prefix(new), tuple(hunks), start, subject))
            continue
        i += 1
    if not out:
        raise _error(source, 1, "no unified diff found (expected '--- a/FILE', '+++ b/FILE' and '@@' hunks)")
    return out


def _decode_mail(text: str) -> str:
    head = text.split("\n\n", 1)[0]
    if re.search(r"^Content-Transfer-Encoding:\s*quoted-printable", head, re.M | re.I):
        return quopri.decodestring(text.encode("utf-8")).decode("utf-8", "replace")
    return text


def _path(raw: str) -> str:
    return raw.split("\t", 1)[0].strip()


def _strip_prefix(path: str) -> str:
    return path[2:] if path.startswith(("a/", "b/")) else path


def _hunk(lines: list[str], i: int, source: str) -> tuple[Hunk, int]:
    found = _HUNK.match(lines[i])
    if not found:
        raise _error(source, i + 1, "a malformed hunk header")
    old_len = int(found.group(2)) if found.group(2) is not None else 1
    new_len = int(found.group(4)) if found.group(4) is not None else 1
    start, body = i, []
    i += 1
    old_seen = new_seen = 0
    while old_seen < old_len or new_seen < new_len:
        if i >= len(lines):
            raise _error(source, start + 1, "the hunk ends before its line counts say")
        line = lines[i]
        mark = line[:1] or " "  # a mailer may strip the space of an empty context line
        if mark == "\\":
            i += 1
            continue
        if mark not in " -+":
            raise _error(source, i + 1, "the hunk ends before its line counts say")
        body.append(mark + line[1:])
        old_seen += mark in " -"
        new_seen += mark in " +"
        i += 1
    while i < len(lines) and lines[i].startswith("\\"):
        i += 1
    return Hunk(int(found.group(1)), int(found.group(3)), tuple(body), start + 1), i


def apply(tree: KernelTree, patches: list[FilePatch], source: str = "<diff>") -> dict[str, str]:
    """The patched texts of the files the patches touch (relative path -> text)."""
    out: dict[str, str] = {}
    for fp in patches:
        rel = fp.path
        text = out.get(rel, tree.read(rel))
        if text is None and "/" in rel:
            rel = rel.split("/", 1)[1]  # a plain diff -u of two trees: old/..., new/...
            text = out.get(rel, tree.read(rel))
        if text is None:
            raise _error(source, fp.line, f"the diff patches {fp.path}, which is not in the tree {tree.root}")
        out[rel] = _apply_file(text, fp, source)
    return out


def _apply_file(text: str, fp: FilePatch, source: str) -> str:
    ends_newline = text.endswith("\n")
    lines = text.split("\n")
    if ends_newline:
        lines.pop()
    shift = 0
    for n, hunk in enumerate(fp.hunks, 1):
        old = [x[1:] for x in hunk.lines if x[0] in " -"]
        new = [x[1:] for x in hunk.lines if x[0] in " +"]
        want = hunk.old_start - 1 + shift if old else hunk.old_start + shift
        at = _find(lines, old, want)
        if at is None:
            raise _error(source, hunk.line, f"hunk {n} of {fp.path} does not apply: its context and removed lines "
                                            f"are not at line {hunk.old_start} of the tree's file, nor up to {MAX_OFFSET} lines off")
        lines[at:at + len(old)] = new
        shift += len(new) - len(old) + (at - want)
    return "\n".join(lines) + ("\n" if ends_newline else "")


def _find(lines: list[str], old: list[str], want: int) -> int | None:
    def fits(at: int) -> bool:
        return 0 <= at <= len(lines) - len(old) and all(_same(lines[at + k], old[k]) for k in range(len(old)))

    for delta in range(MAX_OFFSET + 1):
        for at in (want - delta, want + delta) if delta else (want,):
            if fits(at):
                return at
    return None


def _same(a: str, b: str) -> bool:
    return a == b or a.rstrip() == b.rstrip()


def _error(source: str, line: int, message: str) -> SpecError:
    return SpecError([Diagnostic(Span(source, line, 1, line, 1), "I020", message)])
