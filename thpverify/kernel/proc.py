"""Parsing what /proc shows, read only: /proc/PID/smaps (one `Vma` per
entry, `parse_smaps`), /proc/PID/mounts (`parse_mounts`), and a recorded
JSON file (`load_json`). Malformed input is a `SmapsError` with its place.

Kernel facts (Linux 6.18.2, gfunkmonk/linux-6.18.2 @57dc26c98e5e):
fs/proc/task_mmu.c show_smap 1371-1373: THPeligible is
`thp_vma_allowable_orders(vma, vma->vm_flags, TVA_SMAPS, THP_ORDERS_ALL)`;
show_smap_vma_flags 1133-1211: the VmFlags mnemonics.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .geometry import PAGE


def decode(data: bytes, file: str) -> str:
    """UTF-8 text, or a SmapsError at the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SmapsError(f"{file}:{line}:{col}: error: not UTF-8 (byte {data[exc.start]:#04x})") from None


class SmapsError(InputError):
    """A malformed input, with its place: file:line:col: message (exit 2)."""




@dataclass(frozen=True)
class Vma:
    """One smaps entry."""

    line: int  # where its header is
    start: int
    end: int
    perms: str
    pgoff: int  # in pages
    dev: str
    inode: int
    path: str
    fields: tuple[tuple[str, int], ...]  # the "Name: N kB" lines
    vmflags: tuple[str, ...]
    thp_eligible: int | None  # None: the kernel printed no THPeligible line

    @property
    def size(self) -> int:
        return self.end - self.start

    def kb(self, name: str) -> int | None:
        return dict(self.fields).get(name)

    @property
    def shared(self) -> bool:
        return self.perms[3:4] == "s"


_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)(?: +(.*))?$")
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_ ]*):\s*(.*)$")


def parse_smaps(text: str, file: str = "<smaps>") -> list[Vma]:
    vmas: list[Vma] = []
    cur: dict[str, Any] | None = None

    def flush() -> None:
        if cur is not None:
            vmas.append(Vma(**cur))

    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        h = _HEADER.match(raw)
        if h:
            flush()
            start, end = int(h[1], 16), int(h[2], 16)
            if end <= start:
                raise SmapsError(f"{file}:{number}:1: error: the VMA ends before it starts")
            cur = dict(line=number, start=start, end=end, perms=h[3], pgoff=int(h[4], 16) // PAGE, dev=h[5],
                       inode=int(h[6]), path=h[7] or "", fields=(), vmflags=(), thp_eligible=None)
            continue
        f = _FIELD.match(raw)
        if f is None:
            raise SmapsError(f"{file}:{number}:1: error: expected a VMA header or 'Name: value', got {raw[:40]!r}")
        if cur is None:
            raise SmapsError(f"{file}:{number}:1: error: '{f[1]}' before the first VMA header")
        name, value = f[1], f[2].strip()
        col = len(raw) - len(raw.split(":", 1)[1].lstrip()) + 1  # the value's column
        if name == "VmFlags":
            cur["vmflags"] = tuple(value.split())
        elif name == "THPeligible":
            if value not in ("0", "1"):
                raise SmapsError(f"{file}:{number}:{col}: error: THPeligible must be 0 or 1, got {value!r}")
            cur["thp_eligible"] = int(value)
        else:
            parts = value.split()
            if parts and parts[0].isdigit():
                cur["fields"] = cur["fields"] + ((name, int(parts[0])),)
    flush()
    if not vmas:
        raise SmapsError(f"{file}:1:1: error: no VMA in this file")
    return vmas


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    options: tuple[str, ...]

    def option(self, name: str) -> str | None:
        for o in self.options:
            if o == name:
                return ""
            if o.startswith(name + "="):
                return o[len(name) + 1:]
        return None


def _unescape(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), s)


def parse_mounts(text: str) -> tuple[Mount, ...]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            out.append(Mount(_unescape(parts[1]), parts[2], tuple(parts[3].split(","))))
    return tuple(out)


def load_json(path: Path) -> Any:
    try:
        text = decode(path.read_bytes(), str(path))
        return json.loads(text)
    except OSError as exc:
        raise SmapsError(f"{path}:1:1: error: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SmapsError(f"{path}:{exc.lineno}:{exc.colno}: error: {exc.msg}") from None


def entry_at(smaps: str, start: int) -> str:
    """The smaps entry that starts at `start` (addresses are printed zero-padded to 8 digits)."""
    lines: list[str] = []
    keep = False
    for line in smaps.splitlines(keepends=True):
        first = line.split(" ", 1)[0]
        if "-" in first and ":" not in first:
            try:
                keep = int(first.split("-", 1)[0], 16) == start
            except ValueError:
                keep = False
        if keep:
            lines.append(line)
    return "".join(lines)


def thp_vmstat() -> dict[str, int]:
    """The thp_* counters of /proc/vmstat (read only)."""
    out = {}
    for line in Path("/proc/vmstat").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("thp_"):
            out[name] = int(value)
    return out
