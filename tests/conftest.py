from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from thpverify import model as m
from thpverify.cli import main
from thpverify.cli.common import library

pytest_plugins = ["pytester"]

# Spec files under tests/ (the corpus, fixtures) are data for the tests, not
# tests of their own: keep the thpverify pytest plugin from collecting them.
collect_ignore_glob = ["*.thp"]

# Tests never read or fill the user's own result cache; theirs is removed at the end.
_TEST_CACHE = tempfile.mkdtemp(prefix="thpverify-test-cache-")
os.environ["THPVERIFY_CACHE_DIR"] = _TEST_CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_TEST_CACHE, ignore_errors=True)

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
CORPUS = HERE / "corpus"


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in messages are shown relative to the working directory."""
    monkeypatch.chdir(HERE.parent)


@pytest.fixture(scope="session")
def lib() -> m.Library:
    """The bundled library, loaded once a session: the commands the tests run
    in this process (run_cli) are given the same one while its files are unchanged."""
    return library(None)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def write_spec(tmp_path: Path, text: str, name: str = "t.thp") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
