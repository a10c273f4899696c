"""Imports and named spec files on a hostile machine: every case is a
located error (exit 2) that never prints the content of a file that is not
a spec, and never hangs or ends in a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import run_cli

SECRET = "TOPSECRET-do-not-print"


def _check(tmp_path: Path, text: str) -> tuple[int, str, str]:
    spec = tmp_path / "top.thp"
    spec.write_text(text, encoding="utf-8")
    return run_cli("check", str(spec))


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ", "../../../../etc/passwd", "/dev/zero"])
def test_an_import_of_a_file_that_is_not_a_spec_is_refused(tmp_path: Path, target: str) -> None:
    code, out, err = _check(tmp_path, f'import "{target}";\n')
    assert code == 2
    assert "not a spec file" in err and "root:" not in err and out == ""


def test_an_import_outside_the_spec_roots_is_refused_without_its_content(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.thp").write_text(SECRET + "\n", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    code, _, err = _check(home, 'import "../elsewhere/secret.thp";\n')
    assert code == 2 and "outside the spec roots" in err and SECRET not in err


def test_a_fifo_a_link_loop_and_a_nul_are_located_errors(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.thp")
    os.symlink(tmp_path / "loop.thp", tmp_path / "loop.thp")
    code, _, err = _check(tmp_path, 'import "pipe.thp";\nimport "loop.thp";\n')
    assert code == 2
    assert "top.thp:1:1: error: cannot read" in err and "not a regular file" in err
    assert "top.thp:2:1: error: cannot read" in err and "loop" in err
    code, _, err = _check(tmp_path, 'import "a\\0b.thp";\n')
    assert code == 2 and "Traceback" not in err


def test_a_fifo_inside_a_spec_directory_does_not_hang(tmp_path: Path) -> None:
    (tmp_path / "ok.thp").write_text('atom a: bool;\nversion "v" {}\nproperty p { prove a || !a; expect holds; }\n')
    os.mkfifo(tmp_path / "pipe.thp")
    code, _, err = run_cli("check", str(tmp_path))
    assert code == 2 and "pipe.thp" in err and "not a regular file" in err


def test_an_unreadable_subdirectory_is_an_error_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.thp").write_text('atom a: bool;\nversion "v" {}\nproperty p { prove a || !a; expect holds; }\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "more.thp").write_text("atom b: bool;\n")
    real = os.scandir

    def scandir(path: object = ".") -> object:  # what a directory of another user's looks like
        if str(path) == str(sub):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    code, _, err = run_cli("check", str(tmp_path))
    assert code == 2 and f"cannot read directory {sub}: Permission denied" in err


def test_a_spec_that_is_a_secret_in_disguise_is_shown_only_as_spec_text(tmp_path: Path) -> None:
    # A named file that is not UTF-8 is refused without its bytes.
    bad = tmp_path / "bad.thp"
    bad.write_bytes(b"\xff\xfe" + SECRET.encode())
    code, _, err = run_cli("check", str(bad))
    assert code == 2 and "not UTF-8" in err and SECRET not in err
