"""Work that changes the process (prctl modes, mappings at fixed
addresses, mounts in a private namespace) runs in a forked child, which
sends back one JSON document through a pipe; the parent is left as it was."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any


def in_child(work: Callable[[], dict[str, Any]], failed: Callable[[str], dict[str, Any]],
             silent: dict[str, Any]) -> dict[str, Any]:
    """`work()` run in a forked child, its document read back. A child that
    raises reports `failed(message)` (it never unwinds into the parent's
    code); a child that sends nothing gives `silent`."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(rfd)
            doc = work()
        except BaseException as exc:
            doc = failed(f"child failed: {type(exc).__name__}: {exc}")
            code = 1
        with os.fdopen(wfd, "w") as w:
            w.write(json.dumps(doc))
        os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd) as r:
        text = r.read()
    os.waitpid(pid, 0)
    doc = json.loads(text) if text else silent
    assert isinstance(doc, dict)
    return doc
