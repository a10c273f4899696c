"""Files a command writes (--output, --html, --record): regular files only.

`write_text(path, text)` replaces path atomically (readers see the old
file or the whole new one) and refuses, with an OutputError that says why,
anything that is not a regular file or a missing one: a directory, a
device, a FIFO, a socket, or a symbolic link (it would replace the link,
not what it points to; name the file itself). An existing file keeps its
permission bits (and, when run as root, its owner); a new one gets
0666 minus the umask, as `>` in a shell would. The temporary file is
created next to the target with O_EXCL and removed on any failure.
The name `-` is the caller's business (stdout), see `is_stdout`.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

STDOUT = "-"


class OutputError(Exception):
    """An output file that cannot or must not be written; the message says why."""


def is_stdout(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDOUT


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _existing(target: Path) -> os.stat_result | None:
    """The target's own status (not through a link), None when it does not exist; refuses a non-regular file."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"{target}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        hint = "; write to '-' for stdout" if stat.S_ISLNK(st.st_mode) or stat.S_ISCHR(st.st_mode) else ""
        raise OutputError(f"{target}: is {_kind(st.st_mode)}, not a regular file; refusing to replace it{hint}")
    return st


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check(path: Path | str) -> Path:
    """The target, if it can be written: refuses early (before a long run) a
    bad name, a missing folder, or an existing file that is not regular."""
    raw = str(path)
    if not raw or raw.endswith("/"):
        raise OutputError(f"'{raw}': not a file name")
    if "\0" in raw:
        raise OutputError(f"{raw!r}: a file name cannot hold a NUL byte")
    target = Path(raw)
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"{target}: no such directory {folder}")
    _existing(target)
    return target


def write_text(path: Path | str, text: str) -> None:
    """Write text to path atomically; OutputError with the reason on any failure."""
    target = check(path)
    folder = target.parent
    before = _existing(target)
    data = text.encode("utf-8")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write in {folder}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if before is not None:
                os.fchmod(f.fileno(), stat.S_IMODE(before.st_mode))
                if os.geteuid() == 0 and (before.st_uid, before.st_gid) != (0, 0):
                    os.fchown(f.fileno(), before.st_uid, before.st_gid)
            else:
                os.fchmod(f.fileno(), 0o666 & ~_umask())
        if _existing(target) is None and before is not None:
            raise OutputError(f"{target}: removed while being written")
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
