"""Progress on stderr: a tqdm bar on a terminal only, never with --quiet,
and nothing in what a file or a pipe receives."""

from __future__ import annotations

import io

from conftest import CORPUS, run_cli
from tqdm import tqdm

from thpverify.cli.common import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_only_on_a_terminal_and_never_when_quiet() -> None:
    tty = Terminal()
    with progress(tty, 10, "checks") as tick:
        assert isinstance(getattr(tick, "__self__", None), tqdm)
        tick(10)
    for stream, quiet in ((io.StringIO(), False), (tty, True), (None, False)):
        with progress(stream, 10, "checks", quiet) as tick:
            assert not isinstance(getattr(tick, "__self__", None), tqdm)
            tick(10)


def test_check_output_is_the_same_with_progress() -> None:
    plain = run_cli("check", "--no-cache", str(CORPUS / "mini.thp"))
    quiet = run_cli("check", "--no-cache", "-q", str(CORPUS / "mini.thp"))
    assert plain[:2] == quiet[:2] and plain[2] == quiet[2] == ""
